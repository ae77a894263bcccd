"""Forms of the admin's own actions: a sensitive step asks the staff user's code again."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from ..two_factor.forms import ReverifyForm


class EraseSubjectForm(ReverifyForm):
    """Why a customer is erased, and the staff user's code again."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        help_text=_("Kept in the erasure ledger, for example: “The customer asked by email on 3 May.”"),
    )
    field_order = ["reason", "otp_token"]

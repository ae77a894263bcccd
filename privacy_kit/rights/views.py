"""The my-data pages: what we hold, consents, a download of one's data, and deleting one's account.

Every view acts on the logged-in user only. No view takes an id; one sent
anyway that names someone else is refused with 403 and recorded, as a security
event and as a refused ``DataRequest``. Each download and each deletion is a
``DataRequest`` too, opened, verified (the session plus the password) and
fulfilled here, so that every one is on the record.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django import forms
from django.contrib.auth import authenticate, get_user_model, logout
from django.contrib.auth.decorators import login_required
from django.db import connections, transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from .. import registry
from ..conf import app_settings
from ..consent import state_of
from ..crypto import DecryptionError
from ..models import Purpose, SecurityEvent
from ..pages import PageResponse
from ..requests.actions import ACCOUNT_ERASURE_REASON
from ..requests.models import DataRequest
from ..requests.my_data import correction_forms, requests_of
from ..requests.workflow import fulfil, open_request, refuse, verify
from ..security.events import OWN_DATA, record_security_event
from .erasure import ErasureRefused
from .export import export_response

# Names under which a form or URL might try to pick whose data to act on.
SUBJECT_PARAMETERS = ("user", "user_id", "subject", "subject_id", "id", "pk")
TOO_MANY_EXPORTS_MSG = _("You have downloaded your data several times in the last hour. Please try again later.")
WRONG_PASSWORD_MSG = _("That password is not right.")
FOREIGN_SUBJECT_MSG = _("You can only see and delete your own data.")
# Why a hold was placed is internal (it may name an investigation): the customer reads only that there is one.
HELD_MSG = _(
    "We must keep your data for now, so your account cannot be deleted yet. Nothing was changed. "
    "Please contact us if you have any questions."
)
EXPORT_FAILED_MSG = _(
    "Your data could not be put together just now. Nothing was downloaded and this does not count "
    "towards your downloads. We have been told; please try again later."
)
ERASURE_REASON = ACCOUNT_ERASURE_REASON
CORRECTED_MSG = _("Your correction is saved (request #%(number)s).")
NO_CHANGE_MSG = _("Nothing was different, so nothing was changed (request #%(number)s).")
# The notes of requests refused on the page: the record is read by staff.
FOREIGN_SUBJECT_NOTE = "The request named another account than the one logged in."
TOO_MANY_EXPORTS_NOTE = "More downloads within an hour than PRIVACY_KIT['EXPORTS_PER_HOUR'] allows."
# The kind of request each of the page's refusals records.
REQUEST_KINDS = {
    SecurityEvent.Kind.EXPORT: DataRequest.Kind.COPY,
    SecurityEvent.Kind.ERASURE: DataRequest.Kind.ERASURE,
    SecurityEvent.Kind.CORRECTION: DataRequest.Kind.CORRECTION,
}

logger = logging.getLogger(__name__)


class ConfirmPasswordForm(forms.Form):
    """The account's password, asked again before a download or a deletion."""

    password = forms.CharField(label=_("Your password"), strip=False, widget=forms.PasswordInput)

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.request = request
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        user = self.request.user
        # authenticate() with the request lets django-axes count and lock out wrong passwords.
        if authenticate(self.request, username=user.get_username(), password=password) is None:
            raise forms.ValidationError(WRONG_PASSWORD_MSG, code="wrong_password")
        return password


class DeleteAccountForm(ConfirmPasswordForm):
    confirm = forms.BooleanField(label=_("I understand that my account and my data will be deleted for good."))


def _foreign_subject(request: HttpRequest, kind: Any) -> HttpResponse | None:
    """Refuse and record a request that names another subject than the logged-in user."""
    own = str(request.user.pk)
    for name in SUBJECT_PARAMETERS:
        for value in request.GET.getlist(name) + request.POST.getlist(name):
            if value != own:
                refuse_foreign(request, kind)
                return HttpResponseForbidden(str(FOREIGN_SUBJECT_MSG))
    return None


def refuse_foreign(request: HttpRequest, kind: Any) -> DataRequest:
    """Record a request for another subject's data: a security event, and the user's request refused.

    The request is recorded as the logged-in user's own (they asked), refused as
    their identity is not that of the account they named; the other account is
    named nowhere.
    """
    record_security_event(kind, user=request.user, request=request, detail="refused: another subject's id")
    data_request = open_request(request.user, kind=str(REQUEST_KINDS[kind]), channel=str(DataRequest.Channel.MY_DATA))
    return refuse(data_request, reason=str(DataRequest.RefusalReason.IDENTITY_NOT_VERIFIED), note=FOREIGN_SUBJECT_NOTE)


def verified_request(request: HttpRequest, kind: Any) -> DataRequest:
    """Open a request of the logged-in user on the my-data page, verified by their session and password."""
    data_request = open_request(request.user, kind=kind, channel=str(DataRequest.Channel.MY_DATA))
    return verify(data_request, method=str(DataRequest.IdentityMethod.SESSION_PASSWORD))


def _refusal(request: HttpRequest, kind: Any, form_class: type[ConfirmPasswordForm], name: str) -> HttpResponse | None:
    """Return the page that refuses the request (another subject's id, a wrong password), or None to go on."""
    refused = _foreign_subject(request, kind)
    if refused:
        return refused
    form = form_class(request, request.POST)
    if not form.is_valid():
        return _page(request, status=400, **{name: form})
    return None


def _holdings(user: Any) -> list[dict[str, Any]]:
    """Return, per registered model, how many of the user's rows we keep and which personal fields they hold."""
    held = []
    for registration in sorted(registry.registrations(), key=lambda entry: entry.name):
        if not registration.subject_path:
            continue
        model = registration.model
        count = model._base_manager.filter(**{registration.subject_path: user.pk}).count()
        if count:
            meta = model._meta
            fields = [str(meta.get_field(name).verbose_name) for name in registration.personal_fields]
            retention = registration.retention
            held.append(
                {
                    "name": meta.verbose_name_plural,
                    "count": count,
                    "fields": fields,
                    "category": registration.category,
                    "days": retention.days if retention else None,
                    "relationship": retention is not None and retention.basis == registry.RELATIONSHIP,
                }
            )
    return held


def _page(request: HttpRequest, status: int = 200, **context: Any) -> PageResponse:
    state = state_of(request)
    purposes = [
        {"purpose": purpose, "granted": purpose.slug in state and state[purpose.slug].granted}
        for purpose in Purpose.objects.filter(requires_consent=True)
    ]
    context.setdefault("export_form", ConfirmPasswordForm(request))
    context.setdefault("delete_form", DeleteAccountForm(request))
    context.update(
        holdings=_holdings(request.user),
        purposes=purposes,
        data_requests=requests_of(request.user),
        corrections=correction_forms(request.user, context.pop("bound_correction", None)),
    )
    return PageResponse(request, "privacy_kit/my_data.html", context, status=status)


@login_required
@never_cache
def my_data(request: HttpRequest) -> HttpResponse:
    """Show what we hold about the user, their consents, their requests, and the forms to act on their data."""
    context: dict[str, Any] = {}
    corrected = request.GET.get("corrected", "")
    if corrected.isdigit():
        done = DataRequest.objects.filter(
            pk=int(corrected), subject_id=request.user.pk, kind=str(DataRequest.Kind.CORRECTION)
        ).first()
        if done is not None:
            changed = done.evidence.get("fields")
            context["correction_done"] = (CORRECTED_MSG if changed else NO_CHANGE_MSG) % {"number": done.pk}
    return _page(request, **context)


def may_export(user: Any) -> bool:
    """Return whether the user may download their data once more this hour; call it in a transaction.

    Locking the user's row makes parallel downloads take turns: each one counts the
    exports recorded before it, and records its own before the next one counts. The
    download of a copy staff prepared counts and is counted alike.
    """
    users = get_user_model()._base_manager
    # FOR NO KEY UPDATE: downloads take turns, and the key share that an insert naming the
    # account (its request, its security event) holds until it commits does not wait for them.
    no_key = connections[users.db].features.has_select_for_no_key_update
    list(users.select_for_update(no_key=no_key).filter(pk=user.pk).values_list("pk"))
    hour_ago = timezone.now() - datetime.timedelta(hours=1)
    recent = SecurityEvent.objects.filter(
        kind=SecurityEvent.Kind.EXPORT, user=user, created_at__gte=hour_ago, detail=OWN_DATA
    ).aggregate(n=Count("pk"))["n"]
    return bool(recent < app_settings.EXPORTS_PER_HOUR)


@login_required
@require_POST
@never_cache
@csrf_protect
@sensitive_post_parameters("password")
def export_data(request: HttpRequest) -> HttpResponse:
    """Send the user their data as a JSON download, after their password, a few times an hour at most."""
    refused = _refusal(request, SecurityEvent.Kind.EXPORT, ConfirmPasswordForm, "export_form")
    if refused:
        return refused
    # Opened before the download: one that fails stays open, for staff to answer within the 30 days.
    data_request = verified_request(request, DataRequest.Kind.COPY)
    try:
        with transaction.atomic():
            if not may_export(request.user):
                refuse(data_request, reason=str(DataRequest.RefusalReason.REPETITIVE), note=TOO_MANY_EXPORTS_NOTE)
                return _page(request, status=429, export_error=TOO_MANY_EXPORTS_MSG)
            fulfil(data_request, request=request)
            return export_response(request, request.user)
    except DecryptionError as error:
        # The whole file is written before the first byte is sent: the customer gets this page, not
        # a truncated file, and the export is not recorded, so it does not use up one of theirs.
        logger.error("The export of user #%s failed: %s", request.user.pk, error)
        return _page(request, status=500, export_error=EXPORT_FAILED_MSG)


@login_required
@require_POST
@never_cache
@csrf_protect
@sensitive_post_parameters("password")
def delete_account(request: HttpRequest) -> HttpResponse:
    """Close the account now and erase its data in the background, after the password and a confirmation."""
    refused = _refusal(request, SecurityEvent.Kind.ERASURE, DeleteAccountForm, "delete_form")
    if refused:
        return refused
    data_request = verified_request(request, DataRequest.Kind.ERASURE)
    try:
        fulfil(data_request, request=request)
    except ErasureRefused:
        refuse(data_request, reason=str(DataRequest.RefusalReason.LEGAL_HOLD))
        return _page(request, status=409, delete_error=HELD_MSG)
    logout(request)
    return redirect(reverse("privacy_kit:account_deleted"))


def account_deleted(request: HttpRequest) -> HttpResponse:
    """Say that the account is closed and its data on the way out."""
    return PageResponse(request, "privacy_kit/account_deleted.html")

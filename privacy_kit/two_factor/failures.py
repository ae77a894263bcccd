"""Report a wrong one-time code as a failed login, so that django-axes counts it like a wrong password.

django-otp raises a form error for a wrong code, not ``user_login_failed``, and its own
``otp_verification_failed`` signal carries no request: django-axes would never see it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest

from ..security.events import SECOND_FACTOR


def report_failed_code(sender: Any, username: Any, request: HttpRequest | None) -> None:
    """Send ``user_login_failed`` for a wrong second factor of ``username``, as Django does for a wrong password."""
    user_login_failed.send(sender=sender, credentials={"username": username}, request=request, **{SECOND_FACTOR: True})


class ReportsFailedCodes:
    """A form that reports a wrong one-time code as a failed login (``report_failed_code``)."""

    request: HttpRequest | None

    def report_failed_code(self, username: Any) -> None:
        """Send ``user_login_failed`` for a wrong code, as Django does for a wrong password."""
        report_failed_code(type(self), username, self.request)

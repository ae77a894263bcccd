"""Record security events, alert on those that need a person now, and the receivers that feed them.

The receivers are connected in ``PrivacyKitConfig.ready()``: failed logins and
failed codes (``user_login_failed``) and django-axes lockouts (``user_locked_out``).
A password or a code is never stored; the event keeps the kind, the user when
known, the time and the client IP address.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.mail import mail_admins
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from ..signals import device_removed, security_alert
from .models import SecurityEvent

logger = logging.getLogger(__name__)

ALERT_SUBJECT_TEMPLATE = "privacy_kit/email/security_alert_subject.txt"
ALERT_BODY_TEMPLATE = "privacy_kit/email/security_alert_body.txt"
#: At most one event and alert of a kind per user in this time: a flood must not flood ADMINS' mailbox.
ALERT_WINDOW = datetime.timedelta(hours=1)


def client_ip(request: HttpRequest | None) -> str | None:
    """Return the client IP address of a request as django-axes finds it, else REMOTE_ADDR.

    django-axes reads ``AXES_CLIENT_IP_CALLABLE`` (see ``privacy_kit.security.proxy``):
    behind a proxy, a lockout, a security event and an access log row name the same address.
    """
    if request is None:
        return None
    address = getattr(request, "axes_ip_address", None)
    if address is None and apps.is_installed("axes"):
        from axes.helpers import get_client_ip_address

        address = get_client_ip_address(request)
    return address or request.META.get("REMOTE_ADDR") or None


def _user_id(user: Any) -> Any:
    return user.pk if user is not None and getattr(user, "pk", None) is not None else None


def record_security_event(
    kind: Any, *, user: Any = None, request: HttpRequest | None = None, detail: str = ""
) -> SecurityEvent:
    """Write a security event of a ``SecurityEvent.Kind`` and return it. ``detail`` must hold no personal data."""
    return SecurityEvent.objects.create(kind=kind, user_id=_user_id(user), ip=client_ip(request), detail=detail[:200])


def record_and_alert_hourly(
    kind: Any,
    *,
    user: Any = None,
    request: HttpRequest | None = None,
    detail: str = "",
    now: datetime.datetime | None = None,
) -> SecurityEvent | None:
    """Record an event of ``kind`` and alert on it, unless one of the user's was recorded within the hour.

    Return the new event, or None. Events of no user (an unknown username) count as one user's.
    """
    since = (now or timezone.now()) - ALERT_WINDOW
    if SecurityEvent.objects.filter(kind=kind, user_id=_user_id(user), created_at__gte=since).exists():
        return None
    event = record_security_event(kind, user=user, request=request, detail=detail)
    send_security_alert(event)
    return event


OWN_DATA = "own data"


def record_subject_event(kind: Any, request: HttpRequest, subject: Any) -> SecurityEvent:
    """Record an export or erasure of ``subject``'s data asked for by the request's user."""
    own = getattr(request.user, "pk", None) == subject.pk
    detail = OWN_DATA if own else f"subject #{subject.pk}"
    return record_security_event(kind, user=request.user, request=request, detail=detail)


def send_security_alert(event: SecurityEvent) -> None:
    """Send ``security_alert`` for the event and mail ADMINS, with no personal data in the mail."""
    security_alert.send(sender=SecurityEvent, event=event)
    context = {"event": event, "kind": event.get_kind_display()}
    subject = " ".join(render_to_string(ALERT_SUBJECT_TEMPLATE, context).split())
    try:
        mail_admins(subject, render_to_string(ALERT_BODY_TEMPLATE, context))
    except OSError:
        # The event is recorded and the signal sent; a mail server down must not fail the request.
        logger.exception("Could not mail ADMINS about security event #%s.", event.pk)


def user_named(username: Any) -> Any:
    """Return the user of that username, or None."""
    if not username:
        return None
    user_model = get_user_model()
    return user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()


#: The keyword argument of ``user_login_failed`` that marks a wrong second factor after the right
#: password (sent by ``privacy_kit.two_factor.failures``): recorded as ``failed_otp``.
SECOND_FACTOR = "second_factor"


def record_failed_login(
    sender: Any, credentials: dict[str, Any] | None = None, request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """Record a wrong password (``failed_login``) or a wrong code after the right password (``failed_otp``)."""
    kind = SecurityEvent.Kind.FAILED_OTP if kwargs.get(SECOND_FACTOR) else SecurityEvent.Kind.FAILED_LOGIN
    credentials = credentials or {}
    username = credentials.get(get_user_model().USERNAME_FIELD) or credentials.get("username")
    record_security_event(kind, user=user_named(username), request=request)


def record_lockout(sender: Any, request: HttpRequest | None = None, username: str | None = None, **kwargs: Any) -> None:
    """Record a django-axes lockout, send ``security_alert`` and mail ADMINS, once an hour per user.

    django-axes sends ``user_locked_out`` again for each attempt while locked out:
    those repeat the lockout already reported, not a new one.
    """
    record_and_alert_hourly(SecurityEvent.Kind.LOCKOUT, user=user_named(username), request=request)


def device_label(device: Any) -> str:
    """Return what a security event says of a two-factor device: its model and number, not its name."""
    return f"{device._meta.label} #{device.pk}"


def record_device_removed(sender: Any, instance: Any, origin: Any = None, **kwargs: Any) -> None:
    """Record the deletion of a confirmed two-factor device, wherever it was deleted (admin, shell, new codes).

    Connected to ``post_delete`` of each django-otp device model. When the device goes
    with its user, the event names no user: the user row is being deleted too.
    """
    if not instance.confirmed:
        return  # an authenticator set-up that was never finished
    origin_model = getattr(origin, "model", type(origin))
    with_its_user = isinstance(origin_model, type) and issubclass(origin_model, get_user_model())
    detail = device_label(instance) + (", with its user" if with_its_user else "")
    user = None if with_its_user else instance.user
    record_security_event(SecurityEvent.Kind.DEVICE_REMOVED, user=user, detail=detail)
    device_removed.send(sender=sender, device=instance, request=None)

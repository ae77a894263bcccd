"""Passkeys (WebAuthn, through django-otp-webauthn): a second factor that a fake login page cannot relay.

A passkey is bound to the relying party id (``OTP_WEBAUTHN_RP_ID``) and signs the
origin the browser saw, so an assertion made for a phishing site fails here. It is
used *after* the password, as the second factor: the login page asks the authenticator
for a passkey of this site (``login_options``), and the login form checks the
assertion against the passkeys of the user whose password it just checked
(``verify_assertion``). No page of privacy_kit logs anyone in with a passkey alone.

A registration's challenge lives in the session and is taken out before it is
checked, so an attestation is good once. The login page's challenge is asked for by
visitors who have no session yet: it lives in a signed cookie of that browser
(``LOGIN_STATE_COOKIE``), so that a flood of visitors writes no session rows, and an
assertion is good once because its challenge must be newer than the passkey's last use,
checked with the passkey's row locked. The models are imported in the functions:
django-otp-webauthn is the optional ``passkeys`` extra.
"""

from __future__ import annotations

import functools
import json
import time
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core import signing
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from ..security.events import device_label, record_security_event, send_security_alert
from ..security.models import SecurityEvent
from ..signals import device_added

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django_otp_webauthn.models import AbstractWebAuthnCredential

APP = "django_otp_webauthn"
PASSKEY_NAME_MAX_LENGTH = 64
#: The session keys of a ceremony's state, one per ceremony: each is popped before use.
REGISTRATION_STATE_SESSION_KEY = "privacy_kit_passkey_registration"
#: The login page's challenge, in a signed cookie of the browser that asked for it (no session row).
LOGIN_STATE_COOKIE = "privacy_kit_passkey_login"
LOGIN_STATE_SALT = "privacy_kit.two_factor.passkeys.login"
#: What the login page sends in place of an assertion when the browser gave none (cancelled, timed out).
CANCELLED = "cancelled"
DEFAULT_PASSKEY_NAME = _("Passkey")


class PasskeyRefused(Exception):
    """A registration or an assertion that does not prove what it claims. The message is safe to show."""


def passkeys_enabled() -> bool:
    """Return whether passkeys are offered: django-otp-webauthn is in INSTALLED_APPS."""
    return apps.is_installed(APP)


@functools.cache
def _helper_class() -> type:
    from django_otp_webauthn.helpers import WebAuthnHelper
    from webauthn.helpers.structs import ResidentKeyRequirement, UserVerificationRequirement

    class PasskeyHelper(WebAuthnHelper):
        """django-otp-webauthn's helper for passkeys of staff: discoverable, and the user verified on the device."""

        def get_discoverable_credentials_preference(self) -> ResidentKeyRequirement:
            # The login page asks for any passkey of this site: it names no user to a visitor.
            return ResidentKeyRequirement.REQUIRED

        def get_generate_registration_options_kwargs(self, *, user: Any) -> dict[str, Any]:
            options: dict[str, Any] = super().get_generate_registration_options_kwargs(user=user)
            options["authenticator_selection"].user_verification = UserVerificationRequirement.REQUIRED
            return options

    return PasskeyHelper


def helper(request: HttpRequest) -> Any:
    """Return the WebAuthn helper for a request: relying party and origins from the OTP_WEBAUTHN_* settings."""
    return _helper_class()(request)


def credential_model() -> type[AbstractWebAuthnCredential]:
    from django_otp_webauthn.utils import get_credential_model

    return get_credential_model()  # type: ignore[return-value]


def user_passkeys(user: Any) -> QuerySet[AbstractWebAuthnCredential]:
    """Return the user's confirmed passkeys, the newest first."""
    return credential_model().objects.filter(user=user, confirmed=True).order_by("-created_at", "-pk")


def registration_options(request: HttpRequest) -> dict[str, Any]:
    """Return the options for ``navigator.credentials.create()``, keeping the challenge in the session."""
    options, state = helper(request).register_begin(user=request.user)
    request.session[REGISTRATION_STATE_SESSION_KEY] = state
    return dict(options)


def register_passkey(request: HttpRequest, name: str, response: str) -> AbstractWebAuthnCredential:
    """Check the browser's ``response`` to the session's registration and save the passkey as ``name``.

    Record a DEVICE_ADDED event, alert on it (a new way in to the account) and send
    ``device_added``. Raise :class:`PasskeyRefused` for anything that does not verify.
    """
    state = _take_state(request, REGISTRATION_STATE_SESSION_KEY)
    data = _parse(response)
    with transaction.atomic():
        try:
            # Its own savepoint: a credential id already registered (to anyone) breaks a unique constraint.
            with transaction.atomic():
                device = helper(request).register_complete(user=request.user, state=state, data=data)
        except (IntegrityError, *_refusals()) as error:
            raise PasskeyRefused(_("This passkey could not be registered. Try again.")) from error
        device.name = name[:PASSKEY_NAME_MAX_LENGTH] or str(DEFAULT_PASSKEY_NAME)
        device.save(update_fields=["name"])
        event = record_security_event(
            SecurityEvent.Kind.DEVICE_ADDED, user=request.user, request=request, detail=device_label(device)
        )
        # A new way in to an account is worth an alert: the owner hears of a passkey they did not add.
        transaction.on_commit(lambda: send_security_alert(event))
        transaction.on_commit(lambda: device_added.send(sender=type(device), device=device, request=request))
    return device


def login_options(request: HttpRequest) -> tuple[dict[str, Any], str]:
    """Return the options for ``navigator.credentials.get()`` on the login page, and the challenge's cookie value.

    They name no credential and no user: the visitor has only typed a password so far,
    which is checked with the assertion, in the same login form. The caller sets the
    cookie (``set_login_state``): nothing is written on the server for a visitor.
    """
    options, state = helper(request).authenticate_begin(user=None, require_user_verification=True)
    state = {"challenge": state["challenge"], "issued_at": time.time()}
    return dict(options), signing.dumps(state, salt=LOGIN_STATE_SALT, compress=True)


def set_login_state(response: HttpResponse, value: str, path: str, secure: bool) -> None:
    """Give the browser the login challenge's cookie, good for django-otp-webauthn's ceremony timeout."""
    response.set_cookie(
        LOGIN_STATE_COOKIE, value, max_age=_login_timeout(), path=path, secure=secure, httponly=True, samesite="Lax"
    )


def take_login_state(request: HttpRequest) -> dict[str, Any] | None:
    """Return the login page's passkey challenge sent by this browser, if signed here and not expired.

    The login page then deletes the cookie. A browser that sends it again gains nothing:
    ``verify_assertion`` refuses a challenge older than the passkey's last use.
    """
    value = request.COOKIES.get(LOGIN_STATE_COOKIE)
    if not value:
        return None
    try:
        state = signing.loads(value, salt=LOGIN_STATE_SALT, max_age=_login_timeout())
    except signing.BadSignature:  # forged, or expired (SignatureExpired is one)
        return None
    return state if isinstance(state, dict) else None


def _login_timeout() -> int:
    from django_otp_webauthn.settings import app_settings as webauthn_settings

    return int(webauthn_settings.OTP_WEBAUTHN_TIMEOUT_SECONDS)


def verify_assertion(user: Any, state: dict[str, Any] | None, response: str, request: HttpRequest) -> Any:
    """Return the user's passkey that made ``response`` to the challenge ``state``, or raise :class:`PasskeyRefused`.

    The passkey must be one of ``user``'s, confirmed; the signature, the challenge, the
    origin, the relying party id, user verification and the signature counter must check.
    """
    from webauthn import verify_authentication_response
    from webauthn.helpers import base64url_to_bytes, parse_authentication_credential_json

    refused = PasskeyRefused(_("That passkey was not accepted. Use a passkey you added, or a code."))
    if not state or not response or response == CANCELLED:
        raise refused
    model = credential_model()
    try:
        credential = parse_authentication_credential_json(_parse(response))
        with transaction.atomic():
            device = (
                model.objects.filter(user=user, confirmed=True)
                .select_for_update()
                .get(credential_id_sha256=model.get_credential_id_sha256(credential.raw_id))
            )
            # Used once: a challenge from before the passkey's last use was answered already, or
            # lost a race (a counter of 0, as synced passkeys keep it, would not tell).
            if device.last_used_at is not None and float(state["issued_at"]) <= device.last_used_at.timestamp():
                raise refused
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=base64url_to_bytes(state["challenge"]),
                expected_rp_id=helper(request).get_relying_party_domain(),
                expected_origin=helper(request).get_allowed_origins(),
                credential_public_key=bytes(device.public_key),
                credential_current_sign_count=device.sign_count,
                require_user_verification=True,
            )
            device.sign_count = verified.new_sign_count
            device.set_last_used_timestamp(commit=False)
            device.save(update_fields=["sign_count", "last_used_at"])
    except (model.DoesNotExist, *_refusals()) as error:  # another user's passkey, a bad signature, malformed
        raise refused from error
    return device


def remove_passkey(user: Any, pk: Any) -> bool:
    """Delete the user's passkey ``pk``; return whether there was one (another user's is not theirs to remove).

    The deletion records DEVICE_REMOVED and sends ``device_removed`` (the receiver of every device model).
    """
    deleted, _by_model = credential_model().objects.filter(user=user, pk=pk).delete()
    return bool(deleted)


def _refusals() -> tuple[type[Exception], ...]:
    """Return what the WebAuthn libraries raise for a response that does not verify."""
    from webauthn.helpers.exceptions import WebAuthnException

    return (WebAuthnException, PasskeyRefused, ValueError, KeyError, TypeError)


def _take_state(request: HttpRequest, key: str) -> dict[str, Any]:
    state = request.session.pop(key, None)
    request.session.save()
    if not state:
        raise PasskeyRefused(_("This page has expired. Load it again and try once more."))
    return dict(state)


def _parse(response: str) -> dict[str, Any]:
    try:
        data = json.loads(response)
    except (TypeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise PasskeyRefused(_("The browser sent no passkey."))
    return data

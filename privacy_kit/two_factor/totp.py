"""The authenticator app (TOTP): a secret per session while it is set up, a QR code, confirmation by a code.

django-otp's model is imported in the functions: a plugin's models cannot load while
it is left out of INSTALLED_APPS (check privacy_kit.E042 names the line to add).
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..security.events import device_label, record_security_event, send_security_alert
from ..security.models import SecurityEvent
from ..signals import device_added

if TYPE_CHECKING:
    from django_otp.plugins.otp_totp.models import TOTPDevice

TOTP_DEVICE_NAME = _("Authenticator app")
#: What an authenticator app shows: a backup code never looks like this.
TOTP_CODE = re.compile(r"[0-9]{6,8}")
#: The session key naming the unconfirmed device this session's set-up page shows.
PENDING_DEVICE_SESSION_KEY = "privacy_kit_pending_totp_device"


def pending_totp_device(user: Any, session: Any) -> TOTPDevice:
    """Return the unconfirmed TOTP device this session set up for the user, creating one with a new secret.

    The secret belongs to the session that asked for it: another session with the
    same password (a thief's) gets a secret of its own, never the owner's. Reloading
    the page in the same session shows the same secret.
    """
    from django_otp.plugins.otp_totp.models import TOTPDevice

    pending_id = session.get(PENDING_DEVICE_SESSION_KEY)
    device = None
    if pending_id is not None:
        device = TOTPDevice.objects.filter(user=user, confirmed=False, pk=pending_id).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=str(TOTP_DEVICE_NAME), confirmed=False)
        session[PENDING_DEVICE_SESSION_KEY] = device.pk
    return device


def totp_secret(device: TOTPDevice) -> str:
    """Return the device's secret in base32, as authenticator apps take it for manual entry."""
    return base64.b32encode(device.bin_key).decode("ascii")


def qr_code_svg(text: str) -> str:
    """Return an inline SVG QR code of ``text``, drawn here: the secret never leaves the server."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=12)
    return str(image.to_string(encoding="unicode"))


def confirm_totp_device(device: TOTPDevice, code: str, request: HttpRequest | None = None) -> bool:
    """Confirm the device if ``code`` is its current code, recording a DEVICE_ADDED event; return whether it was.

    django-otp's throttling applies: after a wrong code the next try waits.
    """
    from django_otp.plugins.otp_totp.models import TOTPDevice

    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        if not device.verify_token(code):
            return False
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        # Other sessions' unfinished set-ups of this user can never be confirmed now.
        TOTPDevice.objects.filter(user_id=device.user_id, confirmed=False).delete()
        event = record_security_event(
            SecurityEvent.Kind.DEVICE_ADDED, user=device.user, request=request, detail=device_label(device)
        )
        # A new way in to an account is worth an alert: the owner hears of a device they did not add.
        transaction.on_commit(lambda: send_security_alert(event))
        transaction.on_commit(lambda: device_added.send(sender=TOTPDevice, device=device, request=request))
    return True

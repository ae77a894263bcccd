"""Two-factor devices of staff: the authenticator app (TOTP) and the backup codes.

Plain functions over django-otp's models, so the admin views, a shell and the tests
share them. The models are imported in the functions: the admin site imports this
module, and a plugin's models cannot load while it is left out of INSTALLED_APPS
(check privacy_kit.E042 names the line to add).
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp import user_has_device

from ..security.events import device_label, record_security_event, send_security_alert
from ..security.models import SecurityEvent

if TYPE_CHECKING:
    from django_otp.models import Device
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

#: How many single-use backup codes a staff user gets.
BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = _("Authenticator app")
BACKUP_DEVICE_NAME = _("Backup codes")
_TOTP_CODE = re.compile(r"[0-9]{6,8}")


def has_two_factor_device(user: Any) -> bool:
    """Return whether the user has a confirmed device that can verify them."""
    return bool(user.is_authenticated and user_has_device(user, confirmed=True))


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
    return True


def replace_backup_codes(user: Any, count: int = BACKUP_CODE_COUNT, request: HttpRequest | None = None) -> list[str]:
    """Give the user ``count`` fresh single-use backup codes and return them; older codes stop working.

    The old codes' device is deleted (a DEVICE_REMOVED event) and a new one added (DEVICE_ADDED).
    """
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    codes = [_backup_code() for _ in range(count)]
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=str(BACKUP_DEVICE_NAME), confirmed=True)
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
        detail = f"{device_label(device)}, {count} backup codes"
        record_security_event(SecurityEvent.Kind.DEVICE_ADDED, user=user, request=request, detail=detail)
    return codes


def backup_codes_text(codes: list[str], site_name: str) -> str:
    """Return the backup codes as the text file the user downloads, one code a line."""
    intro = gettext("Backup codes for %(site)s. Each logs in once, in place of your authenticator app's code.")
    return "\n".join([intro % {"site": site_name}, "", *codes, ""])


def _backup_code() -> str:
    """Return a random backup code that cannot be taken for an authenticator code."""
    from django_otp.plugins.otp_static.models import StaticToken

    while _TOTP_CODE.fullmatch(code := StaticToken.random_token()):
        pass
    return code


def normalize_code(code: str) -> str:
    """Return a typed code without spaces or dashes, in lower case (backup codes are lower case)."""
    return re.sub(r"[\s-]", "", code).lower()


def device_for_code(user: Any, code: str) -> TOTPDevice | StaticDevice | None:
    """Return the confirmed device that should check ``code``, locked for the check.

    Six digits are a code of the authenticator app; anything else is tried as a
    backup code. Choosing one device, not trying each, keeps a failure from
    throttling a device that was not used (django-otp's advice). Call it in a
    transaction.
    """
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    model: type[TOTPDevice] | type[StaticDevice] = TOTPDevice if _TOTP_CODE.fullmatch(code) else StaticDevice
    return model.objects.devices_for_user(user, confirmed=True).select_for_update().order_by("pk").first()


def verify_code(user: Any, code: str) -> Device | None:
    """Return the user's confirmed device that accepts ``code`` now, else None.

    The code is used up (a backup code is deleted, an authenticator code cannot be
    replayed) and django-otp's throttling applies, as at login.
    """
    code = normalize_code(code)
    with transaction.atomic():
        device = device_for_code(user, code)
        if device is not None and device.verify_token(code):
            return device
    return None

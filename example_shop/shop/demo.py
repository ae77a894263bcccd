"""The demo's staff account: a superuser with a confirmed TOTP device, to try the admin behind 2FA.

Its password is published (``make demo`` prints it), so the commands that use
this module run only with DEBUG.
"""

from __future__ import annotations

import time
from base64 import b32encode

from django.contrib.auth import get_user_model
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

DEMO_USERNAME = "staff"
DEMO_PASSWORD = "demo-staff-password"  # noqa: S105 (published on purpose; used only with DEBUG)
DEVICE_NAME = "demo"


def ensure_demo_staff() -> TOTPDevice:
    """Create or reset the demo superuser and its confirmed TOTP device; return the device."""
    user, _created = get_user_model()._default_manager.get_or_create(
        username=DEMO_USERNAME, defaults={"email": "staff@example.com"}
    )
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(DEMO_PASSWORD)
    user.save()
    device, _created = TOTPDevice.objects.get_or_create(user=user, name=DEVICE_NAME, defaults={"confirmed": True})
    if not device.confirmed:
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    return device


def demo_device() -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user__username=DEMO_USERNAME, name=DEVICE_NAME).select_related("user").first()


def base32_secret(device: TOTPDevice) -> str:
    """Return the device's secret as authenticator apps take it."""
    return b32encode(device.bin_key).decode()


def current_code(device: TOTPDevice) -> tuple[str, int]:
    """Return the device's code for now and how many seconds it stays valid."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    seconds_left = device.step - int(time.time() - device.t0) % device.step
    return f"{totp.token():0{device.digits}d}", seconds_left

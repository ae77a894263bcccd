"""The devices of a staff user's second factor, whichever the factor: does the user have one, which checks a code.

Plain functions over django-otp's models, so the admin views, a shell and the tests
share them. The models are imported in the functions: a plugin's models cannot load
while it is left out of INSTALLED_APPS (check privacy_kit.E042 names the line to add).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import transaction
from django.db.models.signals import post_delete
from django_otp import user_has_device

from ..security.events import record_device_removed
from .totp import TOTP_CODE

if TYPE_CHECKING:
    from django_otp.models import Device
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice


def has_two_factor_device(user: Any) -> bool:
    """Return whether the user has a confirmed device that can verify them."""
    return bool(user.is_authenticated and user_has_device(user, confirmed=True))


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

    model: type[TOTPDevice] | type[StaticDevice] = TOTPDevice if TOTP_CODE.fullmatch(code) else StaticDevice
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


def connect_device_receivers() -> None:
    """Record the deletion of any django-otp device (``record_device_removed``); call it once the models are loaded."""
    from django_otp.models import Device

    # Each device model by name: a receiver for every sender would slow down every delete.
    for model in apps.get_models():
        if issubclass(model, Device):
            uid = f"privacy_kit.record_device_removed.{model._meta.label}"
            post_delete.connect(record_device_removed, sender=model, dispatch_uid=uid)

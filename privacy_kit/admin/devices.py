"""django-otp's pages of authenticator apps and backup codes, where a device put on an account is recorded.

django-otp's own pages let staff with the permission add a confirmed device for any
user, or give an existing one to another user, or add codes to someone's backup codes:
each is a way in to that account, so it records ``device_added`` and alerts, as set-up does.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

# Imported first: they register django-otp's own pages, which this module then replaces.
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin as OTPStaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin as OTPTOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..security.events import device_label, record_security_event, send_security_alert
from ..security.models import SecurityEvent
from ..signals import device_added
from .sites import site


class RecordsAddedDevices:
    """A device's ModelAdmin that records ``device_added`` when a save gives a user a confirmed device."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Confirmed for this user before the save? Then nothing new (a rename, say).
        had = change and type(obj).objects.filter(pk=obj.pk, user_id=obj.user_id, confirmed=True).exists()
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        if obj.confirmed and not had:
            record_device_added(obj, request)
            obj._privacy_kit_recorded = True

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)  # type: ignore[misc]
        device = form.instance
        new_codes = [token for token in formset.new_objects if isinstance(token, StaticToken)]
        if new_codes and device.confirmed and not getattr(device, "_privacy_kit_recorded", False):
            record_device_added(device, request, detail=f"{device_label(device)}, {len(new_codes)} backup codes added")


def record_device_added(device: Any, request: HttpRequest, detail: str = "") -> None:
    event = record_security_event(
        SecurityEvent.Kind.DEVICE_ADDED, user=device.user, request=request, detail=detail or device_label(device)
    )
    transaction.on_commit(lambda: send_security_alert(event))
    transaction.on_commit(lambda: device_added.send(sender=type(device), device=device, request=request))


class TOTPDeviceAdmin(RecordsAddedDevices, OTPTOTPDeviceAdmin):
    """django-otp's authenticator apps, recording a device given to a user."""


class StaticDeviceAdmin(RecordsAddedDevices, OTPStaticDeviceAdmin):
    """django-otp's backup codes, recording codes given to a user."""


for model, model_admin in ((TOTPDevice, TOTPDeviceAdmin), (StaticDevice, StaticDeviceAdmin)):
    if site.is_registered(model):
        site.unregister(model)
    site.register(model, model_admin)

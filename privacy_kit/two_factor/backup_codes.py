"""Single-use backup codes: ten at a time, shown once, each logs in once in place of the app's code.

django-otp's model is imported in the functions: a plugin's models cannot load while
it is left out of INSTALLED_APPS (check privacy_kit.E042 names the line to add).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..security.events import device_label, record_security_event
from ..security.models import SecurityEvent
from ..signals import device_added
from .totp import TOTP_CODE

#: How many single-use backup codes a staff user gets.
BACKUP_CODE_COUNT = 10
BACKUP_DEVICE_NAME = _("Backup codes")


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
        transaction.on_commit(lambda: device_added.send(sender=StaticDevice, device=device, request=request))
    return codes


def backup_codes_text(codes: list[str], site_name: str) -> str:
    """Return the backup codes as the text file the user downloads, one code a line."""
    intro = gettext("Backup codes for %(site)s. Each logs in once, in place of your authenticator app's code.")
    return "\n".join([intro % {"site": site_name}, "", *codes, ""])


def _backup_code() -> str:
    """Return a random backup code that cannot be taken for an authenticator code."""
    from django_otp.plugins.otp_static.models import StaticToken

    while TOTP_CODE.fullmatch(code := StaticToken.random_token()):
        pass
    return code

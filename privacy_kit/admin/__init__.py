"""The admin behind two-factor authentication, and the admin pages of privacy_kit's models.

Mount ``privacy_kit.admin.site.urls``. With ``"privacy_kit.two_factor.apps.PrivacyAdminConfig"``
in INSTALLED_APPS in place of ``"django.contrib.admin"``, ``django.contrib.admin.site``
is that same site, so ``@admin.register`` lands behind two-factor authentication too.
Importing this package (the admin's autodiscovery does) registers privacy_kit's ModelAdmins.
"""

from __future__ import annotations

from typing import Any

# Not as `apps`: importing privacy_kit.admin.apps (the entry of earlier versions) sets that name here.
from django.apps import apps as django_apps

from ..two_factor.sites import PrivacyAdminSite, site

__all__ = ["PrivacyAdminSite", "site"]


def load_model_admins() -> None:
    """Import privacy_kit's ModelAdmins (registering them) and make them names of this package; once is enough.

    Run on import once the apps are ready. Only the INSTALLED_APPS entry of earlier
    versions, ``"privacy_kit.admin.apps.PrivacyAdminConfig"``, imports this package
    before they are: then the first ``from privacy_kit.admin import PersonalDataAdmin``
    (a shop's models.py, say) runs it (``__getattr__``), or its ``ready()`` does.
    """
    global __all__
    if "PersonalDataAdmin" in globals():
        return
    from .breaches import BreachAdmin
    from .consent import BehavioralEventAdmin, ConsentRecordAdmin, PolicyVersionAdmin, PurposeAdmin
    from .options import ReadOnlyAdmin
    from .personal_data import PersonalDataAdmin
    from .requests import DataRequestAdmin
    from .retention import LegalHoldAdmin, PurgeRunAdmin
    from .rights import ErasureRecordAdmin
    from .security import AccessLogAdmin, SecurityEventAdmin

    loaded: dict[str, Any] = {
        "AccessLogAdmin": AccessLogAdmin,
        "BehavioralEventAdmin": BehavioralEventAdmin,
        "BreachAdmin": BreachAdmin,
        "ConsentRecordAdmin": ConsentRecordAdmin,
        "DataRequestAdmin": DataRequestAdmin,
        "ErasureRecordAdmin": ErasureRecordAdmin,
        "LegalHoldAdmin": LegalHoldAdmin,
        "PolicyVersionAdmin": PolicyVersionAdmin,
        "PurgeRunAdmin": PurgeRunAdmin,
        "PurposeAdmin": PurposeAdmin,
        "ReadOnlyAdmin": ReadOnlyAdmin,
        "SecurityEventAdmin": SecurityEventAdmin,
    }
    if django_apps.is_installed("axes"):
        from .lockouts import AccessAttemptAdmin  # django-axes's, with an unlock action

        loaded["AccessAttemptAdmin"] = AccessAttemptAdmin
    if django_apps.is_installed("django_otp.plugins.otp_totp") and django_apps.is_installed(
        "django_otp.plugins.otp_static"
    ):
        from .devices import StaticDeviceAdmin, TOTPDeviceAdmin  # django-otp's, recording devices given

        loaded["StaticDeviceAdmin"] = StaticDeviceAdmin
        loaded["TOTPDeviceAdmin"] = TOTPDeviceAdmin
    if django_apps.is_installed("django.contrib.auth"):
        from .users import UserAdmin  # django.contrib.auth's, with email and names masked

        loaded["UserAdmin"] = UserAdmin
    # Last: its presence says the others are here.
    loaded["PersonalDataAdmin"] = PersonalDataAdmin
    globals().update(loaded)
    __all__ = ["PrivacyAdminSite", "site", *sorted(loaded)]


def __getattr__(name: str) -> Any:
    # Reached only for a name not loaded yet: under the entry of earlier versions, before its ready().
    if django_apps.apps_ready and not name.startswith("__"):
        load_model_admins()
        if name in globals():
            return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if django_apps.apps_ready:
    load_model_admins()

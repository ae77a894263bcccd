"""The admin behind two-factor authentication, and the admin pages of privacy_kit's models.

Mount ``privacy_kit.admin.site.urls``. With ``"privacy_kit.two_factor.apps.PrivacyAdminConfig"``
in INSTALLED_APPS in place of ``"django.contrib.admin"``, ``django.contrib.admin.site``
is that same site, so ``@admin.register`` lands behind two-factor authentication too.
Importing this package (the admin's autodiscovery does) registers privacy_kit's ModelAdmins.
"""

from __future__ import annotations

from django.apps import apps

from ..two_factor.sites import PrivacyAdminSite, site

__all__ = ["PrivacyAdminSite", "site"]

# Only the INSTALLED_APPS entry of earlier versions, "privacy_kit.admin.apps.PrivacyAdminConfig",
# imports this package before the models can load; its ready() imports it again (admin/apps.py).
if apps.apps_ready:
    from .breaches import BreachAdmin
    from .consent import BehavioralEventAdmin, ConsentRecordAdmin, PolicyVersionAdmin, PurposeAdmin
    from .options import ReadOnlyAdmin
    from .personal_data import PersonalDataAdmin
    from .requests import DataRequestAdmin
    from .retention import LegalHoldAdmin, PurgeRunAdmin
    from .rights import ErasureRecordAdmin
    from .security import AccessLogAdmin, SecurityEventAdmin

    __all__ += [
        "AccessLogAdmin",
        "BehavioralEventAdmin",
        "BreachAdmin",
        "ConsentRecordAdmin",
        "DataRequestAdmin",
        "ErasureRecordAdmin",
        "LegalHoldAdmin",
        "PersonalDataAdmin",
        "PolicyVersionAdmin",
        "PurgeRunAdmin",
        "PurposeAdmin",
        "ReadOnlyAdmin",
        "SecurityEventAdmin",
    ]
    if apps.is_installed("axes"):
        from .lockouts import AccessAttemptAdmin  # django-axes's, with an unlock action

        __all__ += ["AccessAttemptAdmin"]
    if apps.is_installed("django.contrib.auth"):
        from .users import UserAdmin  # django.contrib.auth's, with email and names masked

        __all__ += ["UserAdmin"]

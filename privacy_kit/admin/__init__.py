"""The admin behind two-factor authentication, and the admin pages of privacy_kit's models.

Mount ``privacy_kit.admin.site.urls``. With ``"privacy_kit.admin.apps.PrivacyAdminConfig"``
in INSTALLED_APPS in place of ``"django.contrib.admin"``, ``django.contrib.admin.site``
is that same site, so ``@admin.register`` lands behind two-factor authentication too.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .sites import PrivacyAdminSite, site

# The ModelAdmins import privacy_kit's models, which cannot load while INSTALLED_APPS is
# read (and this package is imported then, for .apps): they load on first use.
# PrivacyKitConfig.ready() loads them, which registers them on ``site``.
MODEL_ADMIN_MODULES = {
    "ReadOnlyAdmin": "options",
    "PersonalDataAdmin": "personal_data",
    "PurposeAdmin": "consent",
    "PolicyVersionAdmin": "consent",
    "ConsentRecordAdmin": "consent",
    "BehavioralEventAdmin": "consent",
    "LegalHoldAdmin": "retention",
    "PurgeRunAdmin": "retention",
    "AccessLogAdmin": "security",
    "SecurityEventAdmin": "security",
    "ErasureRecordAdmin": "rights",
    "BreachAdmin": "breaches",
    "DataRequestAdmin": "requests",
    "AccessAttemptAdmin": "lockouts",  # django-axes's, with an unlock action
    "UserAdmin": "users",  # django.contrib.auth's, with email and names masked
}

__all__ = ["PrivacyAdminSite", "site", "register_model_admins", *MODEL_ADMIN_MODULES]


def register_model_admins() -> None:
    """Register privacy_kit's ModelAdmins on ``site`` (importing their modules does it, once)."""
    from django.apps import apps

    for module in sorted(set(MODEL_ADMIN_MODULES.values())):
        if (module != "lockouts" or apps.is_installed("axes")) and (
            module != "users" or apps.is_installed("django.contrib.auth")
        ):
            import_module(f"{__name__}.{module}")


def __getattr__(name: str) -> Any:
    if name in MODEL_ADMIN_MODULES:
        return getattr(import_module(f"{__name__}.{MODEL_ADMIN_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

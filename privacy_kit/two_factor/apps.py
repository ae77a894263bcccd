"""The admin app of a shop whose admin sits behind two-factor authentication."""

from django.apps import apps
from django.contrib.admin.apps import AdminConfig


class PrivacyAdminConfig(AdminConfig):
    """Django's admin with :class:`~privacy_kit.two_factor.sites.PrivacyAdminSite` as the default site.

    Put ``"privacy_kit.two_factor.apps.PrivacyAdminConfig"`` in INSTALLED_APPS in place of
    ``"django.contrib.admin"``: then ``django.contrib.admin.site``, ``@admin.register``
    and ``privacy_kit.admin.site`` are one site, behind two-factor authentication.
    Its autodiscovery imports ``privacy_kit.admin``, which registers privacy_kit's ModelAdmins.
    """

    # Not privacy_kit.admin: Django imports the default site on the first use of
    # django.contrib.admin.site, often halfway through another app's admin module, and
    # privacy_kit.admin imports ModelAdmins (django.contrib.auth's among them).
    default_site = "privacy_kit.two_factor.sites.PrivacyAdminSite"

    def ready(self) -> None:
        super().ready()
        if apps.is_installed("django_otp"):
            from .devices import connect_device_receivers

            connect_device_receivers()

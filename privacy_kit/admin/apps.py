"""The admin app of a shop whose admin sits behind two-factor authentication."""

from django.contrib.admin.apps import AdminConfig


class PrivacyAdminConfig(AdminConfig):
    """Django's admin with :class:`~privacy_kit.admin.sites.PrivacyAdminSite` as the default site.

    Put ``"privacy_kit.admin.apps.PrivacyAdminConfig"`` in INSTALLED_APPS in place of
    ``"django.contrib.admin"``: then ``django.contrib.admin.site``, ``@admin.register``
    and ``privacy_kit.admin.site`` are one site, behind two-factor authentication.
    """

    default_site = "privacy_kit.admin.sites.PrivacyAdminSite"

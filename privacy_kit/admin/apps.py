"""The admin app of a shop whose admin sits behind two-factor authentication."""

from django.apps import apps
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_delete


class PrivacyAdminConfig(AdminConfig):
    """Django's admin with :class:`~privacy_kit.admin.sites.PrivacyAdminSite` as the default site.

    Put ``"privacy_kit.admin.apps.PrivacyAdminConfig"`` in INSTALLED_APPS in place of
    ``"django.contrib.admin"``: then ``django.contrib.admin.site``, ``@admin.register``
    and ``privacy_kit.admin.site`` are one site, behind two-factor authentication.
    """

    default_site = "privacy_kit.admin.sites.PrivacyAdminSite"

    def ready(self) -> None:
        super().ready()
        if apps.is_installed("django_otp"):
            from django_otp.models import Device

            from ..security.events import record_device_removed

            # Each device model by name: a receiver for every sender would slow down every delete.
            for model in apps.get_models():
                if issubclass(model, Device):
                    uid = f"privacy_kit.record_device_removed.{model._meta.label}"
                    post_delete.connect(record_device_removed, sender=model, dispatch_uid=uid)

"""``"privacy_kit.admin.apps.PrivacyAdminConfig"``, the INSTALLED_APPS entry of earlier versions.

It keeps working. ``"privacy_kit.two_factor.apps.PrivacyAdminConfig"`` is the same app,
and Django loads privacy_kit's ModelAdmins for it as for any app's ``admin`` module.
"""

from ..two_factor import apps


class PrivacyAdminConfig(apps.PrivacyAdminConfig):
    """:class:`privacy_kit.two_factor.apps.PrivacyAdminConfig`, under the dotted path of earlier versions."""

    def ready(self) -> None:
        # This entry imported privacy_kit.admin while INSTALLED_APPS was read, before a
        # ModelAdmin could load (and autodiscovery finds a module imported already): load
        # them now, unless a shop module asked for one already. Not a reload: a class a
        # shop imported stays the class its ModelAdmins are checked against.
        from . import load_model_admins

        load_model_admins()
        super().ready()

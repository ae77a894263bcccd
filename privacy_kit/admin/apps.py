"""``"privacy_kit.admin.apps.PrivacyAdminConfig"``, the INSTALLED_APPS entry of earlier versions.

It keeps working. ``"privacy_kit.two_factor.apps.PrivacyAdminConfig"`` is the same app,
and Django loads privacy_kit's ModelAdmins for it as for any app's ``admin`` module.
"""

import importlib
import sys

from ..two_factor import apps


class PrivacyAdminConfig(apps.PrivacyAdminConfig):
    """:class:`privacy_kit.two_factor.apps.PrivacyAdminConfig`, under the dotted path of earlier versions."""

    def ready(self) -> None:
        # This entry imported privacy_kit.admin while INSTALLED_APPS was read, before a
        # ModelAdmin could load (and autodiscovery finds a module imported already): run
        # it again now, before autodiscovery imports the shop's admin modules that use it.
        importlib.reload(sys.modules[__package__])
        super().ready()

"""The admin site behind two-factor authentication: :mod:`privacy_kit.two_factor.sites`, by its earlier name."""

from ..two_factor.sites import PrivacyAdminSite, default_site, is_verified, site

__all__ = ["PrivacyAdminSite", "default_site", "is_verified", "site"]

"""The admin site behind two-factor authentication (django-otp's ``OTPAdminSite``, in ``django_otp.admin``).

``privacy_kit.admin.site`` is the instance to mount; ``privacy_kit.admin`` registers the
ModelAdmins on it. This module imports no ModelAdmin: Django imports it on the first use
of ``django.contrib.admin.site`` (``PrivacyAdminConfig.default_site``).

With ``PRIVACY_KIT["ADMIN_2FA_REQUIRED"]`` every admin view but login, logout and
the two-factor set-up needs a user verified by an OTP device in this session.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.decorators import method_decorator
from django.utils.functional import LazyObject, empty
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache

from ..conf import app_settings


def is_verified(user: Any) -> bool:
    """Return whether an OTP device verified the user in this session (False without OTPMiddleware)."""
    check = getattr(user, "is_verified", None)
    return bool(check()) if callable(check) else False


class PrivacyAdminSite(admin.AdminSite):
    """An admin site that lets in only staff verified by a one-time password in this session.

    A staff user who has no device yet logs in with the password and is led to
    set one up; until they have, every other admin page sends them back there.
    """

    login_template = "privacy_kit/admin/login.html"
    index_template = "privacy_kit/admin/index.html"
    login_form: Any = None  # TwoFactorLoginForm, set when the site is made

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        if self.login_form is None:
            # Imported here: the form needs the models, this module must not.
            from .forms import TwoFactorLoginForm

            self.login_form = TwoFactorLoginForm

    def has_permission(self, request: HttpRequest) -> bool:
        """Return whether the user is active staff and, with 2FA required, verified in this session."""
        if not super().has_permission(request):
            return False
        return not app_settings.ADMIN_2FA_REQUIRED or is_verified(request.user)

    def needs_two_factor_setup(self, request: HttpRequest) -> bool:
        """Return whether the user is active staff who must set up a device before going on."""
        from .devices import has_two_factor_device

        user = request.user
        return (
            app_settings.ADMIN_2FA_REQUIRED
            and user.is_active
            and user.is_staff
            and not is_verified(user)
            and not has_two_factor_device(user)
        )

    def two_factor_setup_redirect(self, request: HttpRequest) -> HttpResponseRedirect:
        """Redirect to the set-up page, keeping where the user was going."""
        url = reverse("admin:two_factor_setup", current_app=self.name)
        target = request.POST.get(REDIRECT_FIELD_NAME, request.GET.get(REDIRECT_FIELD_NAME, ""))
        if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            url += "?" + urlencode({REDIRECT_FIELD_NAME: target})
        return HttpResponseRedirect(url)

    @method_decorator(never_cache)
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Log in with password and code; staff without a device go on to set one up."""
        if request.method == "GET" and self.needs_two_factor_setup(request):
            return self.two_factor_setup_redirect(request)
        from . import passkeys

        if passkeys.passkeys_enabled():
            url = reverse("admin:two_factor_passkey_login_options", current_app=self.name)
            extra_context = {**(extra_context or {}), "passkey_options_url": url}
        response = super().login(request, extra_context)
        if request.method == "POST" and passkeys.LOGIN_STATE_COOKIE in request.COOKIES:
            # The passkey challenge served this attempt, whatever its outcome.
            response.delete_cookie(passkeys.LOGIN_STATE_COOKIE, path=request.path, samesite="Lax")
        if request.method == "POST" and response.status_code == 302:
            # A staff session ends after a working day, whatever the site's session age.
            request.session.set_expiry(int(app_settings.ADMIN_SESSION_HOURS * 3600))
            if self.needs_two_factor_setup(request):
                return self.two_factor_setup_redirect(request)
        return response

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Show the admin index, with the privacy dashboard to those who may see it."""
        from ..dashboard import can_view_dashboard, dashboard_context

        if can_view_dashboard(request.user):
            extra_context = {**(extra_context or {}), "privacy_dashboard": dashboard_context()}
        return super().index(request, extra_context)

    def get_urls(self) -> list[URLPattern | URLResolver]:
        from ..dashboard import dashboard_view
        from . import views
        from .passkeys import passkeys_enabled

        passkey_urls = [
            path("two-factor/passkeys/", views.passkey_list, {"site": self}, name="two_factor_passkeys"),
            path(
                "two-factor/passkeys/options/",
                views.passkey_registration_options,
                {"site": self},
                name="two_factor_passkey_options",
            ),
            path(
                "two-factor/passkeys/<int:pk>/remove/",
                views.remove_passkey,
                {"site": self},
                name="two_factor_remove_passkey",
            ),
            path(
                "two-factor/passkey-login/options/",
                views.passkey_login_options,
                {"site": self},
                name="two_factor_passkey_login_options",
            ),
        ]
        return [
            path("privacy-dashboard/", self.admin_view(dashboard_view), {"site": self}, name="privacy_dashboard"),
            *(passkey_urls if passkeys_enabled() else []),
            path("two-factor/setup/", views.two_factor_setup, {"site": self}, name="two_factor_setup"),
            path("two-factor/backup-codes/", views.backup_codes, {"site": self}, name="two_factor_backup_codes"),
            path(
                "two-factor/backup-codes/new/",
                views.regenerate_backup_codes,
                {"site": self},
                name="two_factor_regenerate_backup_codes",
            ),
            *super().get_urls(),
        ]


def default_site() -> admin.AdminSite:
    """Return the site privacy_kit registers on: Django's default site when it is a PrivacyAdminSite."""
    from django.apps import apps

    if apps.is_installed("django.contrib.admin"):
        site_class = import_string(apps.get_app_config("admin").default_site)
        if issubclass(site_class, PrivacyAdminSite):
            return admin.site
    return PrivacyAdminSite()


class DefaultPrivacyAdminSite(LazyObject):
    """The site, chosen on first use: this module is imported while INSTALLED_APPS is read."""

    def _setup(self) -> None:
        site = default_site()
        if isinstance(site, LazyObject):  # django.contrib.admin.site: share its instance
            if site._wrapped is empty:  # type: ignore[attr-defined]
                site._setup()
            site = site._wrapped  # type: ignore[attr-defined]
        self._wrapped = site


site: PrivacyAdminSite = DefaultPrivacyAdminSite()  # type: ignore[assignment]

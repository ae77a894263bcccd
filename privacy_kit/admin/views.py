"""Two-factor set-up pages of the admin: the authenticator app, then the backup codes.

They are reachable by staff who have only a password (the admin's other pages are
not), so each checks who may see it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import django_otp
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from . import devices
from .forms import ConfirmDeviceForm

if TYPE_CHECKING:
    from .sites import PrivacyAdminSite

# The new backup codes wait here between the set-up form and the page that shows them once.
BACKUP_CODES_SESSION_KEY = "privacy_kit_backup_codes"


def _next_url(request: HttpRequest, site: PrivacyAdminSite) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME, request.GET.get(REDIRECT_FIELD_NAME, ""))
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("admin:index", current_app=site.name)


@never_cache
@csrf_protect
def two_factor_setup(request: HttpRequest, site: PrivacyAdminSite) -> HttpResponse:
    """Show a new authenticator secret (QR code and text) and confirm it with a code."""
    if not site.needs_two_factor_setup(request):
        # Anonymous, not staff, or already has a device: the login page sorts them out.
        return HttpResponseRedirect(reverse("admin:login", current_app=site.name))
    device = devices.pending_totp_device(request.user)
    form = ConfirmDeviceForm(device, request.POST if request.method == "POST" else None)
    if form.is_valid():
        codes = devices.replace_backup_codes(request.user)
        # Verification raises the session's privilege: give it a new key, as login does.
        request.session.cycle_key()
        django_otp.login(request, form.device)
        request.session[BACKUP_CODES_SESSION_KEY] = codes
        url = reverse("admin:two_factor_backup_codes", current_app=site.name)
        if request.POST.get(REDIRECT_FIELD_NAME):
            url += "?" + urlencode({REDIRECT_FIELD_NAME: _next_url(request, site)})
        return HttpResponseRedirect(url)
    request.current_app = site.name
    context: dict[str, Any] = {
        **site.each_context(request),
        "title": _("Set up two-factor authentication"),
        "form": form,
        # Drawn by qrcode from the device's own URL: no user input reaches the markup.
        "qr_code": mark_safe(devices.qr_code_svg(device.config_url)),  # noqa: S308
        "secret": devices.totp_secret(device),
        "next": request.GET.get(REDIRECT_FIELD_NAME, ""),
    }
    return render(request, "privacy_kit/admin/two_factor_setup.html", context)


@never_cache
def backup_codes(request: HttpRequest, site: PrivacyAdminSite) -> HttpResponse:
    """Show the new backup codes, once."""
    codes = request.session.pop(BACKUP_CODES_SESSION_KEY, None)
    if not codes or not site.has_permission(request):
        return HttpResponseRedirect(reverse("admin:index", current_app=site.name))
    request.current_app = site.name
    context: dict[str, Any] = {
        **site.each_context(request),
        "title": _("Your backup codes"),
        "codes": codes,
        "next": _next_url(request, site),
    }
    return render(request, "privacy_kit/admin/backup_codes.html", context)

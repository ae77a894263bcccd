"""Two-factor pages of the admin site: set-up of the authenticator app, the backup codes, new backup codes, passkeys.

The set-up pages are reachable by staff who have only a password (the admin's
other pages are not), so each checks who may see it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import django_otp
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME, logout
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from ..conf import app_settings
from . import passkeys
from .backup_codes import backup_codes_text, replace_backup_codes
from .forms import ConfirmDeviceForm, PasskeyNameForm, ReverifyForm
from .totp import PENDING_DEVICE_SESSION_KEY, pending_totp_device, qr_code_svg, totp_secret

if TYPE_CHECKING:
    from .sites import PrivacyAdminSite

# The new backup codes wait here between the set-up form and the page that shows them once.
BACKUP_CODES_SESSION_KEY = "privacy_kit_backup_codes"
BACKUP_CODES_FILE_NAME = "backup-codes.txt"


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
    device = pending_totp_device(request.user, request.session)
    form = ConfirmDeviceForm(device, request.POST if request.method == "POST" else None, request=request)
    if form.is_valid():
        codes = replace_backup_codes(request.user, request=request)
        # Verification raises the session's privilege: give it a new key, as login does.
        request.session.cycle_key()
        django_otp.login(request, form.device)
        request.session.pop(PENDING_DEVICE_SESSION_KEY, None)
        # Verified here, maybe after a password-only login elsewhere: the admin's session limit applies.
        request.session.set_expiry(int(app_settings.ADMIN_SESSION_HOURS * 3600))
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
        "qr_code": mark_safe(qr_code_svg(device.config_url)),  # noqa: S308
        "secret": totp_secret(device),
        "next": request.GET.get(REDIRECT_FIELD_NAME, ""),
    }
    return render(request, "privacy_kit/admin/two_factor_setup.html", context)


@never_cache
def backup_codes(request: HttpRequest, site: PrivacyAdminSite) -> HttpResponse:
    """Show the new backup codes, once, with a link that downloads them as a text file.

    The file is in the page itself (a ``data:`` link): the codes are never served again.
    """
    codes = request.session.pop(BACKUP_CODES_SESSION_KEY, None)
    if not codes or not site.has_permission(request):
        return HttpResponseRedirect(reverse("admin:index", current_app=site.name))
    request.current_app = site.name
    context: dict[str, Any] = {
        **site.each_context(request),
        "title": _("Your backup codes"),
        "codes": codes,
        "download_url": "data:text/plain;charset=utf-8," + quote(backup_codes_text(codes, site.site_header)),
        "download_name": BACKUP_CODES_FILE_NAME,
        "next": _next_url(request, site),
    }
    return render(request, "privacy_kit/admin/backup_codes.html", context)


def reverify(request: HttpRequest, form_class: type[ReverifyForm] = ReverifyForm) -> ReverifyForm:
    """Return the form that asks the user's code again, bound on POST.

    A wrong code that makes django-axes lock the user out also ends the session:
    someone guessing codes in a logged-in session loses it.
    """
    form = form_class(request, request.POST if request.method == "POST" else None)
    if form.is_bound and not form.is_valid() and getattr(request, "axes_locked_out", False):
        logout(request)
    return form


@never_cache
@csrf_protect
def regenerate_backup_codes(request: HttpRequest, site: PrivacyAdminSite) -> HttpResponse:
    """Replace the user's backup codes after they enter a code again; the old codes stop working."""
    # Here, not at the top: a plugin's models cannot load while it is left out of INSTALLED_APPS.
    from django_otp.plugins.otp_static.models import StaticDevice

    if not site.has_permission(request):
        return HttpResponseRedirect(reverse("admin:login", current_app=site.name))
    form = reverify(request)
    if form.is_valid():
        codes = replace_backup_codes(request.user, request=request)
        # A session verified by an old backup code would lose its device with them.
        device = form.device
        if isinstance(device, StaticDevice):
            device = StaticDevice.objects.get(user=request.user)
        django_otp.login(request, device)
        request.session[BACKUP_CODES_SESSION_KEY] = codes
        return HttpResponseRedirect(reverse("admin:two_factor_backup_codes", current_app=site.name))
    if not request.user.is_authenticated:  # locked out while guessing: logged out
        return HttpResponseRedirect(reverse("admin:login", current_app=site.name))
    request.current_app = site.name
    context: dict[str, Any] = {
        **site.each_context(request),
        "title": _("New backup codes"),
        "form": form,
    }
    return render(request, "privacy_kit/admin/regenerate_backup_codes.html", context)


# Passkeys (privacy_kit.two_factor.passkeys): offered when django-otp-webauthn is installed.


@never_cache
@csrf_protect
@require_POST
def passkey_login_options(request: HttpRequest, site: PrivacyAdminSite) -> JsonResponse:
    """Return a passkey challenge for the login page; the login form then checks the password and the passkey.

    The challenge goes to the browser in a signed cookie, not in a session: an anonymous
    caller, however many times they call, writes nothing on the server.
    """
    options, state = passkeys.login_options(request)
    response = JsonResponse(options)
    login_path = reverse("admin:login", current_app=site.name)
    passkeys.set_login_state(response, state, path=login_path, secure=request.is_secure())
    return response


@never_cache
@csrf_protect
@require_POST
def passkey_registration_options(request: HttpRequest, site: PrivacyAdminSite) -> JsonResponse:
    """Return the options that create a passkey, for a staff user verified by a factor they have already."""
    if not site.has_permission(request):
        return JsonResponse({"detail": str(NOT_VERIFIED)}, status=403)
    return JsonResponse(passkeys.registration_options(request))


NOT_VERIFIED = _("Log in with your password and an existing factor first.")


@never_cache
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def passkey_list(request: HttpRequest, site: PrivacyAdminSite) -> HttpResponse:
    """List the user's passkeys and add one, named; the browser makes it (``passkey_registration_options``)."""
    if not site.has_permission(request):
        return HttpResponseRedirect(reverse("admin:login", current_app=site.name))
    form = PasskeyNameForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            device = passkeys.register_passkey(request, form.cleaned_data["name"], form.cleaned_data["response"])
        except passkeys.PasskeyRefused as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("Passkey “%(name)s” added.") % {"name": device.name})
            return HttpResponseRedirect(reverse("admin:two_factor_passkeys", current_app=site.name))
    request.current_app = site.name
    context: dict[str, Any] = {
        **site.each_context(request),
        "title": _("Your passkeys"),
        "form": form,
        "passkeys": passkeys.user_passkeys(request.user),
        "options_url": reverse("admin:two_factor_passkey_options", current_app=site.name),
    }
    return render(request, "privacy_kit/admin/passkeys.html", context)


@never_cache
@csrf_protect
@require_POST
def remove_passkey(request: HttpRequest, site: PrivacyAdminSite, pk: int) -> HttpResponse:
    """Remove one of the user's passkeys; a session it verified is verified no more (django-otp forgets it)."""
    if not site.has_permission(request):
        return HttpResponseRedirect(reverse("admin:login", current_app=site.name))
    if not passkeys.remove_passkey(request.user, pk):
        raise Http404("No such passkey of yours.")
    messages.success(request, _("Passkey removed."))
    return HttpResponseRedirect(reverse("admin:two_factor_passkeys", current_app=site.name))

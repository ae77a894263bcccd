"""Forms of the second factor: password and code at login, code at set-up, code again before a sensitive step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_otp.forms import OTPAuthenticationFormMixin

from ..conf import app_settings
from . import devices, passkeys, totp
from .failures import ReportsFailedCodes

if TYPE_CHECKING:
    # Not at run time: the admin site imports this module, and the models of a plugin left
    # out of INSTALLED_APPS cannot load (check privacy_kit.E042 names the line to add).
    from django_otp.plugins.otp_totp.models import TOTPDevice

CODE_HELP = _("The 6-digit code of your authenticator app, or one of your backup codes.")


def code_field(**kwargs: Any) -> forms.CharField:
    """Return a form field for a one-time code."""
    attrs = {"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
    return forms.CharField(label=_("Code"), max_length=32, widget=forms.TextInput(attrs=attrs), **kwargs)


class TwoFactorLoginForm(ReportsFailedCodes, OTPAuthenticationFormMixin, AdminAuthenticationForm):
    """Log a staff user in with the password and, once they have a device, a one-time code or a passkey.

    A staff user without a device passes with the password alone and is then sent
    to set one up: the site lets them reach nothing else until they have.
    A wrong code after a right password, and a passkey refused or cancelled, are
    reported as a failed login (``user_login_failed``), so that django-axes counts
    them like a wrong password.
    """

    otp_token = code_field(required=False, help_text=CODE_HELP)
    #: The browser's answer to the login page's passkey challenge (JSON), or "cancelled".
    passkey = forms.CharField(required=False, widget=forms.HiddenInput, max_length=16384)
    otp_error_messages = {
        **OTPAuthenticationFormMixin.otp_error_messages,
        "token_required": _("Enter the code of your authenticator app or a backup code, or use a passkey."),
        "invalid_token": _("That code is not valid. Enter the current code or an unused backup code."),
        # No device answers a code of that shape: it is simply a wrong code.
        "device_required": _("That code is not valid. Enter the current code or an unused backup code."),
    }

    def clean_otp_token(self) -> str:
        return devices.normalize_code(self.cleaned_data.get("otp_token") or "")

    def clean(self) -> dict[str, Any]:
        # Read before the password is checked; the login page then deletes it: a challenge serves one attempt.
        uses_passkey = bool(self.data.get("passkey")) and passkeys.passkeys_enabled() and self.request is not None
        state = passkeys.take_login_state(self.request) if uses_passkey else None
        cleaned_data = super().clean()
        user = self.get_user()
        if user is not None and app_settings.ADMIN_2FA_REQUIRED and devices.has_two_factor_device(user):
            if uses_passkey:
                self.check_passkey(user, state)
                return cleaned_data
            try:
                self.clean_otp(user)
            except forms.ValidationError as error:
                if getattr(error, "code", None) != "token_required":
                    self.report_failed_code(self.cleaned_data.get("username"))
                raise
        return cleaned_data

    def check_passkey(self, user: Any, state: dict[str, Any] | None) -> None:
        """Accept the user's passkey assertion (django-otp then marks the session verified by it), or fail counted."""
        try:
            user.otp_device = passkeys.verify_assertion(user, state, self.cleaned_data.get("passkey", ""), self.request)
        except passkeys.PasskeyRefused as error:
            self.report_failed_code(self.cleaned_data.get("username"))
            raise forms.ValidationError(str(error), code="invalid_passkey") from error

    def _chosen_device(self, user: Any) -> Any:
        return devices.device_for_code(user, self.cleaned_data.get("otp_token") or "")


class ConfirmDeviceForm(forms.Form):
    """Confirm a new authenticator app with the code it shows."""

    otp_token = code_field(help_text=_("The 6-digit code your authenticator app shows now."))

    error_messages = {
        "invalid_code": _("That code is not valid. Check the time of your phone and enter the current code."),
    }

    def __init__(self, device: TOTPDevice, *args: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.device = device
        self.request = request

    def clean_otp_token(self) -> str:
        code = devices.normalize_code(self.cleaned_data["otp_token"])
        if not totp.confirm_totp_device(self.device, code, request=self.request):
            raise forms.ValidationError(self.error_messages["invalid_code"], code="invalid_code")
        return code


class ReverifyForm(ReportsFailedCodes, forms.Form):
    """Ask a verified staff user for a one-time code again before a sensitive step.

    The code is checked once the other fields are valid; a right code is used up
    and ``device`` is then the device that accepted it. A wrong code is counted by
    django-axes like a wrong password at login.
    """

    otp_token = code_field(help_text=CODE_HELP)

    error_messages = {
        "invalid_code": _("That code is not valid. Enter the current code or an unused backup code."),
    }

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.user: Any = request.user
        self.device: Any = None

    def clean(self) -> dict[str, Any]:
        cleaned_data = super().clean()
        if not self.errors:
            self.device = devices.verify_code(self.user, cleaned_data["otp_token"])
            if self.device is None:
                self.report_failed_code(self.user.get_username())
                raise forms.ValidationError(self.error_messages["invalid_code"], code="invalid_code")
        return cleaned_data


class PasskeyNameForm(forms.Form):
    """Name a new passkey, so that its owner can tell it from their others ("Work laptop")."""

    name = forms.CharField(
        label=_("Name"),
        max_length=passkeys.PASSKEY_NAME_MAX_LENGTH,
        help_text=_("Where this passkey lives, for example “Work laptop” or “Phone”."),
    )
    #: The browser's answer to the registration challenge (JSON).
    response = forms.CharField(widget=forms.HiddenInput, max_length=16384)

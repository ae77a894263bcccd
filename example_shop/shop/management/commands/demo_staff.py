from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from example_shop.shop.demo import DEMO_PASSWORD, DEMO_USERNAME, base32_secret, ensure_demo_staff


class Command(BaseCommand):
    help = "Create (or reset) the demo's staff superuser and its TOTP device, and print how to log in. DEBUG only."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_staff sets a published password: it runs only with DEBUG on.")
        device = ensure_demo_staff()
        lines = [
            "Demo staff account for /admin/ (two-factor authentication on):",
            f"  username:    {DEMO_USERNAME}",
            f"  password:    {DEMO_PASSWORD}",
            f"  TOTP secret: {base32_secret(device)}  (for an authenticator app)",
            f"  otpauth URL: {device.config_url}",
            "  current code: python manage.py demo_totp",
        ]
        if apps.is_installed("django_otp_webauthn"):
            origin = next(iter(getattr(settings, "OTP_WEBAUTHN_ALLOWED_ORIGINS", [])), "http://localhost:8000")
            lines += [
                "Passkeys: open the admin at " + origin + "/admin/ (not 127.0.0.1: browsers make passkeys",
                "  for a domain name), log in with the password and a code, then on the admin index",
                "  follow 'Your passkeys', name it and press 'Add a passkey'. Next time, after the",
                "  password, press 'Use a passkey instead of a code'.",
            ]
        self.stdout.write("\n".join(lines))

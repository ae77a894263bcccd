from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from example_shop.shop.demo import current_code, demo_device


class Command(BaseCommand):
    help = "Print the current one-time code of the demo staff account (see demo_staff). DEBUG only."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_totp prints a login code: it runs only with DEBUG on.")
        device = demo_device()
        if device is None:
            raise CommandError("There is no demo staff account yet: run python manage.py demo_staff.")
        code, seconds_left = current_code(device)
        self.stdout.write(f"{code}  (valid for {seconds_left} more seconds; each code works once)")

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy_kit.breaches import FORMATS, LANGUAGES, breach_notice, render_notice
from privacy_kit.models import Breach


class Command(BaseCommand):
    help = (
        "Print the notice of a breach for the authority (PDPL IR Art. 24): every item of it, "
        "and the subjects to tell as the registry finds them (counts and account ids)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("breach", type=int, help="The number of the breach (its id in the admin).")
        parser.add_argument("--language", choices=LANGUAGES, default="en", help="en (the default) or ar.")
        parser.add_argument(
            "--format", choices=FORMATS, default="md", help="md (a readable document, the default) or json."
        )

    def handle(self, *args: Any, breach: int, language: str, format: str, **options: Any) -> None:
        found = Breach.objects.filter(pk=breach).first()
        if found is None:
            raise CommandError(f"No breach #{breach}; the admin lists the breaches recorded.")
        self.stdout.write(render_notice(breach_notice(found, language=language), format))

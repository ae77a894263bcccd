import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from privacy_kit.rights.inventory import as_markdown, inventory

FORMATS = ("md", "json")


class Command(BaseCommand):
    help = (
        "Print the records of processing generated from the personal-data registry and the field "
        "declarations (PDPL Art. 31): per model and field, category, subject, purposes, recipients, transfers "
        "outside the Kingdom, retention and action, and the measures (encryption, subject keys, admin access)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--format", choices=FORMATS, default="md", help="md (a readable document, the default) or json."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        entries = inventory()
        if options["format"] == "json":
            self.stdout.write(json.dumps(entries, indent=2))
        else:
            self.stdout.write(as_markdown(entries))

from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy_kit.management.progress import ProgressBar
from privacy_kit.rotation import encrypt_existing


class Command(BaseCommand):
    help = (
        "Encrypt the plaintext left in a column after its field became an encrypted field "
        "(change the field, migrate, then run this). Batched, safe to stop and run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", metavar="app_label.Model")
        parser.add_argument("field")
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be encrypted and list what would be refused."
        )
        parser.add_argument("--batch-size", type=int, help="Rows per batch (default PURGE_BATCH_SIZE).")

    def handle(self, *args: Any, model: str, field: str, dry_run: bool, batch_size: int | None, **options: Any) -> None:
        progress = ProgressBar(self.stdout) if options["verbosity"] > 0 else None
        try:
            report = encrypt_existing(
                apps.get_model(model), field, dry_run=dry_run, batch_size=batch_size, progress=progress
            )
        except (LookupError, FieldDoesNotExist, ValueError) as error:
            raise CommandError(str(error)) from error
        label = f"{report.model}.{report.field}"
        if not dry_run:
            self.stdout.write(f"{label}: encrypted {report.encrypted} values")
            return
        self.stdout.write(f"{label}: would encrypt {report.pending} values; would refuse {report.refused.total}")
        for line in report.refused.lines():
            self.stdout.write(line)

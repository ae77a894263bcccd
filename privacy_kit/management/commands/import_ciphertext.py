from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy_kit import peers
from privacy_kit.management.progress import ProgressBar
from privacy_kit.rotation import import_ciphertext


class Command(BaseCommand):
    help = (
        "Re-seal as privacy_kit values the values another library stored in these columns "
        "(switch the fields to privacy_kit's and migrate first). Each value is verified with "
        "that library's keys; one that does not verify is named by its row and left as it is. "
        "Batched, safe to stop and run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", required=True, choices=peers.SOURCES)
        parser.add_argument("model", metavar="app_label.Model")
        parser.add_argument("fields", nargs="+", metavar="field")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be imported; change nothing.")
        parser.add_argument("--batch-size", type=int, help="Rows per batch (default PURGE_BATCH_SIZE).")

    def handle(self, *args: Any, source: str, model: str, fields: list[str], dry_run: bool, **options: Any) -> None:
        progress = ProgressBar(self.stdout) if options["verbosity"] > 0 else None
        try:
            reports = import_ciphertext(
                apps.get_model(model),
                fields,
                source=source,
                dry_run=dry_run,
                batch_size=options["batch_size"],
                progress=progress,
            )
        except (LookupError, FieldDoesNotExist, ValueError) as error:
            raise CommandError(str(error)) from error
        for report in reports:
            self.stdout.write("\n".join(report.lines(dry_run=dry_run)))
        left = sum(report.left.total for report in reports)
        if left and not dry_run:
            raise CommandError(
                f"{left} values were left as they are (rows above): nothing was lost. "
                "Add the key that wrote them (SECRET_KEY_FALLBACKS, CRYPTOGRAPHY_KEY, SALT_KEY) or fix the rows, "
                "and run again."
            )

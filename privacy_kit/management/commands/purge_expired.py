from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy_kit import registry
from privacy_kit.retention import purge_policy


class Command(BaseCommand):
    help = "Delete or anonymize the rows whose retention period is over, as the Celery purge does, without a worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what is due per policy; change nothing.")
        parser.add_argument("--policy", action="append", metavar="app_label.Model", help="Only this policy.")

    def handle(self, *args: Any, dry_run: bool, policy: list[str] | None, **options: Any) -> None:
        names = policy or [entry.name for entry in registry.registrations() if entry.retention]
        for name in names:
            try:
                result = purge_policy(name, dry_run=dry_run)
            except (LookupError, ValueError) as error:
                raise CommandError(str(error)) from error
            verb = "would" if dry_run else "did"
            if result.skipped:
                self.stdout.write(f"{name}: skipped, another purge of it is running")
            else:
                self.stdout.write(f"{name}: {verb} delete {result.deleted}, anonymize {result.anonymized}")

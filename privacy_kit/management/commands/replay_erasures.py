from typing import Any

from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.base import DeserializationError
from django.db import transaction

from privacy_kit.models import ErasureRecord
from privacy_kit.rights import replay_erasures


class Command(BaseCommand):
    help = (
        "Erase again every subject of a completed erasure record, so that a database restored from a backup "
        "does not bring erased customers back. With --records, first load the erasure records saved with "
        "'manage.py dumpdata privacy_kit.ErasureRecord' after the backup was taken."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--records", metavar="FILE", help="A JSON file of erasure records from dumpdata, loaded before the replay."
        )

    def handle(self, *args: Any, records: str | None, **options: Any) -> None:
        if records:
            loaded = self.load_records(records)
            self.stdout.write(f"Loaded {loaded} erasure records from {records}.")
        try:
            result = replay_erasures()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Erased again: {result.replayed} subjects; kept by a legal hold: {result.held}.")
        for label, actions in sorted(result.counts.items()):
            done = ", ".join(f"{action} {number}" for action, number in sorted(actions.items()))
            self.stdout.write(f"  {label}: {done}")

    def load_records(self, path: str) -> int:
        """Save the erasure records of a dumpdata file (and nothing else) into the database."""
        user_ids = get_user_model()._base_manager.values_list("pk", flat=True)
        try:
            with open(path, encoding="utf-8") as stream, transaction.atomic():
                loaded = 0
                for item in serializers.deserialize("json", stream):
                    record = item.object
                    if not isinstance(record, ErasureRecord):
                        raise CommandError(f"{path} holds {record._meta.label} rows: give only erasure records.")
                    # The staff user who asked may not exist in the restored database.
                    if record.requested_by_id is not None and not user_ids.filter(pk=record.requested_by_id).exists():
                        record.requested_by_id = None
                    record.save()
                    loaded += 1
        except (OSError, DeserializationError) as error:
            raise CommandError(f"Cannot read erasure records from {path}: {error}") from error
        return loaded

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy_kit import crypto, keys
from privacy_kit.keys import store
from privacy_kit.management.progress import ProgressBar
from privacy_kit.models import SecurityEvent
from privacy_kit.rotation import rotate_keys
from privacy_kit.security.events import record_security_event


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value not sealed by the primary key (the first of "
        "PRIVACY_KIT['ENCRYPTION_KEYS']) or, in a row with a subject, not yet under the subject's key; "
        "then re-wrap the subject keys under the key provider's current key. In batches; safe to stop "
        "and run again. When it reports no value under an old key, that key can be removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("models", nargs="*", metavar="app_label.Model", help="Only these models.")
        parser.add_argument("--dry-run", action="store_true", help="Count values per key id; change nothing.")
        parser.add_argument(
            "--all",
            action="store_true",
            dest="reseal_all",
            help="Re-seal every value, e.g. after a new BLIND_INDEX_KEY.",
        )
        parser.add_argument(
            "--reindex",
            action="store_true",
            help="Also re-seal searchable values whose blind index predates the current normalization.",
        )
        parser.add_argument("--batch-size", type=int, help="Rows per batch (default PURGE_BATCH_SIZE).")

    def handle(
        self,
        *args: Any,
        models: list[str],
        dry_run: bool,
        reseal_all: bool,
        reindex: bool,
        batch_size: int | None,
        **options: Any,
    ) -> None:
        primary = crypto.keyring().primary_id.hex()
        progress = ProgressBar(self.stdout) if options["verbosity"] > 0 else None
        try:
            reports = rotate_keys(
                models,
                dry_run=dry_run,
                reseal_all=reseal_all,
                reindex=reindex,
                batch_size=batch_size,
                progress=progress,
            )
        except (LookupError, ValueError, crypto.DecryptionError) as error:
            raise CommandError(str(error)) from error
        for report in reports:
            counts = ", ".join(
                f"{key_id}{' (primary)' if key_id == primary else ''}: {count}"
                for key_id, count in sorted(report.values_by_key_id.items())
            )
            action = "would re-encrypt" if dry_run else "re-encrypted"
            missing = sum(report.missing_keys.values())
            done = report.pending if dry_run else report.resealed
            line = f"{report.model}.{report.field}: {counts or 'no values'}; {action} {done}"
            if missing:
                line += f"; cannot re-encrypt: key not configured: {missing} ({', '.join(sorted(report.missing_keys))})"
            self.stdout.write(line)
        try:
            rewrapped = store.stale_wraps() if dry_run else keys.rewrap(batch_size)
        except keys.KeyServiceError as error:
            raise CommandError(str(error)) from error
        if rewrapped:
            self.stdout.write(f"subject keys: {'would re-wrap' if dry_run else 're-wrapped'} {rewrapped}")
        if not dry_run:
            # Counts and model labels only: never a key, nor a key id.
            resealed = sum(report.resealed for report in reports)
            labels = ", ".join(sorted({report.model for report in reports})) or "no model"
            scope = "every value re-sealed" if reseal_all else "values under old keys re-encrypted"
            detail = f"{resealed} {scope}, {len(reports)} fields: {labels}; {rewrapped} subject keys re-wrapped"
            record_security_event(SecurityEvent.Kind.KEY_ROTATION, detail=detail)

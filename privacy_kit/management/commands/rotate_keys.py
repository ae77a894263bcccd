from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy_kit import crypto, keys
from privacy_kit.keys import store
from privacy_kit.management.progress import ProgressBar
from privacy_kit.models import SecurityEvent
from privacy_kit.rotation import BlindIndexReport, rotate_blind_index, rotate_erasure_references, rotate_keys
from privacy_kit.security.events import record_security_event


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value not sealed by the primary key (the first of "
        "PRIVACY_KIT['ENCRYPTION_KEYS']) or, in a row with a subject, not yet under the subject's key; "
        "then re-wrap the subject keys under the key provider's current key. In batches; safe to stop "
        "and run again. When it reports no value under an old key, that key can be removed. With "
        "--blind-index, move the blind indexes of searchable fields to PRIVACY_KIT['BLIND_INDEX_KEY'] instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("models", nargs="*", metavar="app_label.Model", help="Only these models.")
        parser.add_argument("--dry-run", action="store_true", help="Count values per key id; change nothing.")
        parser.add_argument(
            "--all",
            action="store_true",
            dest="reseal_all",
            help="Re-seal every value (for a new BLIND_INDEX_KEY, --blind-index re-seals only what moves).",
        )
        parser.add_argument(
            "--reindex",
            action="store_true",
            help="Also re-seal searchable values whose blind index predates the current normalization.",
        )
        parser.add_argument(
            "--blind-index",
            action="store_true",
            help="Re-seal the searchable values whose blind index is not under BLIND_INDEX_KEY "
            "(after moving the old key to BLIND_INDEX_KEY_FALLBACKS).",
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
        blind_index: bool = False,
        **options: Any,
    ) -> None:
        progress = ProgressBar(self.stdout) if options["verbosity"] > 0 else None
        if blind_index:
            if reseal_all or reindex:
                raise CommandError("--blind-index re-seals what it needs on its own: leave out --all and --reindex.")
            try:
                # The erasure records first: replay_erasures finds subjects by the current key.
                references = None if models else rotate_erasure_references(dry_run=dry_run)
                index_reports = rotate_blind_index(models, dry_run=dry_run, batch_size=batch_size, progress=progress)
            except (LookupError, ValueError, crypto.DecryptionError) as error:
                raise CommandError(str(error)) from error
            self._report_blind_index(index_reports, references, dry_run)
            return
        primary = crypto.keyring().primary_id.hex()
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
            detail = f"{resealed} {scope}, {len(reports)} fields: {labels}"
            if rewrapped:
                detail += f"; {rewrapped} subject keys re-wrapped"
            record_security_event(SecurityEvent.Kind.KEY_ROTATION, detail=detail)

    def _report_blind_index(self, reports: list[BlindIndexReport], references: int | None, dry_run: bool) -> None:
        if references is not None:
            action = "would move" if dry_run else "moved"
            self.stdout.write(f"privacy_kit.ErasureRecord.subject_ref: {action} {references}")
        for report in reports:
            counts = ", ".join(f"{outcome}: {count}" for outcome, count in sorted(report.values_by_index.items()))
            line = f"{report.model}.{report.field}: {counts or 'no values'}; "
            if dry_run:
                line += f"would re-index {report.pending}"
            else:
                line += f"re-indexed {report.resealed}"
                if report.pending > report.resealed:
                    line += f"; changed meanwhile (left as written): {report.pending - report.resealed}"
            self.stdout.write(line)
        if not dry_run:
            # Counts and model labels only: never a key.
            resealed = sum(report.resealed for report in reports)
            labels = ", ".join(sorted({report.model for report in reports})) or "no model"
            detail = (
                f"{resealed} values and {references or 0} erasure references moved to the current blind-index key, "
                f"{len(reports)} fields: {labels}"
            )
            record_security_event(SecurityEvent.Kind.KEY_ROTATION, detail=detail)

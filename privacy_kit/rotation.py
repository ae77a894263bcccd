"""Re-seal stored values: key rotation, and encrypting a column that still holds plaintext.

Both walk each table in primary-key batches (``PURGE_BATCH_SIZE``), one short
transaction per batch, and write with compare-and-swap (``WHERE column =
old``) so a value the application changed meanwhile is never overwritten.
Both are idempotent: after a crash, run them again and they carry on.
"""

from __future__ import annotations

import binascii
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import Count, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Cast

from . import crypto, keys, peers, registry
from .batches import primary_key_batches
from .conf import app_settings
from .fields import EncryptedField, split_stored

Progress = Callable[[str, int, int], None]
NOT_AN_ENVELOPE = "not encrypted"
SUBJECT_KEYS = "subject keys"
MISSING_KEY = (
    "{label} (pk {key}): sealed by key id {key_id}, which is not configured; "
    "add it back to PRIVACY_KIT['ENCRYPTION_KEYS'] (after the primary key) and run again."
)


# The rows a report names: enough to find them, bounded whatever the table size.
ROWS_NAMED = 20


@dataclass
class RowsLeft:
    """Values a pass left as they are: how many per reason, and the first ``ROWS_NAMED`` by primary key."""

    reasons: Counter = dataclass_field(default_factory=Counter)
    rows: list[tuple[Any, str]] = dataclass_field(default_factory=list)

    def add(self, key: Any, reason: str) -> None:
        self.reasons[reason] += 1
        if len(self.rows) < ROWS_NAMED:
            self.rows.append((key, reason))

    @property
    def total(self) -> int:
        return sum(self.reasons.values())

    def lines(self) -> list[str]:
        """Each row by primary key, never by value, and how many more."""
        lines = [f"  pk {key}: {reason}" for key, reason in self.rows]
        if self.total > len(self.rows):
            lines.append(f"  and {self.total - len(self.rows)} more")
        return lines


@dataclass
class FieldReport:
    """What a pass over one encrypted column found and did."""

    model: str
    field: str
    values_by_key_id: Counter = dataclass_field(default_factory=Counter)
    # Values sealed by a key that is not configured, per key id: nothing can re-seal them.
    missing_keys: Counter = dataclass_field(default_factory=Counter)
    # Values a run would re-seal (counted by a dry run): under an old key, or to move onto a subject's key.
    pending: int = 0
    # Compare-and-swap writes that matched: a value changed meanwhile is not counted.
    resealed: int = 0
    encrypted: int = 0
    # What encrypt_existing's dry run would refuse, by row.
    refused: RowsLeft = dataclass_field(default_factory=RowsLeft)


def encrypted_fields(model: type[models.Model]) -> list[EncryptedField]:
    """Return the encrypted fields stored in the model's own table."""
    return [field for field in model._meta.local_concrete_fields if isinstance(field, EncryptedField)]


def models_with_encrypted_fields(labels: Iterable[str] = ()) -> list[type[models.Model]]:
    """Return the concrete models (all, or those labelled ``app_label.Model``) with encrypted columns."""
    chosen = [apps.get_model(label) for label in labels] or apps.get_models()
    return [model for model in chosen if not model._meta.proxy and encrypted_fields(model)]


SUBJECT = "privacy_kit_subject"


def _stored_values(
    rows: models.QuerySet, fields: list[EncryptedField], batch: Q, *, load_keys: bool = True
) -> list[tuple[Any, ...]]:
    """Return (pk, subject, stored text...) of the rows in the batch, without decrypting anything.

    The subject is the row's subject id as text (``None`` for a model without subject keys
    or a row without a subject), as the database reports it. With ``load_keys``, the
    subjects' keys are loaded (and made where missing) for the batch's writes.
    """
    raw: dict[str, Any] = {
        f"stored_{field.attname}": ExpressionWrapper(F(field.attname), output_field=models.TextField())
        for field in fields
    }
    column = registry.subject_column(rows.model)
    text = models.TextField()
    owner = Cast(column.attname, output_field=text) if column is not None else Value(None, output_field=text)
    rows = rows.filter(batch).annotate(**{SUBJECT: owner}, **raw)
    found = list(rows.values_list("pk", SUBJECT, *raw))
    # Every key the batch needs, in one lookup before the batch's writes (and made where missing).
    subjects = {row[1] for row in found if row[1] is not None}
    if subjects and load_keys:
        keys.keys_for(subjects, create=True)
    return found


def _write(
    model: type[models.Model], field: EncryptedField, rows: list[tuple[Any, str, str, str | None]], using: str
) -> int:
    """Replace stored values, each only if it is still the value that was read; return how many matched.

    Each row is (primary key, old stored text, new stored text, subject as read). In a model
    with subject keys the row must still have the subject its value was sealed for: a row
    moved to another subject meanwhile is not written (its value would not open there).

    On PostgreSQL one ``UPDATE ... FROM unnest(...)`` per batch, the rows passed as
    arrays (a statement per row costs about 40 µs there); elsewhere one statement per
    row, through ``executemany``.
    """
    if not rows:
        return 0
    connection = connections[using]
    quote = connection.ops.quote_name
    pk = model._meta.pk
    column = quote(field.column)
    subject = registry.subject_column(model)
    # Only identifiers from the model's meta, quoted by the backend, enter the SQL text.
    table = quote(model._meta.db_table)
    keys = [pk.get_db_prep_value(row[0], connection) for row in rows]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            same_subject = (
                f"AND privacy_kit_row.{quote(subject.column)}::text IS NOT DISTINCT FROM privacy_kit_new.subject"
                if subject is not None
                else ""
            )
            sql = (
                f"UPDATE {table} AS privacy_kit_row SET {column} = privacy_kit_new.new "  # noqa: S608
                f"FROM unnest(%s::{pk.db_type(connection)}[], %s::text[], %s::text[], %s::text[]) "
                "AS privacy_kit_new (pk, old, new, subject) "
                f"WHERE privacy_kit_row.{quote(pk.column)} = privacy_kit_new.pk "
                f"AND privacy_kit_row.{column} = privacy_kit_new.old {same_subject}"
            )
            cursor.execute(sql, [keys, *([row[position] for row in rows] for position in (1, 2, 3))])
            return cursor.rowcount
        sql = f"UPDATE {table} SET {column} = %s WHERE {quote(pk.column)} = %s AND {column} = %s"  # noqa: S608
        params = [[new, key, old] for key, (_, old, new, _) in zip(keys, rows, strict=True)]
        if subject is not None:
            owner = quote(subject.column)
            sql += f" AND (CAST({owner} AS text) = %s OR ({owner} IS NULL AND %s IS NULL))"
            params = [[*param, row[3], row[3]] for param, row in zip(params, rows, strict=True)]
        cursor.executemany(sql, params)
        # The backends sum the rows of every statement: the swaps that matched.
        return cursor.rowcount


DUPLICATE = (
    "{label} is unique, and the rows pk {first} and pk {second} hold the same value: under the current "
    "blind-index key both get the same index, which the database refuses, so nothing of this batch was "
    "written. (The unique index cannot compare indexes made under different keys: during a blind-index "
    "rotation a duplicate saved without validation gets in.) Change or delete one of them and run again."
)


def _duplicate(
    model: type[models.Model], field: EncryptedField, changes: list[tuple[Any, str, str, str | None]], using: str
) -> list[Any] | None:
    """Return the primary keys of two rows whose new values of a unique field have one blind index."""
    holders: dict[str, set[Any]] = {}
    for key, _, new, _ in changes:
        holders.setdefault(split_stored(new)[0], set()).add(key)
    column = field.blind_index_field.attname
    rows = model._base_manager.using(using).filter(**{f"{column}__in": list(holders)})
    for key, index in rows.values_list("pk", column):
        holders[index].add(key)
    return next((sorted(keys)[:2] for keys in holders.values() if len(keys) > 1), None)


# (field, primary key, subject id or None, stored text) -> the new stored text, or None to leave it.
Rewrite = Callable[[EncryptedField, Any, "str | None", str], "str | None"]


def _rewrite_table(
    model: type[models.Model],
    fields: list[EncryptedField],
    rewrite: Rewrite,
    *,
    batch_size: int | None,
    progress: Progress | None,
    scope: Q | None = None,
    load_keys: bool = True,
    using: str | None = None,
) -> Counter:
    """Walk the table in primary-key batches and store each value for which ``rewrite`` returns a new one.

    Return, per field, how many values were written: those still unchanged when
    their compare-and-swap ran. A pass that writes nothing (a dry run) need not
    ``load_keys``, so it makes no subject key either.
    """
    written: Counter = Counter()
    size = batch_size or app_settings.PURGE_BATCH_SIZE
    using = using or router.db_for_write(model)
    rows = model._base_manager.using(using)
    scoped = rows.filter(scope) if scope is not None else rows.all()
    total, done = scoped.count(), 0
    for batch in primary_key_batches(scoped, size):
        field: EncryptedField | None = None
        changes: list[tuple[Any, str, str, str | None]] = []
        try:
            with transaction.atomic(using=using):
                rows = _stored_values(scoped, fields, batch, load_keys=load_keys)
                for position, field in enumerate(fields):
                    changes = []
                    for key, subject, *stored in rows:
                        # NULL and the empty string hold nothing to seal.
                        if stored[position]:
                            new = rewrite(field, key, subject, stored[position])
                            if new is not None:
                                changes.append((key, stored[position], new, subject))
                    written[field] += _write(model, field, changes, using)
        except IntegrityError:
            if field is None or not (field.unique and field.searchable):
                raise
            duplicate = _duplicate(model, field, changes, using)
            if duplicate is None:
                raise
            raise ValueError(
                DUPLICATE.format(label=f"{model._meta.label}.{field.name}", first=duplicate[0], second=duplicate[1])
            ) from None
        done += len(rows)
        if progress:
            progress(model._meta.label, done, total)
    return written


def rotate_keys(
    labels: Iterable[str] = (),
    *,
    dry_run: bool = False,
    reseal_all: bool = False,
    reindex: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
    start: Any = None,
    end: Any = None,
) -> list[FieldReport]:
    """Re-encrypt under the primary key every value sealed by another key (or with a stale index form).

    With ``dry_run``, only count the values per key id. With ``reseal_all``,
    re-seal every value, which also recomputes every blind index (after a
    change of ``BLIND_INDEX_KEY``). With ``reindex``, also open every value of a
    searchable field and re-seal it when its blind index is not the one the
    current normalization gives (after an upgrade that changed normalization):
    resumable, since values already re-indexed match. ``start`` and ``end`` limit the work to
    ``start <= pk < end``: the chunk of one Celery task.
    """
    ring = crypto.keyring()
    primary_id = ring.primary_id
    reports: dict[EncryptedField, FieldReport] = {}

    def reseal(field: EncryptedField, key: Any, subject: str | None, stored: str) -> str | None:
        report = reports[field]
        index, token = split_stored(stored)
        if crypto.is_subject_envelope(token):
            report.values_by_key_id[SUBJECT_KEYS] += 1
            if subject is None:
                return None  # the row lost its subject: the value cannot be opened, and stays as it is
            current = True
        else:
            identifier = crypto.envelope_key_id(token)
            report.values_by_key_id[identifier.hex() if identifier else NOT_AN_ENVELOPE] += 1
            if identifier is not None and identifier not in ring.ciphers:
                if dry_run:
                    report.missing_keys[identifier.hex()] += 1
                    return None
                raise ValueError(
                    MISSING_KEY.format(label=f"{report.model}.{report.field}", key=key, key_id=identifier.hex())
                )
            # Under a shared key, current only where the row has no subject whose key it moves to.
            current = identifier == primary_id and bool(index) == field.searchable and subject is None
        if dry_run:
            report.pending += 0 if current else 1
            return None
        if current and not reseal_all and not (reindex and index):
            return None
        text = field.open(stored, subject)
        if current and not reseal_all and ring.blind_index(field.binding, field.normalize(text)) == index:
            return None
        return field.seal(text, subject)

    for model in models_with_encrypted_fields(labels):
        fields = encrypted_fields(model)
        reports.update((field, FieldReport(model._meta.label, field.name)) for field in fields)
        scope = Q(pk__gte=start, pk__lt=end) if start is not None else None
        written = _rewrite_table(
            model, fields, reseal, batch_size=batch_size, progress=progress, scope=scope, load_keys=not dry_run
        )
        for field in fields:
            reports[field].resealed = written[field]
    return list(reports.values())


# What a blind-index rotation finds in each value: the key its index is under.
INDEX_CURRENT = "current key"
INDEX_FALLBACK = "fallback key"
# Under no configured key: a key already removed from the fallbacks, or an older normalization.
INDEX_UNKNOWN = "no configured key"
INDEX_NONE = "no index"
INDEX_UNREADABLE = "cannot decrypt"


@dataclass
class BlindIndexReport:
    """What a blind-index rotation found in one searchable column, and how many values it re-indexed."""

    model: str
    field: str
    values_by_index: Counter = dataclass_field(default_factory=Counter)
    # Compare-and-swap writes that matched: a value the application changed meanwhile is not counted.
    resealed: int = 0

    @property
    def pending(self) -> int:
        """Values whose index is not under the current key: those a run re-seals (or would, in a dry run)."""
        return sum(count for outcome, count in self.values_by_index.items() if outcome != INDEX_CURRENT)


def rotate_blind_index(
    labels: Iterable[str] = (),
    *,
    dry_run: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
    start: Any = None,
    end: Any = None,
) -> list[BlindIndexReport]:
    """Re-seal every searchable value whose blind index is not under the current ``BLIND_INDEX_KEY``.

    An index is a keyed hash: which key made it shows only by recomputing it from
    the plaintext, so each value is opened and its index computed under the current
    key; values that already match are left alone (a second run re-seals none).
    With ``dry_run``, only count. ``start`` and ``end`` limit the work to
    ``start <= pk < end``: the chunk of one Celery task.
    """
    ring = crypto.keyring()
    reports: dict[EncryptedField, BlindIndexReport] = {}

    def reindex(field: EncryptedField, key: Any, subject: str | None, stored: str) -> str | None:
        report = reports[field]
        index, _ = split_stored(stored)
        try:
            text = field.open(stored, subject)
        except crypto.DecryptionError as error:
            if dry_run:
                report.values_by_index[INDEX_UNREADABLE] += 1
                return None
            raise ValueError(f"{report.model}.{report.field} (pk {key}): {error}") from None
        normalized = field.normalize(text)
        if index and ring.blind_index(field.binding, normalized) == index:
            report.values_by_index[INDEX_CURRENT] += 1
            return None
        if not index:
            outcome = INDEX_NONE
        elif index in ring.fallback_blind_indexes(field.binding, normalized):
            outcome = INDEX_FALLBACK
        else:
            outcome = INDEX_UNKNOWN
        report.values_by_index[outcome] += 1
        return None if dry_run else field.seal(text, subject)

    for model in models_with_encrypted_fields(labels):
        fields = [field for field in encrypted_fields(model) if field.searchable]
        if not fields:
            continue
        reports.update((field, BlindIndexReport(model._meta.label, field.name)) for field in fields)
        scope = Q(pk__gte=start, pk__lt=end) if start is not None else None
        written = _rewrite_table(
            model, fields, reindex, batch_size=batch_size, progress=progress, scope=scope, load_keys=not dry_run
        )
        for field in fields:
            reports[field].resealed = written[field]
    return list(reports.values())


def rotate_erasure_references(*, dry_run: bool = False) -> int:
    """Move erasure records' subject references from a fallback blind-index key to the current one.

    An ``ErasureRecord`` names its subject by a keyed hash of the user's primary key,
    which ``replay_erasures`` recomputes under the current key. The users table is
    read in key order and each reference under a fallback key is replaced; a record
    whose user row is gone keeps its reference. Return how many records moved (or would).
    """
    from django.contrib.auth import get_user_model

    from .batches import key_pages
    from .rights.erasure import SUBJECT_BINDING
    from .rights.models import ErasureRecord

    ring = crypto.keyring()
    if not ring.blind_index_fallbacks:
        return 0
    stale = Counter(ErasureRecord.objects.values_list("subject_ref", flat=True))
    moved = 0
    for page in key_pages(get_user_model()._base_manager.values_list("pk"), 5000):
        for (pk,) in page:
            for reference in ring.fallback_blind_indexes(SUBJECT_BINDING, str(pk)):
                if reference not in stale:
                    continue
                if dry_run:
                    moved += stale[reference]
                else:
                    current = ring.blind_index(SUBJECT_BINDING, str(pk))
                    moved += ErasureRecord.objects.filter(subject_ref=reference).update(subject_ref=current)
    return moved


def sealed_key_id(stored: str) -> bytes | None:
    """Return the key id of a stored text that is a well-formed envelope, whatever its key, else ``None``.

    The key need not be configured: a value sealed by a removed key is still
    ciphertext, and must never be taken for plaintext and sealed again.
    """
    _, token = split_stored(stored)
    identifier = crypto.envelope_key_id(token)
    if identifier is None:
        return None
    try:
        raw = binascii.a2b_base64(token, strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    return identifier if len(raw) >= crypto.MIN_ENVELOPE_BYTES else None


def encrypt_existing(
    model: type[models.Model],
    field_name: str,
    *,
    dry_run: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> FieldReport:
    """Encrypt, in place, the values of an encrypted field's column that still hold plaintext.

    Run it after changing a plain field to an encrypted one and migrating: the
    column then holds plaintext that this turns into ciphertext, batch by batch. A value
    that is not a plaintext of the field (another library's ciphertext, a privacy_kit
    value that does not open in this column and row, a value of the wrong type) stops it
    with the row named; with ``dry_run``, every such row is listed and nothing changes.
    """
    field = model._meta.get_field(field_name)
    if not isinstance(field, EncryptedField):
        raise ValueError(
            f"{model._meta.label}.{field_name} is not an encrypted field; change it to one and migrate first."
        )
    report = FieldReport(model._meta.label, field.name)
    ring = crypto.keyring()
    label = f"{report.model}.{report.field}"

    def refuse(key: Any, reason: str, advice: str) -> str | None:
        """Stop at the row, or in a dry run list it; return that it is left as it is."""
        if not dry_run:
            raise ValueError(f"{label} (pk {key}): {reason}. {advice}")
        report.refused.add(key, reason)
        return None

    def seal_plaintext(field: EncryptedField, key: Any, subject: str | None, stored: str) -> str | None:
        foreign = peers.foreign_ciphertext(stored)
        if foreign:
            return refuse(
                key,
                f"the stored value is {foreign}, not a plaintext",
                "Encrypting it would keep that ciphertext and lose the value: decrypt it with the library "
                "that wrote it first (import_ciphertext reads django-cryptography's and fernet-encrypted-fields').",
            )
        subject_envelope = crypto.is_subject_envelope(split_stored(stored)[1])
        identifier = None if subject_envelope else sealed_key_id(stored)
        if identifier is not None and identifier not in ring.ciphers:
            if not dry_run:
                raise ValueError(MISSING_KEY.format(label=label, key=key, key_id=identifier.hex()))
            return refuse(key, f"sealed by key id {identifier.hex()}, which is not configured", "")
        if subject_envelope or identifier is not None:
            # Already encrypted, if it is this row's own: a value copied from another column
            # or row is ciphertext that opens nowhere here, and is named rather than skipped.
            if subject_envelope and subject is None:
                return None  # the row lost its subject: nothing can tell
            try:
                field.open(stored, subject)
            except crypto.KeyDestroyed:
                return None
            except crypto.DecryptionError:
                return refuse(
                    key,
                    "the stored value is a privacy_kit value that does not open in this column and row "
                    "(copied from another column or row, or altered)",
                    "Encrypting it again would lose it: put the row's own value back.",
                )
            return None
        try:
            text = field.value_to_text(field.get_prep_value(field.text_to_value(stored)))
        except (crypto.DecryptionError, ValueError, TypeError, ArithmeticError, RecursionError):
            # RecursionError: JSON nested too deep to read; ArithmeticError: a datetime UTC puts past 9999.
            return refuse(
                key,
                f"the stored plaintext is not a valid {type(field).__name__.removeprefix('Encrypted')} value",
                "Fix that row first.",
            )
        if dry_run:
            report.pending += 1
            return None
        return field.seal(text, subject)

    written = _rewrite_table(
        model, [field], seal_plaintext, batch_size=batch_size, progress=progress, load_keys=not dry_run
    )
    report.encrypted = written[field]
    return report


@dataclass
class ImportReport:
    """What importing another library's values into one encrypted column found and did."""

    model: str
    field: str
    # Compare-and-swap writes that matched: a value the application changed meanwhile is not counted.
    imported: int = 0
    # Values a run would import (counted by a dry run).
    pending: int = 0
    # Values that are privacy_kit's already: imported by an earlier run, or written since.
    already: int = 0
    # Values left as they are (a MAC that does not verify, a pickle refused, ...).
    left: RowsLeft = dataclass_field(default_factory=RowsLeft)

    def lines(self, *, dry_run: bool = False) -> list[str]:
        """Say what was found, then each row left as it is."""
        done = f"would import {self.pending}" if dry_run else f"imported {self.imported}"
        head = f"{self.model}.{self.field}: {done}; already privacy_kit's {self.already}; left as they are"
        return [f"{head} {self.left.total}", *self.left.lines()]


def import_ciphertext(
    model: type[models.Model],
    field_names: Iterable[str],
    *,
    source: str,
    dry_run: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
    using: str | None = None,
) -> list[ImportReport]:
    """Re-seal, in place, the values another library (``source``, one of ``peers.SOURCES``) stored.

    Run it after switching the fields to privacy_kit's and migrating the columns to text.
    Each value is verified with that library's own keys (``privacy_kit.peers``) and sealed
    as a privacy_kit value, under the subject's key where the model has subject keys. A
    value that does not verify or does not fit the field is left as it is and reported by
    its row. Batched, one short transaction per batch, compare-and-swap: safe to stop and
    run again, values already imported are skipped.
    """
    if source not in peers.SOURCES:
        raise ValueError(f"Unknown source {source!r}: choose one of {', '.join(peers.SOURCES)}.")
    fields = []
    for name in field_names:
        field = model._meta.get_field(name)
        if not isinstance(field, EncryptedField):
            raise ValueError(
                f"{model._meta.label}.{name} is not an encrypted field; switch it to privacy_kit's and migrate first."
            )
        fields.append(field)
    reports = {field: ImportReport(model._meta.label, field.name) for field in fields}
    if source == peers.DJANGO_CRYPTOGRAPHY:
        keys: Any = peers.django_cryptography_keys()
    else:
        keys = peers.fernet_fields_keys()

    def open_peer(field: EncryptedField, stored: Any) -> Any:
        if source == peers.DJANGO_CRYPTOGRAPHY:
            raw = peers.stored_bytes(stored)
            if raw is None:
                raise peers.Unreadable("not binary data, so not a django-cryptography value")
            return peers.open_django_cryptography(raw, keys)
        if not isinstance(stored, str):
            raise peers.Unreadable("binary data, so not a fernet-encrypted-fields value")
        return peers.open_fernet_fields(stored, keys, json_leaves=isinstance(field, models.JSONField))

    copies = {field: _copied_across_subjects(model, field, using) for field in fields}

    def reseal(field: EncryptedField, key: Any, subject: str | None, stored: Any) -> str | None:
        report = reports[field]
        if isinstance(stored, str) and _is_ours(stored):
            report.already += 1
            return None
        if copies[field] and _digest(stored) in copies[field]:
            report.left.add(key, COPIED)
            return None
        try:
            value = field.get_prep_value(field.to_python(open_peer(field, stored)))
            text = None if value is None else field.value_to_text(value)
        except (peers.Unreadable, peers.Refused) as error:
            report.left.add(key, str(error))
            return None
        except (ValidationError, ValueError, TypeError, ArithmeticError, RecursionError):
            # ArithmeticError: infinity as an integer, an aware datetime in year 9999 that UTC puts past it.
            report.left.add(key, f"its value is not a valid {type(field).__name__.removeprefix('Encrypted')} value")
            return None
        if text is None:
            report.left.add(key, "it holds None: set the row's value by hand")
            return None
        if dry_run:
            report.pending += 1
            return None
        return field.seal(text, subject)

    written = _rewrite_table(
        model, fields, reseal, batch_size=batch_size, progress=progress, load_keys=not dry_run, using=using
    )
    for field, report in reports.items():
        report.imported = written[field]
    return list(reports.values())


COPIED = "the same ciphertext is in rows of other subjects: a copy, and which row it belongs to cannot be told"


def _digest(stored: Any) -> bytes:
    return hashlib.sha256(stored.encode() if isinstance(stored, str) else bytes(stored)).digest()


def _copied_across_subjects(model: type[models.Model], field: EncryptedField, using: str | None) -> set[bytes]:
    """Return the digests of the stored values that rows of more than one subject hold.

    The other libraries bind a value to nothing but its key, and draw a random IV per value:
    the same ciphertext in two subjects' rows was copied, and importing it would seal the
    copy under its new row's subject. One grouped query, before the walk.
    """
    column = registry.subject_column(model)
    if column is None:
        return set()
    stored = ExpressionWrapper(F(field.attname), output_field=models.TextField())
    rows = model._base_manager.using(using or router.db_for_write(model)).filter(**{f"{field.attname}__isnull": False})
    shared = (
        rows.annotate(privacy_kit_stored=stored)
        .values("privacy_kit_stored")
        .annotate(owners=Count(column.attname, distinct=True))
        .filter(owners__gt=1)
        .values_list("privacy_kit_stored", flat=True)
    )
    return {_digest(value) for value in shared.iterator()}


def _is_ours(stored: str) -> bool:
    """Return whether a stored text is a privacy_kit value (under a subject's key or a shared one)."""
    return crypto.is_subject_envelope(split_stored(stored)[1]) or sealed_key_id(stored) is not None

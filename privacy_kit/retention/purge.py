"""The retention engine behind the purge tasks.

Plain functions: ``expired()`` says which rows of a registration are due,
``purge_policy()`` deletes or anonymizes them in primary-key batches (one short
transaction each) and logs a ``PurgeRun``; ``plan_purge()`` cuts large tables
into chunks that several workers can purge side by side. Cut-offs are computed
when a run starts, so running twice, or at once, changes nothing more.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connections, models, router, transaction
from django.db.models import Exists, ExpressionWrapper, F, Max, Min, OuterRef, Q
from django.db.models.sql import UpdateQuery
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from privacy_kit import registry
from privacy_kit.batches import KeyRanges, delete_rows, heard, range_delete, range_delete_statement
from privacy_kit.conf import app_settings
from privacy_kit.fields import EncryptedField
from privacy_kit.ledger import AppendOnlyQuerySet

# A chunk spans this many batches of primary keys: the unit one worker takes.
BATCHES_PER_CHUNK = 10
ANONYMOUS_DATE = datetime.date(1970, 1, 1)


@dataclass
class PurgeResult:
    """What one run of a policy did (or, in a dry run, would do)."""

    policy: str
    chunk: str = ""
    deleted: int = 0
    anonymized: int = 0
    skipped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__}


def anonymous_value(field: models.Field) -> Any:
    """Return the value that replaces personal data in ``field``: NULL, empty, or a placeholder it accepts."""
    if field.null:
        return None
    if isinstance(field, (models.CharField, models.TextField)):
        return ""
    if isinstance(field, models.JSONField):
        return {}
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, (models.IntegerField, models.FloatField, models.DecimalField)):
        return 0
    if isinstance(field, models.DateTimeField):
        return datetime.datetime.combine(ANONYMOUS_DATE, datetime.time(), tzinfo=datetime.UTC)
    if isinstance(field, models.DateField):
        return ANONYMOUS_DATE
    raise TypeError(f"{field.model._meta.label}.{field.name} has no anonymous value; make it nullable.")


def anonymized_fields(registration: registry.Registration) -> list[models.Field]:
    """Return the personal fields that anonymization overwrites (all but ``keep_fields``)."""
    assert registration.retention is not None
    keep = set(registration.retention.keep_fields)
    meta = registration.model._meta
    return [meta.get_field(name) for name in registration.personal_fields if name not in keep]  # type: ignore[misc]


def not_yet_anonymous(queryset: models.QuerySet, fields: list[models.Field]) -> models.QuerySet:
    """Keep the rows in which some field still differs from its anonymous value.

    An encrypted field is compared by its stored text, which is empty exactly
    when the value is empty; for a value it cannot compare without decrypting,
    no row is left out (anonymizing again changes nothing).
    """
    differs = Q()
    for field in fields:
        value = anonymous_value(field)
        if value is None:
            differs |= Q(**{f"{field.name}__isnull": False})
        elif isinstance(field, EncryptedField):
            if value != "":
                return queryset
            alias = f"stored_{field.name}"
            queryset = queryset.annotate(**{alias: ExpressionWrapper(F(field.name), output_field=models.TextField())})
            differs |= ~Q(**{alias: ""})
        else:
            differs |= ~Q(**{field.name: value})
    return queryset.filter(differs) if differs else queryset


def _limit(field: models.Field, now: datetime.datetime, days: int) -> Any:
    limit = now - datetime.timedelta(days=days)
    return limit if isinstance(field, models.DateTimeField) else cutoff_date(limit)


def cutoff_date(limit: datetime.datetime) -> datetime.date:
    """Return the date a ``DateField`` is compared with: the cut-off's date in the current time zone.

    A date column holds the shop's local date, so the UTC date of the cut-off
    would keep rows a day too long east of UTC and delete them a day early west of it.
    """
    return timezone.localdate(limit) if timezone.is_aware(limit) else limit.date()


def inactive_users(since: datetime.datetime) -> models.QuerySet:
    """Return the users whose last activity is older than ``since``, computed in SQL.

    Last activity is the latest of ``last_login``, ``date_joined`` and the date
    field of every registered row of the user: the end of the period of dealing.
    """
    user_model = get_user_model()
    names = {field.name for field in user_model._meta.get_fields()}
    users = user_model._default_manager.all()
    if "last_login" in names:
        users = users.filter(Q(last_login__lt=since) | Q(last_login__isnull=True))
    if "date_joined" in names:
        users = users.filter(date_joined__lt=since)
    for entry in registry.registrations():
        if entry.subject_path and entry.retention:
            date_field = entry.model._meta.get_field(entry.retention.date_field)
            boundary = since if isinstance(date_field, models.DateTimeField) else cutoff_date(since)
            recent = entry.model._base_manager.filter(
                **{entry.subject_path: OuterRef("pk"), f"{entry.retention.date_field}__gte": boundary}
            )
            users = users.filter(~Exists(recent))
    return users


def held_subjects() -> models.QuerySet:
    """Return the ids of the users under an active legal hold."""
    from privacy_kit.models import LegalHold

    return LegalHold.objects.active().values("subject_id")


def expired(
    registration: registry.Registration, now: datetime.datetime | None = None, *, batch: Q | None = None
) -> models.QuerySet:
    """Return the rows of a registration that its retention policy says are due now (within ``batch``).

    On the relationship basis, ``batch`` (a filter on the rows, such as a range of
    primary keys) also bounds the users looked at: only the subjects of the batch's
    rows are checked for activity, so a batch reads the users table for them, not
    whole, and the cost of a purge grows with its rows, not with users x batches.
    """
    retention = registration.retention
    if retention is None:
        raise ValueError(f"{registration.name} has no retention policy.")
    now = now or timezone.now()
    model = registration.model
    rows = model._base_manager.all()
    if batch is not None:
        rows = rows.filter(batch)
    date_field = model._meta.get_field(retention.date_field)
    if retention.basis == registry.AGE:
        rows = rows.filter(**{f"{retention.date_field}__lt": _limit(date_field, now, retention.days)})
    else:
        since = now - datetime.timedelta(days=retention.days)
        subjects = inactive_users(since)
        if batch is not None:
            subjects = subjects.filter(pk__in=rows.values(registration.subject_path))
        path = registration.subject_path
        # A row of nobody (a guest's, or its user since deleted) has no relationship to last
        # as long as: its own date ends its period, as on the age basis.
        nobodys = Q(**{f"{path}__isnull": True, f"{retention.date_field}__lt": _limit(date_field, now, retention.days)})
        rows = rows.filter(Q(**{f"{path}__in": subjects.values("pk")}) | nobodys)
    for path in registration.legal_hold_paths:
        rows = rows.exclude(**{f"{path}__in": held_subjects()})
    for relation in retention.keep_while_linked:
        # Kept while a row of that relation points at it: an event escalated into a breach lives as long as the breach.
        rows = rows.filter(**{f"{relation}__isnull": True})
    if retention.action == registry.ANONYMIZE:
        rows = not_yet_anonymous(rows, anonymized_fields(registration))
    return rows


def _lock_key(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256(":".join(("privacy_kit", *parts)).encode()).digest()[:8], "big", signed=True)


@contextmanager
def policy_lock(name: str, chunk: str, using: str) -> Iterator[bool]:
    """Hold the lock of a policy (or of one chunk of it) for the run; yield False if another run holds it.

    On PostgreSQL these are session advisory locks, which the server drops when
    a killed worker's connection goes. A whole-policy run takes the policy's
    lock exclusively; a chunk run shares it with the other chunks and takes its
    chunk's lock exclusively, so a policy never runs twice over the same rows.
    Elsewhere runs are not locked against each other and rely on being idempotent.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield True
        return
    taken: list[str] = []
    steps = [("pg_try_advisory_lock", _lock_key(name))]
    if chunk:
        steps = [("pg_try_advisory_lock_shared", _lock_key(name)), ("pg_try_advisory_lock", _lock_key(name, chunk))]
    try:
        with connection.cursor() as cursor:
            for function, key in steps:
                cursor.execute(f"SELECT {function}(%s)", [key])
                if not cursor.fetchone()[0]:
                    break
                taken.append(function.replace("try_", "").replace("lock", "unlock") + f"({key})")
        yield len(taken) == len(steps)
    finally:
        with connection.cursor() as cursor:
            for release in reversed(taken):
                cursor.execute(f"SELECT {release}")


def lock_holds(using: str, *, exclusive: bool) -> None:
    """Hold the legal holds' advisory lock until the transaction ends: exclusive to place a hold, shared for a batch.

    Placing or releasing a hold waits for the purge and erasure batches in flight,
    and a batch waits for a hold being placed, so a batch that re-reads the holds
    after taking the lock sees every hold committed before it. Without this, a
    batch waiting on a row lock would go on with the holds it read before the
    wait. A batch reads at read committed: in a transaction of its own it sets it
    (whatever the session's or Django's level), and inside a caller's transaction at
    a stricter level, whose snapshot is older than the lock, it raises
    ``TransactionManagementError`` rather than miss a hold. Elsewhere than on
    PostgreSQL writes serialize on their own and this does nothing.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    if not connection.in_atomic_block:
        raise RuntimeError("lock_holds() must run inside transaction.atomic(): the lock ends with the transaction.")
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    statement = f"SELECT {function}({_HOLDS_LOCK}), current_setting('transaction_isolation')"
    if not exclusive and not connection.savepoint_ids and connection.commit_on_exit:
        # A batch's own transaction, this its first statement. One message, no parameters.
        statement = _READ_COMMITTED + statement
    with connection.cursor() as cursor:
        cursor.execute(statement)
        [(_, isolation)] = _last_rows(cursor)
    if not exclusive and isolation != "read committed":
        raise TransactionManagementError(
            f"privacy_kit cannot purge or erase inside a transaction at {isolation.upper()}: it would not "
            "see the legal holds placed meanwhile. Run it outside your transaction, or at READ COMMITTED."
        )


# Makes a batch's transaction read committed, so that its statements after the holds' lock see
# every hold committed while it waited (a repeatable-read snapshot is taken before the wait).
_READ_COMMITTED = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; "
_HOLDS_LOCK = _lock_key("legal_holds")


def _last_rows(cursor: Any) -> list[Any]:
    """Return the rows of the last statement of a message of several (psycopg 3 keeps each one's result)."""
    while cursor.description is None and cursor.nextset():
        pass
    return cursor.fetchall()


@contextmanager
def relaxed_commits(using: str) -> Iterator[None]:
    """Let PostgreSQL acknowledge the commits of the batches inside before they reach the disk.

    Safe here: a crash can lose only the last batches of a purge, and the next
    run, which computes the same cut-off, does them again. It saves a flush per
    batch. The connection keeps the setting for the walk (not ``SET LOCAL`` in each
    batch, which would cost a statement a batch) and gets its own back after, so
    the run's record and whatever the connection does next commit as before.
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        # Inside a caller's transaction nothing commits before the caller does, and the
        # setting read there may be the transaction's own (SET LOCAL), not the session's.
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('synchronous_commit')")
        [previous] = cursor.fetchone()
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        if interrupted_statement(connection):
            # Interrupted inside a statement (Celery's soft time limit is a signal that raises
            # wherever the worker is): the statement still runs in the server and the connection
            # can send nothing more. Cancel it and close the connection, which takes the setting
            # and the run's session locks with it; the run's record is written on a new one.
            connection.connection.cancel()
            connection.close()
        else:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('synchronous_commit', %s, false)", [previous])
            except DatabaseError:
                # Only after an error: a broken connection takes the setting with it.
                pass


# libpq's PQTRANS_ACTIVE, as psycopg and psycopg2 report it: a statement is in flight.
_STATEMENT_IN_FLIGHT = 1


def interrupted_statement(connection: Any) -> bool:
    """Say whether the connection's last statement is still running: an exception left it without its result."""
    raw = connection.connection
    return raw is not None and not raw.closed and raw.info.transaction_status == _STATEMENT_IN_FLIGHT


def batch_transaction(using: str, *, locks_holds: bool, counts: bool) -> AbstractContextManager[Any]:
    """Return the transaction of one purge batch: none for the counting of a dry run.

    A batch that takes the legal holds' lock needs a transaction for the lock to
    last, and a batch that adds its count to the run's record (``counts``, every batch
    that changes rows) needs one for the count to commit with its rows: a worker
    killed midway leaves a record that says what it did. Inside a caller's
    transaction every batch gets a savepoint, so that a batch that fails leaves that
    transaction usable.
    """
    if locks_holds or counts or connections[using].in_atomic_block:
        return transaction.atomic(using=using)
    return nullcontext()


def run_counter(run: Any, action: str, using: str) -> Callable[[int], None]:
    """Return a function that adds a batch's count to the run's deleted (or anonymized) rows, built once."""
    connection, meta = connections[using], run._meta
    quote = connection.ops.quote_name
    column = quote(meta.get_field("deleted" if action == registry.DELETE else "anonymized").column)
    # Names from the model's meta, quoted; the values are parameters.
    statement = f"UPDATE {quote(meta.db_table)} SET {column} = {column} + %s WHERE {quote(meta.pk.column)} = %s"  # noqa: S608

    def add(count: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(statement, [count, run.pk])

    return add


# Quotes a batch's DO block (``BatchMessage``); a statement holding it is sent otherwise.
_BLOCK_TAG = "$privacy_kit_batch$"


class BatchMessage:
    """On PostgreSQL, a purge batch's statement, its count and the holds' lock sent as one message.

    The message is ``SET TRANSACTION ISOLATION LEVEL READ COMMITTED``, a ``DO`` block
    (the legal holds' shared lock for a policy with a subject, the statement, its
    ``ROW_COUNT`` added to the run's record) and a ``SELECT`` of that count and of
    whatever the caller asks along (the walk's next key), which the server runs as
    one transaction. A worker killed midway leaves a record that counts exactly the
    rows its batches changed, as with a transaction of the batch's own, without the
    BEGIN, lock, UPDATE and COMMIT round trips (about 0.5 ms a batch); the batch's
    transaction lasts for the server's work only. Read committed whatever the
    session's default or Django's option, so that the statement, which starts after
    the lock, sees every hold committed before it. Every value is a literal the driver
    quoted; the names are the models', quoted.
    """

    def __init__(self, connection: Any, run: Any, action: str, *, locks_holds: bool) -> None:
        meta, quote = run._meta, connection.ops.quote_name
        column = quote(meta.get_field("deleted" if action == registry.DELETE else "anonymized").column)
        table, key = quote(meta.db_table), quote(meta.pk.column)
        lock = f"PERFORM pg_advisory_xact_lock_shared('{_HOLDS_LOCK}'::bigint); " if locks_holds else ""
        self.connection = connection
        self.before = (
            f"{_READ_COMMITTED}DO {_BLOCK_TAG} #variable_conflict use_column\n"
            f"DECLARE privacy_kit_rows bigint; BEGIN {lock}"
        )
        # Names from the models' meta, quoted; the run's key an integer.
        self.after = (
            "; GET DIAGNOSTICS privacy_kit_rows = ROW_COUNT;"  # noqa: S608
            f" UPDATE {table} SET {column} = {column} + privacy_kit_rows WHERE {key} = {int(run.pk)};"
            " PERFORM set_config('privacy_kit.batch_rows', privacy_kit_rows::text, true);"
            f" END {_BLOCK_TAG}; SELECT current_setting('privacy_kit.batch_rows')::bigint, "
        )

    @classmethod
    def for_run(cls, using: str, run: Any, action: str, *, locks_holds: bool) -> BatchMessage | None:
        """Return the messages of a run's batches; None elsewhere than PostgreSQL and inside a caller's transaction."""
        connection = connections[using]
        if connection.vendor != "postgresql" or connection.in_atomic_block or not connection.get_autocommit():
            return None  # inside a caller's transaction each batch needs a savepoint
        return cls(connection, run, action, locks_holds=locks_holds)

    @staticmethod
    def fits(statement: str) -> bool:
        """Say whether a statement (every value a literal) can go inside the message's block."""
        return _BLOCK_TAG not in statement

    def send(self, statement: str, also: str = "NULL") -> tuple[int, Any]:
        """Run a statement that ``fits()`` as a batch; return how many rows it changed and the value of ``also``."""
        message = f"{self.before}{statement}{self.after}({also})"
        with self.connection.cursor() as cursor:
            # No parameters: the driver sends the statements as one simple query, one transaction.
            cursor.execute(message)
            [(count, value)] = _last_rows(cursor)
        return count, value


def counted_range_delete(
    queryset: models.QuerySet, ranges: KeyRanges, run: Any, using: str, *, locks_holds: bool
) -> Callable[[int, int], tuple[int, Any]] | None:
    """Return a function that deletes a range and counts it in the run's record in one round trip.

    It returns the range's count and the first key of ``ranges`` after the range, asked
    in the same message (``BatchMessage``), so that the walk needs no query of its own
    to jump a gap. The DELETE and the next-key query are quoted once. None elsewhere
    than PostgreSQL, inside a caller's transaction, and where one statement cannot
    delete a range.
    """
    message = BatchMessage.for_run(using, run, registry.DELETE, locks_holds=locks_holds)
    if message is None or ranges.next_key is None:
        return None
    delete = range_delete_statement(queryset)
    delete_sql = delete.literal(message.connection) if delete is not None else None
    next_sql = ranges.next_key.literal(message.connection)
    if delete_sql is None or next_sql is None or not message.fits(delete_sql(0, 1) + next_sql(0)):
        return None

    def delete_range(start: int, end: int) -> tuple[int, Any]:
        return message.send(delete_sql(start, end), next_sql(end))

    return delete_range


def update_statement(queryset: models.QuerySet, values: dict[str, Any]) -> str | None:
    """Return ``queryset.update(**values)`` as one statement, every value a literal; None if it takes more than one.

    Compiled as ``QuerySet.update()`` compiles it; values of a parent model's table
    (multi-table inheritance) would need statements of their own.
    """
    query = queryset.order_by().query.chain(UpdateQuery)
    query.add_update_values(values)
    query.annotations = {}
    if query.get_related_updates():
        return None
    using = queryset._db or router.db_for_write(queryset.model)
    statement, params = query.get_compiler(using).as_sql()
    return connections[using].ops.compose_sql(statement, params) if statement else None


def chunk_bounds(registration: registry.Registration, start: Any, end: Any) -> tuple[Any, Any]:
    """Return a purge chunk's (start, end) keys checked against the model's primary key; raise ``ValueError`` if not.

    Checked before a ``PurgeRun`` is written, so that a malformed task fails once,
    is not retried, and leaves no run marked running.
    """
    from privacy_kit.models import PurgeRun

    if start is None and end is None:
        return None, None
    name, model = registration.name, registration.model
    if start is None or end is None:
        raise ValueError(f"{name}: a chunk needs both a start and an end, not start={start!r} and end={end!r}.")
    pk = model._meta.pk
    using = router.db_for_write(model)
    bounds = []
    for which, value in (("start", start), ("end", end)):
        try:
            if isinstance(pk, models.IntegerField):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValidationError("not an integer")
                low, high = connections[using].ops.integer_field_range(pk.get_internal_type())
                # The end is one past the last key of the chunk.
                if (low is not None and value < low) or (high is not None and value > high + 1):
                    raise ValidationError("out of range")
            else:
                value = pk.to_python(value)
        except (ValidationError, TypeError, ValueError):
            raise ValueError(
                f"{name}: the chunk {which} {value!r} is not a primary key of {model._meta.label}; "
                "pass integer keys, as plan_purge() does."
            ) from None
        bounds.append(value)
    if not bounds[0] < bounds[1]:
        raise ValueError(f"{name}: the chunk end {end!r} must be greater than its start {start!r}.")
    if len(f"{start}:{end}") > PurgeRun._meta.get_field("chunk").max_length:  # type: ignore[operator]
        raise ValueError(
            f"{name}: the chunk {start!r}:{end!r} is too long to log; pass integer keys, as plan_purge() does."
        )
    return bounds[0], bounds[1]


def delete_due(model: type[models.Model], due: models.QuerySet) -> int:
    """Delete the rows of ``due`` (and what cascades from them); return how many rows of ``model`` went.

    The rows of an append-only ledger (the access log, security events) go through
    the one door its guard leaves open to its purge, ``delete_expired()``; every other
    delete or update of them still raises ``LedgerError``.
    """
    ledger = model._default_manager.all()
    if isinstance(ledger, AppendOnlyQuerySet):
        return ledger.filter(pk__in=due.values("pk")).delete_expired()
    return delete_rows(due).get(model._meta.label, 0)


def purge_policy(
    name: str,
    *,
    start: Any = None,
    end: Any = None,
    dry_run: bool = False,
    now: datetime.datetime | None = None,
    batch_size: int | None = None,
) -> PurgeResult:
    """Delete or anonymize the expired rows of one registration (within ``start <= pk < end``)."""
    from privacy_kit.models import PurgeRun

    registration = registry.get(name)
    retention = registration.retention
    if retention is None:
        raise ValueError(f"{name} has no retention policy.")
    start, end = chunk_bounds(registration, start, end)
    now = now or timezone.now()
    chunk = f"{start}:{end}" if start is not None else ""
    result = PurgeResult(name, chunk)
    model = registration.model
    using = router.db_for_write(model)
    with policy_lock(name, chunk, using) as acquired:
        run = PurgeRun.objects.create(policy=name, chunk=chunk, dry_run=dry_run, started_at=now)
        if not acquired:
            result.skipped = True
            run.finish(PurgeRun.Status.SKIPPED)
            return result
        if connections[using].vendor == "postgresql":
            # Holding the lock proves that earlier runs still marked running were killed.
            PurgeRun.objects.filter(policy=name, chunk=chunk, status=PurgeRun.Status.RUNNING).exclude(pk=run.pk).update(
                status=PurgeRun.Status.FAILED, error="Interrupted", finished_at=now
            )
        try:
            # Inside the guard: whatever fails from here on marks the run failed, never leaves it running.
            scope = model._base_manager.all()
            if start is not None:
                scope = scope.filter(pk__gte=start, pk__lt=end)
            values = (
                {field.name: anonymous_value(field) for field in anonymized_fields(registration)}
                if retention.action == registry.ANONYMIZE
                else {}
            )
            locks_holds = bool(registration.legal_hold_paths)
            ranges = KeyRanges(scope, batch_size or app_settings.PURGE_BATCH_SIZE)
            # By age, the same query in every batch, narrowed to the batch's keys: built once,
            # and a delete by age compiled once when one statement does it.
            due_by_age = expired(registration, now) if retention.basis == registry.AGE else None
            delete_range = (
                range_delete(due_by_age)
                if due_by_age is not None
                and retention.action == registry.DELETE
                and not dry_run
                and not isinstance(model._default_manager.all(), AppendOnlyQuerySet)
                else None
            )
            # Each batch adds its count to the run's record in its own transaction: a worker
            # killed midway leaves a record that says how many rows it took.
            add_count = None if dry_run else run_counter(run, retention.action, using)

            # On PostgreSQL a delete by age sends each batch, its lock and its count as one message.
            counted = (
                counted_range_delete(due_by_age, ranges, run, using, locks_holds=locks_holds)
                if delete_range is not None and due_by_age is not None
                else None
            )

            # On PostgreSQL an anonymizing batch is one message too: its UPDATE, compiled before.
            anonymizing = (
                BatchMessage.for_run(using, run, retention.action, locks_holds=locks_holds)
                if retention.action == registry.ANONYMIZE and not dry_run
                else None
            )

            def purge_batch(batch: Q) -> int:
                one_statement = delete_range is not None and ranges.bounds is not None and not heard(model)
                if one_statement and counted is not None:
                    count, next_key = counted(*ranges.bounds)  # type: ignore[misc]
                    # After a range that found rows the walk goes on to the next one, as it
                    # would without the message: rows added there since are still walked.
                    ranges.found(count, **({} if count else {"next_key": next_key}))
                    return count
                # Built before the transaction, which then lasts for its statements only; they read
                # the holds when they run, after the lock.
                if one_statement:
                    due = None
                elif due_by_age is not None:
                    due = due_by_age.filter(batch)
                else:
                    due = expired(registration, now, batch=batch)
                if anonymizing is not None and due is not None:
                    statement = update_statement(due, values)
                    if statement is not None and anonymizing.fits(statement):
                        count = anonymizing.send(statement)[0]
                        ranges.found(count)
                        return count
                with batch_transaction(using, locks_holds=locks_holds, counts=add_count is not None):
                    if locks_holds:
                        lock_holds(using, exclusive=False)
                    if due is None:
                        count = delete_range(*ranges.bounds)  # type: ignore[misc]
                    elif dry_run:
                        count = due.count()
                    elif retention.action == registry.DELETE:
                        count = delete_due(model, due)
                    else:
                        count = due.update(**values)
                    if add_count is not None and count:
                        add_count(count)
                ranges.found(count)
                return count

            with relaxed_commits(using):
                for batch in ranges:
                    count = purge_batch(batch)
                    if retention.action == registry.DELETE:
                        result.deleted += count
                    else:
                        result.anonymized += count
        except Exception as error:
            # The class of the error only: a database message can quote row values.
            run.finish(PurgeRun.Status.FAILED, error=type(error).__name__, **dry_run_counts(result, dry_run))
            raise
        run.finish(PurgeRun.Status.DONE, **dry_run_counts(result, dry_run))
    return result


def dry_run_counts(result: PurgeResult, dry_run: bool) -> dict[str, int]:
    """Return the counts a run's record gets when it finishes: a dry run's; none otherwise.

    Each batch that changed rows added its count to the record as it committed: those
    counts are the record's, not this process's, which may not have heard of a batch
    that committed just before an error.
    """
    return {"deleted": result.deleted, "anonymized": result.anonymized} if dry_run else {}


def plan_purge(names: list[str] | None = None, *, batch_size: int | None = None) -> list[tuple[str, Any, Any]]:
    """Return the (policy, start, end) pieces of a purge: a policy per piece, a large table in chunks."""
    span = (batch_size or app_settings.PURGE_BATCH_SIZE) * BATCHES_PER_CHUNK
    pieces: list[tuple[str, Any, Any]] = []
    for entry in registry.registrations():
        if entry.retention is None or (names and entry.name not in names):
            continue
        pk = entry.model._meta.pk
        if not isinstance(pk, models.IntegerField):
            pieces.append((entry.name, None, None))
            continue
        bounds = entry.model._base_manager.aggregate(low=Min("pk"), high=Max("pk"))
        if bounds["low"] is None or bounds["high"] - bounds["low"] < span:
            pieces.append((entry.name, None, None))
            continue
        # Chunks aligned on multiples of the span stay the same from one plan to the
        # next, whatever a purge already deleted, so their locks keep meaning the same rows.
        # The first and last stop at the keys the column can hold, which a chunk's bounds must be.
        low, high = connections[router.db_for_write(entry.model)].ops.integer_field_range(pk.get_internal_type())
        for start in range(bounds["low"] - bounds["low"] % span, bounds["high"] + 1, span):
            first = start if low is None else max(start, low)
            pieces.append((entry.name, first, start + span if high is None else min(start + span, high + 1)))
    return pieces

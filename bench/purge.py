"""Benchmark privacy_kit's retention purge on PostgreSQL against one plain DELETE.

On PostgreSQL at 127.0.0.1 (user postgres), in a database ``bench_purge`` created for the run and
dropped at the end, it measures:

1. delete:    ``--rows`` behavioral-like rows (id, kind, a small JSON payload, ``created_at`` indexed,
              no foreign key), 70% of them past a 300-day retention, older rows with lower ids (as a
              table fills), each case on a freshly loaded table (``INSERT ... SELECT generate_series``,
              then ``VACUUM ANALYZE`` and ``CHECKPOINT``):
              - engine: ``privacy_kit.retention.purge_policy`` over the registered model (age basis,
                delete, no subject), in ``PURGE_BATCH_SIZE`` primary-key batches;
              - engine, subj.: the same rows in a model with a subject (a nullable foreign key to the
                user, NULL here), whose batches take the legal holds' lock, each in a transaction;
              - ORM:    ``Model.objects.filter(created_at__lt=cutoff).delete()``;
              - raw:    ``DELETE FROM ... WHERE created_at < cutoff`` (the baseline);
              - ranges: plain primary-key range batches, the floor of any batched purge: the smallest and
                largest key read once, then ``DELETE ... WHERE id >= a AND id < a + PURGE_BATCH_SIZE AND
                created_at < cutoff`` for each range, in autocommit, with ``synchronous_commit`` off for
                the walk as the engine has it ("ranges") and with every commit flushed ("ranges, sync");
              with the wall time, the ratios to raw and to ranges, the peak RSS of the purging process,
              the longest single transaction and the statements sent per batch;
2. relationship: ``--users`` users with ``--orders-per-user`` orders each (foreign key to the user,
              ``created_at``; the customers of consecutive orders cycle through the users, as orders of
              many customers come in over time), half of the users inactive for longer than the
              365-day period: ``purge_policy`` on the relationship basis with the anonymize action
              (two char fields overwritten, total and date kept), against one raw ``UPDATE`` of the
              same rows;
3. workers:   ``purge_expired``'s chunks (``plan_purge``: ``PURGE_BATCH_SIZE`` x 10 keys each) of a
              freshly loaded table of 1., purged by one process, then by two processes that take the
              next chunk from a shared queue as Celery workers do: the speedup of two workers.

Each purge runs in a process forked for it (from the benchmark's process, once each case has run there
on a small table, as in a worker that has run a purge before), so that its peak RSS is its own: the figure is the
``VmHWM`` of that process (``/proc/self/status``, the ``ru_maxrss`` of the process), reset with
``/proc/self/clear_refs`` just before the purge, and its growth over the RSS the process started the
purge with. Transactions are timed on the connection, in the measured process only: from the start
of each ``atomic`` block (Django's or the engine's) to the end of its commit, and each statement run
in autocommit (its own transaction) around the statement. Times are the best of ``--repeats`` runs,
the cases taking turns; RSS and the longest transaction are the worst of them. It prints figures,
not verdicts.

Run from the repository root::

    .venv/bin/python bench/purge.py [--rows 1000000] [--users 100000] [--orders-per-user 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import django
from django.conf import settings

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]  # benchapp, privacy_kit

import django_setup  # noqa: E402
from django_setup import default_database, postgres_admin  # noqa: E402
from timing import FORK, in_fork, mib  # noqa: E402

PG_DATABASE = "bench_purge"
EXPIRED_SHARE = 0.7
SPAN_DAYS = 1000  # created_at runs from 1,000 days ago (id 1) to now (the last id)
ROW_DAYS = 300  # retention of the behavioral rows: the oldest 70% expire
ORDER_DAYS = 365  # retention of the orders, after the end of the relationship

RowModel: Any = None
SubjectRowModel: Any = None
OrderModel: Any = None


# -- setup -----------------------------------------------------------------


def configure() -> None:
    """Configure and set up Django on the benchmark's database, with this run's keys."""
    django_setup.configure(
        {"default": default_database("postgres", Path(), PG_DATABASE)},
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "privacy_kit", "benchapp"],
    )


def define_models() -> None:
    """Declare the two benchmarked tables (app ``bench``; created with the schema editor) and register them."""
    global RowModel, SubjectRowModel, OrderModel
    from django.db import models

    from privacy_kit import registry

    class PurgeRow(models.Model):
        kind = models.CharField(max_length=40)
        data = models.JSONField(default=dict)
        created_at = models.DateTimeField(db_index=True)

        class Meta:
            app_label = "bench"

        def __str__(self) -> str:
            return self.kind

    class PurgeOrder(models.Model):
        customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
        full_name = models.CharField(max_length=100)
        phone = models.CharField(max_length=30)
        total = models.DecimalField(max_digits=10, decimal_places=2)
        created_at = models.DateTimeField(db_index=True)

        class Meta:
            app_label = "bench"

        def __str__(self) -> str:
            return f"order {self.pk}"

    class PurgeSubjectRow(models.Model):
        user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
        kind = models.CharField(max_length=40)
        data = models.JSONField(default=dict)
        created_at = models.DateTimeField(db_index=True)

        class Meta:
            app_label = "bench"

        def __str__(self) -> str:
            return self.kind

    RowModel, SubjectRowModel, OrderModel = PurgeRow, PurgeSubjectRow, PurgeOrder
    # The same rows with a subject: each batch takes the legal holds' lock in a transaction of its own.
    registry.register(
        PurgeSubjectRow,
        subject="user",
        category="behavioral",
        personal_fields=["data"],
        retention=registry.Retention(basis="age", date_field="created_at", after_days=ROW_DAYS),
    )
    registry.register(
        PurgeRow,
        subject=None,
        category="behavioral",
        personal_fields=["data"],
        retention=registry.Retention(basis="age", date_field="created_at", after_days=ROW_DAYS),
    )
    registry.register(
        PurgeOrder,
        subject="customer",
        category="personal",
        personal_fields=["full_name", "phone"],
        retention=registry.Retention(
            basis="relationship",
            date_field="created_at",
            after_days=ORDER_DAYS,
            action="anonymize",
            keep_fields=["total", "created_at"],
        ),
    )


def create_database() -> None:
    from django.core.management import call_command
    from django.db import connection

    postgres_admin(f"DROP DATABASE IF EXISTS {PG_DATABASE}")  # left over by an interrupted run
    postgres_admin(f"CREATE DATABASE {PG_DATABASE}")
    call_command("migrate", verbosity=0)
    with connection.schema_editor() as editor:
        editor.create_model(RowModel)
        editor.create_model(SubjectRowModel)
        editor.create_model(OrderModel)


def sql(statement: str, params: list[Any] | None = None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def settle(table: str) -> None:
    """Vacuum and analyze a freshly loaded table and flush it to disk, so each case starts alike."""
    sql(f"VACUUM ANALYZE {table}")
    sql("CHECKPOINT")


# -- data ------------------------------------------------------------------


def load_rows(count: int, now: Any, model: Any = None) -> None:
    """Load ``count`` rows, ids 1.., created_at rising with the id; the oldest 70% are past retention."""
    table = (model or RowModel)._meta.db_table
    sql(f"TRUNCATE {table} RESTART IDENTITY")
    sql(
        f"INSERT INTO {table} (kind, data, created_at) "
        "SELECT 'search', jsonb_build_object('q', 'wool socks ' || i, 'page', i %% 7), "
        "%s::timestamptz - %s * interval '1 day' * (1 - i::float8 / %s) "
        "FROM generate_series(1, %s) AS i",
        [now, SPAN_DAYS, count, count],
    )
    settle(table)


def load_customers(count: int, now: Any) -> None:
    """Load ``count`` users with one order each; every other user inactive for 800 days, the others active."""
    sql(
        "INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name, email, "
        "is_staff, is_active, date_joined) "
        "SELECT '!', %s::timestamptz - CASE WHEN i %% 2 = 0 THEN interval '800 days' ELSE interval '10 days' END, "
        "false, 'customer' || i, '', '', '', false, true, %s::timestamptz - interval '900 days' "
        "FROM generate_series(1, %s) AS i",
        [now, now, count],
    )
    settle("auth_user")


def load_orders(now: Any, per_user: int) -> None:
    """Give every user ``per_user`` orders, 850 days old: only the inactive users' orders are due.

    The customers of consecutive orders cycle through the users, so each batch of orders holds the
    orders of many customers, as a shop's orders table does.
    """
    table = OrderModel._meta.db_table
    sql(f"TRUNCATE {table} RESTART IDENTITY")
    sql(
        f"INSERT INTO {table} (customer_id, full_name, phone, total, created_at) "
        "SELECT u.id, 'Customer ' || u.username, '+966 5' || lpad(u.id::text, 8, '0'), 10 + u.id %% 90, "
        "%s::timestamptz - interval '850 days' "
        "FROM generate_series(1, %s) AS n, auth_user u ORDER BY n, u.id",
        [now, per_user],
    )
    settle(table)


# -- measuring in a process of its own -----------------------------------


@dataclass
class Figures:
    seconds: float
    count: int
    peak_rss: int = 0  # bytes
    rss_growth: int = 0  # bytes
    transactions: list[float] = field(default_factory=list)
    round_trips: int = 0  # statements, and a BEGIN and a COMMIT for each atomic block
    client_cpu: float = 0.0  # seconds of CPU the purging process spent (Python, the driver), not the server's

    @property
    def longest(self) -> float:
        return max(self.transactions, default=self.seconds)


class TransactionClock:
    """Time every transaction of a connection: ``atomic`` blocks to the end of their commit, and autocommit statements.

    Django's ``atomic`` turns autocommit off when its outermost block starts and back on once it has
    committed or rolled back, so the clock runs between those two calls; a statement run while
    autocommit is on is a transaction of its own. It counts the statements too.
    """

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.durations: list[float] = []
        self.statements = 0
        self.blocks = 0  # atomic blocks: each adds a BEGIN and a COMMIT to its statements
        self._started: float | None = None

    @contextmanager
    def running(self) -> Iterator[TransactionClock]:
        connection = self.connection
        real = connection.set_autocommit

        def set_autocommit(autocommit: bool, *args: Any, **kwargs: Any) -> None:
            if not autocommit and self._started is None:
                self._started = time.perf_counter()
            real(autocommit, *args, **kwargs)
            if autocommit and self._started is not None:
                self.durations.append(time.perf_counter() - self._started)
                self._started = None
                self.blocks += 1

        def timed(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
            self.statements += 1
            if self._started is not None:
                return execute(sql, params, many, context)
            start = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                self.durations.append(time.perf_counter() - start)

        connection.set_autocommit = set_autocommit
        try:
            with connection.execute_wrapper(timed):
                yield self
        finally:
            del connection.set_autocommit


def in_child(purge: Callable[[], int]) -> Figures:
    """Run ``purge`` (which returns a row count) in a forked process; return its time, count, RSS and transactions."""

    def case() -> tuple[int, list[float], int, float]:
        from django.db import connections

        before = time.process_time()
        with TransactionClock(connections["default"]).running() as clock:
            count = purge()
        cpu = time.process_time() - before
        # A BEGIN and a COMMIT go to the server besides the statements of each atomic block.
        return count, clock.durations, clock.statements + 2 * clock.blocks, cpu

    forked = in_fork(case)
    count, durations, round_trips, cpu = forked.result
    return Figures(forked.seconds, count, forked.peak_rss, forked.rss_growth, durations, round_trips, cpu)


def in_workers(workers: int, pieces: list[tuple[str, Any, Any]]) -> float:
    """Purge the pieces of a plan with ``workers`` processes, each taking the next piece from a queue.

    The clock starts once every process is connected and waiting, and stops when the last one is done.
    """
    from django.db import connections

    from privacy_kit import retention

    connections.close_all()
    queue = FORK.Queue()
    for piece in [*pieces, *[None] * workers]:  # then one "no more" per worker
        queue.put(piece)
    ready, go = FORK.Barrier(workers + 1), FORK.Event()

    def worker() -> None:
        from django.db import connection

        connection.ensure_connection()
        ready.wait()
        go.wait()
        while (piece := queue.get()) is not None:
            name, start, end = piece
            retention.purge_policy(name, start=start, end=end)
        connection.close()

    processes = [FORK.Process(target=worker) for _ in range(workers)]
    for process in processes:
        process.start()
    ready.wait()
    start = time.perf_counter()
    go.set()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - start
    if any(process.exitcode != 0 for process in processes):
        raise RuntimeError("a worker process failed")
    return seconds


# -- the measurements ------------------------------------------------------


def key_range_batches(table: str, cutoff: Any, size: int, *, relaxed: bool) -> int:
    """Delete the rows of ``table`` older than ``cutoff`` in plain primary-key ranges, each in autocommit."""
    from django.db import connection

    deleted = 0
    with connection.cursor() as cursor:
        if relaxed:
            cursor.execute("SET synchronous_commit TO OFF")
        cursor.execute(f"SELECT min(id), max(id) FROM {table}")
        low, high = cursor.fetchone()
        for start in range(low, high + 1, size):
            cursor.execute(
                f"DELETE FROM {table} WHERE id >= %s AND id < %s AND created_at < %s", [start, start + size, cutoff]
            )
            deleted += cursor.rowcount
        if relaxed:
            cursor.execute("RESET synchronous_commit")
    return deleted


def warm_up(cases: dict[str, Callable[[], int]], load: Callable[[], None]) -> None:
    """Run each case once on a small table in the benchmark's own process, which the measured ones are forked from.

    A worker runs many purges: what the first one in a process pays once (imports, Django's
    caches, the driver's type adapters) is left out of the figures, for every case alike.
    """
    for purge in cases.values():
        load()
        purge()


def summary(label: str, runs: list[Figures], baseline: float, ranges: float | None, batches: int) -> str:
    best = min(f.seconds for f in runs)
    peak = max(f.peak_rss for f in runs)
    growth = max(f.rss_growth for f in runs)
    longest = max(f.longest for f in runs)
    versus = f"x{best / ranges:5.2f}" if ranges else "      "
    per_batch = f"{runs[0].round_trips / batches:5.2f}"
    cpu = min(f.client_cpu for f in runs)
    return (
        f"          {label:<13} {best * 1e3:7.0f} ms  x{best / baseline:5.2f}  {versus}  {mib(peak)}  {mib(growth)}"
        f"  {longest * 1e3:9.1f} ms  {len(runs[0].transactions):5d}  {runs[0].round_trips:5d}  {per_batch:>9}"
        f"  {cpu * 1e3:6.0f} ms"
    )


HEADER = (
    f"          {'':<13} {'time':>10}  {'x raw':>6}  {'x ranges':>6}  {'peak RSS':>10}  {'RSS growth':>10}"
    f"  {'longest tx':>12}  {'txs':>5}  {'trips':>5}  per batch  client CPU"
)


def bench_delete(rows: int, repeats: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from privacy_kit import retention
    from privacy_kit.conf import app_settings

    table = RowModel._meta.db_table
    expected = round(rows * EXPIRED_SHARE)
    name = RowModel._meta.label
    size = app_settings.PURGE_BATCH_SIZE

    def engine() -> int:
        return retention.purge_policy(name).deleted

    def engine_with_subject() -> int:
        return retention.purge_policy(SubjectRowModel._meta.label).deleted

    def orm() -> int:
        cutoff = timezone.now() - timedelta(days=ROW_DAYS)
        return RowModel.objects.filter(created_at__lt=cutoff).delete()[0]

    def raw() -> int:
        cutoff = timezone.now() - timedelta(days=ROW_DAYS)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE created_at < %s", [cutoff])
            return cursor.rowcount

    def ranges() -> int:
        return key_range_batches(table, timezone.now() - timedelta(days=ROW_DAYS), size, relaxed=True)

    def ranges_sync() -> int:
        return key_range_batches(table, timezone.now() - timedelta(days=ROW_DAYS), size, relaxed=False)

    cases = {
        "engine": engine,
        "engine, subj.": engine_with_subject,
        "ranges": ranges,
        "ranges, sync": ranges_sync,
        "ORM": orm,
        "raw": raw,
    }
    # The case with a subject purges a table of its own, loaded with the same rows.
    tables = {label: SubjectRowModel if purge is engine_with_subject else RowModel for label, purge in cases.items()}

    def load(label: str, count: int) -> None:
        load_rows(count, timezone.now(), tables[label])

    for label, purge in cases.items():
        load(label, 1000)
        purge()  # the warm-up (see warm_up())
    results: dict[str, list[Figures]] = {label: [] for label in cases}
    for _ in range(repeats):
        for label, purge in cases.items():
            load(label, rows)
            figures = in_child(purge)
            left = sql(f"SELECT count(*) FROM {tables[label]._meta.db_table}")[0][0]
            if abs(figures.count - expected) > 1 or left != rows - figures.count:
                raise RuntimeError(f"{label} deleted {figures.count} rows, {left} left; expected {expected}")
            results[label].append(figures)

    baseline = min(f.seconds for f in results["raw"])
    floor = min(f.seconds for f in results["ranges"])
    batches = -(-rows // size)
    print(
        f"delete    {rows:,} rows, {expected:,} expired (age basis, delete), {batches} ranges of {size:,} keys; "
        f"best of {repeats}",
        flush=True,
    )
    print(HEADER)
    for label, runs in results.items():
        print(summary(label, runs, baseline, floor, batches), flush=True)


def bench_relationship(users: int, per_user: int, repeats: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from privacy_kit import retention
    from privacy_kit.conf import app_settings

    table = OrderModel._meta.db_table
    name = OrderModel._meta.label
    expected = users // 2 * per_user
    load_customers(users, timezone.now())

    def engine() -> int:
        return retention.purge_policy(name).anonymized

    def raw() -> int:
        since = timezone.now() - timedelta(days=ORDER_DAYS)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET full_name = '', phone = '' WHERE customer_id IN ("
                "  SELECT u.id FROM auth_user u WHERE (u.last_login < %s OR u.last_login IS NULL)"
                "  AND u.date_joined < %s"
                f"  AND NOT EXISTS (SELECT 1 FROM {table} o WHERE o.customer_id = u.id AND o.created_at >= %s)"
                ") AND (full_name <> '' OR phone <> '')",
                [since, since, since],
            )
            return cursor.rowcount

    warm_up({"engine": engine, "raw": raw}, lambda: load_orders(timezone.now(), 1))
    results: dict[str, list[Figures]] = {"engine": [], "raw": []}
    for _ in range(repeats):
        for label, purge in (("engine", engine), ("raw", raw)):
            load_orders(timezone.now(), per_user)
            figures = in_child(purge)
            blank = sql(f"SELECT count(*) FROM {table} WHERE full_name = '' AND phone = ''")[0][0]
            if figures.count != expected or blank != expected:
                raise RuntimeError(f"{label} anonymized {figures.count} orders ({blank} blank); expected {expected}")
            results[label].append(figures)

    baseline = min(f.seconds for f in results["raw"])
    batches = -(-users * per_user // app_settings.PURGE_BATCH_SIZE)
    print(
        f"relationship {users:,} users, {users * per_user:,} orders ({per_user} each), {users // 2:,} users inactive "
        f"(anonymize 2 char fields), {batches} batches; best of {repeats}",
        flush=True,
    )
    print(HEADER)
    for label, runs in results.items():
        print(summary(label, runs, baseline, None, batches), flush=True)


def bench_workers(rows: int, repeats: int) -> None:
    from django.utils import timezone

    from privacy_kit import retention
    from privacy_kit.conf import app_settings

    table = RowModel._meta.db_table
    expected = round(rows * EXPIRED_SHARE)
    times: dict[int, list[float]] = {1: [], 2: []}
    chunks = 0
    for _ in range(repeats):
        for workers in (1, 2):
            load_rows(rows, timezone.now())
            pieces = retention.plan_purge([RowModel._meta.label])
            chunks = len(pieces)
            times[workers].append(in_workers(workers, pieces))
            left = sql(f"SELECT count(*) FROM {table}")[0][0]
            if abs(rows - left - expected) > 1:
                raise RuntimeError(f"{workers} worker(s) left {left} rows; expected {rows - expected}")
    one, two = min(times[1]), min(times[2])
    print(
        f"workers   purge_expired's {chunks} chunks of {app_settings.PURGE_BATCH_SIZE * 10:,} keys over the "
        f"{rows:,} rows; best of {repeats}",
        flush=True,
    )
    print(f"          1 worker  {one * 1e3:7.0f} ms", flush=True)
    print(f"          2 workers {two * 1e3:7.0f} ms  speedup x{one / two:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="behavioral rows (default 1,000,000)")
    parser.add_argument("--users", type=int, default=100_000, help="users with one order each (default 100,000)")
    parser.add_argument("--orders-per-user", type=int, default=1, help="orders of each user (default 1)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["delete", "relationship", "workers"])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each case (default 3)")
    args = parser.parse_args()

    started = time.perf_counter()
    configure()
    define_models()
    from django.db import connection

    from privacy_kit.conf import app_settings

    create_database()
    try:
        version = ".".join(map(str, connection.get_database_version()))
        print(
            f"Python {sys.version.split()[0]}, Django {django.get_version()}, PostgreSQL {version}; "
            f"PURGE_BATCH_SIZE {app_settings.PURGE_BATCH_SIZE:,}; {os.cpu_count()} cores",
            flush=True,
        )
        if "delete" not in args.skip:
            bench_delete(args.rows, args.repeats)
        if "relationship" not in args.skip:
            bench_relationship(args.users, args.orders_per_user, args.repeats)
        if "workers" not in args.skip:
            bench_workers(args.rows, args.repeats)
    finally:
        connection.close()
        postgres_admin(f"DROP DATABASE IF EXISTS {PG_DATABASE}")
    print(f"finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

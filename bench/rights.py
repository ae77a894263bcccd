"""Benchmark the data subject's rights: the export of a large subject, and erasures through Celery workers.

On PostgreSQL at 127.0.0.1 (user postgres, in a database ``bench_rights`` created for the run and dropped
at the end) or with ``--database sqlite`` in a temporary file, with random keys for the run, it measures:

1. export: one subject with ``--events`` behavioral events (``privacy_kit.BehavioralEvent``, encrypted JSON
           of ~60 bytes, a purpose each), ``--orders`` orders (``benchapp.Order``: encrypted name, phone and
           address; registered with subject ``customer``, anonymized on erasure keeping total and date)
           and two consent records, among 20 other subjects with copies of the same rows (so the filters
           matter). Each case runs in a process forked for it:
           - raw SQL:      the SQL of the hand-written export below (``sql_with_params``), run on a cursor,
                           ``fetchall``, nothing decrypted or converted: the cost floor of reading the rows;
           - values_list:  the same columns through ``values_list``, every value decrypted, into lists;
           - hand-written: those lists as dicts, ``json.dumps`` with ``DjangoJSONEncoder``: what a shop
                           would write without privacy_kit, and the baseline of the export;
           - ``export_subject(user)``: the document as a dict in memory, then the same and ``json.dumps``;
           - ``stream_export(user)``: consumed piece by piece, each encoded and written to /dev/null;
           - ``spool_export(user)``: what the download sends: the whole stream written to a spooled
                           temporary file (in memory up to ``SPOOL_BYTES``, then on disk), then read
                           back to /dev/null in 8 KiB blocks as the response does;
           with the wall time (best of ``--repeats``), the ratios to raw SQL and to the hand-written
           export, the peak RSS of the process (``VmHWM``, reset with ``/proc/self/clear_refs`` just
           before the case) and its growth over the RSS it started the case with (worst of the repeats).
           The columns are every concrete field but the password, a relation to a purpose as its slug,
           the rows in primary-key order: the export's own rules.
2. erase:  ``--subjects`` subjects, each with 3 orders, 10 events and 2 consents (granted through
           ``privacy_kit.consent.grant`` under a published policy), erased
           - by one raw SQL transaction for all of them (events deleted, orders anonymized, withdrawals
             written, consent rows cut loose, accounts closed; no ledger, no locks): the lower bound;
           - by ``privacy_kit.rights.erase_subject`` called in a loop in this process (no broker);
           - through the Celery task: ``privacy_kit.erase_subject.delay(user_id, ...)`` queued for every
             subject on Redis (``redis://127.0.0.1:6379/13``, flushed before and after) and run by real
             ``celery worker`` processes (``bench/rights_worker.py``, pool solo), one, then two, then one
             with ``CELERY_DB_REUSE_MAX = 1000`` (one database connection for all its tasks, instead of
             one per task by default); the clock runs from the first ``delay`` to the ``completed_at`` of
             the last ``ErasureRecord``;
           each on subjects of its own, checked afterwards (no event left, orders blank, accounts
           closed, consent rows cut loose, one completed record per subject). It prints subjects per
           second and the ratio to the in-process loop.

The workers configure Django from the run's settings, which this process passes them in the environment
(``PRIVACY_KIT_BENCH_RIGHTS``, JSON), and have Celery's Django fix-up, as a shop's worker has: unless
``CELERY_DB_REUSE_MAX`` says otherwise, the database connection is closed around each task. Each worker
is started with ``--pidfile`` in a process group of its own and stopped by that pid and group, whatever
happens. Time is ``time.perf_counter`` with the garbage collector on (the export builds many objects:
collecting them is part of its cost). It prints figures, not verdicts.

Run from the repository root::

    .venv/bin/python bench/rights.py [--events 10000] [--orders 500] [--subjects 1000] [--repeats 5]
                                     [--database postgres|sqlite] [--export-only]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import django

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:0] = [str(BENCH_DIR), str(ROOT)]  # benchapp, django_setup, privacy_kit

import django_setup  # noqa: E402
from django_setup import default_database, postgres_admin  # noqa: E402
from timing import Forked, in_fork, mib  # noqa: E402

from privacy_kit.crypto import generate_key  # noqa: E402 (reads no settings)

PG_DATABASE = "bench_rights"
REDIS_URL = "redis://127.0.0.1:6379/13"  # a database number of the benchmark's own: flushed before and after
RUN_ENVIRONMENT = "PRIVACY_KIT_BENCH_RIGHTS"  # the run's settings, as JSON, for the workers
PURPOSES = ["personalization", "analytics"]
OTHER_SUBJECTS = 20
ORDERS_PER_ERASED, EVENTS_PER_ERASED = 3, 10
WORKER_POOL = "solo"

WORDS = [
    "wool", "socks", "linen", "shirt", "blue", "green", "merino", "jumper", "leather", "boots", "size", "42",
    "rain", "jacket", "organic", "cotton", "kids", "summer", "dress", "waterproof", "trainers", "sale", "gift",
]  # fmt: skip
KINDS = ["search", "product_view", "cart", "purchase"]
FIRST = ["Layla", "Omar", "Sara", "Yusuf", "Noura", "Fahad", "Maryam", "Khalid", "Huda", "Tariq", "Lina", "Ali"]
LAST = ["Al-Harbi", "Haddad", "Nasser", "Qasim", "Saleh", "Mansour", "Khoury", "Farouk", "Rahman", "Aziz"]
STREETS = ["King Fahd Road", "Olaya Street", "Tahlia Street", "Prince Sultan Road", "Makkah Road"]


# -- setup (shared with the workers, see rights_worker.py) -------------------


def run_settings(database: str, sqlite_path: Path) -> dict[str, Any]:
    """Return what the benchmark and its workers configure Django with: database, this run's keys, broker.

    ``db_reuse_max`` is Celery's ``CELERY_DB_REUSE_MAX``: None, the default, has the workers' Django fix-up
    close the database connection around every task; a number, after that many tasks.
    """
    default = default_database(database, sqlite_path, PG_DATABASE)
    if database == "sqlite":
        default["OPTIONS"] = {"timeout": 60}  # the workers wait for each other's writes instead of failing
    return {
        "database": default,
        "encryption_key": generate_key(),
        "blind_index_key": generate_key(),
        "broker": REDIS_URL,
        "db_reuse_max": None,
    }


def configure(run: dict[str, Any]) -> None:
    """Configure and set up Django with the run's settings, and register the benchmark's orders."""
    django_setup.configure(
        {"default": run["database"]},
        privacy_kit={"ENCRYPTION_KEYS": [run["encryption_key"]], "BLIND_INDEX_KEY": run["blind_index_key"]},
        # django-axes as privacy_kit asks: an erasure deletes what it logged under the username.
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "axes", "privacy_kit", "benchapp"],
        CELERY_BROKER_URL=run["broker"],
        CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP=True,
        CELERY_DB_REUSE_MAX=run["db_reuse_max"],
    )
    from benchapp.models import Order

    from privacy_kit import registry

    registry.register(
        Order,
        subject="customer",
        category="personal",
        personal_fields=["full_name", "phone", "address"],
        retention=registry.Retention(
            basis="relationship",
            date_field="created_at",
            after_days=730,
            action="anonymize",
            keep_fields=["total", "created_at"],
        ),
    )


def celery_app() -> Any:
    """Return the run's Celery app (broker from the ``CELERY_*`` settings), with privacy_kit's tasks."""
    from celery import Celery

    app = Celery("privacy_kit_bench_rights")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    import privacy_kit.tasks  # noqa: F401 (its shared tasks join the app)

    return app


def create_tables() -> None:
    """Create Django's and privacy_kit's tables with ``migrate``, then the orders' with the schema editor."""
    from benchapp.models import Order
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    with connection.schema_editor() as editor:
        editor.create_model(Order)


def publish_policy() -> None:
    from django.utils import timezone

    from privacy_kit.models import PolicyVersion, Purpose

    for slug in PURPOSES:
        Purpose.objects.create(slug=slug, name=slug.title())
    PolicyVersion.objects.create(
        version="1", language="en", text="The benchmark's policy.", effective_at=timezone.now() - timedelta(days=1)
    )


def sql(statement: str, params: list[Any] | None = None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def settle() -> None:
    """Refresh the planner's statistics after a load, so each case starts alike."""
    from django.db import connection

    sql("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


# -- data ------------------------------------------------------------------


def create_users(prefix: str, count: int, rng: random.Random) -> list[Any]:
    """Create ``count`` customers with names, an email and a usable password; return them with their keys."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    password = make_password("bench-password")  # hashed once: every customer has the same usable hash
    users = []
    for number in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        users.append(
            get_user_model()(
                username=f"{prefix}{number}",
                first_name=first,
                last_name=last,
                email=f"{first.lower()}.{number}@example.com",
                password=password,
            )
        )
    created = get_user_model().objects.bulk_create(users, batch_size=1000)
    if any(user.pk is None for user in created):  # SQLite before 3.35 returns no keys
        created = list(get_user_model().objects.filter(username__startswith=prefix).order_by("pk"))
    return created


def orders_of(user: Any, count: int, rng: random.Random, now: Any) -> list[Any]:
    from benchapp.models import Order

    return [
        Order(
            customer=user,
            full_name=f"{user.first_name} {user.last_name}",
            phone=f"+9665{rng.randrange(10**8):08d}",
            address=f"{rng.randint(1, 9999)} {rng.choice(STREETS)}, Riyadh {rng.randint(10000, 99999)}",
            total=Decimal(rng.randint(500, 90000)) / 100,
            created_at=now - timedelta(minutes=rng.randint(1, 500_000)),
        )
        for _ in range(count)
    ]


def events_of(user: Any, purpose: Any, count: int, rng: random.Random, now: Any) -> list[Any]:
    """Return ``count`` events with ~60 bytes of JSON data each, spread over the last year."""
    from privacy_kit.models import BehavioralEvent

    return [
        BehavioralEvent(
            user=user,
            purpose=purpose,
            kind=rng.choice(KINDS),
            data={"q": " ".join(rng.choices(WORDS, k=rng.randint(2, 4))), "page": rng.randint(1, 9), "ref": "nav"},
            created_at=now - timedelta(seconds=rng.randint(1, 365 * 86400)),
        )
        for _ in range(count)
    ]


def grant_all(users: list[Any]) -> None:
    from django.db import transaction

    from privacy_kit.consent import grant

    with transaction.atomic():
        for user in users:
            grant(user, PURPOSES, source="account")


def create_export_subject(events: int, orders: int) -> tuple[Any, list[Any]]:
    """Create the exported subject and 20 others with copies of its orders and events; return them."""
    from benchapp.models import Order
    from django.db import transaction
    from django.utils import timezone

    from privacy_kit.models import BehavioralEvent, Purpose

    rng = random.Random(2024)
    now = timezone.now()
    purpose = Purpose.objects.get(slug="personalization")
    with transaction.atomic():
        subject, *others = create_users("export-", 1 + OTHER_SUBJECTS, rng)
        Order.objects.bulk_create(orders_of(subject, orders, rng, now), batch_size=1000)
        BehavioralEvent.objects.bulk_create(events_of(subject, purpose, events, rng, now), batch_size=1000)
        # The others' rows are the same ciphertexts (bound to their column, not to a row): they decrypt too.
        ids = [user.pk for user in others]
        marks = ", ".join(["%s"] * len(ids))
        sql(
            f"INSERT INTO {Order._meta.db_table} (customer_id, full_name, phone, address, total, created_at) "
            f"SELECT u.id, o.full_name, o.phone, o.address, o.total, o.created_at FROM {Order._meta.db_table} o "
            f"CROSS JOIN auth_user u WHERE o.customer_id = %s AND u.id IN ({marks})",
            [subject.pk, *ids],
        )
        table = BehavioralEvent._meta.db_table
        sql(
            f"INSERT INTO {table} (user_id, visitor, purpose_id, kind, data, created_at) "
            f"SELECT u.id, e.visitor, e.purpose_id, e.kind, e.data, e.created_at FROM {table} e "
            f"CROSS JOIN auth_user u WHERE e.user_id = %s AND u.id IN ({marks})",
            [subject.pk, *ids],
        )
    grant_all([subject, *others])
    settle()
    return subject, others


def create_erased_subjects(prefix: str, count: int) -> list[Any]:
    """Create ``count`` subjects with 3 orders, 10 events and 2 consent records each; return them."""
    from benchapp.models import Order
    from django.db import transaction
    from django.utils import timezone

    from privacy_kit.models import BehavioralEvent, Purpose

    rng = random.Random(prefix)
    now = timezone.now()
    purpose = Purpose.objects.get(slug="personalization")
    with transaction.atomic():
        users = create_users(prefix, count, rng)
        Order.objects.bulk_create(
            (order for user in users for order in orders_of(user, ORDERS_PER_ERASED, rng, now)), batch_size=1000
        )
        BehavioralEvent.objects.bulk_create(
            (event for user in users for event in events_of(user, purpose, EVENTS_PER_ERASED, rng, now)),
            batch_size=1000,
        )
    grant_all(users)
    return users


# -- measuring in a process of its own -----------------------------------


# -- 1. export -------------------------------------------------------------


def exported_columns(model: Any) -> list[str]:
    """Return the lookups of the export's columns: every concrete field but the password, a purpose as its slug."""
    lookups = []
    for field in model._meta.concrete_fields:
        if field.name == "password" or field.name.endswith("_blind_index"):
            continue
        related = field.related_model if field.is_relation else None
        has_slug = related is not None and any(f.name == "slug" for f in related._meta.concrete_fields)
        lookups.append(f"{field.name}__slug" if has_slug else field.attname)
    return lookups


def handwritten_querysets(user: Any) -> list[tuple[str, Any, list[str]]]:
    """Return (model label, queryset, lookups) of each part of the subject's data, as a shop would list them."""
    from benchapp.models import Order
    from django.contrib.auth import get_user_model

    from privacy_kit.models import BehavioralEvent, ConsentRecord

    user_model = get_user_model()
    parts = [
        (user_model, user_model._base_manager.filter(pk=user.pk)),
        (Order, Order.objects.filter(customer_id=user.pk)),
        (BehavioralEvent, BehavioralEvent.objects.filter(user_id=user.pk)),
        (ConsentRecord, ConsentRecord.objects.filter(user_id=user.pk)),
    ]
    return [(model._meta.label, rows.order_by("pk"), exported_columns(model)) for model, rows in parts]


def check_export(user: Any, others: list[Any], events: int, orders: int) -> int:
    """Check that both forms of the export agree and hold the subject's rows only; return the JSON's size."""
    from django.utils import timezone

    from privacy_kit.rights import export_subject, stream_export

    now = timezone.now()
    text = "".join(stream_export(user, now=now))
    document = json.loads(text)
    if document != json.loads(json.dumps(export_subject(user, now=now))):
        raise RuntimeError("stream_export and export_subject differ")
    rows = {part["model"]: part["rows"] for part in document["records"]}
    expected = {"bench.Order": orders, "privacy_kit.BehavioralEvent": events, "privacy_kit.ConsentRecord": 2}
    for label, count in expected.items():
        if len(rows.get(label, [])) != count:
            raise RuntimeError(f"the export holds {len(rows.get(label, []))} rows of {label}, not {count}")
    owners = {"bench.Order": "customer", "privacy_kit.BehavioralEvent": "user", "privacy_kit.ConsentRecord": "user"}
    if any(row[owners[label]] != user.pk for label in owners for row in rows[label]):
        raise RuntimeError("the export holds another subject's rows")
    if any(str(other.pk) in {str(row.get("id")) for row in rows["auth.User"]} for other in others):
        raise RuntimeError("the export holds another account")
    return len(text.encode())


def bench_export(events: int, orders: int, repeats: int) -> None:
    from django.core.serializers.json import DjangoJSONEncoder
    from django.db import connection

    from privacy_kit.rights import export_subject, stream_export

    user, others = create_export_subject(events, orders)
    document_size = in_fork(lambda: check_export(user, others, events, orders)).result

    def raw() -> int:
        read = 0
        with connection.cursor() as cursor:
            for _label, rows, lookups in handwritten_querysets(user):
                statement, params = rows.values_list(*lookups).query.sql_with_params()
                cursor.execute(statement, params)
                read += len(cursor.fetchall())
        return read

    def values_list() -> int:
        return sum(len(list(rows.values_list(*lookups))) for _label, rows, lookups in handwritten_querysets(user))

    def handwritten() -> int:
        records = [
            {"model": label, "rows": [dict(zip(lookups, row, strict=True)) for row in rows.values_list(*lookups)]}
            for label, rows, lookups in handwritten_querysets(user)
        ]
        return len(json.dumps({"records": records}, cls=DjangoJSONEncoder, ensure_ascii=False).encode())

    def in_memory() -> int:
        return sum(len(part["rows"]) for part in export_subject(user)["records"])

    def in_memory_dumped() -> int:
        return len(json.dumps(export_subject(user), ensure_ascii=False).encode())

    def streamed() -> int:
        written = 0
        with open(os.devnull, "wb") as sink:
            for piece in stream_export(user):
                written += sink.write(piece.encode())
        return written

    def spooled() -> int:
        from privacy_kit.rights.export import spool_export

        written = 0
        with spool_export(user) as spool, open(os.devnull, "wb") as sink:
            while block := spool.read(8192):
                written += sink.write(block)
        return written

    cases: dict[str, Callable[[], int]] = {
        "raw SQL, not decrypted": raw,
        "values_list, decrypted": values_list,
        "hand-written + json.dumps": handwritten,
        "export_subject (dict)": in_memory,
        "export_subject + json.dumps": in_memory_dumped,
        "stream_export to /dev/null": streamed,
        "spool_export, then read": spooled,
    }
    results: dict[str, list[Forked]] = {label: [] for label in cases}
    for _ in range(repeats):
        for label, case in cases.items():
            results[label].append(in_fork(case))

    rows = results["raw SQL, not decrypted"][0].result
    raw_best = min(f.seconds for f in results["raw SQL, not decrypted"])
    hand_best = min(f.seconds for f in results["hand-written + json.dumps"])
    print(
        f"export    one subject: {orders:,} orders, {events:,} events, 2 consents, the account ({rows:,} rows, "
        f"{document_size / 2**20:.1f} MiB of JSON) among {OTHER_SUBJECTS} others with the same; best of {repeats}",
        flush=True,
    )
    print(f"          {'':<28} {'time':>9}  {'x raw':>6}  {'x hand':>6}  {'peak RSS':>10}  {'RSS growth':>10}")
    for label, runs in results.items():
        best = min(f.seconds for f in runs)
        print(
            f"          {label:<28} {best * 1e3:6.0f} ms  x{best / raw_best:5.2f}  x{best / hand_best:5.2f}  "
            f"{mib(max(f.peak_rss for f in runs))}  {mib(max(f.rss_growth for f in runs))}",
            flush=True,
        )


# -- 2. erase --------------------------------------------------------------


class Worker:
    """A ``celery worker`` of ``rights_worker`` (pool solo), in a process group of its own."""

    def __init__(self, name: str, directory: Path, env: dict[str, str]) -> None:
        self.name = name
        self.pidfile = directory / f"{name}.pid"
        self.logfile = directory / f"{name}.log"
        self.outfile = directory / f"{name}.out"  # what the worker writes before its log opens
        self.pidfile.unlink(missing_ok=True)
        self.logfile.unlink(missing_ok=True)
        command = [
            sys.executable, "-m", "celery", "-A", "rights_worker", "worker", f"--pool={WORKER_POOL}",
            "--concurrency=1", "-n", f"{name}@%h", "--prefetch-multiplier=1", "-O", "fair",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            f"--pidfile={self.pidfile}", f"--logfile={self.logfile}", "--loglevel=INFO",
        ]  # fmt: skip
        with self.outfile.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=BENCH_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def log(self) -> str:
        return "".join(path.read_text(errors="replace") for path in (self.outfile, self.logfile) if path.exists())

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while " ready." not in self.log():
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} did not start in {timeout:.0f} s:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the worker (found by its pidfile, and by its process group): warm shutdown, then SIGKILL."""
        pids = {self.process.pid}
        if self.pidfile.exists():
            pids.add(int(self.pidfile.read_text().strip() or self.process.pid))
        if self.process.poll() is None:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group is the worker's own (start_new_session)
        except ProcessLookupError:
            pass
        self.process.wait(10)


def flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


def check_erased(users: list[Any], *, ledger: bool, reason: str) -> None:
    """Check that every subject's events are gone, orders blank, consents cut loose, account closed."""
    from benchapp.models import Order
    from django.contrib.auth import get_user_model

    from privacy_kit.models import BehavioralEvent, ConsentRecord, ErasureRecord

    ids = [user.pk for user in users]
    orders = Order.objects.filter(customer_id__in=ids)
    marks = ", ".join(["%s"] * len(ids))
    problems = {
        "events left": BehavioralEvent.objects.filter(user_id__in=ids).count(),
        # Encrypted fields cannot be filtered by value; an empty value is stored as empty text.
        "orders not blank": sql(
            f"SELECT count(*) FROM {Order._meta.db_table} WHERE customer_id IN ({marks}) "
            "AND (full_name <> '' OR phone <> '' OR address <> '')",
            ids,
        )[0][0],
        "orders gone": len(ids) * ORDERS_PER_ERASED - orders.count(),
        "consent rows still tied": ConsentRecord.objects.filter(user_id__in=ids).count(),
        "accounts active": get_user_model().objects.filter(pk__in=ids, is_active=True).count(),
    }
    if ledger:
        done = ErasureRecord.objects.filter(reason=reason, status=ErasureRecord.Status.DONE).count()
        problems["subjects without a completed record"] = len(ids) - done
    wrong = {what: number for what, number in problems.items() if number}
    if wrong:
        raise RuntimeError(f"{reason}: erasure incomplete: {wrong}")


def erase_raw(users: list[Any]) -> float:
    """Erase every subject with one statement per table in one transaction; return the seconds."""
    from benchapp.models import Order
    from django.db import transaction
    from django.utils import timezone

    from privacy_kit.models import BehavioralEvent, ConsentRecord

    ids = [user.pk for user in users]
    marks = ", ".join(["%s"] * len(ids))
    consents = ConsentRecord._meta.db_table
    start = time.perf_counter()
    with transaction.atomic():
        sql(f"DELETE FROM {BehavioralEvent._meta.db_table} WHERE user_id IN ({marks})", ids)
        sql(f"UPDATE {Order._meta.db_table} SET full_name = '', phone = '', address = '' "
            f"WHERE customer_id IN ({marks})", ids)  # fmt: skip
        sql(
            f"INSERT INTO {consents} (user_id, visitor, purpose_id, action, policy_version_id, created_at, source, "
            f"ip_hash, user_agent) SELECT user_id, NULL, purpose_id, 'withdraw', policy_version_id, %s, 'erasure', "
            f"'', '' FROM {consents} WHERE action = 'grant' AND user_id IN ({marks})",
            [timezone.now(), *ids],
        )
        sql(f"UPDATE {consents} SET user_id = NULL, visitor = NULL, ip_hash = '', user_agent = '' "
            f"WHERE user_id IN ({marks})", ids)  # fmt: skip
        sql(
            "UPDATE auth_user SET username = 'erased-' || id, first_name = '', last_name = '', email = '', "
            f"password = '!', is_active = %s WHERE id IN ({marks})",
            [False, *ids],
        )
    return time.perf_counter() - start


def erase_in_process(users: list[Any], reason: str) -> float:
    from privacy_kit.rights import erase_subject

    start = time.perf_counter()
    for user in users:
        erase_subject(user, reason=reason)
    return time.perf_counter() - start


def erase_through_workers(
    run: dict[str, Any], users: list[Any], reason: str, workers: int, directory: Path
) -> tuple[float, float]:
    """Queue the task for every subject to ``workers`` fresh worker processes; return (seconds, seconds queueing).

    The clock starts at the first ``delay`` and stops at the ``completed_at`` of the last erasure record.
    """
    from django.db.models import Max
    from django.utils import timezone

    from privacy_kit.models import ErasureRecord
    from privacy_kit.tasks import erase_subject

    env = {
        **os.environ,
        RUN_ENVIRONMENT: json.dumps(run),
        "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    celery_app()  # the current app from now on: erase_subject.delay publishes to the run's broker
    started: list[Worker] = []
    flush_redis()
    try:
        for number in range(1, workers + 1):
            started.append(Worker(f"rights-{number}", directory, env))
        for worker in started:
            worker.wait_ready()
        first = timezone.now()
        clock = time.perf_counter()
        for user in users:
            erase_subject.delay(user.pk, reason=reason, source="api")
        queueing = time.perf_counter() - clock
        records = ErasureRecord.objects.filter(reason=reason, status=ErasureRecord.Status.DONE)
        deadline = time.monotonic() + 60 + 2 * len(users)
        while records.count() < len(users):
            if any(worker.process.poll() is not None for worker in started):
                raise RuntimeError("a worker exited:\n" + "\n".join(w.log()[-3000:] for w in started))
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{records.count()} of {len(users)} erasures done in time:\n"
                    + "\n".join(w.log()[-3000:] for w in started)
                )
            time.sleep(0.25)
        last = records.aggregate(last=Max("completed_at"))["last"]
        for worker in started:
            failures = [line for line in worker.log().splitlines() if " ERROR/" in line or " retry: " in line.lower()]
            if failures:
                print(f"          {worker.name}: {len(failures)} errors or retries, first: {failures[0][:200]}")
        return (last - first).total_seconds(), queueing
    finally:
        for worker in started:
            worker.stop()
        flush_redis()


def bench_erase(run: dict[str, Any], subjects: int, directory: Path) -> None:
    # (label, workers, CELERY_DB_REUSE_MAX), each case on subjects of its own.
    through_workers = [
        (f"Celery task, 1 worker ({WORKER_POOL})", 1, None),
        (f"Celery task, 2 workers ({WORKER_POOL})", 2, None),
        ("Celery task, 1 worker, connection kept", 1, 1000),
    ]
    names = ["raw", "loop", *(f"worker{number}" for number in range(len(through_workers)))]
    groups = {name: create_erased_subjects(f"{name}-", subjects) for name in names}
    settle()
    print(
        f"erase     {subjects:,} subjects per case, each with {ORDERS_PER_ERASED} orders, {EVENTS_PER_ERASED} "
        f"events and {len(PURPOSES)} consents",
        flush=True,
    )

    raw_seconds = erase_raw(groups["raw"])
    check_erased(groups["raw"], ledger=False, reason="raw")
    loop_seconds = erase_in_process(groups["loop"], "bench: in-process")
    check_erased(groups["loop"], ledger=True, reason="bench: in-process")

    def line(label: str, seconds: float, extra: str = "") -> None:
        ratio = seconds / loop_seconds
        print(
            f"          {label:<38} {seconds:7.2f} s  {subjects / seconds:7.1f} subjects/s  "
            f"x{ratio:{'.2f' if ratio >= 0.1 else '.3f'}} in-process{extra}",
            flush=True,
        )

    line("raw SQL, all at once (no ledger)", raw_seconds)
    line("erase_subject, in-process loop", loop_seconds)
    for number, (label, workers, reuse) in enumerate(through_workers):
        reason = f"bench: {label}"
        users = groups[f"worker{number}"]
        seconds, queueing = erase_through_workers({**run, "db_reuse_max": reuse}, users, reason, workers, directory)
        check_erased(users, ledger=True, reason=reason)
        line(label, seconds, f"  (queued in {queueing:.2f} s)")


# -- main ------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events of the exported subject (default 10,000)")
    parser.add_argument("--orders", type=int, default=500, help="orders of the exported subject (default 500)")
    parser.add_argument("--subjects", type=int, default=1_000, help="subjects erased per case (default 1,000)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each export case (default 5)")
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--export-only", action="store_true", help="run the export cases and not the erasures")
    args = parser.parse_args()

    # A SIGTERM unwinds like Ctrl-C: the workers are stopped and the database dropped on the way out.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="privacy_kit_bench_") as tmp:
        directory = Path(tmp)
        run = run_settings(args.database, directory / "bench.sqlite3")
        if args.database == "postgres":
            postgres_admin(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")  # left over by an interrupted run
            postgres_admin(f"CREATE DATABASE {PG_DATABASE}")
        try:
            configure(run)
            from django.db import connection

            connection.ensure_connection()
            version = ".".join(map(str, connection.get_database_version()))
            print(
                f"Python {sys.version.split()[0]}, Django {django.get_version()}, {connection.display_name} "
                f"{version}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            create_tables()
            publish_policy()
            bench_export(args.events, args.orders, args.repeats)
            if not args.export_only:
                bench_erase(run, args.subjects, directory)
        finally:
            if args.database == "postgres":
                from django.conf import settings
                from django.db import connections

                if settings.configured:
                    connections.close_all()
                postgres_admin(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
    print(f"finished in {time.perf_counter() - started:.0f} s, load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

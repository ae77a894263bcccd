"""Benchmark privacy_kit's encrypted fields beside other Django encrypted-field libraries, on PostgreSQL.

The same ``--rows`` rows of three ~40-byte text columns (``bench/fields.py``'s data) are written and read by:

- plain Django ``TextField``s (the baseline of every ratio);
- privacy_kit with shared keys: ``benchapp.EncryptedRow``, a model not registered with a subject;
- privacy_kit with subject keys: ``benchapp.SubjectRow``, registered with ``subject="user"`` (a direct
  foreign key; the rows spread over ``--users`` users). Its values use subject keys as soon as the
  fields do: the run prints the envelope version of the values it stored, beside the shared one,
  and how many subject keys the writes created;
- django-tink-fields, django-fernet-encrypted-fields and django-cryptography-5 (the ``bench`` extra:
  ``pip install -e '.[bench]'``). A peer that does not import or fails on this stack is listed as
  "not installed" or "failed", with the reason.

For each: **write** ``bulk_create`` (batch size 2,000) into an empty table; **values_list**
``list(values_list("name", "phone", "address"))``; **instances** every row as a model instance with its
three values read. Best of ``--repeats`` (garbage collector off while the clock runs), the cases taken in
turn so drift hits all alike; ratios to plain, and the cost per value above plain in µs.

Then: the queries of reading 1,000 ``SubjectRow`` instances of 1,000 different subjects (Django's
``CaptureQueriesContext``), with the subject-key cache emptied and then warm; and the floor, a bare
``AESGCM.encrypt`` + ``decrypt`` of a 40-byte value, against the field path and against what a privacy_kit
value costs above plain in the bulk write and read.

The run creates its own PostgreSQL database (127.0.0.1, user postgres), migrates it and drops it at the end.
Run from the repository root::

    .venv/bin/python bench/peers.py [--rows 20000] [--users 1000] [--repeats 3] [--postgres-name bench_peers]
"""

from __future__ import annotations

import argparse
import binascii
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]  # benchapp, privacy_kit

import django_setup  # noqa: E402
from django_setup import default_database, fresh_postgres_database  # noqa: E402
from fields import WRITE_BATCH_SIZE, empty_table, field_times, people  # noqa: E402
from timing import best_alternating, clock  # noqa: E402

ALIAS = "default"
TEXT_FIELDS = ("name", "phone", "address")
LIST_ROWS = 1_000  # the list of rows of different subjects whose queries are counted

TARGETS = """\
targets (subject keys)  write at most x1.3 plain; values_list at most x6 plain (~1.5 µs a value above plain)
                        1,000 rows of 1,000 subjects: at most one extra query for the keys
                        field path at most x1.5 a bare AES-GCM encrypt + decrypt"""


@dataclass
class Case:
    """One library's model in the run, or why it is not in it."""

    label: str
    distribution: str  # whose version is printed
    model: Any = None
    problem: str = ""
    baseline: Case | None = None  # whose times its ratios are to: plain fields, or plain fields with the user key
    times: dict[str, float] = field(default_factory=dict)

    @property
    def version(self) -> str:
        try:
            return metadata.version(self.distribution)
        except metadata.PackageNotFoundError:
            return "-"


# -- the peers: their models and their (minimal) keys, in this run only ------


def peer_settings(directory: Path) -> dict[str, Any]:
    """Return the settings the peers read; their keys are this run's (django-cryptography-5 derives from SECRET_KEY)."""
    return {
        "TINK_FIELDS_CONFIG": {"default": {"cleartext": True, "path": str(directory / "tink-keyset.json")}},
        "SALT_KEY": [binascii.hexlify(os.urandom(16)).decode()],  # django-fernet-encrypted-fields
    }


def row_model(name: str, make_field: Callable[[], Any]) -> type:
    """Return a model of app ``bench`` with three text columns made by ``make_field``."""
    from django.db import models

    attributes = {column: make_field() for column in TEXT_FIELDS}
    attributes["__module__"] = "benchapp.models"
    attributes["Meta"] = type("Meta", (), {"app_label": "bench", "db_table": f"bench_peers_{name.lower()}"})
    return type(name, (models.Model,), attributes)


def tink_model(directory: Path) -> type:
    import tink
    from tink import aead, json_proto_keyset_format, secret_key_access
    from tink_fields import EncryptedTextField

    aead.register()
    handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
    (directory / "tink-keyset.json").write_text(json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN))
    return row_model("TinkRow", EncryptedTextField)


def fernet_model(directory: Path) -> type:
    from encrypted_fields.fields import EncryptedTextField

    return row_model("FernetRow", EncryptedTextField)


def cryptography_model(directory: Path) -> type:
    from django.db import models
    from django_cryptography.fields import encrypt

    return row_model("CryptographyRow", lambda: encrypt(models.TextField()))


PEERS = [
    ("django-tink-fields", "django-tink-fields", tink_model),
    ("django-fernet-encrypted-fields", "django-fernet-encrypted-fields", fernet_model),
    ("django-cryptography-5", "django-cryptography-5", cryptography_model),
]


def cases(directory: Path) -> list[Case]:
    """Return the run's cases: plain first (the baseline), privacy_kit's two, then each peer that imports."""
    from benchapp.models import EncryptedRow, PlainRow, PlainSubjectRow, SubjectRow

    plain = Case("plain Django TextField", "Django", PlainRow)
    plain_subject = Case("plain, with the user foreign key", "Django", PlainSubjectRow)
    found = [
        plain,
        Case("privacy_kit, shared keys", "django-privacy-kit", EncryptedRow, baseline=plain),
        plain_subject,
        Case("privacy_kit, subject keys", "django-privacy-kit", SubjectRow, baseline=plain_subject),
    ]
    for label, distribution, build in PEERS:
        case = Case(label, distribution, baseline=plain)
        try:
            case.model = build(directory)
        except Exception as error:  # ImportError, or a library that does not start on this Django
            case.problem = f"not installed: {type(error).__name__}: {error}"
        found.append(case)
    return found


# -- setup -------------------------------------------------------------------


def configure(postgres_name: str, directory: Path) -> None:
    django_setup.configure(
        {ALIAS: default_database("postgres", directory / "unused.sqlite3", postgres_name)},
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "privacy_kit",
            "benchapp.apps.PeersBenchConfig",  # registers SubjectRow with subject "user"
        ],
        **peer_settings(directory),
    )


def create_tables(run: list[Case]) -> None:
    """Migrate Django's and privacy_kit's tables (users, subject keys); create each case's table."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    for case in run:
        if case.model is None:
            continue
        try:
            with connection.schema_editor() as editor:
                editor.create_model(case.model)
        except Exception as error:
            case.problem = f"failed: {type(error).__name__}: {error}"


def create_users(count: int) -> list[int]:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user_model.objects.bulk_create([user_model(username=f"peer-{n}") for n in range(count)])
    return list(user_model.objects.order_by("pk").values_list("pk", flat=True))


# -- the measurements --------------------------------------------------------


def writer(model: type, rows: list[tuple[str, str, str]], users: list[int]) -> Callable[[], float]:
    """Return a timed ``bulk_create`` of ``rows`` into ``model``'s emptied table (row n to user n mod users)."""
    with_user = any(f.name == "user" for f in model._meta.get_fields())

    def run() -> float:
        empty_table(ALIAS, model)
        if with_user:
            owners = [users[n % len(users)] for n in range(len(rows))]
            objs = [model(user_id=u, name=a, phone=b, address=c) for u, (a, b, c) in zip(owners, rows, strict=True)]
        else:
            objs = [model(name=a, phone=b, address=c) for a, b, c in rows]
        return clock(lambda: model.objects.bulk_create(objs, batch_size=WRITE_BATCH_SIZE))

    return run


def values_reader(model: type) -> Callable[[], float]:
    queryset = model.objects.values_list(*TEXT_FIELDS)
    return lambda: clock(lambda: list(queryset.all()))


def instance_reader(model: type) -> Callable[[], float]:
    def read() -> list[tuple[str, str, str]]:
        return [(row.name, row.phone, row.address) for row in model.objects.all()]

    return lambda: clock(read)


def check(case: Case, rows: list[tuple[str, str, str]], users: list[int]) -> None:
    """Write and read once, untimed: a case that fails or reads back other values leaves the table."""
    try:
        writer(case.model, rows, users)()
        read_back = sorted(case.model.objects.values_list(*TEXT_FIELDS))
        instances = sorted((row.name, row.phone, row.address) for row in case.model.objects.all())
    except Exception as error:
        case.problem = f"failed: {type(error).__name__}: {error}"
        return
    if read_back != sorted(rows) or instances != read_back:
        case.problem = "failed: the rows do not read back as written"


def measure(run: list[Case], rows: list[tuple[str, str, str]], users: list[int], repeats: int) -> None:
    working = [case for case in run if not case.problem]
    steps: list[tuple[str, Callable[[type], Callable[[], float]]]] = [
        ("write", lambda model: writer(model, rows, users)),
        ("values", values_reader),
        ("instances", instance_reader),
    ]
    for what, make in steps:
        times = best_alternating(repeats, *(make(case.model) for case in working))
        for case, seconds in zip(working, times, strict=True):
            case.times[what] = seconds
        # The last write repetition left every table full for the reads.


def stored_version(model: type) -> str:
    """Return the envelope version of the first value stored in ``model``'s ``name`` column, read raw."""
    from django.db import connection

    quote = connection.ops.quote_name
    column = model._meta.get_field("name").column
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote(column)} FROM {quote(model._meta.db_table)} ORDER BY {quote('id')} LIMIT 1")
        stored = cursor.fetchone()[0]
    if isinstance(stored, bytes | memoryview):  # a binary column holds the envelope itself
        head = bytes(stored[:1])
    else:  # a text column, the envelope in base64 (after the blind index of a searchable field)
        try:
            head = binascii.a2b_base64(stored.rpartition(":")[2][:8])[:1]
        except (binascii.Error, ValueError):
            return "unreadable"
    return str(head[0]) if head else "empty"


def queries(count: int) -> str:
    return f"{count} query" if count == 1 else f"{count} queries"


def forget_subject_keys() -> None:
    """Empty this process's cache of unwrapped subject keys (the provider kept, as in a running shop)."""
    from privacy_kit.keys import store

    store.cache.clear()


def list_queries(model: type) -> tuple[int, int, int]:
    """Return the subjects among the first ``LIST_ROWS`` rows and the queries of reading them, cold and warm."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def read() -> list[tuple[Any, ...]]:
        return [(row.user_id, row.name, row.phone, row.address) for row in model.objects.order_by("pk")[:LIST_ROWS]]

    forget_subject_keys()
    with CaptureQueriesContext(connection) as cold:
        subjects = len({row[0] for row in read()})
    with CaptureQueriesContext(connection) as warm:
        read()
    return subjects, len(cold), len(warm)


def floor(ours: list[Case], values: int, repeats: int) -> list[str]:
    """Return the lines that set the field path and the bulk cost of a privacy_kit value beside bare AES-GCM."""
    from django.db import connection

    lines = []
    bares = []
    for case in ours:
        try:
            bare, path = field_times(case.model._meta.get_field("name"), connection, repeats)
        except Exception as error:  # a field path that needs more than the value (a subject) to run
            lines.append(f"field path, {case.label}: not measured ({type(error).__name__}: {error})")
            continue
        bares.append(bare)
        lines.append(
            f"field path, {case.label}: bare AES-GCM {bare * 1e6:.2f} µs, field {path * 1e6:.2f} µs a value, "
            f"x{path / bare:.2f}"
        )
    for case in ours:
        if not bares or case.baseline is None:
            continue
        bare = min(bares)
        plain = case.baseline.times
        above = (case.times["write"] - plain["write"] + case.times["values"] - plain["values"]) / values
        lines.append(
            f"bulk write + values_list above plain, {case.label}: {above * 1e6:.2f} µs a value, "
            f"x{above / bare:.2f} bare"
        )
    return lines


# -- the report --------------------------------------------------------------


def table(run: list[Case], values: int) -> str:
    """Return the figures of every case, each beside its baseline's."""
    header = (
        f"{'library':<33}{'version':>8} | {'write':>9} {'x':>6} {'µs/val':>6} | {'values_list':>11} {'x':>6} "
        f"{'µs/val':>6} | {'instances':>9} {'x':>6} {'µs/val':>6}"
    )
    lines = [header, "-" * len(header)]
    for case in run:
        start = f"{case.label:<33}{case.version:>8} |"
        if case.problem:
            lines.append(f"{start} {case.problem}")
            continue
        plain = (case.baseline or case).times
        parts = []
        for what, width in (("write", 9), ("values", 11), ("instances", 9)):
            seconds = case.times[what]
            above = (seconds - plain[what]) / values * 1e6
            parts.append(f"{seconds * 1e3:{width - 3}.1f} ms x{seconds / plain[what]:5.2f} {above:6.2f}")
        lines.append(f"{start} " + " | ".join(parts))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows written and read (default 20,000)")
    parser.add_argument("--users", type=int, default=1_000, help="subjects the subject-key rows spread over")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions, the best one kept (default 3)")
    parser.add_argument("--postgres-name", default="bench_peers", help="the database created and dropped")
    args = parser.parse_args()
    if args.users < LIST_ROWS or args.rows < LIST_ROWS:
        parser.error(f"--rows and --users must be at least {LIST_ROWS:,}")

    started = time.perf_counter()
    with fresh_postgres_database(args.postgres_name), tempfile.TemporaryDirectory(prefix="privacy_kit_bench_") as tmp:
        configure(args.postgres_name, Path(tmp))
        bench(args, Path(tmp))
    print(f"finished in {time.perf_counter() - started:.0f} s")


def bench(args: argparse.Namespace, directory: Path) -> None:
    import django
    from django.db import connection

    from privacy_kit.keys.store import key_database
    from privacy_kit.models import SubjectKey

    run = cases(directory)
    values = args.rows * len(TEXT_FIELDS)
    create_tables(run)
    users = create_users(args.users)
    rows = people(args.rows, random.Random(2024))
    connection.ensure_connection()
    print(
        f"Python {sys.version.split()[0]}, Django {django.get_version()}, "
        f"cryptography {metadata.version('cryptography')}, "
        f"PostgreSQL {'.'.join(map(str, connection.get_database_version()))}; {os.cpu_count()} cores, "
        f"load {' '.join(f'{load:.1f}' for load in os.getloadavg())}",
        flush=True,
    )
    print(f"{args.rows:,} rows x 3 text fields over {args.users:,} users; best of {args.repeats}", flush=True)
    for case in run:
        if not case.problem:
            check(case, rows, users)
    ours, (shared_case, subject_case) = run[:4], (run[1], run[3])
    if any(case.problem for case in ours):
        raise RuntimeError("; ".join(f"{case.label}: {case.problem}" for case in ours if case.problem))

    shared, subject = stored_version(shared_case.model), stored_version(subject_case.model)
    keys = SubjectKey.objects.using(key_database()).count()
    same = " (the same envelope: the fields do not use subject keys yet)" if shared == subject else ""
    print(f"stored envelope version: shared keys {shared}, subject keys {subject}{same}; subject keys: {keys:,}")

    measure(run, rows, users, args.repeats)
    print(table(run, values), flush=True)
    print(
        "x and µs/val: to plain fields in the same step (subject keys: to plain fields with the same foreign key); "
        "µs/val is the cost per value (3 a row) above them"
    )

    subjects, cold, warm = list_queries(subject_case.model)
    print(
        f"{LIST_ROWS:,} SubjectRow instances of {subjects:,} subjects: {queries(cold)} with the key cache empty, "
        f"{queries(warm)} with it warm (plain fields: 1 query)"
    )
    for line in floor([shared_case, subject_case], values, args.repeats):
        print(line)
    print(TARGETS)
    print(f"load after the run {' '.join(f'{load:.1f}' for load in os.getloadavg())}")


if __name__ == "__main__":
    main()

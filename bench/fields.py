"""Benchmark privacy_kit's encrypted fields against their plain Django twins.

For each database (SQLite in a temporary file, PostgreSQL at 127.0.0.1, user postgres, database ``test``)
it measures:

1. write:  ``bulk_create`` of ``--rows`` rows (batch_size 2,000) with three ~40-byte text columns,
           ``TextField`` vs ``EncryptedTextField``;
2. read:   ``list(values_list("name", "phone", "address"))`` over those rows, plain vs encrypted;
3. field:  one 40-byte value through ``EncryptedTextField.get_db_prep_value`` and ``from_db_value``
           vs a bare ``AESGCM.encrypt`` and ``decrypt``, 100,000 values;
4. search: ``filter(email=...).first()`` over ``--search-rows`` rows, ``EmailField(db_index=True)``
           vs ``EncryptedEmailField(searchable=True)``, 2,000 queries (mixed case for the encrypted one).

Every figure is the best of several repetitions timed with ``time.perf_counter``, with the garbage
collector off while the clock runs; plain and encrypted repetitions alternate so drift hits both alike.
Django is configured here, with random keys for the run; the tables (app ``bench``, see
``bench/benchapp``) are created with the schema editor and dropped at the end. It prints figures,
not verdicts: the targets are listed at the end for comparison.

Run from the repository root::

    .venv/bin/python bench/fields.py [--rows 20000] [--search-rows 200000] [--database sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]  # benchapp, privacy_kit

import django_setup  # noqa: E402
from django_setup import default_database  # noqa: E402
from timing import best_alternating, clock  # noqa: E402

WRITE_BATCH_SIZE = 2_000
LOAD_BATCH_SIZE = 5_000
REPEATS = 5
FIELD_ITERATIONS = 100_000
SEARCH_QUERIES = 2_000
FIELD_VALUE = "Margaret Ellen Featherstone-Whitworth, 7"  # 40 bytes

TARGETS = """\
targets   write, read  encrypted at most x1.5 plain (PostgreSQL)
          field        field path at most x1.3 bare AES-GCM
          search       searchable at most x1.5 plain"""

FIRST_NAMES = [
    "Margaret", "Alexander", "Josephine", "Sebastian", "Catherine", "Frederick", "Elisabeth", "Maximilian",
    "Charlotte", "Christopher", "Genevieve", "Bartholomew", "Anastasia", "Theodore", "Gwendolyn", "Nathaniel",
]  # fmt: skip
LAST_NAMES = [
    "Featherstone", "Whitworth", "Ravenscroft", "Blackwood", "Montgomery", "Hollingsworth", "Abernathy",
    "Fitzgerald", "Kensington", "Wainwright", "Thistlewood", "Castellano", "Oyelaran", "Nakamura",
]  # fmt: skip
STREETS = [
    "Willow Creek Boulevard", "Old Mill Lane", "Kingsbridge Road", "Harbour View Terrace",
    "St Margaret's Crescent", "Chestnut Avenue", "Riverside Drive", "Foundry Street",
]  # fmt: skip
CITIES = [("Manchester", "M"), ("Bristol", "BS"), ("Edinburgh", "EH"), ("Norwich", "NR"), ("Cardiff", "CF")]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "example.co.uk"]


# -- setup -----------------------------------------------------------------


def configure(aliases: list[str], sqlite_path: Path) -> None:
    """Configure and set up Django with one connection per benchmarked database."""
    databases: dict[str, dict] = {"default": {}}  # unused: every query names its database
    for alias in aliases:
        # PostgreSQL: the server's "test" database; the benchmark creates and drops its own tables there.
        databases[alias] = default_database(alias, sqlite_path, "test")
    django_setup.configure(
        databases, INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "privacy_kit", "benchapp"]
    )


def bench_models() -> list[type]:
    from benchapp.models import EncryptedRow, PlainEmail, PlainRow, SearchableEmail

    return [PlainRow, EncryptedRow, PlainEmail, SearchableEmail]


def create_tables(alias: str) -> None:
    from django.db import connections

    connection = connections[alias]
    drop_tables(alias)  # left over by an interrupted run
    with connection.schema_editor() as editor:
        for model in bench_models():
            editor.create_model(model)


def drop_tables(alias: str) -> None:
    from django.db import connections

    connection = connections[alias]
    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in bench_models():
            if model._meta.db_table in existing:
                editor.delete_model(model)


def empty_table(alias: str, model: type) -> None:
    from django.db import connections

    connection = connections[alias]
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE TABLE {table} RESTART IDENTITY")
        else:
            cursor.execute(f"DELETE FROM {table}")


# -- data ------------------------------------------------------------------


def people(count: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """Return (name, phone, address) triples of about 40 bytes each."""
    rows = []
    for _ in range(count):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}-{rng.choice(LAST_NAMES)}"
        phone = f"+44 (0){rng.randint(1000, 9999)} {rng.randint(100000, 999999)} ext. {rng.randint(10, 999)} (mobile)"
        city, area = rng.choice(CITIES)
        postcode = f"{area}{rng.randint(1, 29)} {rng.randint(1, 9)}{''.join(rng.choices('ABDEFGHJLNPQRSTUWXYZ', k=2))}"
        address = f"{rng.randint(1, 299)} {rng.choice(STREETS)}, {city} {postcode}"
        rows.append((name, phone, address))
    return rows


def emails(count: int, rng: random.Random) -> list[str]:
    """Return distinct lowercase email addresses."""
    return [
        f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}.{number}@{rng.choice(DOMAINS)}".lower()
        for number in range(count)
    ]


def mixed_case(text: str, rng: random.Random) -> str:
    return "".join(char.upper() if rng.random() < 0.5 else char for char in text)


# -- timing ----------------------------------------------------------------


def report(alias: str, what: str, labels: tuple[str, str], times: tuple[float, float], unit: str) -> None:
    scale = {"ms": 1e3, "µs": 1e6}[unit]
    (label_a, label_b), (a, b) = labels, times
    first = f"{label_a:<5} {a * scale:8.2f} {unit}"
    second = f"{label_b:<10} {b * scale:8.2f} {unit}"
    print(f"{alias:<9} {what:<7} {first}  {second}  x{b / a:.2f}", flush=True)


# -- the measurements ------------------------------------------------------


def bench_write_read(alias: str, rows: list[tuple[str, str, str]]) -> None:
    from benchapp.models import EncryptedRow, PlainRow

    def write(model: type) -> Callable[[], float]:
        def run() -> float:
            empty_table(alias, model)
            objs = [model(name=name, phone=phone, address=address) for name, phone, address in rows]
            return clock(lambda: model.objects.using(alias).bulk_create(objs, batch_size=WRITE_BATCH_SIZE))

        return run

    def read(model: type) -> Callable[[], float]:
        queryset = model.objects.using(alias).values_list("name", "phone", "address")
        return lambda: clock(lambda: list(queryset.all()))

    times = best_alternating(REPEATS, write(PlainRow), write(EncryptedRow))
    report(alias, "write", ("plain", "encrypted"), times, "ms")

    # The last write repetition left the rows in both tables.
    if sorted(EncryptedRow.objects.using(alias).values_list("name", "phone", "address")) != sorted(rows):
        raise RuntimeError("the encrypted rows do not read back as written")
    times = best_alternating(REPEATS, read(PlainRow), read(EncryptedRow))
    report(alias, "read", ("plain", "encrypted"), times, "ms")


def field_times(field: Any, connection: Any, repeats: int = REPEATS) -> tuple[float, float]:
    """Return the seconds per value of a bare ``AESGCM.encrypt`` + ``decrypt`` and of ``field``'s path.

    The field path is one 40-byte value through ``get_db_prep_value`` and ``from_db_value``; the bare
    one seals and opens the same bytes with a fresh ``os.urandom(12)`` nonce, the key's ``AESGCM`` built once.
    """
    data = FIELD_VALUE.encode()
    aesgcm = AESGCM(AESGCM.generate_key(bit_length=256))
    urandom = os.urandom
    if field.from_db_value(field.get_db_prep_value(FIELD_VALUE, connection), None, connection) != FIELD_VALUE:
        raise RuntimeError("the field path does not round-trip")

    def bare() -> None:
        for _ in range(FIELD_ITERATIONS):
            nonce = urandom(12)
            aesgcm.decrypt(nonce, aesgcm.encrypt(nonce, data, None), None)

    def field_path() -> None:
        for _ in range(FIELD_ITERATIONS):
            field.from_db_value(field.get_db_prep_value(FIELD_VALUE, connection), None, connection)

    best_bare, best_field = best_alternating(repeats, lambda: clock(bare), lambda: clock(field_path))
    return best_bare / FIELD_ITERATIONS, best_field / FIELD_ITERATIONS


def bench_field(alias: str) -> None:
    from benchapp.models import EncryptedRow
    from django.db import connections

    field = EncryptedRow._meta.get_field("name")
    report(alias, "field", ("bare", "field"), field_times(field, connections[alias]), "µs")


def bench_search(alias: str, addresses: list[str], rng: random.Random) -> None:
    from benchapp.models import PlainEmail, SearchableEmail
    from django.db import connections

    connection = connections[alias]
    for model in (PlainEmail, SearchableEmail):
        manager = model.objects.using(alias)
        for start in range(0, len(addresses), LOAD_BATCH_SIZE):
            manager.bulk_create([model(email=email) for email in addresses[start : start + LOAD_BATCH_SIZE]])
        if connection.vendor == "postgresql":
            # Statistics for the planner; the vacuum keeps autovacuum from waking up during the timing.
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")

    wanted = rng.choices(addresses, k=SEARCH_QUERIES)
    queries = [mixed_case(email, rng) for email in wanted]

    def plain() -> None:
        manager = PlainEmail.objects.using(alias)
        for email in wanted:
            manager.filter(email=email).first()

    def searchable() -> None:
        manager = SearchableEmail.objects.using(alias)
        for email in queries:
            manager.filter(email=email).first()

    # One untimed pass warms the caches and checks that every query finds its row.
    for model, values in ((PlainEmail, wanted), (SearchableEmail, queries)):
        manager = model.objects.using(alias)
        found = [getattr(manager.filter(email=value).first(), "email", None) for value in values]
        if found != wanted:
            raise RuntimeError(f"{model.__name__}: some searches did not find their row")

    best_plain, best_searchable = best_alternating(REPEATS, lambda: clock(plain), lambda: clock(searchable))
    times = (best_plain / SEARCH_QUERIES, best_searchable / SEARCH_QUERIES)
    report(alias, "search", ("plain", "searchable"), times, "µs")


def bench_database(alias: str, rows: list[tuple[str, str, str]], addresses: list[str], seed: int) -> None:
    from django.db import connections

    connection = connections[alias]
    connection.ensure_connection()
    print(f"{alias}: {connection.display_name} {'.'.join(map(str, connection.get_database_version()))}", flush=True)
    create_tables(alias)
    try:
        bench_write_read(alias, rows)
        bench_field(alias)
        bench_search(alias, addresses, random.Random(seed))
    finally:
        drop_tables(alias)
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows written and read (default 20,000)")
    parser.add_argument("--search-rows", type=int, default=200_000, help="rows searched (default 200,000)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    aliases = ["sqlite", "postgres"] if args.database == "both" else [args.database]

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="privacy_kit_bench_") as tmp:
        configure(aliases, Path(tmp) / "bench.sqlite3")
        rng = random.Random(2024)
        rows = people(args.rows, rng)
        addresses = emails(args.search_rows, rng)
        lengths = [sum(len(row[column].encode()) for row in rows) // len(rows) for column in range(3)]
        print(
            f"Python {sys.version.split()[0]}, Django {django.get_version()}; {args.rows:,} rows "
            f"(name/phone/address ~{lengths[0]}/{lengths[1]}/{lengths[2]} bytes), {args.search_rows:,} search rows; "
            f"best of {REPEATS}",
            flush=True,
        )
        for alias in aliases:
            bench_database(alias, rows, addresses, seed=7)
    print(TARGETS)
    print(f"finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

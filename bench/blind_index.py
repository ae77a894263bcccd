"""Benchmark blind-index key rotation: ``rotate_blind_index`` over a table, and lookups with a fallback key.

For each database (SQLite in a temporary file, PostgreSQL at 127.0.0.1 in a database of its own,
``bench_blind_index``, created and dropped here) it measures, over ``--rows`` rows of
``EncryptedEmailField(searchable=True)`` (``bench/benchapp``):

1. read:     ``list(values_list("email"))`` of every row, decrypted (the floor of any pass that
             must open each value), and of the plain twin;
2. rotate:   ``rotate_blind_index`` of the table, every index under the old key (batches of
             ``PURGE_BATCH_SIZE``), the old key in ``BLIND_INDEX_KEY_FALLBACKS``;
3. again:    a second run, every index already current: it opens and checks, and writes nothing;
4. lookups:  ``filter(email=...).first()``, 2,000 queries (mixed case): the plain
             ``EmailField(db_index=True)`` twin, the searchable field without a fallback, and
             with one fallback key (an ``IN`` over two indexes).

Figures are the best of ``REPEATS`` (garbage collector off while the clock runs; the table is
loaded again under the old key before each rotation, untimed), in milliseconds or
microseconds, with ratios to the plain read or the plain lookup of the same run.

Run from the repository root::

    .venv/bin/python bench/blind_index.py [--rows 20000] [--database sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]  # benchapp, privacy_kit

import django_setup  # noqa: E402
from django_setup import default_database, postgres_admin  # noqa: E402
from timing import best_alternating, clock  # noqa: E402

REPEATS = 3
LOOKUPS = 2_000
LOAD_BATCH_SIZE = 5_000
POSTGRES_NAME = "bench_blind_index"
NAMES = ["margaret", "alexander", "josephine", "sebastian", "catherine", "frederick", "nakamura", "oyelaran"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "example.co.uk"]


class Router:
    """Send every query of the run to the database being benchmarked: the rotation uses the default router."""

    alias = "default"

    def db_for_read(self, model: type, **hints: object) -> str:
        return Router.alias

    db_for_write = db_for_read


def addresses(count: int, rng: random.Random) -> list[str]:
    return [f"{rng.choice(NAMES)}.{rng.choice(NAMES)}.{number}@{rng.choice(DOMAINS)}" for number in range(count)]


def mixed_case(text: str, rng: random.Random) -> str:
    return "".join(char.upper() if rng.random() < 0.5 else char for char in text)


def bench(alias: str, emails: list[str], rng: random.Random) -> None:
    from benchapp.models import PlainEmail, SearchableEmail
    from django.db import connections
    from django.test.utils import override_settings

    from privacy_kit.crypto import generate_key
    from privacy_kit.rotation import rotate_blind_index

    Router.alias = alias
    connection = connections[alias]
    connection.ensure_connection()
    base = django_setup.settings.PRIVACY_KIT
    old_key, new_key = base["BLIND_INDEX_KEY"], generate_key()
    old = {**base}
    new_only = {**base, "BLIND_INDEX_KEY": new_key}
    rotating = {**new_only, "BLIND_INDEX_KEY_FALLBACKS": [old_key]}
    models = [PlainEmail, SearchableEmail]
    with connection.schema_editor() as editor:
        for model in models:
            editor.create_model(model)

    def load(model: type, settings: dict) -> None:
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table}")
        with override_settings(PRIVACY_KIT=settings):
            manager = model.objects.using(alias)
            for start in range(0, len(emails), LOAD_BATCH_SIZE):
                manager.bulk_create([model(email=email) for email in emails[start : start + LOAD_BATCH_SIZE]])
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM ANALYZE {table}")

    def rotate() -> Callable[[], float]:
        def run() -> float:
            load(SearchableEmail, old)
            with override_settings(PRIVACY_KIT=rotating):
                seconds = clock(lambda: rotate_blind_index(["bench.SearchableEmail"]))
                [report] = rotate_blind_index(["bench.SearchableEmail"], dry_run=True)
            if report.pending:
                raise RuntimeError("the rotation left values under the old key")
            return seconds

        return run

    def again() -> float:
        with override_settings(PRIVACY_KIT=rotating):
            return clock(lambda: rotate_blind_index(["bench.SearchableEmail"]))

    def read() -> float:
        with override_settings(PRIVACY_KIT=new_only):
            return clock(lambda: list(SearchableEmail.objects.using(alias).values_list("email", flat=True)))

    def plain_read() -> float:
        return clock(lambda: list(PlainEmail.objects.using(alias).values_list("email", flat=True)))

    try:
        load(PlainEmail, old)
        plain_time, rotate_time, again_time, read_time = best_alternating(REPEATS, plain_read, rotate(), again, read)
        print(
            f"{alias:8} {len(emails):,} rows  plain read {plain_time * 1e3:7.1f} ms  "
            f"read {read_time * 1e3:7.1f} ms x{read_time / plain_time:5.2f}  "
            f"rotate {rotate_time * 1e3:8.1f} ms x{rotate_time / read_time:5.2f} read  "
            f"again {again_time * 1e3:7.1f} ms x{again_time / read_time:5.2f} read  "
            f"({rotate_time / len(emails) * 1e6:.1f} µs per value moved)",
            flush=True,
        )

        wanted = rng.choices(emails, k=LOOKUPS)
        queries = [mixed_case(email, rng) for email in wanted]

        def plain() -> float:
            manager = PlainEmail.objects.using(alias)
            return clock(lambda: [manager.filter(email=email).first() for email in wanted])

        def searchable(settings: dict) -> Callable[[], float]:
            def run() -> float:
                with override_settings(PRIVACY_KIT=settings):
                    manager = SearchableEmail.objects.using(alias)
                    return clock(lambda: [manager.filter(email=email).first() for email in queries])

            return run

        # An untimed pass checks that every lookup finds its row in each case.
        for settings in (new_only, rotating):
            with override_settings(PRIVACY_KIT=settings):
                manager = SearchableEmail.objects.using(alias)
                if [manager.filter(email=query).first().email for query in queries] != wanted:
                    raise RuntimeError("a lookup did not find its row")
        times = best_alternating(REPEATS * 2, plain, searchable(new_only), searchable(rotating))
        plain_time = times[0]
        figures = "  ".join(
            f"{label} {seconds / LOOKUPS * 1e6:7.1f} µs x{seconds / plain_time:5.2f}"
            for label, seconds in zip(["plain", "no fallback", "one fallback"], times, strict=True)
        )
        print(f"{alias:8} lookup  {figures}", flush=True)
    finally:
        with connection.schema_editor() as editor:
            for model in models:
                editor.delete_model(model)
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows rotated and searched (default 20,000)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    arguments = parser.parse_args()
    aliases = ["sqlite", "postgres"] if arguments.database == "both" else [arguments.database]
    with tempfile.TemporaryDirectory(prefix="privacy_kit_bench_") as directory:
        if "postgres" in aliases:
            postgres_admin(f"DROP DATABASE IF EXISTS {POSTGRES_NAME}")
            postgres_admin(f"CREATE DATABASE {POSTGRES_NAME}")
        databases: dict[str, dict] = {"default": {}}  # unused: every query names its database
        for alias in aliases:
            databases[alias] = default_database(alias, Path(directory) / "blind.sqlite3", POSTGRES_NAME)
        django_setup.configure(
            databases,
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "privacy_kit", "benchapp"],
            DATABASE_ROUTERS=[f"{__name__}.Router"],
        )
        try:
            print(f"best of {REPEATS} (lookups: of {REPEATS * 2}); ratios to the plain read or the plain lookup")
            for alias in aliases:
                bench(alias, addresses(arguments.rows, random.Random(2024)), random.Random(7))
        finally:
            from django.db import connections

            connections.close_all()
            if "postgres" in aliases:
                postgres_admin(f"DROP DATABASE IF EXISTS {POSTGRES_NAME}")


if __name__ == "__main__":
    main()

"""Moving values onto subject keys with rotate_keys: time and peak memory, bounded by the batch.

Rows of three encrypted text fields, written under the shared keys (as before subject
keys), are moved onto their subjects' keys by ``rotate_keys`` (``SubjectRow``, spread
over 1,000 users), at two table sizes. The baseline in the same run is raw SQL that
rewrites the same column values in place (``UPDATE ... SET name = name || ''``, the
same rows in the same batches' worth of statements): what a database spends rewriting
the columns at all. Each rotation runs in a process of its own, so its peak RSS is its
own; memory should not grow with the table.

    .venv/bin/python bench/rotation.py [--rows 200000] [--users 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django_setup
from django_setup import default_database, fresh_postgres_database
from timing import in_fork, mib

BATCH = 10_000


def configure(name: str, directory: Path) -> None:
    django_setup.configure(
        {"default": default_database("postgres", directory / "unused.sqlite3", name)},
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "privacy_kit",
            "benchapp.apps.BenchConfig",
        ],
        PURGE_BATCH_SIZE=BATCH,
    )


def fill(rows: int, users: int) -> None:
    """Write ``rows`` SubjectRow rows under the shared keys (SubjectRow not registered yet)."""
    from benchapp.models import SubjectRow
    from django.contrib.auth import get_user_model
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE bench_subjectrow")
    user_model = get_user_model()
    if not user_model.objects.exists():
        user_model.objects.bulk_create([user_model(username=f"rotation-{n}") for n in range(users)])
    pks = list(user_model.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, rows, BATCH):
        SubjectRow.objects.bulk_create(
            [
                SubjectRow(user_id=pks[n % len(pks)], name=f"Name {n}", phone=f"+9665{n:08d}", address=f"{n} Olaya St")
                for n in range(start, min(rows, start + BATCH))
            ]
        )


def rotate() -> int:
    from benchapp.models import SubjectRow

    from privacy_kit import registry
    from privacy_kit.rotation import rotate_keys

    registry.register(SubjectRow, subject="user", category="personal", personal_fields=["name", "phone", "address"])
    return sum(report.resealed for report in rotate_keys(["bench.SubjectRow"], batch_size=BATCH))


def raw_rewrite() -> int:
    """The same columns rewritten in place by SQL, in primary-key ranges of one batch each."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT MIN(id), MAX(id) FROM bench_subjectrow")
        low, high = cursor.fetchone()
        done = 0
        for start in range(low, high + 1, BATCH):
            cursor.execute(
                "UPDATE bench_subjectrow SET name = name || '', phone = phone || '', address = address || '' "
                "WHERE id >= %s AND id < %s",
                [start, start + BATCH],
            )
            done += cursor.rowcount
    return done * 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the large table (default 200,000)")
    parser.add_argument("--users", type=int, default=1_000, help="subjects the rows spread over")
    parser.add_argument("--postgres-name", default="bench_rotation", help="the database created and dropped")
    args = parser.parse_args()
    started = time.perf_counter()
    with fresh_postgres_database(args.postgres_name), tempfile.TemporaryDirectory(prefix="privacy_kit_bench_") as tmp:
        configure(args.postgres_name, Path(tmp))
        bench(args)
    print(f"finished in {time.perf_counter() - started:.0f} s")


def create_subject_rows(users: int, what: str) -> None:
    """Migrate, create the SubjectRow table and say what the run measures on which machine."""
    from benchapp.models import SubjectRow
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    with connection.schema_editor() as editor:
        editor.create_model(SubjectRow)
    print(
        f"PostgreSQL, {os.cpu_count()} cores, load {' '.join(f'{load:.1f}' for load in os.getloadavg())}; "
        f"rows of {what} over {users:,} users; batches of {BATCH:,}",
        flush=True,
    )


def bench(args: argparse.Namespace) -> None:
    create_subject_rows(args.users, "3 encrypted text fields")
    heading = f"{'rows':>9} | {'raw SQL rewrite':>15} | {'rotate_keys onto subject keys':>29} {'x':>6} {'µs/val':>7}"
    print(f"{heading} | peak RSS")
    for rows in (args.rows // 10, args.rows):
        fill(rows, args.users)
        baseline = in_fork(raw_rewrite)
        fill(rows, args.users)
        moved = in_fork(rotate)
        assert moved.result == rows * 3, (moved.result, rows * 3)
        per_value = (moved.seconds - baseline.seconds) / (rows * 3) * 1e6
        print(
            f"{rows:>9,} | {baseline.seconds * 1000:>12.0f} ms | {moved.seconds * 1000:>26.0f} ms "
            f"x{moved.seconds / baseline.seconds:>5.1f} {per_value:>7.2f} | {mib(moved.peak_rss)} "
            f"(grew {mib(moved.rss_growth)})",
            flush=True,
        )


if __name__ == "__main__":
    main()

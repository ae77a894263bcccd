"""Moving in from django-cryptography and fernet-encrypted-fields: import speed and peak memory.

Rows of three text columns hold values written by each peer library itself, as the columns
hold them once switched to privacy_kit's fields and migrated on PostgreSQL (django-cryptography's
binary values as ``\\x`` hex text, fernet-encrypted-fields' tokens as they are). ``import_ciphertext``
re-seals them under each user's subject key (``SubjectRow``, spread over 1,000 users), at two
table sizes, each in a process of its own so its peak RSS is its own. In the same run:

- raw SQL rewriting the same columns in place (``UPDATE ... SET name = name || ''`` per batch
  of primary keys): what the database spends rewriting them at all;
- the peer reading every value once (its ``from_db_value`` over a plain ``SELECT``): what
  decrypting them costs in the library they come from.

    .venv/bin/python bench/import_ciphertext.py [--rows 100000] [--users 1000]

Needs the peers: ``pip install -e ".[dev]"`` (the dev extra has them).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django_setup
from django_setup import default_database, fresh_postgres_database
from rotation import BATCH, create_subject_rows, raw_rewrite
from timing import in_fork, mib

SOURCES = ("django-cryptography", "fernet-encrypted-fields")
COLUMNS = ("name", "phone", "address")
SALT = "the shop's salt"


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
        SALT_KEY=SALT,
    )


def peer_field(source: str):
    from django.db import models

    if source == "django-cryptography":
        from django_cryptography.fields import encrypt

        return encrypt(models.TextField())
    from encrypted_fields.fields import EncryptedTextField

    return EncryptedTextField()


def fill(source: str, rows: int, users: int) -> None:
    """Write ``rows`` SubjectRow rows whose three columns hold the peer's values."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    field = peer_field(source)

    def stored(text: str) -> str:
        value = field.get_db_prep_value(text, connection)
        value = getattr(value, "obj", value)  # psycopg's Binary
        return "\\x" + bytes(value).hex() if source == "django-cryptography" else value

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE bench_subjectrow")
    user_model = get_user_model()
    if not user_model.objects.exists():
        user_model.objects.bulk_create([user_model(username=f"import-{n}") for n in range(users)])
    pks = list(user_model.objects.order_by("pk").values_list("pk", flat=True))
    with connection.cursor() as cursor:
        for start in range(0, rows, BATCH):
            numbers = range(start, min(rows, start + BATCH))
            cursor.execute(
                "INSERT INTO bench_subjectrow (user_id, name, phone, address) "
                "SELECT * FROM unnest(%s::int[], %s::text[], %s::text[], %s::text[])",
                [
                    [pks[n % len(pks)] for n in numbers],
                    [stored(f"Name {n}") for n in numbers],
                    [stored(f"+9665{n:08d}") for n in numbers],
                    [stored(f"{n} Olaya St") for n in numbers],
                ],
            )


def peer_read(source: str) -> int:
    """Every value read once by the peer that wrote it, from a plain SELECT."""
    from django.db import connection

    field = peer_field(source)
    done = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, phone, address FROM bench_subjectrow")
        for row in cursor:
            for value in row:
                if source == "django-cryptography":
                    value = bytes.fromhex(value[2:])
                field.from_db_value(value, None, connection)
                done += 1
    return done


def import_all(source: str) -> int:
    from benchapp.models import SubjectRow

    from privacy_kit import registry
    from privacy_kit.rotation import import_ciphertext

    registry.register(SubjectRow, subject="user", category="personal", personal_fields=list(COLUMNS))
    reports = import_ciphertext(SubjectRow, COLUMNS, source=source, batch_size=BATCH)
    assert not any(report.left.total for report in reports), [report.lines() for report in reports]
    return sum(report.imported for report in reports)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the large table (default 100,000)")
    parser.add_argument("--users", type=int, default=1_000, help="subjects the rows spread over")
    parser.add_argument("--postgres-name", default="bench_import", help="the database created and dropped")
    args = parser.parse_args()
    started = time.perf_counter()
    with fresh_postgres_database(args.postgres_name), tempfile.TemporaryDirectory(prefix="privacy_kit_bench_") as tmp:
        configure(args.postgres_name, Path(tmp))
        bench(args)
    print(f"finished in {time.perf_counter() - started:.0f} s")


def bench(args: argparse.Namespace) -> None:
    create_subject_rows(args.users, "3 text columns")
    print(
        f"{'source':<24} {'rows':>9} | {'raw SQL rewrite':>15} | {'peer reads all':>14} | "
        f"{'import_ciphertext':>17} {'x raw':>6} {'values/s':>9} | peak RSS"
    )
    for source in SOURCES:
        for rows in (args.rows // 10, args.rows):
            fill(source, rows, args.users)
            baseline = in_fork(raw_rewrite)
            reading = in_fork(lambda source=source: peer_read(source))
            fill(source, rows, args.users)
            moved = in_fork(lambda source=source: import_all(source))
            assert moved.result == rows * 3 == reading.result, (moved.result, reading.result, rows * 3)
            print(
                f"{source:<24} {rows:>9,} | {baseline.seconds * 1000:>12.0f} ms | {reading.seconds * 1000:>11.0f} ms | "
                f"{moved.seconds * 1000:>14.0f} ms x{moved.seconds / baseline.seconds:>5.1f} "
                f"{rows * 3 / moved.seconds:>9,.0f} | {mib(moved.peak_rss)} (grew {mib(moved.rss_growth)})",
                flush=True,
            )


if __name__ == "__main__":
    main()

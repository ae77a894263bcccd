"""What a stored form costs: the text envelope privacy_kit stores against a binary one, per value.

Two measurements, for the decision issue 13's targets ask for (a binary stored form
would be a format change with a migration of every encrypted column):

1. round trip: one 40-byte value sealed and opened, best of ``--repeats`` runs of
   ``--values`` round trips, the cases taking turns:
   - bare: ``AESGCM.encrypt`` + ``decrypt`` with a nonce from a buffer and 36 bytes of
     associated data (the floor of any AES-GCM field);
   - binary envelope: the same with the envelope's header, the nonce and the tag kept as
     bytes (what a ``bytea`` / ``BLOB`` column would store): one concatenation, three slices;
   - text envelope: the same, base64 on both sides (what privacy_kit stores today);
   - field, shared keys: ``EncryptedTextField.get_db_prep_value`` + ``from_db_value``;
   - field, subject keys: ``get_db_prep_save`` of a value with its subject +
     ``from_subject_db_value`` of the subject and the stored value, the subject's key cached.
   With ``--instructions`` each case also runs under ``valgrind --tool=callgrind`` and is
   counted in instructions (repeatable where seconds are not): those of ``--values`` round
   trips less those of none, divided by ``--values``.
2. read (PostgreSQL, ``--postgres``): the stored values of 20,000 rows x 3 columns read back
   without decrypting, a ``TextField`` holding the text envelopes against a ``BinaryField``
   holding the same envelopes as bytes, through ``values_list``, and the same through psycopg
   alone, against a plain 40-character ``TextField``: what the driver and the ORM charge for
   each form before any decryption.

Run from the repository root::

    .venv/bin/python bench/envelope.py [--values 20000] [--repeats 7] [--instructions] [--postgres]

It prints figures, not verdicts.
"""

from __future__ import annotations

import argparse
import binascii
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import django_setup
from django_setup import default_database
from timing import best_alternating, clock

VALUE = "Margaret Featherstone, 12 Old Mill Lane"  # 40 bytes, as fields.py's field path
ASSOCIATED_DATA = b"benchapp.encryptedrow.name@1234567890"[:36]
SUBJECT = "1234"
CASES = ["bare", "binary envelope", "text envelope", "field, shared keys", "field, subject keys"]
PG_DATABASE = "bench_envelope"
ROWS = 20_000


def configure(postgres: bool) -> None:
    databases = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    if postgres:
        databases["default"] = default_database("postgres", Path(), PG_DATABASE)
    django_setup.configure(
        databases,
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "privacy_kit",
            "benchapp.apps.PeersBenchConfig",
        ],
    )


def round_trips() -> dict[str, Callable[[int], None]]:
    """Return each case as a function of a number of round trips."""
    from benchapp.models import EncryptedRow, SubjectRow
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from django.db import connection

    from privacy_kit import crypto
    from privacy_kit.fields import SubjectValue
    from privacy_kit.keys import store

    data, header = VALUE.encode(), b"\x01abcd"
    cipher = AESGCM(AESGCM.generate_key(bit_length=256))
    nonce_of = crypto.new_nonce
    b2a, a2b = binascii.b2a_base64, binascii.a2b_base64

    def bare(count: int) -> None:
        for _ in range(count):
            nonce = nonce_of()
            cipher.decrypt(nonce, cipher.encrypt(nonce, data, ASSOCIATED_DATA), ASSOCIATED_DATA)

    def binary(count: int) -> None:
        for _ in range(count):
            nonce = nonce_of()
            stored = header + nonce + cipher.encrypt(nonce, data, header + ASSOCIATED_DATA)
            cipher.decrypt(stored[5:17], stored[17:], stored[:5] + ASSOCIATED_DATA)

    def text(count: int) -> None:
        for _ in range(count):
            nonce = nonce_of()
            stored = b2a(header + nonce + cipher.encrypt(nonce, data, header + ASSOCIATED_DATA), newline=False).decode()
            raw = a2b(stored, strict_mode=True)
            cipher.decrypt(raw[5:17], raw[17:], raw[:5] + ASSOCIATED_DATA)

    shared = EncryptedRow._meta.get_field("name")

    def field_shared(count: int) -> None:
        for _ in range(count):
            shared.from_db_value(shared.get_db_prep_value(VALUE, connection), None, connection)

    keyed = SubjectRow._meta.get_field("name")
    store.cache.put_many({SUBJECT: AESGCM.generate_key(bit_length=256)})

    def field_subject(count: int) -> None:
        for _ in range(count):
            stored = keyed.get_db_prep_save(SubjectValue(VALUE, SUBJECT), connection)
            keyed.from_subject_db_value(None, f"{SUBJECT}|{stored}", None, connection)

    for case in (field_shared, field_subject):
        case(1)  # the keyring built, the subject's key in the cache
    opened = keyed.from_subject_db_value(
        None, f"{SUBJECT}|{keyed.get_db_prep_save(SubjectValue(VALUE, SUBJECT), connection)}", None, connection
    )
    if opened != VALUE or shared.from_db_value(shared.get_db_prep_value(VALUE, connection), None, connection) != VALUE:
        raise RuntimeError("a field does not round-trip")
    return dict(zip(CASES, (bare, binary, text, field_shared, field_subject), strict=True))


def bench_round_trips(values: int, repeats: int) -> dict[str, float]:
    cases = round_trips()
    best = best_alternating(repeats, *(lambda run=run: clock(lambda: run(values)) for run in cases.values()))
    times = {label: seconds / values * 1e6 for label, seconds in zip(cases, best, strict=True)}
    print(f"round trip  one 40-byte value sealed and opened, {values:,} times; best of {repeats}")
    for label, micros in times.items():
        print(f"  {label:22s} {micros:6.2f} µs   x{micros / times['bare']:.2f} bare")
    return times


def instructions(case: str, values: int) -> int:
    """Return the instructions of ``values`` round trips of a case less those of none (callgrind)."""
    counts = []
    for count in (values, 0):
        with tempfile.TemporaryDirectory() as directory:
            out = Path(directory) / "callgrind.out"
            subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
                 "--child", case, "--values", str(count)],
                check=True, capture_output=True,
            )  # fmt: skip
            [total] = re.findall(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
            counts.append(int(total))
    return (counts[0] - counts[1]) // values


def bench_instructions(values: int) -> None:
    if shutil.which("valgrind") is None:
        print("instructions  valgrind is not installed")
        return
    print(f"instructions  per round trip: {values:,} round trips less none, under callgrind")
    counted = {case: instructions(case, values) for case in CASES}
    for case, count in counted.items():
        print(f"  {case:22s} {count / 1000:6.1f}k  x{count / counted['bare']:.2f} bare")


def bench_read(repeats: int) -> None:
    """Read the stored values of ROWS x 3 columns back, text envelopes against bytes, without decrypting."""
    from django.db import connection, models

    from privacy_kit import crypto

    def stored_form(name: str, field: type[models.Field]) -> type[models.Model]:
        """A table of three columns of one field class (app ``benchapp``, created for the run)."""
        columns = {column: field() for column in "abc"}
        meta = type("Meta", (), {"app_label": "benchapp"})
        body = {"__module__": __name__, "Meta": meta, "__str__": lambda self: str(self.pk), **columns}
        return type(name, (models.Model,), body)

    TextForm, BinaryForm = stored_form("TextForm", models.TextField), stored_form("BinaryForm", models.BinaryField)
    PlainForm = stored_form("PlainForm", models.TextField)

    with django_setup.fresh_postgres_database(PG_DATABASE):
        with connection.schema_editor() as editor:
            for model in (TextForm, BinaryForm, PlainForm):
                editor.create_model(model)
        ring = crypto.keyring()
        envelopes = [
            [ring.seal(f"{VALUE[:34]}{row:06d}".encode(), ASSOCIATED_DATA) for _ in "abc"] for row in range(ROWS)
        ]
        TextForm.objects.bulk_create(TextForm(a=a, b=b, c=c) for a, b, c in envelopes)
        BinaryForm.objects.bulk_create(
            BinaryForm(**{key: binascii.a2b_base64(value) for key, value in zip("abc", row, strict=True)})
            for row in envelopes
        )
        PlainForm.objects.bulk_create(PlainForm(a=VALUE, b=VALUE, c=VALUE) for _ in range(ROWS))
        with connection.cursor() as cursor:
            for model in (TextForm, BinaryForm, PlainForm):
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")

        def orm(model: type[models.Model]) -> Callable[[], float]:
            return lambda: clock(lambda: list(model.objects.values_list("a", "b", "c")))

        def driver(model: type[models.Model]) -> Callable[[], float]:
            raw = connection.connection
            statement = f"SELECT a, b, c FROM {model._meta.db_table}"

            def read() -> None:
                with raw.cursor() as cursor:
                    cursor.execute(statement)
                    cursor.fetchall()

            return lambda: clock(read)

        connection.ensure_connection()
        labels = ["plain text, 40 chars", "text envelope", "binary envelope"]
        models_ = [PlainForm, TextForm, BinaryForm]
        best = best_alternating(repeats, *(orm(model) for model in models_), *(driver(model) for model in models_))
        values = ROWS * 3
        print(f"read        {ROWS:,} rows x 3 stored values, not decrypted; best of {repeats}")
        print(f"  {'':22s} {'values_list':>12s} {'µs/value':>9s} {'psycopg':>10s} {'µs/value':>9s}")
        for index, label in enumerate(labels):
            orm_seconds, driver_seconds = best[index], best[index + len(labels)]
            print(
                f"  {label:22s} {orm_seconds * 1000:9.1f} ms {orm_seconds / values * 1e6:9.3f}"
                f" {driver_seconds * 1000:7.1f} ms {driver_seconds / values * 1e6:9.3f}"
            )
        decode = clock(lambda: [binascii.a2b_base64(value, strict_mode=True) for row in envelopes for value in row])
        print(f"  base64 decoding alone: {decode / values * 1e6:.3f} µs a value")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=int, default=20_000, help="round trips a run (default 20,000)")
    parser.add_argument("--repeats", type=int, default=7, help="runs of each case (default 7)")
    parser.add_argument("--instructions", action="store_true", help="also count instructions under callgrind")
    parser.add_argument("--postgres", action="store_true", help="also read the stored forms back from PostgreSQL")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    configure(arguments.postgres and not arguments.child)
    if arguments.child:
        run = round_trips()[arguments.child]
        run(arguments.values)
        return
    import platform

    import cryptography
    import django

    print(f"Python {platform.python_version()}, Django {django.get_version()}, cryptography {cryptography.__version__}")
    bench_round_trips(arguments.values, arguments.repeats)
    if arguments.instructions:
        bench_instructions(arguments.values)
    if arguments.postgres:
        bench_read(arguments.repeats)


if __name__ == "__main__":
    main()

"""Attacks on the import from other libraries: hostile pickles, hostile documents, a row moved meanwhile.

The pickles are sealed under the shop's own keys, as django-cryptography seals them: what
someone who can plant a value (a leaked ``SECRET_KEY``, or the shop's own users' data) puts
in a column. The JSON documents of fernet-encrypted-fields need no key at all: only their
leaves are authenticated.
"""

from __future__ import annotations

import datetime
import pickle
import struct
import time
import tracemalloc
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, models

from privacy_kit import crypto, peers, registry
from privacy_kit.keys.models import SubjectKey
from tests.commands import switched_column
from tests.test_import_ciphertext import ARABIC, peer_write, put, run_import, stored_row
from tests.testapp.models import Record

django_cryptography = pytest.importorskip("django_cryptography.fields", reason="the dev extra installs it")
pytest.importorskip("encrypted_fields.fields", reason="the dev extra installs it")


def sealed_pickle(raw: bytes):
    """Pickle bytes sealed by django-cryptography under the shop's keys, as the migrated column holds them."""
    token = bytes(django_cryptography.encrypt(models.CharField(max_length=50))._fernet.encrypt(raw))
    return switched_column(token)


def laughs(levels):
    """A list of two references to a list of two references to ...: 2**levels leaves from a few bytes."""
    value: list = [ARABIC]
    for _ in range(levels):
        value = [value, value]
    return value


def cycle():
    value: list = []
    value.append(value)
    return value


# A pickle of a deep nesting, written opcode by opcode (pickle.dumps itself recurses).
DEEP = b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b"."
# The memo slot 2**25 of None: the C unpickler makes room for twice that many slots first.
MEMO_FAR_OUT = b"\x80\x02Nr" + struct.pack("<I", 2**25) + b"."
# A bytes object of 4 GiB announced, and one byte given.
LENGTH_PAST_THE_END = b"\x80\x04\x8e" + struct.pack("<Q", 2**32) + b"x."


@pytest.mark.parametrize("data", [MEMO_FAR_OUT, LENGTH_PAST_THE_END], ids=["memo slot", "counted length"])
def test_the_unpickler_allocates_no_more_than_the_pickle_is_long(data):
    tracemalloc.start()
    try:
        with pytest.raises(peers.Refused):
            peers.plain_unpickle(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"{peak / 1e6:.0f} MB for a pickle of {len(data)} bytes"


@pytest.mark.parametrize(
    "data",
    [
        pickle.dumps(laughs(20)),
        pickle.dumps(cycle()),
        DEEP,
        pickle.dumps({"a": Decimal("1e999999999")}),
        pickle.dumps(Decimal("-1e-999999999")),
    ],
    ids=["references expanding", "a list holding itself", "nested 100,000 deep", "a huge Decimal", "a tiny Decimal"],
)
def test_the_unpickler_refuses_values_beyond_their_size_at_once(data):
    started = time.monotonic()
    with pytest.raises(peers.Refused):
        peers.plain_unpickle(data)
    assert time.monotonic() - started < 5


def test_the_unpickler_still_reads_shared_and_nested_plain_values():
    shared = ("a", 1)
    values = [[shared] * 50, {"k": [[[["deep"]]]]}, Decimal("1e-20"), Decimal("Infinity"), [(), ()]]
    assert peers.plain_unpickle(pickle.dumps(values)) == values


@pytest.mark.django_db
def test_values_no_field_holds_are_left_by_row_and_the_others_imported(django_user_model):
    """Each would stop the whole import with a traceback (or run for hours), not be named by its row."""
    registry.register(Record, subject="owner", category="personal")
    owner = django_user_model.objects.create_user("moving-in")
    behind_utc = datetime.timezone(datetime.timedelta(hours=-5))
    hostile = {
        "a list holding itself": ("data", pickle.dumps(cycle())),
        "nested 100,000 deep": ("data", DEEP),
        "infinity as an integer": ("integer", pickle.dumps(float("inf"))),
        "a Decimal infinity as an integer": ("integer", pickle.dumps(Decimal("Infinity"))),
        "10**999999999 as an integer": ("integer", pickle.dumps(Decimal("1e999999999"))),
        "the last second of 9999 west of UTC": (
            "moment",
            pickle.dumps(datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=behind_utc)),
        ),
    }
    honest = Record.objects.create(owner=owner)
    put(honest.pk, char=peer_write(peers.DJANGO_CRYPTOGRAPHY, models.CharField(max_length=50), ARABIC))
    rows = {}
    for reason, (name, data) in hostile.items():
        record = Record.objects.create(owner=owner)
        put(record.pk, **{name: sealed_pickle(data)})
        rows[record.pk] = (reason, name)
    before = {pk: stored_row(pk, [name]) for pk, (_, name) in rows.items()}
    SubjectKey.objects.all().delete()
    command = ["import_ciphertext", "--from", "django-cryptography", "testapp.Record", "char", "integer", "moment"]

    started = time.monotonic()
    call_command(*command, "data", "--dry-run", stdout=(dry := StringIO()), verbosity=0)
    assert not SubjectKey.objects.exists()
    with pytest.raises(CommandError, match="6 values were left as they are") as raised:
        call_command(*command, "data", stdout=(out := StringIO()), verbosity=0)
    assert time.monotonic() - started < 30

    assert Record.objects.get(pk=honest.pk).char == ARABIC
    assert {pk: stored_row(pk, [name]) for pk, (_, name) in rows.items()} == before
    for pk in rows:
        assert f"pk {pk}: " in out.getvalue() and f"pk {pk}: " in dry.getvalue()
    assert "would import 1" in dry.getvalue() and ARABIC not in out.getvalue() + str(raised.value)


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [800, 100_000])
def test_a_fernet_json_document_nested_by_a_writer_without_keys_is_left_by_row(depth):
    """The document around fernet-encrypted-fields' tokens is not authenticated: anyone can write one."""
    honest, nested = Record.objects.create(), Record.objects.create()
    put(honest.pk, data=peer_write(peers.FERNET_FIELDS, models.JSONField(), {"note": ARABIC}))
    put(nested.pk, data="[" * depth + "]" * depth)
    before = stored_row(nested.pk, ["data"])

    report = run_import(peers.FERNET_FIELDS, "data")["data"]

    assert report.imported == 1 and Record.objects.get(pk=honest.pk).data == {"note": ARABIC}
    assert [key for key, _ in report.left.rows] == [nested.pk]
    assert stored_row(nested.pk, ["data"]) == before


@pytest.mark.django_db
def test_a_fernet_datetime_that_utc_puts_past_9999_is_left_by_row():
    record = Record.objects.create()
    late = datetime.datetime(9999, 12, 31, 23, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-5)))
    put(record.pk, moment=peer_write(peers.FERNET_FIELDS, models.DateTimeField(), late))
    report = run_import(peers.FERNET_FIELDS, "moment")["moment"]
    assert (report.imported, [key for key, _ in report.left.rows]) == (0, [record.pk])


def move_row_when_column_written(table, written_row, moved_row, new_owner):
    """A trigger: once the import writes ``char`` of one row, the shop moves another row to a new owner."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION attack_move_row() RETURNS trigger AS $$ BEGIN "
                f"UPDATE {table} SET owner_id = {new_owner} WHERE id = {moved_row}; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER attack_move_row AFTER UPDATE OF char ON {table} FOR EACH ROW "
                f"WHEN (NEW.id = {written_row}) EXECUTE FUNCTION attack_move_row()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER attack_move_row AFTER UPDATE OF char ON {table} WHEN NEW.id = {written_row} "
                f"BEGIN UPDATE {table} SET owner_id = {new_owner} WHERE id = {moved_row}; END"
            )


@pytest.mark.django_db
def test_a_row_moved_to_another_subject_during_its_batch_is_not_sealed_under_the_old_one(django_user_model):
    """The row is read under one owner and moved before its value is written: the value goes under the new one."""
    registry.register(Record, subject="owner", category="personal")
    first, second = (django_user_model.objects.create_user(name) for name in ("first", "second"))
    written, moved = Record.objects.create(owner=first), Record.objects.create(owner=first)
    put(written.pk, char=peer_write(peers.DJANGO_CRYPTOGRAPHY, models.CharField(max_length=50), "written"))
    put(moved.pk, text=peer_write(peers.DJANGO_CRYPTOGRAPHY, models.TextField(), ARABIC))
    move_row_when_column_written(Record._meta.db_table, written.pk, moved.pk, second.pk)

    reports = run_import(peers.DJANGO_CRYPTOGRAPHY, "char", "text")
    assert (reports["char"].imported, reports["text"].imported) == (1, 0)  # the move won the swap
    assert run_import(peers.DJANGO_CRYPTOGRAPHY, "text")["text"].imported == 1

    moved = Record.objects.get(pk=moved.pk)
    assert moved.owner == second and moved.text == ARABIC
    assert crypto.is_subject_envelope(stored_row(moved.pk, ["text"])[0])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "plaintext"),
    [("data", "[" * 100_000 + "]" * 100_000), ("moment", "9999-12-31T23:00:00-05:00")],
    ids=["JSON nested 100,000 deep", "a datetime UTC puts past 9999"],
)
def test_encrypt_existing_names_a_plaintext_no_field_holds_instead_of_crashing(name, plaintext):
    honest, odd = Record.objects.create(), Record.objects.create()
    put(honest.pk, **{name: '{"a": 1}' if name == "data" else "2026-01-01T00:00:00+00:00"})
    put(odd.pk, **{name: plaintext})
    command = ["encrypt_existing", "testapp.Record", name, "--batch-size", "1"]

    call_command(*command, "--dry-run", stdout=(dry := StringIO()), verbosity=0)
    refused = f"would encrypt 1 values; would refuse 1\n  pk {odd.pk}: the stored plaintext is not a valid"
    assert refused in dry.getvalue()
    with pytest.raises(CommandError, match=rf"testapp.Record.{name} \(pk {odd.pk}\): the stored plaintext") as raised:
        call_command(*command, verbosity=0)
    assert plaintext[:20] not in str(raised.value)
    assert stored_row(odd.pk, [name]) == [plaintext]
    assert getattr(Record.objects.get(pk=honest.pk), name) is not None


@pytest.mark.django_db
def test_a_value_copied_into_another_subjects_row_before_the_import_is_left_in_both_rows(django_user_model):
    """Neither library binds a value to its row: a copy across subjects would be laundered by the import.

    Both libraries draw a random IV per value, so the same ciphertext in rows of two subjects is a
    copy; which row is the original cannot be told, so both are left, named, for a person to decide.
    """
    from django.db import models as django_models

    from privacy_kit import peers, registry
    from tests.test_import_ciphertext import peer_write, put, run_import, stored_row
    from tests.testapp.models import Record

    registry.register(Record, subject="owner", category="personal")
    victim, attacker = (django_user_model.objects.create_user(name) for name in ("victim", "attacker"))
    theirs, copy, own_copy = (
        Record.objects.create(owner=victim),
        Record.objects.create(owner=attacker),
        Record.objects.create(owner=victim),
    )
    value = peer_write(peers.DJANGO_CRYPTOGRAPHY, django_models.TextField(), "the victim's address")
    for record in (theirs, copy):
        put(record.pk, text=value)
    mine = Record.objects.create(owner=victim)
    put(mine.pk, text=(other := peer_write(peers.DJANGO_CRYPTOGRAPHY, django_models.TextField(), "a note")))
    put(own_copy.pk, text=other)  # a copy within one subject's rows binds nothing wrong

    report = run_import(peers.DJANGO_CRYPTOGRAPHY, "text")["text"]

    reason = "the same ciphertext is in rows of other subjects: a copy, and which row it belongs to cannot be told"
    assert dict(report.left.rows) == {theirs.pk: reason, copy.pk: reason}
    assert report.imported == 2
    assert stored_row(copy.pk, ["text"]) == stored_row(theirs.pk, ["text"])  # both left as they were
    assert Record.objects.get(pk=own_copy.pk).text == Record.objects.get(pk=mine.pk).text == "a note"

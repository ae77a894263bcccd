"""Moving in from django-cryptography and fernet-encrypted-fields: every value, read back exactly.

The values are written by the peer libraries themselves (the dev extra installs them) and
put in the columns as they are once the field is switched to ours and migrated: on
PostgreSQL a ``bytea`` column converted to ``text`` holds ``\\x`` hex text, on SQLite the
rebuilt table keeps the BLOB (tests/test_migrating.py walks that migration itself).
"""

from __future__ import annotations

import datetime
import os
import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, models
from django.test import override_settings

from privacy_kit import crypto, peers, registry
from privacy_kit.keys.models import SubjectKey
from privacy_kit.rotation import import_ciphertext
from tests.commands import kill_after_progress, switched_column
from tests.testapp.models import Record

django_cryptography = pytest.importorskip("django_cryptography.fields", reason="the dev extra installs it")
fernet_fields = pytest.importorskip("encrypted_fields.fields", reason="the dev extra installs it")

SALT = "the shop's salt"
ARABIC = "ليلى العتيبي، حي العليا"
MOMENT = datetime.datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=datetime.UTC)

# Record's field -> (the peer's plain field, a value); JSON with Arabic, a nested list and a null.
VALUES = {
    "char": (models.CharField(max_length=50), ARABIC),
    "text": (models.TextField(), "a note\nover two lines"),
    "email": (models.EmailField(), "Layla@Example.com"),
    "integer": (models.IntegerField(), -42),
    "decimal": (models.DecimalField(max_digits=12, decimal_places=2), Decimal("1234.50")),
    "date": (models.DateField(), datetime.date(1990, 2, 28)),
    "moment": (models.DateTimeField(), MOMENT),
    "data": (models.JSONField(), {"size": 42, "tags": ["أ", "b"], "gift": True, "note": None}),
    "flag": (models.BooleanField(), True),
    "uid": (models.UUIDField(), uuid.UUID("7d2f4b8e-1c2a-4d0f-9a55-0c7e2b9d1f10")),
}
# fernet-encrypted-fields has no decimal or UUID field.
FERNET_CLASSES = {
    models.CharField: fernet_fields.EncryptedCharField,
    models.TextField: fernet_fields.EncryptedTextField,
    models.EmailField: fernet_fields.EncryptedEmailField,
    models.IntegerField: fernet_fields.EncryptedIntegerField,
    models.DateField: fernet_fields.EncryptedDateField,
    models.DateTimeField: fernet_fields.EncryptedDateTimeField,
    models.JSONField: fernet_fields.EncryptedJSONField,
    models.BooleanField: fernet_fields.EncryptedBooleanField,
}


def peer_field(source, plain):
    """The peer's field for a plain one, as its users declare it."""
    if source == peers.DJANGO_CRYPTOGRAPHY:
        return django_cryptography.encrypt(plain.clone())
    cls = FERNET_CLASSES.get(type(plain))
    if cls is None:
        pytest.skip(f"fernet-encrypted-fields has no {type(plain).__name__}")
    _, _, args, kwargs = plain.deconstruct()
    return cls(*args, **kwargs)


def peer_write(source, plain, value):
    """What the peer stores for a value, as the switched and migrated column holds it."""
    with override_settings(SALT_KEY=SALT):
        stored = peer_field(source, plain).get_db_prep_value(value, connection)
    stored = getattr(stored, "obj", stored)  # psycopg wraps it in a Binary
    if isinstance(stored, memoryview | bytes):
        stored = bytes(stored)
        return switched_column(stored)
    return stored


def peer_read(source, plain, stored):
    """What the peer's own users read back from what it stored: the value to keep exactly."""
    if stored is None:
        return None
    if isinstance(stored, str) and stored.startswith("\\x"):
        stored = bytes.fromhex(stored[2:])
    with override_settings(SALT_KEY=SALT):
        return peer_field(source, plain).from_db_value(stored, None, connection)


def put(pk, **stored):
    """Write stored values into a Record row as the database holds them after the switch."""
    assignments = ", ".join(f"{Record._meta.get_field(name).column} = %s" for name in stored)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE testapp_record SET {assignments} WHERE id = %s", [*stored.values(), pk])


def stored_row(pk, names):
    columns = ", ".join(Record._meta.get_field(name).column for name in names)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM testapp_record WHERE id = %s", [pk])
        return [bytes(value) if isinstance(value, memoryview) else value for value in cursor.fetchone()]


def run_import(source, *names, **options):
    with override_settings(SALT_KEY=SALT, **options.pop("settings", {})):
        return {report.field: report for report in import_ciphertext(Record, names, source=source, **options)}


SOURCES = pytest.mark.parametrize("source", peers.SOURCES)


@pytest.mark.django_db
@SOURCES
@pytest.mark.parametrize("subject", [False, True], ids=["shared keys", "subject keys"])
def test_every_type_the_peers_write_reads_back_exactly(source, subject, django_user_model):
    owner = None
    if subject:
        registry.register(Record, subject="owner", category="personal")
        owner = django_user_model.objects.create_user("moving-in")
    record = Record.objects.create(owner=owner)
    names = [
        name for name, (plain, _) in VALUES.items() if source != peers.FERNET_FIELDS or type(plain) in FERNET_CLASSES
    ]
    stored = {name: peer_write(source, *VALUES[name]) for name in names}
    expected = {name: peer_read(source, VALUES[name][0], stored[name]) for name in names}
    put(record.pk, **stored)

    reports = run_import(source, *names)

    assert {name: (report.imported, report.left.total) for name, report in reports.items()} == {
        name: (1, 0) for name in names
    }
    record = Record.objects.get(pk=record.pk)
    assert {name: getattr(record, name) for name in names} == expected
    if source == peers.DJANGO_CRYPTOGRAPHY:
        # django-cryptography's users read back the very value they wrote, and so do they now.
        assert expected == {name: VALUES[name][1] for name in names}
    else:
        # fernet-encrypted-fields reads JSON leaves back as text; the rest is the value written.
        assert expected["data"] == {"size": "42", "tags": ["أ", "b"], "gift": "True", "note": "None"}
        assert {name: value for name, value in expected.items() if name != "data"} == {
            name: VALUES[name][1] for name in names if name != "data"
        }
    sealed = [value for value in stored_row(record.pk, names) if value]
    assert all(crypto.is_subject_envelope(value.split(":")[-1]) == subject for value in sealed), sealed
    # Searchable fields are found by their value, through the blind index the import wrote.
    assert Record.objects.get(email="layla@example.com", integer=-42, date=datetime.date(1990, 2, 28)) == record


EMPTY_AND_FALSY = [
    ("char", models.CharField(max_length=5, null=True), None),
    ("char", models.CharField(max_length=5), ""),
    ("integer", models.IntegerField(), 0),
    ("flag", models.BooleanField(), False),
]


@pytest.mark.django_db
@SOURCES
def test_nulls_empty_strings_and_falsy_values_keep_what_the_peer_reads(source):
    rows = []
    for name, plain, value in EMPTY_AND_FALSY:
        stored = peer_write(source, plain, value)
        record = Record.objects.create()
        put(record.pk, **{name: stored})
        rows.append((record.pk, name, peer_read(source, plain, stored)))
    run_import(source, "char", "integer", "flag")
    assert [getattr(Record.objects.get(pk=pk), name) for pk, name, _ in rows] == [read for _, _, read in rows]
    # django-cryptography kept each of them; fernet-encrypted-fields stored every falsy value
    # as NULL, so NULL is what its users have, and what they keep.
    kept = [value for _, _, value in EMPTY_AND_FALSY] if source == peers.DJANGO_CRYPTOGRAPHY else [None] * 4
    assert [read for _, _, read in rows] == kept


class RunsCode:
    """A pickle that runs a command when loaded: what a database writer can put in a column."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.django_db
def test_a_pickle_that_would_run_code_is_refused_by_row_and_never_run(tmp_path):
    marker = tmp_path / "it ran"
    field = django_cryptography.encrypt(models.CharField(max_length=50))
    payload = bytes(field._dump(RunsCode(marker)))  # sealed by the peer under the shop's keys
    honest, evil = Record.objects.create(), Record.objects.create()
    put(honest.pk, char=peer_write(peers.DJANGO_CRYPTOGRAPHY, models.CharField(max_length=50), "honest"))
    put(evil.pk, char=switched_column(payload))
    before = stored_row(evil.pk, ["char"])

    with (
        pytest.raises(CommandError, match="1 values were left as they are") as raised,
        override_settings(SALT_KEY=SALT),
    ):
        call_command(
            "import_ciphertext",
            "--from",
            "django-cryptography",
            "testapp.Record",
            "char",
            stdout=(out := StringIO()),
            verbosity=0,
        )

    assert not marker.exists()
    assert f"pk {evil.pk}: the pickle names posix.system, which is not a plain value" in out.getvalue()
    assert stored_row(evil.pk, ["char"]) == before
    assert Record.objects.get(pk=honest.pk).char == "honest"
    assert "nothing was lost" in str(raised.value)


@pytest.mark.parametrize(
    "value",
    [{1, 2}, bytearray(b"x"), type, Decimal, [datetime.date.today, 1], {"a": object()}],
    ids=["set", "bytearray", "a class", "a class it admits", "a function", "an object"],
)
def test_the_unpickler_builds_plain_values_only(value):
    import pickle

    with pytest.raises(peers.Refused):
        peers.plain_unpickle(pickle.dumps(value))


def test_the_unpickler_refuses_a_codec_other_than_latin1_and_garbage():
    import codecs
    import pickle

    class Zipped:
        def __reduce__(self):
            return (codecs.encode, ("x" * 100, "zlib_codec"))

    with pytest.raises(peers.Refused, match="the zlib_codec codec"):
        peers.plain_unpickle(pickle.dumps(Zipped(), protocol=2))
    with pytest.raises(peers.Refused, match="not a readable pickle"):
        peers.plain_unpickle(b"\x80\x04garbage")


def test_the_unpickler_reads_every_plain_value_and_zone():
    import pickle
    import zoneinfo

    riyadh = datetime.datetime(2026, 12, 3, 12, tzinfo=zoneinfo.ZoneInfo("Asia/Riyadh"))
    values = [
        ARABIC,
        -1,
        1.5,
        True,
        None,
        Decimal("0.10"),
        datetime.date(2026, 1, 1),
        datetime.time(9, 30),
        MOMENT,
        riyadh,
        datetime.timedelta(days=2),
        uuid.uuid4(),
        [1, (2, "x")],
        {"k": {"n": [None]}},
    ]
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert peers.plain_unpickle(pickle.dumps(values, protocol=protocol)) == values
    # A zone is rebuilt through getattr(ZoneInfo, "_unpickle"): no other attribute is given.
    with pytest.raises(peers.Refused, match="asks for an attribute"):
        peers.plain_unpickle(pickle.dumps(getattr(datetime.datetime, "now")))  # noqa: B009


@pytest.mark.django_db
@SOURCES
def test_a_wrong_secret_key_counts_unreadable_rows_in_a_dry_run_and_changes_nothing(source, django_user_model):
    registry.register(Record, subject="owner", category="personal")
    owner = django_user_model.objects.create_user("moving-in")
    records = [Record.objects.create(owner=owner) for _ in range(3)]
    for record in records:
        put(record.pk, text=peer_write(source, models.TextField(), ARABIC))
    before = [stored_row(record.pk, ["text"]) for record in records]
    SubjectKey.objects.all().delete()

    wrong = {"SECRET_KEY": "another-shops-secret-key-" + "y" * 40, "SECRET_KEY_FALLBACKS": []}
    command = ["import_ciphertext", "--from", source, "testapp.Record", "text"]
    with override_settings(**wrong, SALT_KEY=SALT):
        call_command(*command, "--dry-run", stdout=(out := StringIO()), verbosity=0)
        assert not SubjectKey.objects.exists()  # a dry run makes not even the owner's key
        with pytest.raises(CommandError, match="3 values were left"):
            call_command(*command, stdout=StringIO(), verbosity=0)

    assert out.getvalue().startswith(
        "testapp.Record.text: would import 0; already privacy_kit's 0; left as they are 3\n"
    )
    assert "MAC does not verify" in out.getvalue() and ARABIC not in out.getvalue()
    assert [stored_row(record.pk, ["text"]) for record in records] == before


@pytest.mark.django_db
@SOURCES
def test_values_under_a_secret_key_now_in_the_fallbacks_import(source):
    record = Record.objects.create()
    put(record.pk, char=peer_write(source, models.CharField(max_length=50), ARABIC))
    moved = {"SECRET_KEY": "the-new-secret-key-" + "z" * 40, "SECRET_KEY_FALLBACKS": [settings.SECRET_KEY]}
    assert run_import(source, "char", settings=moved)["char"].imported == 1
    assert Record.objects.get(pk=record.pk).char == ARABIC


@pytest.mark.django_db
def test_a_tampered_value_another_sources_value_and_a_plaintext_are_left_and_named():
    good, tampered, fernet, plain = (Record.objects.create() for _ in range(4))
    value = peer_write(peers.DJANGO_CRYPTOGRAPHY, models.CharField(max_length=50), "kept")
    raw = peers.stored_bytes(value)
    flipped = raw[:40] + bytes([raw[40] ^ 1]) + raw[41:]
    put(good.pk, char=value)
    put(tampered.pk, char=switched_column(flipped))
    put(fernet.pk, char=peer_write(peers.FERNET_FIELDS, models.CharField(max_length=50), "kept"))
    put(plain.pk, char="a plaintext")

    report = run_import(peers.DJANGO_CRYPTOGRAPHY, "char")["char"]

    assert report.imported == 1 and Record.objects.get(pk=good.pk).char == "kept"
    assert dict(report.left.rows) == {
        tampered.pk: "its MAC does not verify under SECRET_KEY or SECRET_KEY_FALLBACKS",
        fernet.pk: "not binary data, so not a django-cryptography value",
        plain.pk: "not binary data, so not a django-cryptography value",
    }


@pytest.mark.django_db
def test_a_second_run_finds_everything_imported_and_writes_nothing():
    records = [Record.objects.create() for _ in range(5)]
    for record in records:
        put(record.pk, email=peer_write(peers.FERNET_FIELDS, models.EmailField(), f"user{record.pk}@example.com"))
    assert run_import(peers.FERNET_FIELDS, "email", batch_size=2)["email"].imported == 5
    again = run_import(peers.FERNET_FIELDS, "email", batch_size=2)["email"]
    assert (again.imported, again.already, again.pending) == (0, 5, 0)


@pytest.mark.django_db
def test_import_refuses_a_field_that_is_not_encrypted_and_an_unknown_source():
    with pytest.raises(CommandError, match=r"testapp\.Record\.plain is not an encrypted field"):
        call_command("import_ciphertext", "--from", "django-cryptography", "testapp.Record", "plain")
    with pytest.raises(ValueError, match="Unknown source 'tink'"):
        import_ciphertext(Record, ["char"], source="tink")


@pytest.mark.django_db
@pytest.mark.parametrize("source", peers.SOURCES)
def test_encrypt_existing_refuses_what_the_peers_wrote_by_row_and_changes_nothing(source):
    record = Record.objects.create()
    put(record.pk, text=peer_write(source, models.TextField(), ARABIC))
    before = stored_row(record.pk, ["text"])
    with pytest.raises(CommandError, match=rf"testapp.Record.text \(pk {record.pk}\): the stored value is"):
        call_command("encrypt_existing", "testapp.Record", "text", verbosity=0)
    assert stored_row(record.pk, ["text"]) == before


@pytest.mark.django_db(transaction=True)
def test_an_import_killed_midway_resumes_and_loses_nothing():
    total = 1500
    Record.objects.bulk_create(Record() for _ in range(total))
    pks = sorted(Record.objects.values_list("pk", flat=True))
    with connection.cursor() as cursor:
        for pk in pks:
            stored = peers.stored_bytes(peer_write(peers.DJANGO_CRYPTOGRAPHY, models.TextField(), f"note {pk}"))
            cursor.execute(
                "UPDATE testapp_record SET text = %s WHERE id = %s",
                [switched_column(stored), pk],
            )
    kill_after_progress(
        "import_ciphertext", "--from", "django-cryptography", "testapp.Record", "text", "--batch-size", "50",
        label="testapp.Record",
    )

    report = run_import(peers.DJANGO_CRYPTOGRAPHY, "text", batch_size=50)["text"]
    assert report.already >= 250 and report.imported > 0 and report.imported + report.already == total
    assert dict(Record.objects.values_list("pk", "text")) == {pk: f"note {pk}" for pk in pks}


@pytest.mark.django_db(transaction=True)  # a schema editor, as migrate has
def test_the_migration_operation_imports_and_stops_at_a_row_it_cannot_read():
    from django.apps import apps
    from django.db.migrations.state import ProjectState

    from privacy_kit.operations import ImportCiphertext

    good, tampered = Record.objects.create(), Record.objects.create()
    value = peers.stored_bytes(peer_write(peers.DJANGO_CRYPTOGRAPHY, models.TextField(), ARABIC))
    flipped = value[:-1] + bytes([value[-1] ^ 1])
    put(good.pk, text=switched_column(value))
    put(tampered.pk, text=switched_column(flipped))
    before = stored_row(tampered.pk, ["text"])
    operation = ImportCiphertext("record", ["text"], source="django-cryptography")
    state = ProjectState.from_apps(apps)

    with connection.schema_editor() as editor, pytest.raises(ValueError) as raised:
        operation.database_forwards("testapp", editor, state, state)

    assert f"pk {tampered.pk}: its MAC does not verify" in str(raised.value) and ARABIC not in str(raised.value)
    assert Record.objects.get(pk=good.pk).text == ARABIC
    assert stored_row(tampered.pk, ["text"]) == before
    assert not operation.reversible
    name, args, kwargs = operation.deconstruct()
    assert ImportCiphertext(*args, **kwargs).deconstruct() == (name, args, kwargs)
    with pytest.raises(ValueError, match="Unknown source"):
        ImportCiphertext("record", ["text"], source="tink")

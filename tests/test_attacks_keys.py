"""Attacks on key handling: sealed values under a missing key, concurrent writes during rotation."""

import subprocess
import sys
import unicodedata
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from privacy_kit import crypto
from privacy_kit.rotation import encrypt_existing, rotate_keys
from tests.commands import switched_column
from tests.settings import TEST_BLIND_INDEX_KEY, TEST_KEY_OLD, TEST_KEY_PRIMARY
from tests.testapp.models import Contact, Member

OLD_ONLY = {"ENCRYPTION_KEYS": [TEST_KEY_OLD], "BLIND_INDEX_KEY": TEST_BLIND_INDEX_KEY}
ROTATING = {"ENCRYPTION_KEYS": [TEST_KEY_PRIMARY, TEST_KEY_OLD], "BLIND_INDEX_KEY": TEST_BLIND_INDEX_KEY}
NEW_ONLY = {"ENCRYPTION_KEYS": [TEST_KEY_PRIMARY], "BLIND_INDEX_KEY": TEST_BLIND_INDEX_KEY}
OLD_ID = crypto.key_id(crypto.decode_key(TEST_KEY_OLD)).hex()
NEW_ID = crypto.key_id(crypto.decode_key(TEST_KEY_PRIMARY)).hex()


def stored_notes():
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, note FROM {Contact._meta.db_table} ORDER BY id")
        return dict(cursor.fetchall())


def sealed_under_old_key(count):
    with override_settings(PRIVACY_KIT=OLD_ONLY):
        Contact.objects.bulk_create(Contact(email=f"user{i}@example.com", note=f"note {i}") for i in range(count))
    return list(Contact.objects.order_by("pk").values_list("pk", flat=True))


@pytest.mark.django_db
def test_encrypt_existing_with_the_old_key_removed_does_not_seal_ciphertext_again():
    [first, *_] = sealed_under_old_key(5)
    before = stored_notes()
    with override_settings(PRIVACY_KIT=NEW_ONLY), pytest.raises(ValueError) as raised:
        encrypt_existing(Contact, "note")
    assert str(raised.value) == (
        f"testapp.Contact.note (pk {first}): sealed by key id {OLD_ID}, which is not configured; "
        "add it back to PRIVACY_KIT['ENCRYPTION_KEYS'] (after the primary key) and run again."
    )
    assert stored_notes() == before
    with override_settings(PRIVACY_KIT=ROTATING):
        assert [c.note for c in Contact.objects.order_by("pk")] == [f"note {i}" for i in range(5)]


@pytest.mark.django_db
def test_encrypt_existing_command_with_the_old_key_removed_stops_naming_row_and_key_id():
    [first, *_] = sealed_under_old_key(5)
    with override_settings(PRIVACY_KIT=NEW_ONLY), pytest.raises(CommandError) as raised:
        call_command("encrypt_existing", "testapp.Contact", "note", verbosity=0)
    assert f"(pk {first}): sealed by key id {OLD_ID}, which is not configured; add it back" in str(raised.value)


@pytest.mark.django_db
def test_rotate_keys_with_the_old_key_removed_stops_naming_row_and_key_id():
    [first, *_] = sealed_under_old_key(3)
    before = stored_notes()
    with override_settings(PRIVACY_KIT=NEW_ONLY), pytest.raises(CommandError) as raised:
        call_command("rotate_keys", "testapp.Contact", verbosity=0)
    assert str(raised.value) == (
        f"testapp.Contact.email (pk {first}): sealed by key id {OLD_ID}, which is not configured; "
        "add it back to PRIVACY_KIT['ENCRYPTION_KEYS'] (after the primary key) and run again."
    )
    assert stored_notes() == before


@pytest.mark.django_db
def test_rotate_keys_dry_run_with_the_old_key_removed_says_it_cannot_re_encrypt():
    sealed_under_old_key(3)
    out = StringIO()
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        call_command("rotate_keys", "testapp.Contact", "--dry-run", stdout=out, verbosity=0)
    assert out.getvalue().splitlines() == [
        f"testapp.Contact.email: {OLD_ID}: 3; would re-encrypt 0; cannot re-encrypt: key not configured: 3 ({OLD_ID})",
        f"testapp.Contact.note: {OLD_ID}: 3; would re-encrypt 0; cannot re-encrypt: key not configured: 3 ({OLD_ID})",
    ]


def shop_changes_note_when_email_is_rewritten(pks):
    """Install a database trigger: the shop's write lands between rotation's read and its note write."""
    table = Contact._meta.db_table
    with override_settings(PRIVACY_KIT=ROTATING):
        shop_value = Contact._meta.get_field("note").seal("changed by the shop")
    listed = ", ".join(str(pk) for pk in pks)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION attack_shop_write() RETURNS trigger AS $$ BEGIN "
                f"UPDATE {table} SET note = '{shop_value}' WHERE id = NEW.id; RETURN NULL; END $$ "
                "LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER attack_shop_write AFTER UPDATE OF email ON {table} FOR EACH ROW "
                f"WHEN (NEW.id IN ({listed})) EXECUTE FUNCTION attack_shop_write()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER attack_shop_write AFTER UPDATE OF email ON {table} "
                f"WHEN NEW.id IN ({listed}) BEGIN "
                f"UPDATE {table} SET note = '{shop_value}' WHERE id = NEW.id; END"
            )


@pytest.mark.django_db
def test_rotate_keys_counts_only_the_writes_that_won_against_a_concurrent_change():
    pks = sealed_under_old_key(6)
    shop_changes_note_when_email_is_rewritten(pks[3:])
    with override_settings(PRIVACY_KIT=ROTATING):
        [email, note] = rotate_keys(["testapp.Contact"], batch_size=6)
        assert (email.resealed, note.resealed) == (6, 3)
        assert [c.note for c in Contact.objects.order_by("pk")] == [
            "note 0",
            "note 1",
            "note 2",
            *["changed by the shop"] * 3,
        ]


def start_wsgi(tmp_path, **changes):
    """Import the shop's WSGI application in a fresh process, as a WSGI server does at start."""
    from tests.test_shop_deploy import ROOT, production_environment

    code = "import example_shop.wsgi; print('serving')"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=production_environment(tmp_path, **changes),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_start_a_wsgi_process_without_keys_and_debug_off_is_refused(tmp_path):
    result = start_wsgi(tmp_path, PRIVACY_KIT_ENCRYPTION_KEYS=None)
    assert result.returncode != 0 and "serving" not in result.stdout
    assert (
        "django.core.exceptions.ImproperlyConfigured: PRIVACY_KIT['ENCRYPTION_KEYS'] is empty: "
        "generate a key with 'python manage.py privacy_keys generate'." in result.stderr
    )


def test_start_a_wsgi_process_with_a_malformed_key_is_refused(tmp_path):
    result = start_wsgi(tmp_path, PRIVACY_KIT_ENCRYPTION_KEYS="not-a-key")
    assert result.returncode != 0 and "serving" not in result.stdout
    assert "PRIVACY_KIT['ENCRYPTION_KEYS'][0] is malformed: not url-safe base64." in result.stderr
    assert "not-a-key" not in result.stderr


def test_start_a_wsgi_process_with_keys_serves(tmp_path):
    result = start_wsgi(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "serving\n"


def test_manage_check_without_keys_still_reports_e001_with_its_hint(tmp_path):
    from tests.test_shop_deploy import manage, production_environment

    result = manage("check", env=production_environment(tmp_path, PRIVACY_KIT_ENCRYPTION_KEYS=None))
    assert result.returncode == 1
    assert "(privacy_kit.E001) PRIVACY_KIT['ENCRYPTION_KEYS'] is empty" in result.stderr
    assert "HINT: Generate a key with 'python manage.py privacy_keys generate'." in result.stderr


NFC_NAME = unicodedata.normalize("NFC", "ﻣﺤﻤﺪ عبدالله")
NFKC_NAME = unicodedata.normalize("NFKC", "ﻣﺤﻤﺪ عبدالله")


@pytest.mark.django_db
def test_search_an_email_with_stray_whitespace_finds_it():
    Contact.objects.create(email="alice@example.sa")
    assert Contact.objects.filter(email=" alice@example.sa").count() == 1
    assert Contact.objects.filter(email="ALICE@example.sa\t").count() == 1


@pytest.mark.django_db
def test_search_a_name_in_another_unicode_form_finds_it():
    assert NFC_NAME != NFKC_NAME
    Member.objects.create(name=NFC_NAME)
    assert Member.objects.filter(name=NFKC_NAME).count() == 1
    assert Member.objects.filter(name="  " + NFKC_NAME.replace(" ", "   ")).count() == 1
    assert Member.objects.get(name=NFKC_NAME).name == NFC_NAME


@pytest.mark.django_db
def test_search_a_value_indexed_under_the_old_normalization_after_rotate_keys_reindex():
    member = Member.objects.create(name="x")
    # A value stored before normalization: its index is the HMAC of the raw text.
    field = Member._meta.get_field("name")
    ring = crypto.keyring()
    index = ring.blind_index(field.binding, " " + NFC_NAME)
    old = index + ":" + ring.seal((" " + NFC_NAME).encode(), field.binding.associated_data + b"#" + index.encode())
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Member._meta.db_table} SET name = %s WHERE id = %s", [old, member.pk])
    assert Member.objects.filter(name=NFKC_NAME).count() == 0
    out = StringIO()
    call_command("rotate_keys", "testapp.Member", "--reindex", "--batch-size", "1", stdout=out, verbosity=0)
    assert out.getvalue() == f"testapp.Member.name: {NEW_ID} (primary): 1; re-encrypted 1\n"
    assert Member.objects.get(name=NFKC_NAME).name == " " + NFC_NAME
    call_command("rotate_keys", "testapp.Member", "--reindex", stdout=(again := StringIO()), verbosity=0)
    assert again.getvalue() == f"testapp.Member.name: {NEW_ID} (primary): 1; re-encrypted 0\n"


def fernet_token():
    """A well-formed Fernet token, as fernet-encrypted-fields stores one (version, time, IV, block, HMAC)."""
    import base64
    import os
    import time

    timestamp = int(time.time()).to_bytes(8, "big")
    return base64.urlsafe_b64encode(b"\x80" + timestamp + os.urandom(16 + 16 + 32)).decode()


def other_library_value(vendor):
    """What a column holds after its django-cryptography BinaryField is switched to our text field."""
    # SQLite keeps the BLOB as it is in the rebuilt table; PostgreSQL's bytea::text is hex.
    return switched_column(b"\x80" + bytes(range(72)))


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["binary", "fernet"])
def test_encrypt_existing_refuses_another_librarys_ciphertext_and_writes_nothing(kind):
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        neighbour = Contact.objects.create(email="n@example.com", note="placeholder")
        contact = Contact.objects.create(email="a@example.com", note="placeholder")
    foreign = other_library_value(connection.vendor) if kind == "binary" else fernet_token()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Contact._meta.db_table} SET note = %s WHERE id = %s", [foreign, contact.pk])
        # A plaintext in the same batch, seen first: it is not written either.
        cursor.execute(f"UPDATE {Contact._meta.db_table} SET note = 'plain' WHERE id = %s", [neighbour.pk])
    before = stored_notes()
    with override_settings(PRIVACY_KIT=NEW_ONLY), pytest.raises(CommandError) as raised:
        call_command("encrypt_existing", "testapp.Contact", "note", verbosity=0)
    reason = "a Fernet token" if kind == "fernet" else "binary data"
    assert f"testapp.Contact.note (pk {contact.pk}): the stored value is {reason}" in str(raised.value)
    assert stored_notes() == before


@pytest.mark.django_db
def test_encrypt_existing_still_encrypts_plaintext_that_looks_like_hex_or_base64():
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        contact = Contact.objects.create(email="b@example.com", note="placeholder")
    notes = {"gAAAAAshort": None, "x41": None, "deadbeef": None, "\\x41": None, "\\x" + "ab" * 15: None}
    for text in notes:
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {Contact._meta.db_table} SET note = %s WHERE id = %s", [text, contact.pk])
        with override_settings(PRIVACY_KIT=NEW_ONLY):
            encrypt_existing(Contact, "note")
            assert Contact.objects.get(pk=contact.pk).note == text


@pytest.mark.django_db
def test_encrypt_existing_refuses_an_envelope_of_another_column_instead_of_taking_it_for_encrypted():
    """A value copied from another column is ciphertext that does not open here: named, not skipped."""
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        contact = Contact.objects.create(email="victim@example.com", note="placeholder")
        other = Contact.objects.create(email="other@example.com", note="a note of its own")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT email FROM {Contact._meta.db_table} WHERE id = %s", [contact.pk])
        (email,) = cursor.fetchone()
        cursor.execute(f"UPDATE {Contact._meta.db_table} SET note = %s WHERE id = %s", [email, contact.pk])
    before = stored_notes()
    with override_settings(PRIVACY_KIT=NEW_ONLY), pytest.raises(CommandError) as raised:
        call_command("encrypt_existing", "testapp.Contact", "note", verbosity=0)
    assert f"testapp.Contact.note (pk {contact.pk}): the stored value is a privacy_kit value that does not " in str(
        raised.value
    )
    assert stored_notes() == before
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        assert Contact.objects.get(pk=other.pk).note == "a note of its own"


@pytest.mark.django_db
def test_encrypt_existing_dry_run_lists_every_refusal_by_row_and_changes_nothing():
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        rows = [Contact.objects.create(email=f"{n}@example.com", note="placeholder") for n in range(4)]
    values = ["a plaintext", fernet_token(), other_library_value(connection.vendor), "another plaintext"]
    with connection.cursor() as cursor:
        for row, value in zip(rows, values, strict=True):
            cursor.execute(f"UPDATE {Contact._meta.db_table} SET note = %s WHERE id = %s", [value, row.pk])
    before = stored_notes()
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        call_command(
            "encrypt_existing", "testapp.Contact", "note", "--dry-run", stdout=(out := StringIO()), verbosity=0
        )
    assert out.getvalue().splitlines() == [
        "testapp.Contact.note: would encrypt 2 values; would refuse 2",
        f"  pk {rows[1].pk}: the stored value is a Fernet token (fernet-encrypted-fields, django-cryptography), "
        "not a plaintext",
        f"  pk {rows[2].pk}: the stored value is binary data"
        + (
            " (another library's ciphertext, such as django-cryptography's)"
            if connection.vendor == "sqlite"
            else " shown as hex text (a bytea column converted to text)"
        )
        + ", not a plaintext",
    ]
    assert stored_notes() == before

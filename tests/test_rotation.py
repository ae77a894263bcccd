from collections import Counter
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from example_shop.shop.models import Customer
from privacy_kit import crypto
from privacy_kit.fields import split_stored
from privacy_kit.rotation import encrypt_existing, rotate_keys
from tests.commands import kill_after_progress
from tests.settings import TEST_BLIND_INDEX_KEY, TEST_KEY_OLD, TEST_KEY_PRIMARY
from tests.testapp.models import Contact, Record

ROOT = Path(__file__).resolve().parent.parent
OLD_ONLY = {"ENCRYPTION_KEYS": [TEST_KEY_OLD], "BLIND_INDEX_KEY": TEST_BLIND_INDEX_KEY}
ROTATING = {"ENCRYPTION_KEYS": [TEST_KEY_PRIMARY, TEST_KEY_OLD], "BLIND_INDEX_KEY": TEST_BLIND_INDEX_KEY}
NEW_ONLY = {"ENCRYPTION_KEYS": [TEST_KEY_PRIMARY], "BLIND_INDEX_KEY": TEST_BLIND_INDEX_KEY}
OLD_ID = crypto.key_id(crypto.decode_key(TEST_KEY_OLD)).hex()
NEW_ID = crypto.key_id(crypto.decode_key(TEST_KEY_PRIMARY)).hex()


def stored_column(model, column):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {column} FROM {model._meta.db_table} ORDER BY id")
        return dict(cursor.fetchall())


def key_ids(model, column):
    return Counter(
        crypto.envelope_key_id(split_stored(value)[1]).hex()
        for value in stored_column(model, column).values()
        if value is not None
    )


def make_contacts(count):
    with override_settings(PRIVACY_KIT=OLD_ONLY):
        Contact.objects.bulk_create(
            Contact(email=f"user{i}@example.com", note=None if i % 5 == 0 else f"note {i}") for i in range(count)
        )


@pytest.mark.django_db
def test_rotation_with_two_keys_then_the_old_key_removed():
    make_contacts(50)
    with override_settings(PRIVACY_KIT=ROTATING):
        assert key_ids(Contact, "email") == {OLD_ID: 50}
        reports = rotate_keys(["testapp.Contact"], batch_size=7)
        assert {(r.field, r.resealed) for r in reports} == {("email", 50), ("note", 40)}
    assert key_ids(Contact, "email") == {NEW_ID: 50} and key_ids(Contact, "note") == {NEW_ID: 40}
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        assert Contact.objects.get(email="USER7@example.com").note == "note 7"
        assert Contact.objects.filter(note__isnull=True).count() == 10
        assert sorted(Contact.objects.values_list("email", flat=True)) == sorted(
            f"user{i}@example.com" for i in range(50)
        )


@pytest.mark.django_db
def test_rotation_is_idempotent():
    make_contacts(10)
    with override_settings(PRIVACY_KIT=ROTATING):
        rotate_keys(["testapp.Contact"])
        before = stored_column(Contact, "email")
        assert sum(r.resealed for r in rotate_keys(["testapp.Contact"])) == 0
    assert stored_column(Contact, "email") == before


@pytest.mark.django_db
def test_dry_run_counts_per_key_id_and_changes_nothing():
    make_contacts(6)
    with override_settings(PRIVACY_KIT=ROTATING):
        Contact.objects.create(email="fresh@example.com", note="new")
        before = stored_column(Contact, "email")
        [email, note] = rotate_keys(["testapp.Contact"], dry_run=True)
        assert email.values_by_key_id == {OLD_ID: 6, NEW_ID: 1} and note.values_by_key_id == {OLD_ID: 4, NEW_ID: 1}
        assert email.resealed == 0
    assert stored_column(Contact, "email") == before


@pytest.mark.django_db
def test_rotate_keys_command_prints_counts_and_a_progress_bar(capsys):
    make_contacts(4)
    with override_settings(PRIVACY_KIT=ROTATING):
        call_command("rotate_keys", "testapp.Contact", "--dry-run")
        out = capsys.readouterr().out
        assert f"testapp.Contact.email: {OLD_ID}: 4; would re-encrypt 4" in out
        assert "testapp.Contact [" in out and "4/4" in out
        call_command("rotate_keys", "testapp.Contact")
        assert "re-encrypted 4" in capsys.readouterr().out
    assert key_ids(Contact, "email") == {NEW_ID: 4}


@pytest.mark.django_db
def test_rotation_stops_at_a_value_it_cannot_decrypt_and_loses_nothing():
    make_contacts(3)
    first = Contact.objects.order_by("pk").values_list("pk", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_contact SET note = %s WHERE id = %s", ["AQAAAAAA" + "B" * 40, first])
    with override_settings(PRIVACY_KIT=ROTATING):
        before = stored_column(Contact, "note")
        with pytest.raises(CommandError, match=r"testapp\.Contact\.note \(pk \d+\): sealed by key id 00000000"):
            call_command("rotate_keys", "testapp.Contact", verbosity=0)
    assert stored_column(Contact, "note") == before


@pytest.mark.django_db
def test_rotation_never_overwrites_a_value_changed_meanwhile():
    # The write is compare-and-swap: a row the application changed after the
    # batch was read keeps the application's value.
    from privacy_kit import rotation

    make_contacts(3)
    target = Contact.objects.order_by("pk").only("pk").first()
    real_write = rotation._write

    def write_after_a_concurrent_change(model, field, rows, using):
        if field.name == "email":
            with override_settings(PRIVACY_KIT=ROTATING):
                Contact.objects.filter(pk=target.pk).update(email="changed@example.com")
        return real_write(model, field, rows, using)

    rotation._write = write_after_a_concurrent_change
    try:
        with override_settings(PRIVACY_KIT=ROTATING):
            rotate_keys(["testapp.Contact"])
    finally:
        rotation._write = real_write
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        assert Contact.objects.get(pk=target.pk).email == "changed@example.com"
        assert Contact.objects.filter(email="changed@example.com").count() == 1


@pytest.mark.django_db
def test_turning_searchable_on_is_completed_by_rotate_keys():
    # A value stored before the field was searchable has no index prefix;
    # rotate_keys re-seals it with one, and lookups then find it.
    record = Record.objects.create(email="late@example.com")
    field = Record._meta.get_field("email")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE testapp_record SET email = %s WHERE id = %s",
            [crypto.keyring().seal(b"late@example.com", field.binding.associated_data), record.pk],
        )
    assert Record.objects.get(pk=record.pk).email == "late@example.com"
    assert not Record.objects.filter(email="late@example.com").exists()
    [report] = [r for r in rotate_keys(["testapp.Record"]) if r.field == "email"]
    assert report.resealed == 1
    assert Record.objects.get(email="late@example.com") == record


@pytest.mark.django_db
def test_reseal_all_recomputes_blind_indexes_after_a_new_blind_index_key():
    make_contacts(5)
    with override_settings(PRIVACY_KIT=ROTATING):
        rotate_keys(["testapp.Contact"])
    with override_settings(PRIVACY_KIT={**ROTATING, "BLIND_INDEX_KEY": crypto.generate_key()}):
        assert not Contact.objects.filter(email="user3@example.com").exists()
        assert sum(report.resealed for report in rotate_keys(["testapp.Contact"])) == 0
        assert not Contact.objects.filter(email="user3@example.com").exists()
        rotate_keys(["testapp.Contact"], reseal_all=True)
        assert Contact.objects.get(email="user3@example.com").note == "note 3"


@pytest.mark.django_db(transaction=True)
def test_rotation_killed_midway_resumes_and_completes():
    total = 3000
    make_contacts(total)
    originals = {pk: f"user{i}@example.com" for i, pk in enumerate(sorted(stored_column(Contact, "id")))}
    kill_after_progress(
        "rotate_keys",
        "testapp.Contact",
        "--batch-size",
        "50",
        label="testapp.Contact",
        PRIVACY_KIT_ENCRYPTION_KEYS=f"{TEST_KEY_PRIMARY},{TEST_KEY_OLD}",
    )

    with override_settings(PRIVACY_KIT=ROTATING):
        interrupted = key_ids(Contact, "email")
        assert interrupted[NEW_ID] >= 250 and interrupted[OLD_ID] > 0, interrupted
        rotate_keys(["testapp.Contact"], batch_size=50)
    assert key_ids(Contact, "email") == {NEW_ID: total}
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        assert dict(Contact.objects.values_list("pk", "email")) == originals


# -- encrypt_existing ----------------------------------------------------------------


def insert_plain_customers(rows):
    with connection.cursor() as cursor:
        for name, email, phone, address in rows:
            cursor.execute(
                "INSERT INTO shop_customer (name, email, phone, address, created_at) VALUES (%s, %s, %s, %s, %s)",
                [name, email, phone, address, "2024-01-01 00:00:00+00:00"],
            )


PLAIN_ROWS = [
    ("Fatimah Al-Harbi", "Fatimah@Example.com", "+966500000001", "الرياض"),
    ("John Smith", "john@example.com", "", ""),
    ("عبدالرحمن", "abdulrahman@example.sa", "0551234567", "Jeddah, Tahlia St."),
]


@pytest.mark.django_db
def test_encrypt_existing_turns_plaintext_columns_into_ciphertext_without_losing_a_row():
    insert_plain_customers(PLAIN_ROWS * 7)
    already = Customer.objects.create(name="Already Encrypted", email="enc@example.com")
    untouched = stored_column(Customer, "name")[already.pk]
    for position, field in enumerate(["name", "email", "phone", "address"]):
        report = encrypt_existing(Customer, field, batch_size=4)
        # Empty values are already in their stored form.
        assert report.encrypted == 7 * sum(1 for row in PLAIN_ROWS if row[position])
    assert stored_column(Customer, "name")[already.pk] == untouched
    rows = list(Customer.objects.order_by("pk").values_list("name", "email", "phone", "address"))
    assert rows == [*PLAIN_ROWS * 7, ("Already Encrypted", "enc@example.com", "", "")]
    assert Customer.objects.filter(email="fatimah@example.com").count() == 7
    assert not any("Fatimah" in value for value in stored_column(Customer, "name").values())


@pytest.mark.django_db
def test_encrypt_existing_twice_changes_nothing_the_second_time():
    insert_plain_customers(PLAIN_ROWS)
    encrypt_existing(Customer, "phone")
    before = stored_column(Customer, "phone")
    assert encrypt_existing(Customer, "phone").encrypted == 0
    assert stored_column(Customer, "phone") == before


@pytest.mark.django_db
def test_encrypt_existing_refuses_a_value_of_the_wrong_type_and_names_only_its_pk():
    record = Record.objects.create(integer=1)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_record SET integer = %s WHERE id = %s", ["forty-two", record.pk])
    with pytest.raises(ValueError, match=f"pk {record.pk}") as caught:
        encrypt_existing(Record, "integer")
    assert "forty-two" not in str(caught.value)


@pytest.mark.django_db
def test_encrypt_existing_command(capsys):
    insert_plain_customers(PLAIN_ROWS)
    call_command("encrypt_existing", "shop.Customer", "address")
    assert "shop.Customer.address: encrypted 2 values" in capsys.readouterr().out
    assert list(Customer.objects.order_by("pk").values_list("address", flat=True)) == [r[3] for r in PLAIN_ROWS]


@pytest.mark.parametrize(
    "args, message",
    [
        (["shop.Nope", "name"], "doesn.t have a .Nope. model"),
        (["shop.Customer", "nope"], "has no field"),
        (["shop.Customer", "created_at"], "not an encrypted field"),
    ],
)
@pytest.mark.django_db
def test_encrypt_existing_command_explains_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("encrypt_existing", *args)


@pytest.mark.django_db
def test_rotate_keys_chunk_task_reseals_only_its_primary_key_range():
    from privacy_kit.tasks import rotate_keys_chunk

    make_contacts(10)
    keys = sorted(stored_column(Contact, "email"))
    with override_settings(PRIVACY_KIT=ROTATING):
        assert rotate_keys_chunk.delay("testapp.Contact", keys[0], keys[4]).get() == 4 + 3  # 4 emails, 3 notes
    ids = {
        pk: crypto.envelope_key_id(split_stored(value)[1]).hex()
        for pk, value in stored_column(Contact, "email").items()
    }
    assert [ids[pk] for pk in keys] == [NEW_ID] * 4 + [OLD_ID] * 6


@pytest.mark.django_db
def test_a_dry_run_makes_no_subject_key(django_user_model):
    from privacy_kit import registry
    from privacy_kit.keys.models import SubjectKey

    owner = django_user_model.objects.create_user("dry-run-owner")
    Record.objects.create(owner=owner, char="under the shared keys")
    registry.register(Record, subject="owner", category="personal")
    [report] = [r for r in rotate_keys(["testapp.Record"], dry_run=True) if r.field == "char"]
    assert report.pending == 1
    assert not SubjectKey.objects.exists()

"""Blind-index key rotation: BLIND_INDEX_KEY_FALLBACKS keeps lookups right while rotate_keys --blind-index runs."""

from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from privacy_kit import crypto
from privacy_kit.fields import split_stored
from privacy_kit.models import SecurityEvent
from privacy_kit.rotation import (
    INDEX_CURRENT,
    INDEX_FALLBACK,
    INDEX_NONE,
    INDEX_UNKNOWN,
    INDEX_UNREADABLE,
    rotate_blind_index,
)
from tests.settings import TEST_BLIND_INDEX_KEY, TEST_KEY_PRIMARY
from tests.testapp.models import Contact, Record

NEW_BLIND_KEY = "WmYjvlo0rP0wL5OsBJhyJcGQsjuwqFdb9UKE9IThukY="
OLD = {"ENCRYPTION_KEYS": [TEST_KEY_PRIMARY], "BLIND_INDEX_KEY": TEST_BLIND_INDEX_KEY}
ROTATING = {
    "ENCRYPTION_KEYS": [TEST_KEY_PRIMARY],
    "BLIND_INDEX_KEY": NEW_BLIND_KEY,
    "BLIND_INDEX_KEY_FALLBACKS": [TEST_BLIND_INDEX_KEY],
}
NEW_ONLY = {"ENCRYPTION_KEYS": [TEST_KEY_PRIMARY], "BLIND_INDEX_KEY": NEW_BLIND_KEY}
EMAIL = Contact._meta.get_field("email")


class Stop(Exception):
    """Raised from the progress callback: the rotation dies after its first batch."""


def stored(model, column):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {column} FROM {model._meta.db_table} ORDER BY id")
        return dict(cursor.fetchall())


def index_under(key, field, text):
    return crypto.Keyring([crypto.decode_key(TEST_KEY_PRIMARY)], crypto.decode_key(key)).blind_index(
        field.binding, field.normalize(text)
    )


def index_keys(emails):
    """Count the stored email indexes by the key that made them: 'old', 'new' or 'other'."""
    counts = Counter()
    for pk, value in stored(Contact, "email").items():
        if value is None:
            continue
        index = split_stored(value)[0]
        if index == index_under(TEST_BLIND_INDEX_KEY, EMAIL, emails[pk]):
            counts["old"] += 1
        elif index == index_under(NEW_BLIND_KEY, EMAIL, emails[pk]):
            counts["new"] += 1
        else:
            counts["other"] += 1
    return counts


def make_contacts():
    """42 contacts under the old blind-index key: first, user0..19 twice, last; return {pk: email}."""
    emails = ["first@example.com", *(f"user{i % 20}@example.com" for i in range(40)), "last@example.com"]
    with override_settings(PRIVACY_KIT=OLD):
        Contact.objects.bulk_create(Contact(email=email, note=f"note {n}") for n, email in enumerate(emails))
    return dict(zip(sorted(stored(Contact, "id")), emails, strict=True))


def rotate_one_batch(size=21):
    """Run the rotation under ROTATING and kill it after its first batch of ``size`` rows."""
    batches = []

    def die_after_first_batch(label, done, total):
        batches.append(done)
        raise Stop

    with override_settings(PRIVACY_KIT=ROTATING), pytest.raises(Stop):
        rotate_blind_index(["testapp.Contact"], batch_size=size, progress=die_after_first_batch)
    assert batches == [size]


@pytest.mark.django_db
def test_lookups_in_the_middle_of_a_rotation_find_old_and_new_rows_alike():
    emails = make_contacts()
    rotate_one_batch()
    assert index_keys(emails) == {"new": 21, "old": 21}
    with override_settings(PRIVACY_KIT=ROTATING):
        # user3 is in the moved half once and in the unmoved half once.
        assert sorted(Contact.objects.filter(email="USER3@example.com").values_list("note", flat=True)) == [
            "note 24",
            "note 4",
        ]
        assert Contact.objects.get(email="first@example.com").note == "note 0"
        assert Contact.objects.get(email="last@example.com").note == "note 41"
        assert Contact.objects.filter(email__in=["user3@example.com", "last@example.com", None]).count() == 3
        assert Contact.objects.exclude(email="user3@example.com").count() == 40
        assert not Contact.objects.exclude(email="user3@example.com").filter(email="user3@example.com").exists()
        assert Contact.objects.filter(email="nobody@example.com").count() == 0


@pytest.mark.django_db
def test_without_the_fallback_the_unmoved_rows_are_not_found_mid_rotation():
    # Documented: this is why BLIND_INDEX_KEY_FALLBACKS exists.
    make_contacts()
    rotate_one_batch()
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        assert list(Contact.objects.filter(email="user3@example.com").values_list("note", flat=True)) == ["note 4"]
        assert not Contact.objects.filter(email="last@example.com").exists()
        # The values themselves still open: only the search misses them.
        assert Contact.objects.order_by("pk").last().email == "last@example.com"


@pytest.mark.django_db
def test_killed_rotation_resumes_then_a_second_run_moves_nothing_and_lookups_need_no_fallback():
    emails = make_contacts()
    rotate_one_batch()
    with override_settings(PRIVACY_KIT=ROTATING):
        [report] = rotate_blind_index(["testapp.Contact"], batch_size=21)
        assert (report.field, report.resealed) == ("email", 21)
        assert report.values_by_index == {INDEX_CURRENT: 21, INDEX_FALLBACK: 21}
        after = stored(Contact, "email")
        [again] = rotate_blind_index(["testapp.Contact"], batch_size=21)
        assert again.resealed == 0 and again.values_by_index == {INDEX_CURRENT: 42}
    assert stored(Contact, "email") == after
    assert index_keys(emails) == {"new": 42}
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        assert Contact.objects.filter(email="user3@example.com").count() == 2
        assert Contact.objects.filter(email__in=["first@example.com", "last@example.com"]).count() == 2
        assert Contact.objects.exclude(email="user3@example.com").count() == 40
        assert dict(Contact.objects.values_list("pk", "email")) == emails


@pytest.mark.django_db
def test_dry_run_counts_and_writes_nothing():
    make_contacts()
    rotate_one_batch()
    before = stored(Contact, "email"), stored(Contact, "note")
    with override_settings(PRIVACY_KIT=ROTATING):
        [report] = rotate_blind_index(["testapp.Contact"], dry_run=True)
    assert report.resealed == 0 and report.pending == 21
    assert report.values_by_index == {INDEX_CURRENT: 21, INDEX_FALLBACK: 21}
    assert (stored(Contact, "email"), stored(Contact, "note")) == before


@pytest.mark.django_db
def test_only_searchable_values_move_and_other_columns_are_untouched():
    make_contacts()
    Contact.objects.create(email=None, note="no email")
    notes = stored(Contact, "note")
    with override_settings(PRIVACY_KIT=ROTATING):
        [report] = rotate_blind_index(["testapp.Contact"])
    assert report.field == "email" and report.resealed == 42
    assert stored(Contact, "note") == notes


@pytest.mark.django_db
def test_every_searchable_type_of_a_model_moves():
    import datetime

    values = {"email": "a@example.com", "integer": 42, "date": datetime.date(2024, 2, 29), "code": "AB-1"}
    with override_settings(PRIVACY_KIT=OLD):
        Record.objects.create(**values, char="not searchable")
        Record.objects.create(email="", integer=7)
    with override_settings(PRIVACY_KIT=ROTATING):
        reports = {report.field: report for report in rotate_blind_index(["testapp.Record"])}
        assert {name: report.resealed for name, report in reports.items()} == {
            "email": 1,
            "integer": 2,
            "date": 1,
            "code": 1,
        }
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        for name, value in values.items():
            assert Record.objects.get(**{name: value}).char == "not searchable", name
        assert Record.objects.get(integer=7).email == ""


@pytest.mark.django_db
def test_values_under_no_configured_key_or_without_index_are_counted_apart_and_moved():
    with override_settings(PRIVACY_KIT={**OLD, "BLIND_INDEX_KEY": crypto.generate_key()}):
        Contact.objects.create(email="lost@example.com")
    # A value stored without its index prefix (a field made searchable later).
    with override_settings(PRIVACY_KIT=ROTATING):
        envelope = crypto.keyring().seal(b"bare@example.com", EMAIL.binding.associated_data)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO testapp_contact (email) VALUES (%s)", [envelope])
    with override_settings(PRIVACY_KIT=ROTATING):
        [report] = rotate_blind_index(["testapp.Contact"])
        assert report.values_by_index == {INDEX_UNKNOWN: 1, INDEX_NONE: 1}
        assert report.resealed == 2
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        assert Contact.objects.filter(email__in=["lost@example.com", "bare@example.com"]).count() == 2


@pytest.mark.django_db
def test_a_value_that_does_not_open_stops_the_rotation_naming_only_its_pk():
    make_contacts()
    last = max(stored(Contact, "id"))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_contact SET email = %s WHERE id = %s", ["AQAAAAAA" + "B" * 40, last])
    before = stored(Contact, "email")
    with override_settings(PRIVACY_KIT=ROTATING):
        [report] = rotate_blind_index(["testapp.Contact"], dry_run=True)
        assert report.values_by_index[INDEX_UNREADABLE] == 1
        with pytest.raises(CommandError, match=rf"testapp\.Contact\.email \(pk {last}\): Cannot decrypt") as caught:
            call_command("rotate_keys", "--blind-index", "testapp.Contact", "--batch-size", "50", verbosity=0)
    assert "BBBB" not in str(caught.value)
    # The whole table was one batch: its transaction rolled back.
    assert stored(Contact, "email") == before


@pytest.mark.django_db
def test_writes_use_the_current_key_while_fallbacks_are_set():
    with override_settings(PRIVACY_KIT=ROTATING):
        contact = Contact.objects.create(email="new@example.com")
    index = split_stored(stored(Contact, "email")[contact.pk])[0]
    assert index == index_under(NEW_BLIND_KEY, EMAIL, "new@example.com")


@pytest.mark.django_db
def test_a_lookup_with_a_fallback_is_an_in_over_the_index_column_and_without_one_an_equality():
    with override_settings(PRIVACY_KIT=NEW_ONLY), CaptureQueriesContext(connection) as plain:
        list(Contact.objects.filter(email="a@example.com"))
    with override_settings(PRIVACY_KIT=ROTATING), CaptureQueriesContext(connection) as rotating:
        list(Contact.objects.filter(email="a@example.com"))
        list(Contact.objects.filter(email__in=["a@example.com", "b@example.com"]))
    column = connection.ops.quote_name("email_blind_index")
    assert f"{column} = " in plain[0]["sql"]
    assert f"{column} IN (" in rotating[0]["sql"]
    # Two values under two keys: four indexes.
    assert rotating[1]["sql"].count(",") - rotating[0]["sql"].count(",") == 2


@pytest.mark.django_db
def test_command_prints_counts_per_outcome_and_records_a_security_event(capsys):
    make_contacts()
    rotate_one_batch()
    with override_settings(PRIVACY_KIT=ROTATING):
        call_command("rotate_keys", "--blind-index", "--dry-run", "testapp.Contact")
        out = capsys.readouterr().out
        assert "testapp.Contact.email: current key: 21, fallback key: 21; would re-index 21" in out
        assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.KEY_ROTATION).exists()
        call_command("rotate_keys", "--blind-index")
        out = capsys.readouterr().out
        assert "testapp.Contact.email: current key: 21, fallback key: 21; re-indexed 21" in out
        assert "testapp.Record.email: no values; re-indexed 0" in out
        event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.KEY_ROTATION)
        assert event.detail.startswith("21 values and 0 erasure references moved to the current blind-index key")
        call_command("rotate_keys", "--blind-index", "testapp.Contact")
        assert "current key: 42; re-indexed 0" in capsys.readouterr().out


@pytest.mark.django_db
def test_command_refuses_blind_index_with_all_or_reindex():
    for option in ("--all", "--reindex"):
        with pytest.raises(CommandError, match="leave out --all and --reindex"):
            call_command("rotate_keys", "--blind-index", option)


@pytest.mark.django_db
def test_rotate_keys_chunk_task_passes_the_blind_index_option_through():
    from privacy_kit.tasks import rotate_keys_chunk

    emails = make_contacts()
    keys = sorted(emails)
    with override_settings(PRIVACY_KIT=ROTATING):
        assert rotate_keys_chunk.delay("testapp.Contact", keys[0], keys[10], blind_index=True).get() == 10
        # Without the option, the chunk rotates encryption keys: nothing to do here.
        assert rotate_keys_chunk.delay("testapp.Contact", keys[10], keys[20]).get() == 0
    assert index_keys(emails) == {"new": 10, "old": 32}


def test_environment_fallbacks_are_read_comma_separated(monkeypatch):
    from privacy_kit.conf import app_settings

    other = crypto.generate_key()
    monkeypatch.setenv("PRIVACY_KIT_BLIND_INDEX_KEY_FALLBACKS", f" {TEST_BLIND_INDEX_KEY}, {other},")
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        assert app_settings.BLIND_INDEX_KEY_FALLBACKS == [TEST_BLIND_INDEX_KEY, other]
        assert crypto.keyring().blind_index_fallbacks == 2
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        monkeypatch.delenv("PRIVACY_KIT_BLIND_INDEX_KEY_FALLBACKS")
        crypto.reset()
        assert app_settings.BLIND_INDEX_KEY_FALLBACKS == []
        assert crypto.keyring().blind_index_fallbacks == 0


def test_a_malformed_fallback_stops_the_keyring_without_echoing_it():
    with override_settings(PRIVACY_KIT={**NEW_ONLY, "BLIND_INDEX_KEY_FALLBACKS": ["not-a-key-xyz"]}):
        with pytest.raises(Exception, match=r"BLIND_INDEX_KEY_FALLBACKS'\]\[0\] is malformed") as caught:
            crypto.keyring()
    assert "not-a-key-xyz" not in str(caught.value)


@pytest.mark.django_db
def test_erasure_records_move_to_the_new_key_so_replay_still_finds_the_erased(capsys):
    from django.contrib.auth import get_user_model

    from privacy_kit.rights import erase_subject, replay_erasures
    from privacy_kit.rights.models import ErasureRecord

    users = get_user_model().objects
    with override_settings(PRIVACY_KIT=OLD):
        erased = users.create_user("erased", "erased@example.com", "pw-erased-1")
        users.create_user("kept", "kept@example.com", "pw-kept-1")
        erase_subject(erased, reason="asked")
    with override_settings(PRIVACY_KIT=ROTATING):
        call_command("rotate_keys", "--blind-index", "--dry-run")
        assert "privacy_kit.ErasureRecord.subject_ref: would move 1" in capsys.readouterr().out
        call_command("rotate_keys", "--blind-index")
        assert "privacy_kit.ErasureRecord.subject_ref: moved 1" in capsys.readouterr().out
        call_command("rotate_keys", "--blind-index")
        assert "privacy_kit.ErasureRecord.subject_ref: moved 0" in capsys.readouterr().out
    with override_settings(PRIVACY_KIT=NEW_ONLY):
        assert ErasureRecord.objects.get().status == ErasureRecord.Status.DONE
        assert replay_erasures().replayed == 1

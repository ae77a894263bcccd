"""unique=True on a searchable encrypted field: one value per column, enforced on its blind index.

Every value is sealed with a fresh nonce, so the ciphertexts of two equal values never
match and a UNIQUE on the ciphertext can never fire. The blind index (a keyed hash of
the normalized value, one key per column) is the same for equal values: its column
carries the unique index, and Django's own unique validation looks the value up
through it, under every blind-index key while a rotation runs.
"""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.forms import modelform_factory
from django.test import override_settings
from django.urls import path

from privacy_kit import crypto, registry
from privacy_kit.admin import PersonalDataAdmin, PrivacyAdminSite
from privacy_kit.fields import split_stored
from privacy_kit.rotation import rotate_blind_index
from tests.settings import TEST_BLIND_INDEX_KEY, TEST_KEY_PRIMARY
from tests.testapp.models import Contact, Subscriber

pytestmark = pytest.mark.django_db
DUPLICATE = "Subscriber with this Email already exists."
NEW_BLIND_KEY = "WmYjvlo0rP0wL5OsBJhyJcGQsjuwqFdb9UKE9IThukY="
OLD = {"ENCRYPTION_KEYS": [TEST_KEY_PRIMARY], "BLIND_INDEX_KEY": TEST_BLIND_INDEX_KEY}
ROTATING = {**OLD, "BLIND_INDEX_KEY": NEW_BLIND_KEY, "BLIND_INDEX_KEY_FALLBACKS": [TEST_BLIND_INDEX_KEY]}


@pytest.fixture(params=["shared keys", "subject keys"])
def owner(request, django_user_model):
    """Return a maker of each row's owner: no owner under the shared keys, a new user under subject keys.

    Under subject keys Subscriber is registered with a subject, so each row's value is
    sealed under its own owner's key.
    """
    if request.param == "shared keys":
        return lambda: None
    registry.register(Subscriber, subject="owner", category="personal", personal_fields=["email"])
    users = iter(range(1000))
    return lambda: django_user_model.objects.create_user(f"owner{next(users)}")


def subscribe(email, owner=None):
    return Subscriber.objects.create(email=email, owner=owner)


def refused(create):
    """Run a write that the database must refuse, in a savepoint so the test goes on."""
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def stored_emails():
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, email FROM testapp_subscriber ORDER BY id")
        return dict(cursor.fetchall())


# -- the database refuses a second row with the same value --------------------


def test_a_second_row_with_the_same_email_is_refused_by_the_database(owner):
    first = subscribe("amira@example.sa", owner())
    refused(lambda: subscribe("amira@example.sa", owner()))
    assert list(Subscriber.objects.values_list("pk", flat=True)) == [first.pk]
    if first.owner is not None:
        [stored] = stored_emails().values()
        assert crypto.is_subject_envelope(split_stored(stored)[1])


def test_the_same_address_in_another_case_or_spacing_is_a_duplicate(owner):
    # The blind index hashes the normalized form: for an email, NFKC, trimmed, lower-cased.
    subscribe("Amira@Example.SA", owner())
    refused(lambda: subscribe("amira@example.sa", owner()))
    refused(lambda: subscribe(" AMIRA@EXAMPLE.SA ", owner()))
    assert Subscriber.objects.get(email="amira@example.sa").email == "Amira@Example.SA"


def test_changing_a_row_to_another_rows_email_is_refused(owner):
    subscribe("amira@example.sa", owner())
    other = subscribe("omar@example.sa", owner())
    other.email = "amira@example.sa"
    refused(other.save)
    refused(lambda: Subscriber.objects.filter(pk=other.pk).update(email="AMIRA@example.sa"))
    other.refresh_from_db()
    assert other.email == "omar@example.sa"


def test_bulk_create_with_a_duplicate_is_refused():
    rows = [Subscriber(email="a@example.sa"), Subscriber(email="A@example.sa")]
    refused(lambda: Subscriber.objects.bulk_create(rows))
    assert not Subscriber.objects.exists()


def test_different_addresses_and_rows_without_one_are_accepted(owner):
    for email in ["amira@example.sa", "omar@example.sa", None, None]:
        subscribe(email, owner())
    assert Subscriber.objects.count() == 4
    assert Subscriber.objects.filter(email__isnull=True).count() == 2
    assert Subscriber.objects.get(email="OMAR@example.sa").email == "omar@example.sa"


def test_the_blind_index_column_carries_the_unique_index():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "testapp_subscriber")
    assert any(c["unique"] and c["columns"] == ["email_blind_index"] for c in constraints.values())


def test_the_documented_query_finds_the_rows_that_would_block_unique_true():
    # docs/fields.md: run before adding unique=True to a column with rows (Contact's email is not unique).
    Contact.objects.bulk_create(Contact(email=email) for email in ["amira@example.sa", "Amira@Example.SA", "o@x.sa"])
    found = Contact.objects.values("email_blind_index").annotate(n=Count("pk")).filter(n__gt=1)
    [duplicate] = found
    rows = Contact.objects.filter(email_blind_index=duplicate["email_blind_index"])
    assert duplicate["n"] == 2
    assert sorted(rows.values_list("email", flat=True)) == ["Amira@Example.SA", "amira@example.sa"]


# -- validation: Django's validate_unique, through the blind index --------------


def test_full_clean_reports_a_duplicate_with_the_usual_message_and_nothing_of_the_other_row(owner):
    first = subscribe("amira@example.sa", owner())
    with pytest.raises(ValidationError) as error:
        Subscriber(email="AMIRA@example.sa", owner=owner()).full_clean()
    assert error.value.message_dict == {"email": [DUPLICATE]}
    assert str(first.pk) not in str(error.value) and "amira" not in str(error.value).lower()


def test_validate_unique_finds_the_duplicate_and_leaves_the_row_itself_alone():
    first = subscribe("amira@example.sa")
    first.full_clean()
    Subscriber(email="omar@example.sa").full_clean()
    second = subscribe("omar@example.sa")
    second.email = "Amira@example.sa"
    with pytest.raises(ValidationError) as error:
        second.validate_unique()
    assert error.value.message_dict == {"email": [DUPLICATE]}


def test_a_model_form_reports_the_duplicate_on_the_field():
    subscribe("amira@example.sa")
    form = modelform_factory(Subscriber, fields=["email"])(data={"email": "Amira@Example.sa"})
    assert form.errors == {"email": [DUPLICATE]}
    assert modelform_factory(Subscriber, fields=["email"])(data={"email": "omar@example.sa"}).is_valid()


unique_site = PrivacyAdminSite(name="admin")
unique_site.register(Subscriber, PersonalDataAdmin)
urlpatterns = [path("admin/", unique_site.urls)]


@override_settings(ROOT_URLCONF=__name__)
def test_the_admin_add_form_shows_the_error_without_the_other_row(verified_admin_client):
    first = subscribe("amira@example.sa")
    response = verified_admin_client.post("/admin/testapp/subscriber/add/", {"email": "AMIRA@EXAMPLE.SA"})
    assert response.status_code == 200  # the form again, with the error: no row added, no 500
    page = response.content.decode()
    assert DUPLICATE in page
    assert f"/subscriber/{first.pk}/" not in page
    assert "AMIRA@EXAMPLE.SA" in page and "amira@example.sa" not in page  # what was typed, not the other row's
    assert Subscriber.objects.count() == 1


# -- a blind-index rotation ---------------------------------------------------------


def test_mid_rotation_validation_finds_a_duplicate_still_indexed_under_the_old_key():
    with override_settings(PRIVACY_KIT=OLD):
        Subscriber.objects.create(email="amira@example.sa")
    with override_settings(PRIVACY_KIT=ROTATING):
        with pytest.raises(ValidationError) as error:
            Subscriber(email="Amira@example.sa").full_clean()
        assert error.value.message_dict == {"email": [DUPLICATE]}
        form = modelform_factory(Subscriber, fields=["email"])(data={"email": "amira@example.sa"})
        assert form.errors == {"email": [DUPLICATE]}


def test_a_rotation_moves_unique_values_without_refusing_any():
    emails = [f"user{n}@example.sa" for n in range(30)]
    with override_settings(PRIVACY_KIT=OLD):
        Subscriber.objects.bulk_create(Subscriber(email=email) for email in emails)
    with override_settings(PRIVACY_KIT=ROTATING):
        Subscriber.objects.create(email="new@example.sa")  # written under the new key meanwhile
        [report] = rotate_blind_index(["testapp.Subscriber"], batch_size=7)
        assert report.resealed == 30
    with override_settings(PRIVACY_KIT={**OLD, "BLIND_INDEX_KEY": NEW_BLIND_KEY}):
        refused(lambda: Subscriber.objects.create(email="USER7@example.sa"))
        refused(lambda: Subscriber.objects.create(email="new@example.sa"))


def test_a_duplicate_saved_unvalidated_mid_rotation_stops_the_rotation_naming_both_rows():
    # The unique index compares indexes made under different keys, so it cannot see a
    # duplicate of a value not yet moved: a save() that skips validation gets it in.
    with override_settings(PRIVACY_KIT=OLD):
        first = Subscriber.objects.create(email="amira@example.sa")
        Subscriber.objects.create(email="omar@example.sa")
    with override_settings(PRIVACY_KIT=ROTATING):
        second = Subscriber.objects.create(email="Amira@example.sa")
        before = stored_emails()
        with pytest.raises(CommandError) as error:
            call_command("rotate_keys", "--blind-index", "testapp.Subscriber", verbosity=0)
        message = str(error.value)
        assert f"pk {first.pk}" in message and f"pk {second.pk}" in message
        assert "testapp.Subscriber.email" in message and "amira" not in message.lower()
        assert stored_emails() == before  # nothing of the batch written
        second.delete()
        [report] = rotate_blind_index(["testapp.Subscriber"])
        assert report.resealed == 2

"""registry.register(): the three kinds of subject (a path, a callable, None) and README's customer.

README's "Ten lines" model is tests/testapp's ``Customer``; its registration below is the
line README gives, so the two must not drift.
"""

import datetime

import pytest
from django.core import checks
from django.utils import timezone

from privacy_kit import registry
from privacy_kit.admin import PersonalDataAdmin
from privacy_kit.admin.sites import PrivacyAdminSite
from privacy_kit.retention import purge_policy
from privacy_kit.rights import erase_subject, export_subject, subject_of_row
from tests.testapp.models import Customer, Order

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def register_readme_customer():
    """README's registration of its ten-line Customer, word for word."""
    registry.register(
        Customer,
        subject="user",
        category="personal",
        personal_fields=["name", "email", "phone"],
        retention=registry.Retention(basis="relationship", date_field="created", after_days="personal"),
    )


def privacy_checks(**kwargs):
    return [message for message in checks.run_checks(**kwargs) if message.id.startswith("privacy_kit.")]


@pytest.fixture
def layla(django_user_model):
    user = django_user_model.objects.create_user("layla", password="pw-layla-1")
    Customer.objects.create(user=user, name="Layla Al-Harbi", email="Layla@Example.sa", phone="+966 50 000 0001")
    return user


# -- README's customer -------------------------------------------------------


def test_the_readme_customer_registers_with_no_check_message():
    register_readme_customer()
    assert privacy_checks() == []


def test_the_readme_customer_is_in_the_export_decrypted(layla):
    register_readme_customer()
    [section] = [entry for entry in export_subject(layla)["records"] if entry["model"] == "testapp.Customer"]
    [row] = section["rows"]
    assert (row["name"], row["email"], row["phone"]) == ("Layla Al-Harbi", "Layla@Example.sa", "+966 50 000 0001")
    assert section["category"] == "personal"


def test_the_readme_customer_is_erased_with_its_user(layla, django_user_model):
    register_readme_customer()
    other = django_user_model.objects.create_user("omar", password="pw-omar-1")
    Customer.objects.create(user=other, name="Omar", email="omar@example.sa")
    record = erase_subject(layla, reason="asked by phone")
    assert not Customer.objects.filter(user=layla).exists()
    assert Customer.objects.filter(user=other).exists()
    assert "testapp.Customer" in record.counts


def test_the_readme_customer_expires_once_the_relationship_ends(layla):
    register_readme_customer()
    long_ago = NOW - datetime.timedelta(days=800)
    type(layla).objects.filter(pk=layla.pk).update(date_joined=long_ago, last_login=long_ago)
    Customer.objects.filter(user=layla).update(created=long_ago)
    purge_policy("testapp.Customer")
    assert not Customer.objects.exists()


# -- subject is required, and None says "no account" -------------------------


def test_subject_is_a_required_keyword():
    with pytest.raises(TypeError, match="subject"):
        registry.register(Customer, category="personal")


def test_rows_of_no_account_expire_by_age(django_user_model):
    registry.register(
        Order,
        subject=None,
        category="personal",
        personal_fields=["full_name"],
        retention=registry.Retention(basis="age", date_field="created_at", after_days=30),
    )
    assert privacy_checks() == []
    Order.objects.create(full_name="Old", total=1, created_at=NOW - datetime.timedelta(days=31))
    Order.objects.create(full_name="New", total=1, created_at=NOW - datetime.timedelta(days=29))
    purge_policy("testapp.Order")
    assert [order.full_name for order in Order.objects.all()] == ["New"]


def test_rows_of_no_account_cannot_expire_by_relationship():
    registry.register(
        Order,
        subject=None,
        category="personal",
        retention=registry.Retention(basis="relationship", date_field="created_at", after_days=30),
    )
    [error] = [message for message in privacy_checks() if message.id == "privacy_kit.E030"]
    assert "the relationship basis needs a subject path to the user" in error.msg


def test_rows_of_no_account_are_in_no_export_and_no_erasure(django_user_model):
    user = django_user_model.objects.create_user("layla", password="pw-layla-1")
    registry.register(Order, subject=None, category="personal", personal_fields=["full_name"])
    order = Order.objects.create(customer=user, full_name="Layla", total=1, created_at=NOW)
    assert "testapp.Order" not in {entry["model"] for entry in export_subject(user)["records"]}
    erase_subject(user, reason="asked by phone")
    order.refresh_from_db()
    assert order.full_name == "Layla"
    assert subject_of_row(order) is None


# -- a callable subject ------------------------------------------------------


def order_subject(order):
    """docs/retention.md's example of a callable subject: a row in, its user (or None) out."""
    # A path cannot say this: the shop's own test orders, placed by staff, are nobody's.
    if order.customer is None or order.customer.is_staff:
        return None
    return order.customer


def test_a_callable_subject_names_the_user_of_a_row(django_user_model):
    user = django_user_model.objects.create_user("layla", password="pw-layla-1")
    staff = django_user_model.objects.create_user("clerk", password="pw-clerk-1", is_staff=True)
    registry.register(Order, subject=order_subject, category="personal", personal_fields=["full_name"])
    assert privacy_checks() == []
    assert subject_of_row(Order.objects.create(customer=user, full_name="Layla", total=1, created_at=NOW)) == user
    assert subject_of_row(Order.objects.create(customer=staff, full_name="Test", total=1, created_at=NOW)) is None
    assert subject_of_row(Order.objects.create(customer=None, full_name="Guest", total=1, created_at=NOW)) is None


def test_a_callable_subject_is_in_no_export_of_the_user(django_user_model):
    user = django_user_model.objects.create_user("layla", password="pw-layla-1")
    registry.register(Order, subject=order_subject, category="personal", personal_fields=["full_name"])
    Order.objects.create(customer=user, full_name="Layla", total=1, created_at=NOW)
    assert "testapp.Order" not in {entry["model"] for entry in export_subject(user)["records"]}


def test_a_callable_subject_keeps_the_admin_actions_and_none_hides_them():
    model_admin = PersonalDataAdmin(Order, PrivacyAdminSite(name="registry_test"))
    registry.register(Order, subject=order_subject, category="personal")
    assert model_admin.has_subject()
    registry.register(Order, subject=None, category="personal")
    assert not model_admin.has_subject()


# -- recipients and transfers outside the Kingdom ------------------------------------


def register_order_recipients(**options):
    return registry.register(Order, subject="customer", category="personal", personal_fields=["full_name"], **options)


def test_recipients_and_transfers_are_kept_on_the_registration():
    transfer = registry.Transfer(country="ie", safeguard="standard_contractual_clauses", recipient="Payments Ltd")
    entry = register_order_recipients(recipients=["SMSA Express (courier)"], transfers=[transfer])
    assert entry.recipients == ("SMSA Express (courier)",)
    assert entry.transfers == (
        registry.Transfer(country="IE", safeguard="standard_contractual_clauses", recipient="Payments Ltd"),
    )
    assert privacy_checks() == []


def test_a_registration_without_recipients_has_none():
    entry = register_order_recipients()
    assert (entry.recipients, entry.transfers) == ((), ())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"recipients": "courier"}, "recipients must be a list of names, not a string"),
        ({"recipients": ["courier", ""]}, "recipients[1] is empty"),
        ({"recipients": [42]}, "recipients[0] must be a name (a string), not 42"),
        ({"transfers": registry.Transfer(country="IE", safeguard="adequacy")}, "transfers must be a list"),
        ({"transfers": [{"country": "IE", "safeguard": "adequacy"}]}, "transfers[0] must be a registry.Transfer"),
        ({"transfers": [registry.Transfer(country="UK", safeguard="adequacy")]}, "'UK', which is not an ISO 3166-1"),
        ({"transfers": [registry.Transfer(country="Ireland", safeguard="adequacy")]}, "'Ireland', which is not"),
        ({"transfers": [registry.Transfer(country="SA", safeguard="adequacy")]}, "SA is the Kingdom itself"),
        ({"transfers": [registry.Transfer(country="IE", safeguard="contract")]}, "the safeguard 'contract'"),
        ({"transfers": [registry.Transfer(country="IE", safeguard="")]}, "the safeguard ''"),
    ],
)
def test_bad_recipients_and_transfers_are_refused_at_registration(options, message):
    before = registry.get("testapp.Order") if "testapp.Order" in {e.name for e in registry.registrations()} else None
    with pytest.raises(registry.RegistrationError) as raised:
        register_order_recipients(**options)
    assert message in str(raised.value)
    assert str(raised.value).startswith("testapp.Order: ")
    # Nothing was registered: the earlier entry, if any, stays.
    after = registry.get("testapp.Order") if "testapp.Order" in {e.name for e in registry.registrations()} else None
    assert after is before


def test_a_refused_safeguard_lists_the_known_ones():
    with pytest.raises(
        registry.RegistrationError, match="adequacy, standard_contractual_clauses, binding_common_rules"
    ):
        register_order_recipients(transfers=[registry.Transfer(country="IE", safeguard="contract")])


def test_uk_is_refused_with_the_code_of_the_united_kingdom():
    with pytest.raises(registry.RegistrationError, match="the United Kingdom is 'GB'"):
        register_order_recipients(transfers=[registry.Transfer(country="UK", safeguard="adequacy")])


def test_a_registration_error_is_improperly_configured():
    from django.core.exceptions import ImproperlyConfigured

    assert issubclass(registry.RegistrationError, ImproperlyConfigured)

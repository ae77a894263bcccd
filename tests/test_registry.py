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

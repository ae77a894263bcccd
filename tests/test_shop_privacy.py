"""The demo shop's registry entries (example_shop/shop/privacy.py) and what the purge does with them."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from example_shop.shop.models import Cart, Customer, Order, OrderItem, SavedAddress
from privacy_kit import registry
from privacy_kit.registry import registration_errors
from privacy_kit.rights import erase_subject, export_subject

pytestmark = pytest.mark.django_db
LONG_AGO = timezone.now() - timedelta(days=800)
CONTACT = {
    "full_name": "Salem",
    "address": "Al-Khobar",
    "city": "Khobar",
    "phone": "0551234567",
    "email": "s@example.sa",
}


@pytest.fixture
def gone(django_user_model):
    """A customer who last dealt with the shop 800 days ago: an order and a saved address."""
    user = django_user_model.objects.create_user("salem", last_login=LONG_AGO)
    django_user_model.objects.filter(pk=user.pk).update(date_joined=LONG_AGO)
    order = Order.objects.create(user=user, **CONTACT, subtotal=Decimal("80.00"), shipping=Decimal("25.00"),
                                 total=Decimal("105.00"), created_at=LONG_AGO)
    order.items.create(name_en="Dates", name_ar="تمر", unit_price=Decimal("40.00"), quantity=2)
    SavedAddress.objects.create(user=user, **CONTACT)
    SavedAddress.objects.filter(user=user).update(updated_at=LONG_AGO)
    return order


def purge(*policies):
    call_command("purge_expired", policy=list(policies), stdout=io.StringIO())


@pytest.mark.parametrize("label", ["shop.Order", "shop.OrderItem", "shop.SavedAddress", "shop.Cart", "shop.Customer"])
def test_the_shops_models_are_registered_without_error(label):
    assert registration_errors(registry.get(label)) == []


def test_orders_are_anonymized_once_the_relationship_ends(gone):
    purge("shop.Order")
    order = Order.objects.get(pk=gone.pk)
    assert (order.user, order.full_name, order.address, order.city, order.phone, order.email) == (
        None, "", "", "", "", ""
    )


def test_anonymized_orders_keep_their_amounts_and_date(gone):
    purge("shop.Order")
    with connection.cursor() as cursor:
        cursor.execute("SELECT subtotal, shipping, total FROM shop_order WHERE id = %s", [gone.pk])
        assert [Decimal(str(value)) for value in cursor.fetchone()] == [Decimal("80"), Decimal("25"), Decimal("105")]
    assert Order.objects.get(pk=gone.pk).created_at == gone.created_at


def test_anonymized_orders_keep_their_lines(gone):
    purge(*(entry.name for entry in registry.registrations() if entry.retention))
    assert list(OrderItem.objects.values_list("order", "quantity")) == [(gone.pk, 2)]


def test_the_export_of_a_customer_lists_their_order_lines(gone):
    sections = {section["model"]: section["rows"] for section in export_subject(gone.user)["records"]}
    assert [(row["order"], row["name_en"], row["quantity"]) for row in sections["shop.OrderItem"]] == [
        (gone.pk, "Dates", 2)
    ]


def test_erasing_a_customer_anonymizes_their_orders_and_keeps_the_lines(gone):
    erase_subject(gone.user, reason="asked")
    assert Order.objects.get(pk=gone.pk).full_name == ""
    assert list(OrderItem.objects.values_list("order", "quantity")) == [(gone.pk, 2)]


def test_saved_addresses_are_deleted_once_the_relationship_ends(gone):
    purge("shop.SavedAddress")
    assert not SavedAddress.objects.exists()


def test_a_recent_order_keeps_the_customer_and_all_their_data(gone):
    Order.objects.create(user=gone.user, **CONTACT, subtotal=1, shipping=0, total=1)
    purge("shop.Order", "shop.SavedAddress")
    assert Order.objects.get(pk=gone.pk).full_name == "Salem"
    assert SavedAddress.objects.filter(user=gone.user).exists()


def test_a_customer_who_logged_in_lately_keeps_their_data(gone):
    type(gone.user).objects.filter(pk=gone.user.pk).update(last_login=timezone.now())
    purge("shop.Order", "shop.SavedAddress")
    assert Order.objects.get(pk=gone.pk).full_name == "Salem" and SavedAddress.objects.exists()


def test_a_recent_cart_is_kept_whoever_owns_it(gone):
    Cart.objects.create(user=gone.user)
    purge("shop.Cart")
    assert Cart.objects.filter(user=gone.user).exists()


def test_customer_records_older_than_the_personal_period_are_deleted():
    old, recent = (Customer.objects.create(name=name, email=f"{name}@example.sa") for name in ("old", "recent"))
    Customer.objects.filter(pk=old.pk).update(created_at=LONG_AGO)
    purge("shop.Customer")
    assert list(Customer.objects.all()) == [recent]

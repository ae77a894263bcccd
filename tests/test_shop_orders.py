"""The demo shop's checkout and order pages: encrypted contact details, totals kept, owners only."""

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection

from example_shop.shop.models import Cart, Order, SavedAddress

pytestmark = pytest.mark.django_db

CONTACT = {
    "full_name": "Reem Al-Qahtani",
    "address": "حي الملقا، شارع أنس بن مالك",
    "city": "Riyadh",
    "phone": "+966 55 123 4567",
    "email": "reem@example.sa",
}


@pytest.fixture
def catalog():
    call_command("seed_shop", stdout=io.StringIO())


@pytest.fixture
def customer(client, django_user_model):
    user = django_user_model.objects.create_user("reem", email="reem@example.sa", password="pw")
    client.force_login(user)
    return user


def place_order(client, **changes):
    client.post("/cart/add/tahini/", {"quantity": 2})  # 2 x 18.00
    client.post("/cart/add/kleija/")  # 35.00
    return client.post("/checkout/", {**CONTACT, **changes})


def test_checkout_needs_a_login(client, catalog):
    client.post("/cart/add/tahini/")
    response = client.get("/checkout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/checkout/"


def test_checkout_with_an_empty_cart_goes_back_to_the_cart(client, catalog, customer):
    response = client.get("/checkout/")
    assert response.status_code == 302 and response["Location"] == "/cart/"


def test_checkout_places_the_order_and_shows_it(client, catalog, customer):
    response = place_order(client)
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.pk}/"
    assert order.user == customer
    assert {name: getattr(order, name) for name in CONTACT} == CONTACT
    page = client.get(response["Location"])
    assert page.status_code == 200 and "Reem Al-Qahtani" in page.content.decode()


def test_the_order_keeps_subtotal_shipping_and_total(client, catalog, customer):
    place_order(client)
    order = Order.objects.get()
    assert (order.subtotal, order.shipping, order.total) == (Decimal("71.00"), Decimal("25.00"), Decimal("96.00"))


def test_order_items_keep_the_name_and_price_of_the_day(client, catalog, customer):
    place_order(client)
    item = Order.objects.get().items.get(product__slug="tahini")
    item.product.name_en, item.product.price = "Renamed", Decimal("99.00")
    item.product.save()
    item.refresh_from_db()
    assert (item.name_en, item.name_ar, item.unit_price, item.quantity) == (
        "Tahini, 500 g",
        "طحينة، 500 غرام",
        Decimal("18.00"),
        2,
    )


def test_placing_the_order_empties_the_cart(client, catalog, customer):
    place_order(client)
    assert not Cart.objects.exists()


@pytest.mark.parametrize("table", ["shop_order", "shop_savedaddress"])
def test_contact_details_are_encrypted_in_the_database(client, catalog, customer, table):
    place_order(client, save_details="on")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT full_name, address, city, phone, email FROM {table}")
        stored = " ".join(cursor.fetchone())
    for plaintext in ["Reem", "Qahtani", "الملقا", "Riyadh", "123 4567", "example.sa"]:
        assert plaintext not in stored


def test_an_invalid_phone_number_is_refused(client, catalog, customer):
    response = place_order(client, phone="call me")
    assert response.status_code == 200 and "phone" in response.context["form"].errors
    assert not Order.objects.exists()


def test_details_are_saved_for_next_time_only_when_asked(client, catalog, customer):
    place_order(client)
    assert not SavedAddress.objects.exists()
    place_order(client, save_details="on")
    saved = SavedAddress.objects.get(user=customer)
    assert {name: getattr(saved, name) for name in CONTACT} == CONTACT
    client.post("/cart/add/tahini/")
    assert client.get("/checkout/").context["form"].initial == {**CONTACT, "save_details": True}


def test_unticking_save_deletes_the_saved_details(client, catalog, customer):
    place_order(client, save_details="on")
    place_order(client)
    assert not SavedAddress.objects.exists()


def test_order_history_lists_only_the_customers_own_orders(client, catalog, customer, django_user_model):
    place_order(client)
    mine = Order.objects.get()
    other = django_user_model.objects.create_user("other")
    Order.objects.create(user=other, **CONTACT, subtotal=1, shipping=0, total=1)
    page = client.get("/orders/")
    assert list(page.context["orders"]) == [mine]


def test_another_customers_order_is_not_found(client, catalog, customer, django_user_model):
    other = django_user_model.objects.create_user("other")
    theirs = Order.objects.create(user=other, **CONTACT, subtotal=1, shipping=0, total=1)
    assert client.get(f"/orders/{theirs.pk}/").status_code == 404


def test_order_pages_need_a_login(client, catalog):
    assert client.get("/orders/").status_code == 302
    assert client.get("/orders/1/").status_code == 302

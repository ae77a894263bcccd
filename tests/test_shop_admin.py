"""The demo shop's orders and saved addresses in the admin: masked lists, found by number, exported, erased."""

import json
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from example_shop.shop.models import Order, SavedAddress
from privacy_kit.models import AccessLog

pytestmark = pytest.mark.django_db
ORDERS = "/admin/shop/order/"
FULL_NAME = "Reem Al-Qahtani"
CONTACT = {"full_name": FULL_NAME, "address": "Al-Malqa", "city": "Al-Khobar", "phone": "0551234567"}
AMOUNTS = {"subtotal": Decimal("80"), "shipping": Decimal("25"), "total": Decimal("105")}


@pytest.fixture
def reem(django_user_model):
    return django_user_model.objects.create_user("reem", email="reem@example.sa", password="pw-reem-1")


@pytest.fixture
def order(reem):
    order = Order.objects.create(user=reem, **CONTACT, email="reem@example.sa", **AMOUNTS)
    order.items.create(name_en="Dates, Sukkari, 1 kg box", name_ar="تمر سكري", unit_price=Decimal("40"), quantity=2)
    return order


def found(client, term):
    return list(client.get(ORDERS, {"q": term}).context["cl"].result_list)


@pytest.mark.parametrize("model", [Order, SavedAddress])
def test_the_shops_admins_pass_the_checks(model):
    assert admin.site._registry[model].check() == []


def test_the_order_list_masks_the_contact_details(verified_admin_client, order):
    page = verified_admin_client.get(ORDERS).content.decode()
    assert f"order #{order.pk}" in page and "105" in page
    assert FULL_NAME not in page and "Al-Khobar" not in page


def test_an_order_is_found_by_its_number_or_the_customers_username_or_email(verified_admin_client, order):
    Order.objects.create(**CONTACT, email="other@example.sa", subtotal=1, shipping=0, total=1)
    assert found(verified_admin_client, str(order.pk)) == [order]
    assert found(verified_admin_client, "reem") == [order]
    assert found(verified_admin_client, "REEM@example.sa") == [order]
    assert found(verified_admin_client, FULL_NAME) == []  # contact details are encrypted: never searched


def test_an_opened_order_shows_its_lines_and_is_logged(verified_admin_client, order, admin_user):
    page = verified_admin_client.get(f"{ORDERS}{order.pk}/change/").content.decode()
    assert FULL_NAME in page and "Dates, Sukkari, 1 kg box" in page
    entry = AccessLog.objects.get()
    assert (entry.actor, entry.object_id, entry.subject_id) == (admin_user, str(order.pk), order.user_id)


def test_staff_correct_the_contact_details_but_not_the_amounts(verified_admin_client, order):
    data = {**CONTACT, "city": "Jeddah", "email": "reem@example.sa", "user": order.user_id, "total": "1.00"}
    data.update({"items-TOTAL_FORMS": "1", "items-INITIAL_FORMS": "1", "items-0-id": order.items.get().pk})
    data.update({"items-0-order": order.pk})
    assert verified_admin_client.post(f"{ORDERS}{order.pk}/change/", data).status_code == 302
    order.refresh_from_db()
    assert (order.city, order.total) == ("Jeddah", Decimal("105.00"))


def test_orders_are_not_added_in_the_admin(verified_admin_client):
    assert verified_admin_client.get(f"{ORDERS}add/").status_code == 403


def test_the_export_action_on_an_order_downloads_the_customers_data(verified_admin_client, order):
    data = {"action": "export_personal_data", ACTION_CHECKBOX_NAME: [order.pk]}
    response = verified_admin_client.post(ORDERS, data)
    document = json.loads(b"".join(response.streaming_content))
    sections = {section["model"]: section["rows"] for section in document["records"]}
    assert [row["full_name"] for row in sections["shop.Order"]] == [FULL_NAME]
    assert [row["quantity"] for row in sections["shop.OrderItem"]] == [2]


def test_a_saved_address_is_found_by_the_customers_username(verified_admin_client, reem):
    address = SavedAddress.objects.create(user=reem, **CONTACT, email="reem@example.sa")
    page = verified_admin_client.get("/admin/shop/savedaddress/", {"q": "reem"})
    assert list(page.context["cl"].result_list) == [address]
    assert FULL_NAME not in page.content.decode()

"""The demo shop's cart: a visitor's through the session, a customer's own, merged at login."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from example_shop.shop.carts import SESSION_KEY
from example_shop.shop.models import Cart, Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog():
    call_command("seed_shop", stdout=io.StringIO())


def quantities(client):
    page = client.get("/cart/")
    return {line.product.slug: line.quantity for line in page.context["lines"]}


def test_a_new_visitor_has_no_cart(client, catalog):
    page = client.get("/cart/")
    assert page.status_code == 200 and page.context["lines"] == []
    assert not Cart.objects.exists()


def test_adding_puts_the_product_in_the_visitors_cart(client, catalog):
    response = client.post("/cart/add/sukkari-dates/", {"quantity": 2})
    assert response.status_code == 302 and response["Location"] == "/cart/"
    assert quantities(client) == {"sukkari-dates": 2}
    assert Cart.objects.get().pk == client.session[SESSION_KEY]


def test_adding_again_adds_to_the_quantity(client, catalog):
    client.post("/cart/add/sukkari-dates/")
    client.post("/cart/add/sukkari-dates/", {"quantity": 3})
    assert quantities(client) == {"sukkari-dates": 4}


def test_adding_an_invalid_quantity_changes_nothing(client, catalog):
    client.post("/cart/add/sukkari-dates/", {"quantity": "-1"})
    assert quantities(client) == {}


def test_updating_sets_the_quantity(client, catalog):
    client.post("/cart/add/tahini/")
    client.post("/cart/update/tahini/", {"quantity": 5})
    assert quantities(client) == {"tahini": 5}


def test_updating_to_zero_removes_the_line(client, catalog):
    client.post("/cart/add/tahini/")
    client.post("/cart/update/tahini/", {"quantity": 0})
    assert quantities(client) == {}


def test_removing_takes_the_product_out(client, catalog):
    client.post("/cart/add/tahini/")
    client.post("/cart/add/kleija/")
    client.post("/cart/remove/tahini/")
    assert quantities(client) == {"kleija": 1}


def test_cart_changes_need_a_post(client, catalog):
    assert client.get("/cart/add/tahini/").status_code == 405


def test_totals_add_shipping_below_the_free_shipping_threshold(client, catalog):
    client.post("/cart/add/tahini/", {"quantity": 2})  # 2 x 18.00
    page = client.get("/cart/")
    assert (page.context["subtotal"], page.context["shipping"], page.context["total"]) == (
        Decimal("36.00"),
        Decimal("25.00"),
        Decimal("61.00"),
    )


def test_shipping_is_free_from_two_hundred_riyals(client, catalog):
    client.post("/cart/add/sidr-honey/", {"quantity": 2})  # 2 x 180.00
    page = client.get("/cart/")
    assert page.context["shipping"] == 0 and page.context["total"] == Decimal("360.00")


def test_the_visitors_cart_becomes_the_customers_at_login(client, catalog, django_user_model):
    user = django_user_model.objects.create_user("noura", password="pw")
    client.post("/cart/add/kleija/")
    client.post("/accounts/login/", {"username": "noura", "password": "pw"})
    assert quantities(client) == {"kleija": 1}
    assert Cart.objects.get().user == user


def test_the_visitors_cart_is_merged_into_the_customers_cart(client, catalog, django_user_model):
    user = django_user_model.objects.create_user("noura", password="pw")
    Cart.objects.create(user=user).add(Product.objects.get(slug="kleija"), 2)
    client.post("/cart/add/kleija/")
    client.post("/cart/add/tahini/")
    client.post("/accounts/login/", {"username": "noura", "password": "pw"})
    assert quantities(client) == {"kleija": 3, "tahini": 1}
    assert Cart.objects.count() == 1


def test_a_session_cannot_take_another_customers_cart(client, catalog, django_user_model):
    other = django_user_model.objects.create_user("other")
    theirs = Cart.objects.create(user=other)
    theirs.add(Product.objects.get(slug="kleija"))
    session = client.session
    session[SESSION_KEY] = theirs.pk
    session.save()
    assert quantities(client) == {}


def test_carts_untouched_for_thirty_days_are_purged(catalog):
    stale, fresh = Cart.objects.create(), Cart.objects.create()
    stale.add(Product.objects.get(slug="kleija"))
    Cart.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(days=31))
    call_command("purge_expired", policy=["shop.Cart"], stdout=io.StringIO())
    assert list(Cart.objects.all()) == [fresh]

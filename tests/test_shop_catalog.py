"""The demo shop's catalog: the seed command, search in both languages, category and product pages."""

import io

import pytest
from django.core.management import call_command

from example_shop.shop.catalog import CATEGORIES, PRODUCTS
from example_shop.shop.models import Category, Order, OrderItem, Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog():
    call_command("seed_shop", stdout=io.StringIO())


def test_seed_creates_about_sixty_products_in_a_few_categories(catalog):
    assert Category.objects.count() == len(CATEGORIES) == 5
    assert Product.objects.count() == sum(len(products) for products in PRODUCTS.values()) == 60
    assert not Product.objects.filter(name_ar="").exists()


def test_seed_twice_creates_nothing_new(catalog):
    before = sorted(Product.objects.values_list("pk", "slug", "price"))
    out = io.StringIO()
    call_command("seed_shop", stdout=out)
    assert "0 categories and 0 products created" in out.getvalue()
    assert sorted(Product.objects.values_list("pk", "slug", "price")) == before


def test_search_finds_products_by_their_english_name(client, catalog):
    page = client.get("/search/", {"q": "coffee"})
    found = {product.slug for product in page.context["products"]}
    assert "arabic-coffee-cardamom" in found and "sukkari-dates" not in found


def test_search_finds_products_by_their_arabic_name(client, catalog):
    page = client.get("/search/", {"q": "تمر"})
    assert "sukkari-dates" in {product.slug for product in page.context["products"]}


def test_search_needs_every_word(client, catalog):
    page = client.get("/search/", {"q": "dates ajwa"})
    assert [product.slug for product in page.context["products"]] == ["ajwa-dates"]


def test_search_without_words_lists_nothing(client, catalog):
    page = client.get("/search/", {"q": "  "})
    assert page.status_code == 200 and not page.context["products"]


def test_category_page_lists_its_products(client, catalog):
    page = client.get("/categories/perfume-incense/")
    assert page.status_code == 200
    assert "Taif rose oil, 3 ml" in page.content.decode()
    assert "Ajwa dates" not in page.content.decode()


def test_product_page_shows_name_description_and_price(client, catalog):
    page = client.get("/products/coffee-pot-dallah/")
    content = page.content.decode()
    assert "Coffee pot (dallah), brass" in content and "185.00 SAR" in content and "hand-finished" in content


def test_unknown_product_is_not_found(client, catalog):
    assert client.get("/products/no-such-thing/").status_code == 404


def test_best_sellers_are_the_products_in_most_orders(client, catalog):
    for slug, orders in [("kleija", 3), ("tahini", 2)]:
        product = Product.objects.get(slug=slug)
        for _ in range(orders):
            order = Order.objects.create(
                full_name="x", address="x", city="x", phone="0550000000", email="x@example.sa",
                subtotal=product.price, shipping=0, total=product.price,
            )
            OrderItem.objects.create(
                order=order, product=product, name_en=product.name_en, name_ar=product.name_ar,
                unit_price=product.price, quantity=1,
            )
    page = client.get("/")
    assert [product.slug for product in page.context["best_sellers"]][:2] == ["kleija", "tahini"]

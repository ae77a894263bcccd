"""The demo shop in Arabic and English: right-to-left, translated, numbers and dates in the reader's language."""

import io
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import translation

from example_shop.shop.models import Order, Product
from example_shop.shop.templatetags.shop import riyals

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "example_shop" / "locale"


@pytest.fixture
def catalog():
    call_command("seed_shop", stdout=io.StringIO())


@pytest.fixture
def arabic(client):
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "ar"
    return client


def test_the_compiled_arabic_catalog_is_there():
    assert (LOCALE / "ar" / "LC_MESSAGES" / "django.mo").exists()


def test_every_shop_string_has_an_arabic_translation():
    po = (LOCALE / "ar" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    entries = po.strip().split("\n\n")[1:]  # after the header
    assert [entry for entry in entries if entry.endswith('msgstr ""')] == []
    assert "#, fuzzy" not in po


def test_an_arabic_page_is_right_to_left_and_in_arabic(arabic, catalog):
    content = arabic.get("/").content.decode()
    assert '<html lang="ar" dir="rtl">' in content
    assert "أهلًا بك في المتجر التجريبي" in content and "الأكثر مبيعًا" in content


def test_an_english_page_is_left_to_right(client, catalog):
    content = client.get("/").content.decode()
    assert '<html lang="en" dir="ltr">' in content and "Welcome to the example shop" in content


def test_products_are_named_in_the_readers_language(arabic, catalog):
    content = arabic.get("/products/sukkari-dates/").content.decode()
    assert "تمر سكري، علبة 1 كغ" in content and "Sukkari" not in content


def test_prices_are_written_the_arabic_way_with_the_currency_translated(arabic, catalog):
    content = arabic.get("/products/majlis-floor-cushions/").content.decode()
    assert "950,00 ر.س" in content


def test_prices_are_written_the_english_way_in_english():
    with translation.override("en"):
        assert riyals(Product(price="1250.50").price) == "1,250.50 SAR"


def test_order_dates_are_written_in_the_readers_language(arabic, catalog, django_user_model):
    user = django_user_model.objects.create_user("huda")
    order = Order.objects.create(
        user=user, full_name="Huda", address="Jeddah", city="Jeddah", phone="0551234567",
        email="huda@example.sa", subtotal=10, shipping=25, total=35,
    )
    Order.objects.filter(pk=order.pk).update(created_at="2026-03-15T09:00:00+03:00")
    arabic.force_login(user)
    content = arabic.get(f"/orders/{order.pk}/").content.decode()
    assert "الطلب رقم" in content and "مارس" in content


def test_search_in_arabic_finds_arabic_names(arabic, catalog):
    page = arabic.get("/search/", {"q": "قهوة"})
    assert "قهوة عربية بالهيل" in page.content.decode()


def test_the_language_switcher_changes_the_language(client, catalog):
    response = client.post("/i18n/setlang/", {"language": "ar", "next": "/cart/"})
    assert response.status_code == 302 and response["Location"] == "/cart/"
    assert 'dir="rtl"' in client.get("/cart/").content.decode()


def test_english_pages_offer_arabic(client, catalog):
    assert 'name="language" value="ar"' in client.get("/").content.decode()


def test_arabic_pages_offer_english(arabic, catalog):
    assert 'name="language" value="en"' in arabic.get("/").content.decode()

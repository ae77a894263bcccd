"""The demo shop records behavior only through privacy_kit.tracking, only under consent, and uses it only then."""

import importlib
import io

import pytest
from django.apps import apps
from django.core.management import call_command

from privacy_kit.consent import grant
from privacy_kit.models import BehavioralEvent, Purpose

pytestmark = pytest.mark.django_db
CONTACT = {"full_name": "Fahad", "address": "Olaya", "city": "Riyadh", "phone": "0551234567", "email": "f@example.sa"}


@pytest.fixture
def shop():
    """The demo's purposes and policy (as its data migration publishes them) and its catalog."""
    importlib.import_module("example_shop.shop.migrations.0002_purposes_and_policy").publish(apps, None)
    call_command("seed_shop", stdout=io.StringIO())


def allow(client, *purposes):
    """Answer the consent banner: allow ``purposes``, refuse the others."""
    client.post("/privacy/consent/", {"choice": "save", "purposes": list(purposes), "next": "/"})


def events():
    """Return (kind, purpose, what) of every recorded event."""
    return sorted(
        (event.kind, event.purpose.slug, event.data.get("q") or event.data.get("product"))
        for event in BehavioralEvent.objects.all()
    )


def browse(client):
    client.get("/search/", {"q": "dates"})
    client.get("/products/ajwa-dates/")
    client.post("/cart/add/ajwa-dates/")


def test_the_shops_purposes_are_the_ones_it_published(shop):
    from example_shop.shop.privacy import ANALYTICS, PERSONALIZATION

    assert {PERSONALIZATION, ANALYTICS} <= set(Purpose.objects.values_list("slug", flat=True))


def test_nothing_is_recorded_before_a_decision(client, shop):
    browse(client)
    assert not BehavioralEvent.objects.exists()


def test_nothing_is_recorded_after_reject_all(client, shop):
    client.post("/privacy/consent/", {"choice": "reject_all", "next": "/"})
    browse(client)
    assert not BehavioralEvent.objects.exists()


def test_search_view_and_cart_addition_are_recorded_under_personalization(client, shop):
    allow(client, "personalization")
    browse(client)
    assert events() == [
        ("cart", "personalization", "ajwa-dates"),
        ("product_view", "personalization", "ajwa-dates"),
        ("search", "personalization", "dates"),
    ]


def test_the_search_page_says_whether_the_search_was_remembered(client, shop):
    assert client.get("/search/", {"q": "dates"}).context["remembered"] is False
    allow(client, "personalization")
    assert client.get("/search/", {"q": "dates"}).context["remembered"] is True


def test_analytics_alone_records_no_browsing(client, shop):
    allow(client, "analytics")
    browse(client)
    assert not BehavioralEvent.objects.exists()


def check_out(client, django_user_model):
    user = django_user_model.objects.create_user("fahad", password="pw")
    client.post("/accounts/login/", {"username": "fahad", "password": "pw"})
    client.post("/cart/add/tahini/")
    client.post("/checkout/", CONTACT)
    return user


def test_a_purchase_is_recorded_under_analytics(client, shop, django_user_model):
    allow(client, "analytics")
    user = check_out(client, django_user_model)
    event = BehavioralEvent.objects.get()
    assert (event.user, event.kind, event.purpose.slug, event.data["products"]) == (
        user,
        "purchase",
        "analytics",
        ["tahini"],
    )


def test_a_purchase_without_analytics_consent_is_not_recorded(client, shop, django_user_model):
    allow(client, "personalization")
    check_out(client, django_user_model)
    assert not BehavioralEvent.objects.filter(kind="purchase").exists()


def test_the_home_page_recommends_nothing_without_personalization(client, shop):
    allow(client, "analytics")
    page = client.get("/")
    assert page.context["personalized"] is False and "recommended" not in page.context
    assert 'id="recommended"' not in page.content.decode()
    assert 'id="best-sellers"' in page.content.decode()


def test_the_home_page_recommends_from_the_customers_own_searches(client, shop):
    allow(client, "personalization")
    client.get("/search/", {"q": "ajwa"})
    page = client.get("/")
    assert [product.slug for product in page.context["recommended"]] == ["ajwa-dates"]
    assert 'id="recommended"' in page.content.decode()


def test_recommendations_follow_the_categories_looked_at_and_leave_out_the_cart(client, shop):
    allow(client, "personalization")
    client.get("/products/kabsa-spices/")
    client.post("/cart/add/mandi-spices/")
    recommended = client.get("/").context["recommended"]
    assert {product.category.slug for product in recommended} == {"spices-pantry"}
    assert "mandi-spices" not in {product.slug for product in recommended}


def test_recommendations_ignore_other_customers_events(client, shop, django_user_model):
    someone = django_user_model.objects.create_user("someone")
    grant(someone, ["personalization"], source="preferences")
    BehavioralEvent.objects.create(
        user=someone, purpose=Purpose.objects.get(slug="personalization"), kind="search", data={"q": "oud"}
    )
    allow(client, "personalization")
    assert client.get("/").context["recommended"] == []


def test_events_kept_without_current_consent_are_not_used(client, shop, django_user_model):
    user = django_user_model.objects.create_user("noura", password="pw")
    BehavioralEvent.objects.create(
        user=user, purpose=Purpose.objects.get(slug="personalization"), kind="search", data={"q": "oud"}
    )
    client.force_login(user)
    page = client.get("/")
    assert "recommended" not in page.context

"""Attacks on the my-data page and the demo shop's pages, through the real views, mails and database."""

import io
import logging
import threading

import django
import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import URLPattern, reverse
from django.utils.log import AdminEmailHandler
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from example_shop.shop.models import Order as ShopOrder
from privacy_kit import urls as privacy_urls
from privacy_kit.models import LegalHold, SecurityEvent
from tests.browser import click_and_wait, needs_chromium
from tests.test_fields import write_stored
from tests.test_rights import PASSWORD, customer_with_history, policy, shop_registry  # noqa: F401 (fixtures)
from tests.testapp.models import Order

pytestmark = pytest.mark.django_db

CONTACT = {
    "full_name": "Reem Al-Qahtani",
    "address": "Al-Malqa, Anas bin Malik Road 12",
    "city": "Unaizah",
    "phone": "+966 55 123 4567",
    "email": "reem@example.sa",
}
BIDI_OVERRIDE = "\u202e"


@pytest.fixture
def layla(django_user_model, policy, shop_registry):  # noqa: F811 (fixtures imported above)
    return customer_with_history(django_user_model, "layla")


@pytest.fixture
def logged_in(layla):
    # A 500 becomes a response (and an error mail), as it does in production.
    client = Client(raise_request_exception=False)
    client.force_login(layla)
    return client


@pytest.fixture
def error_mails(settings):
    """Mail ADMINS the technical 500 report of every server error, as Django's default logging does."""
    settings.ADMINS = ["ops@example.com"] if django.VERSION >= (6,) else [("Ops", "ops@example.com")]
    settings.DEBUG = False
    assert any(isinstance(handler, AdminEmailHandler) for handler in logging.getLogger("django").handlers)
    mail.outbox.clear()
    return mail.outbox


class Broken(Exception):
    """What the view raises after it read the form."""


def broken(*args, **kwargs):
    raise Broken("the view broke after reading the form")


@pytest.fixture
def catalog():
    call_command("seed_shop", stdout=io.StringIO())


@pytest.fixture
def shopper(client, django_user_model, catalog):
    user = django_user_model.objects.create_user("reem", email="reem@example.sa", password=PASSWORD)
    client.force_login(user)
    return user


def shop_order(client):
    client.post("/cart/add/tahini/", {"quantity": 2})
    client.post("/checkout/", CONTACT)
    return ShopOrder.objects.get()


# -- item 12: the legal hold's reason ----------------------------------------


def test_customer_under_legal_hold_reads_the_internal_reason(logged_in, layla):
    LegalHold.objects.create(subject=layla, reason="fraud investigation, case 77")
    response = logged_in.post("/privacy/my-data/delete/", {"password": PASSWORD, "confirm": "on"})
    assert response.status_code == 409
    page = response.content.decode()
    assert "fraud investigation" not in page
    assert "case 77" not in page
    assert "We must keep your data for now, so your account cannot be deleted yet." in page


# -- item 14: passwords and contact details in error mails -------------------


def test_server_error_during_export_mails_the_password(logged_in, error_mails, monkeypatch):
    monkeypatch.setattr("privacy_kit.rights.views.export_response", broken)
    response = logged_in.post("/privacy/my-data/export/", {"password": PASSWORD})
    assert response.status_code == 500
    assert len(error_mails) == 1
    assert "Broken" in error_mails[0].body
    assert PASSWORD not in error_mails[0].body


def test_server_error_during_delete_account_mails_the_password(logged_in, error_mails, monkeypatch):
    monkeypatch.setattr("privacy_kit.requests.actions.queue_erasure", broken)
    response = logged_in.post("/privacy/my-data/delete/", {"password": PASSWORD, "confirm": "on"})
    assert response.status_code == 500
    assert len(error_mails) == 1
    assert "Broken" in error_mails[0].body
    assert PASSWORD not in error_mails[0].body


def test_server_error_during_checkout_mails_the_address_and_phone(client, shopper, error_mails, monkeypatch):
    client.raise_request_exception = False
    client.post("/cart/add/tahini/", {"quantity": 2})
    monkeypatch.setattr("example_shop.shop.views.place_order", broken)
    response = client.post("/checkout/", CONTACT)
    assert response.status_code == 500
    assert len(error_mails) == 1
    body = error_mails[0].body
    assert "Broken" in body
    for value in CONTACT.values():
        assert value not in body


def test_server_error_during_signup_mails_the_password(client, catalog, error_mails, monkeypatch):
    client.raise_request_exception = False
    monkeypatch.setattr("example_shop.shop.views.login", broken)
    secret = "a-Long-passw0rd!"
    response = client.post("/accounts/signup/", {"username": "nadia", "password1": secret, "password2": secret})
    assert response.status_code == 500
    assert len(error_mails) == 1
    assert secret not in error_mails[0].body


# The consent views take purpose choices only, and these pages take no form: nothing to hide.
TAKES_NO_PERSONAL_DATA = {"consent", "preferences", "policy", "api", "my_data", "account_deleted"}
TAKES_A_PASSWORD = [pattern for pattern in privacy_urls.urlpatterns if pattern.name not in TAKES_NO_PERSONAL_DATA]


def test_every_privacy_kit_url_is_either_walked_or_known_to_take_no_personal_data():
    names = {pattern.name for pattern in privacy_urls.urlpatterns}
    assert TAKES_NO_PERSONAL_DATA <= names
    assert {pattern.name for pattern in TAKES_A_PASSWORD} == {
        "export_data",
        "delete_account",
        "correct_data",
        "download_copy",
    }


@pytest.mark.parametrize("pattern", TAKES_A_PASSWORD, ids=lambda pattern: pattern.name)
def test_every_privacy_kit_view_that_takes_a_password_hides_it_from_error_reports(logged_in, pattern: URLPattern):
    arguments = {"pk": 1} if "pk" in pattern.pattern.converters else {}
    url = reverse(f"privacy_kit:{pattern.name}", kwargs=arguments)
    response = logged_in.post(url, {"password": PASSWORD, "confirm": "on"})
    response.close()
    assert response.wsgi_request.sensitive_post_parameters == ("password",)


# -- item 15: the export rate limit ------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="parallel requests need a database with row locks")
@pytest.mark.django_db(transaction=True)
def test_parallel_downloads_pass_the_hourly_limit(layla, settings, monkeypatch):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "EXPORTS_PER_HOUR": 1}
    from privacy_kit.security import events

    # Every request reaches the point where it records its export before any of them has: the
    # widest window a check-then-act limit leaves open. A limit that serializes the requests
    # lets only one through here, and the others go on when the barrier gives up waiting.
    barrier = threading.Barrier(3, timeout=3)
    real = events.record_security_event

    def record_when_all_arrived(*args, **kwargs):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return real(*args, **kwargs)

    monkeypatch.setattr(events, "record_security_event", record_when_all_arrived)
    codes = []

    def download():
        try:
            client = Client()
            client.force_login(layla)
            response = client.post("/privacy/my-data/export/", {"password": PASSWORD})
            if response.status_code == 200:
                b"".join(response.streaming_content)
            response.close()
            codes.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=download) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 429, 429]
    assert SecurityEvent.objects.filter(kind="export", user=layla, detail="own data").count() == 1


# -- item 18: pages with personal data in the browser's cache ----------------


@pytest.mark.parametrize("page", ["/orders/", "/orders/{pk}/", "/checkout/", "/accounts/profile/", "/cart/"])
def test_shop_page_with_personal_data_is_kept_in_the_browser_cache(client, shopper, page):
    order = shop_order(client)
    client.post("/cart/add/tahini/")  # so that the checkout shows its form, prefilled with the saved address
    response = client.get(page.format(pk=order.pk))
    assert response.status_code == 200
    assert "no-store" in response.get("Cache-Control", "")
    assert "private" in response.get("Cache-Control", "")


# -- item 19: an export that breaks half-way --------------------------------


def test_download_with_a_value_that_does_not_decrypt_sends_truncated_json(logged_in, layla):
    order = Order.objects.filter(customer=layla).order_by("pk").last()
    write_stored(Order, order.pk, "phone", "AQAAAAAA" + "B" * 40)
    response = logged_in.post("/privacy/my-data/export/", {"password": PASSWORD})
    assert response.status_code == 500
    page = response.content.decode()
    assert "Your data could not be put together just now." in page
    assert "AQAAAAAA" not in page
    assert not SecurityEvent.objects.filter(kind="export", user=layla, detail="own data").exists()


def test_failed_download_does_not_use_up_the_hourly_limit(logged_in, layla, settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "EXPORTS_PER_HOUR": 1}
    order = Order.objects.filter(customer=layla).first()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT phone FROM {Order._meta.db_table} WHERE id = %s", [order.pk])
        (good,) = cursor.fetchone()
    write_stored(Order, order.pk, "phone", "AQAAAAAA" + "B" * 40)
    assert logged_in.post("/privacy/my-data/export/", {"password": PASSWORD}).status_code == 500
    write_stored(Order, order.pk, "phone", good)
    response = logged_in.post("/privacy/my-data/export/", {"password": PASSWORD})
    response.close()
    assert response.status_code == 200


# -- item 22: bidi overrides in reflected text -------------------------------


def test_search_term_with_a_bidi_override_reverses_the_shops_title(client, catalog):
    response = client.get("/search/", {"q": f"dates{BIDI_OVERRIDE} evil"})
    page = response.content.decode()
    assert BIDI_OVERRIDE not in page
    assert "<bdi>dates evil</bdi>" in page


@pytest.mark.parametrize("control", [chr(code) for code in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]])
def test_search_term_with_any_bidi_control_is_stripped(client, catalog, control):
    response = client.get("/search/", {"q": f"da{control}tes"})
    title = response.content.decode().split("<title>")[1].split("</title>")[0]
    assert control not in title
    assert "“dates”" in title


def test_username_with_a_bidi_override_is_isolated_on_the_my_data_page(django_user_model, policy):  # noqa: F811
    user = django_user_model.objects.create_user(f"mallory{BIDI_OVERRIDE}", password=PASSWORD)
    client = Client()
    client.force_login(user)
    page = client.get("/privacy/my-data/").content.decode()
    assert f"<bdi>mallory{BIDI_OVERRIDE}</bdi>" in page


@needs_chromium
@pytest.mark.django_db(transaction=True)
def test_browser_back_after_logout_shows_the_order_address(browser, live_server, django_user_model, catalog):
    user = django_user_model.objects.create_user("reem", email="reem@example.sa", password=PASSWORD)
    client = Client()
    client.force_login(user)
    order = shop_order(client)
    browser.get(f"{live_server.url}/")
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    browser.add_cookie({"name": settings.SESSION_COOKIE_NAME, "value": session})
    browser.get(f"{live_server.url}/orders/{order.pk}/")
    assert CONTACT["address"] in browser.find_element(By.ID, "order").text
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/accounts/logout/'] button"))
    assert browser.execute_script("return location.pathname") == "/"
    browser.back()
    WebDriverWait(browser, 10).until(lambda driver: driver.execute_script("return document.readyState") == "complete")
    assert browser.execute_script("return location.pathname") == "/accounts/login/"
    assert CONTACT["address"] not in browser.page_source
    assert CONTACT["phone"] not in browser.page_source

"""A customer's journey through the demo shop in headless Chromium, in English and in Arabic.

Each step is a function that does what the customer does and checks what the
shop shows and what it stored; ``test_customer_journey`` runs them in order.
Screenshots of the main pages go to bench/screenshots/ (git-ignored) for a
person to look at.
"""

import importlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from selenium import webdriver
from selenium.webdriver.common.by import By

from example_shop.shop.models import Order
from privacy_kit.models import BehavioralEvent
from tests.browser import allow_downloads, click_and_wait, downloaded, needs_chromium, screenshot

PASSWORD = "a-Long-passw0rd!"
# What the customer types and expects to read, per language.
WORDS = {
    "en": {
        "search": "dates",
        "welcome": "Welcome to the example shop",
        "order": "Order #",
        "contact": {"full_name": "Reem Al-Qahtani", "address": "Al-Malqa, Anas bin Malik Road", "city": "Riyadh"},
    },
    "ar": {
        "search": "تمر",
        "welcome": "أهلًا بك في المتجر التجريبي",
        "order": "الطلب رقم",
        "contact": {"full_name": "ريم القحطاني", "address": "حي الملقا، طريق أنس بن مالك", "city": "الرياض"},
    },
}
PRODUCT = "sukkari-dates"
PRODUCT_NAMES = {"en": "Dates, Sukkari, 1 kg box", "ar": "تمر سكري، علبة 1 كغ"}

pytestmark = [needs_chromium, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    """The demo shop's purposes, privacy policy and catalog; the test settings give its translations, layout and CSS."""
    importlib.import_module("example_shop.shop.migrations.0002_purposes_and_policy").publish(apps, None)
    call_command("seed_shop", stdout=io.StringIO())


@dataclass
class Visit:
    """One customer's browser on the shop, in one language."""

    driver: webdriver.Chrome
    base_url: str
    language: str
    downloads: Path

    @property
    def words(self):
        return WORDS[self.language]

    def open(self, path):
        self.driver.get(self.base_url + path)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def click(self, css):
        """Click a link or submit button and wait until the next page has loaded."""
        click_and_wait(self.driver, self.find(css))

    def fill(self, values):
        for name, value in values.items():
            field = self.find(f"[name={name}]")
            field.clear()
            field.send_keys(value)

    def path(self):
        return self.driver.execute_script("return location.pathname")

    def screenshot(self, name):
        screenshot(self.driver, f"shop-{self.language}-{name}.png")

    def customer(self):
        return get_user_model().objects.get(username=f"reem-{self.language}")


def open_the_shop(visit):
    visit.open("/")
    if visit.language != "en":
        visit.click(f"form.language button[value={visit.language}]")
    html = visit.find("html")
    expected_dir = "rtl" if visit.language == "ar" else "ltr"
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == (visit.language, expected_dir)
    assert visit.words["welcome"] in visit.find("main").text
    assert visit.find("#privacy-banner").is_displayed()
    visit.screenshot("01-home-consent-banner")


def reject_all(visit):
    visit.click("#privacy-banner button[name=choice][value=reject_all]")
    assert not visit.find_all("#privacy-banner")


def search(visit):
    visit.fill({"q": visit.words["search"]})
    visit.click("form.search button[type=submit]")
    assert PRODUCT_NAMES[visit.language] in visit.find("#search-results").text
    return visit.find("#search-note").get_attribute("data-remembered")


def search_is_not_remembered(visit):
    assert search(visit) == "no"
    assert not BehavioralEvent.objects.exists()


def allow_personalization(visit):
    visit.click(".site-footer a[href='/privacy/preferences/']")
    visit.screenshot("02-preferences-after-reject-all")
    visit.click("[data-purpose=personalization][data-action=grant]")
    assert visit.find("[data-purpose-row=personalization]").get_attribute("data-state") == "granted"
    assert visit.find("[data-purpose-row=analytics]").get_attribute("data-state") == "withdrawn"
    visit.screenshot("03-preferences-personalization-allowed")


def search_is_remembered(visit):
    visit.click("a.brand")
    assert search(visit) == "yes"
    event = BehavioralEvent.objects.get()
    assert (event.kind, event.purpose.slug, event.data) == ("search", "personalization", {"q": visit.words["search"]})
    visit.screenshot("04-search-remembered")


def add_to_cart(visit):
    visit.click(f"#search-results a[href='/products/{PRODUCT}/']")
    visit.screenshot("05-product")
    visit.fill({"quantity": "2"})
    visit.click("form.add-to-cart button[type=submit]")
    assert visit.path() == "/cart/"
    assert PRODUCT_NAMES[visit.language] in visit.find("#cart-lines").text
    kinds = set(BehavioralEvent.objects.values_list("kind", flat=True))
    assert kinds == {"search", "product_view", "cart"}
    visit.screenshot("06-cart")


def sign_up(visit):
    visit.click("#checkout-link")
    assert visit.path() == "/accounts/login/"
    visit.click("main a[href^='/accounts/signup/']")
    visit.fill({"username": f"reem-{visit.language}", "password1": PASSWORD, "password2": PASSWORD})
    visit.screenshot("07-sign-up")
    visit.click("#signup-form button[type=submit]")
    assert visit.path() == "/checkout/"
    # Signing in hands the visitor's events (and consents) over to the account.
    assert not BehavioralEvent.objects.filter(user=None).exists()


def check_out(visit):
    visit.fill({**visit.words["contact"], "phone": "0551234567", "email": "reem@example.sa"})
    visit.screenshot("08-checkout")
    visit.click("#checkout-form button[type=submit]")
    order = Order.objects.get()
    assert visit.path() == f"/orders/{order.pk}/"
    assert order.user.username == f"reem-{visit.language}" and order.full_name == visit.words["contact"]["full_name"]
    page = visit.find("#order").text
    assert visit.words["order"] in page and PRODUCT_NAMES[visit.language] in page
    assert visit.words["contact"]["full_name"] in page
    # Analytics was refused: the purchase is not recorded as behavior.
    assert not BehavioralEvent.objects.filter(kind="purchase").exists()
    visit.screenshot("09-order")


def see_the_account(visit):
    visit.click("a[href='/accounts/profile/']")
    assert visit.find("#account-orders") and visit.find("#account-preferences")
    visit.screenshot("10-account")


def look_on_a_phone(visit):
    visit.driver.set_window_size(390, 844)
    visit.open("/orders/")
    visit.screenshot("11-orders-phone")
    visit.click("a.brand")
    visit.screenshot("12-home-phone")
    visit.driver.set_window_size(1280, 900)


def download_my_data(visit):
    visit.click("a[href='/accounts/profile/']")
    visit.click("#account-my-data")
    assert visit.path() == reverse("privacy_kit:my_data")
    visit.screenshot("13-my-data")
    visit.find("form[data-form=export] [name=password]").send_keys(PASSWORD)
    visit.find("form[data-form=export] button[type=submit]").click()
    document = json.loads(downloaded(visit.downloads, ".json"))
    order = Order.objects.get()
    orders = next(section for section in document["records"] if section["model"] == "shop.Order")
    assert [(row["id"], row["full_name"], row["total"]) for row in orders["rows"]] == [
        (order.pk, visit.words["contact"]["full_name"], str(order.total))
    ]
    lines = next(section for section in document["records"] if section["model"] == "shop.OrderItem")
    assert [(row["order"], row["name_" + visit.language], row["quantity"]) for row in lines["rows"]] == [
        (order.pk, PRODUCT_NAMES[visit.language], 2)
    ]


def withdraw_personalization(visit):
    customer = visit.customer()
    assert BehavioralEvent.objects.filter(user=customer, purpose__slug="personalization").exists()
    visit.click("[data-purpose=personalization][data-action=withdraw]")
    assert visit.path() == reverse("privacy_kit:my_data")
    assert visit.find("[data-purpose-row=personalization]").get_attribute("data-state") == "not-granted"
    # The events go in a Celery task queued when the withdrawal commits (in-process in the tests).
    assert not BehavioralEvent.objects.filter(user=customer, purpose__slug="personalization").exists()
    visit.screenshot("14-my-data-personalization-withdrawn")


def delete_my_account(visit):
    customer = visit.customer()
    order = Order.objects.get(user=customer)
    kept = {name: getattr(order, name) for name in ("subtotal", "shipping", "total", "created_at")}
    visit.find("form[data-form=delete] [name=password]").send_keys(PASSWORD)
    visit.find("form[data-form=delete] [name=confirm]").click()
    visit.click("form[data-form=delete] button[type=submit]")
    assert visit.path() == reverse("privacy_kit:account_deleted")
    assert visit.find("html").get_attribute("lang") == visit.language
    visit.screenshot("15-account-deleted")

    customer.refresh_from_db()
    assert not customer.is_active
    order.refresh_from_db()
    assert (order.user, order.full_name, order.address, order.city, order.phone, order.email) == (
        None, "", "", "", "", ""
    )
    assert {name: getattr(order, name) for name in kept} == kept
    assert order.items.get().quantity == 2  # the order's lines stay with it, for the accounts


JOURNEY = [
    open_the_shop,
    reject_all,
    search_is_not_remembered,
    allow_personalization,
    search_is_remembered,
    add_to_cart,
    sign_up,
    check_out,
    see_the_account,
    look_on_a_phone,
    download_my_data,
    withdraw_personalization,
    delete_my_account,
]


@pytest.mark.parametrize("language", ["en", "ar"])
def test_customer_journey(live_server, browser, shop, language, tmp_path):
    allow_downloads(browser, tmp_path / "downloads")
    visit = Visit(browser, live_server.url, language, tmp_path / "downloads")
    for step in JOURNEY:
        step(visit)

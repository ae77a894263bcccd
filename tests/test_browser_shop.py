"""A customer's journey through the demo shop in headless Chromium, in English and in Arabic.

Each step is a function that does what the customer does and checks what the
shop shows and what it stored; ``test_customer_journey`` runs them in order.
Screenshots of the main pages go to bench/screenshots/ (git-ignored) for a
person to look at.
"""

import base64
import importlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from example_shop.shop.models import Order
from privacy_kit.models import BehavioralEvent

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "bench" / "screenshots"
QUIET_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--window-size=1280,900",
]
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

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium: run `make browser`"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def shop(settings):
    """The demo shop as example_shop's settings run it: purposes, policy, catalog, translations, layout, CSS."""
    importlib.import_module("example_shop.shop.migrations.0002_purposes_and_policy").publish(apps, None)
    call_command("seed_shop", stdout=io.StringIO())
    settings.LOCALE_PATHS = [ROOT / "example_shop" / "locale"]
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [ROOT / "example_shop" / "templates"]}]
    # The live server serves STATIC_URL from STATIC_ROOT when staticfiles is not installed.
    settings.STATIC_ROOT = ROOT / "example_shop" / "shop" / "static"


@pytest.fixture
def browser(tmp_path):
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in [*QUIET_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


@dataclass
class Visit:
    """One customer's browser on the shop, in one language."""

    driver: webdriver.Chrome
    base_url: str
    language: str

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
        # A mark on the old page's window: the next page's window comes without it.
        self.driver.execute_script("window.beforeClick = true")
        self.find(css).click()
        # While the page changes, the browser may answer with a transient error: ask again.
        wait = WebDriverWait(self.driver, 10, ignored_exceptions=[WebDriverException])
        wait.until(lambda d: d.execute_script("return !window.beforeClick && document.readyState == 'complete'"))

    def fill(self, values):
        for name, value in values.items():
            field = self.find(f"[name={name}]")
            field.clear()
            field.send_keys(value)

    def path(self):
        return self.driver.execute_script("return location.pathname")

    def screenshot(self, name):
        """Save a PNG of the whole page, below the fold too, to bench/screenshots/."""
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics["cssContentSize"]
        if size["height"] <= metrics["cssLayoutViewport"]["clientHeight"]:
            # Chromium shifts a right-to-left page that fits the window when asked for "beyond the viewport".
            png = self.driver.get_screenshot_as_png()
        else:
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
            capture = {"captureBeyondViewport": True, "clip": clip}
            png = base64.b64decode(self.driver.execute_cdp_cmd("Page.captureScreenshot", capture)["data"])
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"shop-{self.language}-{name}.png").write_bytes(png)


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
    visit.fill({"username": f"reem-{visit.language}", "password1": "a-Long-passw0rd!", "password2": "a-Long-passw0rd!"})
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
]


@pytest.mark.parametrize("language", ["en", "ar"])
def test_customer_journey(live_server, browser, shop, language):
    visit = Visit(browser, live_server.url, language)
    for step in JOURNEY:
        step(visit)

"""The demo shop in headless Chromium: consent comes before any search is remembered.

Screenshots go to bench/screenshots/ (git-ignored) for a person to look at.
"""

import base64
import importlib
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from privacy_kit.models import BehavioralEvent

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "bench" / "screenshots"
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
WITHDRAW_PERSONALIZATION = "[data-purpose=personalization][data-action=withdraw]"

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium: run `make browser`"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def demo_privacy_setup():
    """Publish the demo's purposes and privacy policy, as its data migration does."""
    migration = importlib.import_module("example_shop.shop.migrations.0002_purposes_and_policy")
    migration.publish(apps, None)
    call_command("seed_shop", verbosity=0)


@pytest.fixture
def browser(tmp_path):
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in [*QUIET_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def screenshot(driver, name):
    """Save a PNG of the whole page, below the fold too, to bench/screenshots/."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    image = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / name).write_bytes(base64.b64decode(image["data"]))


def click_and_wait(driver, element):
    """Click a link or submit button and wait until the next page has loaded."""
    # A mark on the old page's window: the next page's window comes without it.
    driver.execute_script("window.beforeClick = true")
    element.click()
    # While the page changes, the browser may answer with a transient error: ask again.
    wait = WebDriverWait(driver, 10, ignored_exceptions=[WebDriverException])
    wait.until(lambda driver: driver.execute_script("return !window.beforeClick && document.readyState == 'complete'"))


def search(driver, words):
    field = driver.find_element(By.ID, "search-q")
    field.clear()
    field.send_keys(words)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.search button[type=submit]"))
    return driver.find_element(By.ID, "search-note")


def test_searches_are_remembered_only_while_personalization_is_allowed(live_server, browser, demo_privacy_setup):
    browser.get(live_server.url + "/")
    assert browser.find_element(By.ID, "privacy-banner").is_displayed()
    screenshot(browser, "home-en-consent-banner.png")

    note = search(browser, "coffee")
    assert "Arabic coffee, cardamom blend" in browser.find_element(By.ID, "search-results").text
    assert note.get_attribute("data-remembered") == "no"
    assert not BehavioralEvent.objects.exists()

    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Home"))
    accept_all = browser.find_element(By.CSS_SELECTOR, "#privacy-banner button[name=choice][value=accept_all]")
    click_and_wait(browser, accept_all)
    assert not browser.find_elements(By.ID, "privacy-banner")

    note = search(browser, "dates")
    assert note.get_attribute("data-remembered") == "yes"
    event = BehavioralEvent.objects.get()
    assert (event.kind, event.purpose.slug, event.data) == ("search", "personalization", {"q": "dates"})
    screenshot(browser, "home-en-search-remembered.png")

    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Privacy preferences"))
    screenshot(browser, "preferences-en-all-allowed.png")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, WITHDRAW_PERSONALIZATION))
    assert not BehavioralEvent.objects.exists()
    row = browser.find_element(By.CSS_SELECTOR, "[data-purpose-row=personalization]")
    assert row.get_attribute("data-state") == "withdrawn"
    assert row.find_elements(By.CSS_SELECTOR, "[data-purpose=personalization][data-action=grant]")
    assert not browser.find_elements(By.CSS_SELECTOR, WITHDRAW_PERSONALIZATION)
    screenshot(browser, "preferences-en-personalization-withdrawn.png")

    browser.get(live_server.url + "/")
    note = search(browser, "dates")
    assert note.get_attribute("data-remembered") == "no"
    assert not BehavioralEvent.objects.exists()


def test_the_shop_in_arabic_is_right_to_left(live_server, browser, demo_privacy_setup):
    browser.get(live_server.url + "/")
    browser.add_cookie({"name": settings.LANGUAGE_COOKIE_NAME, "value": "ar"})
    browser.get(live_server.url + "/")
    html = browser.find_element(By.TAG_NAME, "html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("ar", "rtl")
    assert browser.find_element(By.ID, "privacy-banner").is_displayed()
    screenshot(browser, "home-ar-rtl.png")

    browser.get(live_server.url + reverse("privacy_kit:policy"))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("dir") == "rtl"
    assert "متجر تجريبي" in browser.find_element(By.TAG_NAME, "article").text
    screenshot(browser, "policy-ar-rtl.png")

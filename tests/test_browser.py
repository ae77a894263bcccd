"""The demo shop in headless Chromium: consent comes before any search is remembered.

Screenshots go to bench/screenshots/ (git-ignored) for a person to look at.
"""

import importlib

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from selenium.webdriver.common.by import By

from privacy_kit.models import BehavioralEvent
from tests.browser import click_and_wait, needs_chromium, screenshot

WITHDRAW_PERSONALIZATION = "[data-purpose=personalization][data-action=withdraw]"

pytestmark = [needs_chromium, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_privacy_setup():
    """Publish the demo's purposes and privacy policy, as its data migration does."""
    migration = importlib.import_module("example_shop.shop.migrations.0002_purposes_and_policy")
    migration.publish(apps, None)
    call_command("seed_shop", verbosity=0)


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

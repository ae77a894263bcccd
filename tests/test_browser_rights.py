"""The my-data page in headless Chromium: download my data, then delete my account."""

import json

import pytest
from django.conf import settings
from django.test import Client
from selenium.webdriver.common.by import By

from privacy_kit.models import ErasureRecord
from tests.browser import allow_downloads, click_and_wait, downloaded, needs_chromium, screenshot
from tests.test_rights import PASSWORD, customer_with_history, policy, shop_registry  # noqa: F401 (fixtures)
from tests.testapp.models import Order

pytestmark = [needs_chromium, pytest.mark.django_db(transaction=True)]


def log_in(driver, live_server, user):
    """Give the browser the session cookie of a logged-in user."""
    client = Client()
    client.force_login(user)
    driver.get(f"{live_server.url}/privacy/policy/")
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    driver.add_cookie({"name": settings.SESSION_COOKIE_NAME, "value": session})


def submit(driver, form, password, *, tick=False):
    section = driver.find_element(By.CSS_SELECTOR, f"form[data-form={form}]")
    section.find_element(By.NAME, "password").send_keys(password)
    if tick:
        section.find_element(By.NAME, "confirm").click()
    return section.find_element(By.CSS_SELECTOR, "button[type=submit]")


def test_download_my_data_then_delete_my_account(
    browser, live_server, django_user_model, policy, shop_registry, tmp_path  # noqa: F811 (fixtures imported above)
):
    layla = customer_with_history(django_user_model, "layla")
    customer_with_history(django_user_model, "omar")
    folder = tmp_path / "downloads"
    allow_downloads(browser, folder)
    log_in(browser, live_server, layla)

    browser.get(f"{live_server.url}/privacy/my-data/")
    assert "2 entries in" in browser.find_element(By.ID, "holdings").text
    screenshot(browser, "rights-my-data.png")

    submit(browser, "export", PASSWORD).click()
    document = json.loads(downloaded(folder, ".json"))
    orders = next(entry for entry in document["records"] if entry["model"] == "testapp.Order")
    assert {row["full_name"] for row in orders["rows"]} == {"Layla Q."}
    assert "omar" not in json.dumps(document)

    totals = sorted(Order.objects.filter(customer=layla).values_list("total", flat=True))
    click_and_wait(browser, submit(browser, "delete", PASSWORD, tick=True))
    assert "/privacy/my-data/deleted/" in browser.current_url
    screenshot(browser, "rights-account-deleted.png")

    layla.refresh_from_db()
    assert not layla.is_active
    assert ErasureRecord.objects.get().status == ErasureRecord.Status.DONE
    orders = Order.objects.filter(customer=layla)
    assert {order.full_name for order in orders} == {""}
    assert sorted(orders.values_list("total", flat=True)) == totals
    # Logged out: the page now asks for a login.
    browser.get(f"{live_server.url}/privacy/my-data/")
    assert browser.current_url.startswith(f"{live_server.url}{settings.LOGIN_URL}")

"""The staff journey through the two-factor admin in headless Chromium.

Password, authenticator set-up with a code computed from the secret on the page,
backup codes shown and downloaded, a customer opened (an access log row), logout,
login with a backup code, then five wrong codes and a lockout.
Screenshots go to bench/screenshots/ (git-ignored).
"""

import base64

import pytest
from django.contrib.auth.models import Permission
from django_otp.oath import totp
from selenium.webdriver.common.by import By

from example_shop.shop.models import Customer
from privacy_kit.models import AccessLog, SecurityEvent
from tests.browser import allow_downloads, click_and_wait, downloaded, needs_chromium, screenshot

pytestmark = [needs_chromium, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"
CUSTOMER_NAME = "Reem Al-Saud"


@pytest.fixture
def clerk(django_user_model):
    """A staff user who may look at customers, with no two-factor device yet."""
    user = django_user_model.objects.create_user("clerk", password=PASSWORD, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_customer", "change_customer"]))
    return user


def log_in(driver, live_server, code=""):
    driver.get(f"{live_server.url}/admin/login/?next=/admin/")
    driver.find_element(By.NAME, "username").send_keys("clerk")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.NAME, "otp_token").send_keys(code)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "#login-form input[type=submit]"))


def log_out(driver):
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "#logout-form button[type=submit]"))
    assert "Logged out" in driver.find_element(By.TAG_NAME, "body").text


def test_the_staff_journey_through_two_factor_authentication(browser, live_server, clerk, tmp_path):
    customer = Customer.objects.create(name=CUSTOMER_NAME, email="reem@example.sa", phone="+966 55 000 1111")
    folder = tmp_path / "downloads"
    allow_downloads(browser, folder)

    # The password alone leads to the set-up of an authenticator app.
    log_in(browser, live_server)
    assert "/admin/two-factor/setup/" in browser.current_url
    assert browser.find_element(By.CSS_SELECTOR, ".privacy-kit-qr-code svg").is_displayed()
    screenshot(browser, "admin-2fa-setup.png")
    key = base64.b32decode(browser.find_element(By.CSS_SELECTOR, ".privacy-kit-secret").text)
    browser.find_element(By.NAME, "otp_token").send_keys(f"{totp(key):06d}")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "#content-main input[type=submit]"))

    # Ten backup codes, shown once and downloadable; one is kept.
    codes = [element.text for element in browser.find_elements(By.CSS_SELECTOR, ".privacy-kit-backup-codes code")]
    assert len(codes) == 10
    screenshot(browser, "admin-2fa-backup-codes.png")
    browser.find_element(By.CSS_SELECTOR, "a.privacy-kit-backup-codes-download").click()
    assert set(codes) <= set(downloaded(folder, ".txt").splitlines())
    kept = codes[4]
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "I have saved them: continue"))
    assert browser.find_element(By.ID, "site-name").is_displayed()  # the admin index
    screenshot(browser, "admin-2fa-index.png")

    # A customer opened: the list masks, the record shows and is logged.
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "a[href='/admin/shop/customer/']"))
    assert CUSTOMER_NAME not in browser.find_element(By.ID, "changelist").text
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, f"customer #{customer.pk}"))
    assert browser.find_element(By.NAME, "name").get_attribute("value") == CUSTOMER_NAME
    screenshot(browser, "admin-2fa-customer-opened.png")
    entry = AccessLog.objects.get()
    assert (entry.actor, entry.object_id, entry.ip) == (clerk, str(customer.pk), "127.0.0.1")
    log_out(browser)

    # Back with the password and the kept backup code.
    log_in(browser, live_server, code=kept)
    assert browser.current_url == f"{live_server.url}/admin/"
    screenshot(browser, "admin-2fa-backup-code-login.png")
    log_out(browser)

    # Five wrong codes: locked out.
    for attempt in range(5):
        log_in(browser, live_server, code=f"{(totp(key) + 1 + attempt) % 10**6:06d}")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Account locked" in body
    screenshot(browser, "admin-2fa-locked-out.png")
    lockout = SecurityEvent.objects.get(kind="lockout")
    assert lockout.user == clerk
    assert SecurityEvent.objects.filter(kind="failed_otp", user=clerk).count() == 5

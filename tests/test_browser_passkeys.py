"""Passkeys in headless Chromium, with the virtual authenticators of the DevTools ``WebAuthn`` domain.

A staff user verified by their authenticator app adds a passkey (user verification on),
logs out, logs in with the password and the passkey and reaches the admin. A second
authenticator, whose passkey for this site was never registered, is refused; a
cancelled passkey is refused; both are counted like wrong codes. Then the passkey is
removed. Screenshots go to bench/screenshots/ (git-ignored).
"""

import base64
import os

import pytest
from axes.models import AccessAttempt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential
from selenium.webdriver.common.by import By

from privacy_kit.models import SecurityEvent
from privacy_kit.two_factor.backup_codes import replace_backup_codes
from tests.browser import click_and_wait, needs_chromium, screenshot

pytestmark = [needs_chromium, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def clerk(django_user_model):
    """A staff user with an authenticator app."""
    user = django_user_model.objects.create_user("clerk", password=PASSWORD, is_staff=True)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


@pytest.fixture
def backup_code(clerk):
    return replace_backup_codes(clerk)[0]


@pytest.fixture
def passkey_origin(live_server, settings):
    """The passkeys' origin is the live server's: localhost, on the port it got."""
    assert live_server.url.startswith("http://localhost:")
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    return live_server.url


def add_authenticator(browser):
    """Plug a virtual platform authenticator into the browser that verifies its user; return its id."""
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
    }
    return browser.execute_cdp_cmd("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]


def current_code(user):
    device = TOTPDevice.objects.get(user=user)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def fill_password(browser, live_server):
    browser.get(f"{live_server.url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys("clerk")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)


def log_in_with_code(browser, live_server, code):
    fill_password(browser, live_server)
    browser.find_element(By.NAME, "otp_token").send_keys(code)
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "#login-form input[type=submit]"))


def log_in_with_passkey(browser, live_server):
    fill_password(browser, live_server)
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "[data-passkey-login]"))


def log_out(browser):
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "#logout-form button[type=submit]"))


def failures():
    return sum(AccessAttempt.objects.filter(username="clerk").values_list("failures_since_start", flat=True))


def test_a_passkey_is_added_used_after_the_password_and_removed(
    browser, live_server, clerk, backup_code, passkey_origin
):
    browser.execute_cdp_cmd("WebAuthn.enable", {"enableUI": False})
    laptop = add_authenticator(browser)

    # Verified by the authenticator app, the clerk adds a passkey from the two-factor pages.
    log_in_with_code(browser, live_server, current_code(clerk))
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Your passkeys"))
    browser.find_element(By.NAME, "name").send_keys("Work laptop")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "#passkey-add-form input[type=submit]"))
    assert "Work laptop" in browser.find_element(By.ID, "passkey-list").text
    screenshot(browser, "admin-passkeys.png")
    passkey = WebAuthnCredential.objects.get(user=clerk)
    assert passkey.name == "Work laptop" and passkey.discoverable
    assert SecurityEvent.objects.filter(kind="device_added", user=clerk, detail__contains="WebAuthn").count() == 1
    [made] = browser.execute_cdp_cmd("WebAuthn.getCredentials", {"authenticatorId": laptop})["credentials"]
    assert made["isResidentCredential"] and made["rpId"] == "localhost"
    log_out(browser)

    # Password, then the passkey: the admin, verified by the passkey.
    log_in_with_passkey(browser, live_server)
    assert browser.current_url == f"{live_server.url}/admin/"
    assert browser.find_element(By.ID, "site-name").is_displayed()
    session = browser.get_cookie("sessionid")["value"]
    from django.contrib.sessions.backends.db import SessionStore

    assert SessionStore(session_key=session)[DEVICE_ID_SESSION_KEY] == passkey.persistent_id
    log_out(browser)

    # Another authenticator, with a passkey for this site that was never registered here: refused, counted.
    browser.execute_cdp_cmd("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": laptop})
    stranger = add_authenticator(browser)
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    credential = {
        "credentialId": base64.b64encode(os.urandom(32)).decode(),
        "isResidentCredential": True,
        "rpId": "localhost",
        "privateKey": base64.b64encode(key).decode(),
        "userHandle": base64.b64encode(os.urandom(16)).decode(),
        "signCount": 0,
    }
    browser.execute_cdp_cmd("WebAuthn.addCredential", {"authenticatorId": stranger, "credential": credential})
    log_in_with_passkey(browser, live_server)
    assert "/admin/login/" in browser.current_url
    assert "That passkey was not accepted" in browser.find_element(By.ID, "content").text
    screenshot(browser, "admin-passkey-refused.png")
    assert failures() == 1
    assert SecurityEvent.objects.filter(kind="failed_otp", user=clerk).count() == 1

    # The person at the device says no (user verification fails): the browser gives no passkey.
    browser.execute_cdp_cmd("WebAuthn.setUserVerified", {"authenticatorId": stranger, "isUserVerified": False})
    log_in_with_passkey(browser, live_server)
    assert "/admin/login/" in browser.current_url
    assert failures() == 2
    assert SecurityEvent.objects.filter(kind="failed_otp", user=clerk).count() == 2

    # With a backup code (the app's code of this half-minute is used up), the clerk removes the passkey.
    log_in_with_code(browser, live_server, backup_code)
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Your passkeys"))
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "#passkey-list input.deletelink"))
    assert "Passkey removed." in browser.find_element(By.TAG_NAME, "body").text
    assert not WebAuthnCredential.objects.exists()
    assert SecurityEvent.objects.filter(kind="device_removed", user=clerk, detail__contains="WebAuthn").count() == 1

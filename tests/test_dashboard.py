"""The privacy dashboard of the admin index: who sees it, what it shows, and its queries.

It is for superusers and for staff with ``privacy_kit.view_privacy_dashboard``;
any other staff user sees the index without it and is refused its page, whatever
the method. It costs the same number of queries with one row of each kind as
with many.
"""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from privacy_kit import keys
from privacy_kit.dashboard import ROWS, dashboard_context
from privacy_kit.models import Breach, DataRequest, PurgeRun, SecurityEvent, SubjectKey
from tests.settings import TEST_KEY_OLD, TEST_KEY_PRIMARY
from tests.two_factor import verify

pytestmark = pytest.mark.django_db
INDEX = "/admin/"
PAGE = "/admin/privacy-dashboard/"
HOUR = datetime.timedelta(hours=1)
PASSWORD = "correct horse battery staple"
CONTACT_EMAIL = "noura@shop.example"
HTTP_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


@pytest.fixture
def clerk(django_user_model):
    """Staff who may look at the admin, without the dashboard's permission."""
    return django_user_model.objects.create_user("clerk", password=PASSWORD, is_staff=True)


@pytest.fixture
def officer(django_user_model):
    """The shop's privacy officer: staff with the dashboard's permission and nothing else."""
    user = django_user_model.objects.create_user("officer", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_privacy_dashboard"))
    return user


def breach(aware_at, **fields) -> Breach:
    return Breach.objects.create(title="Orders exported", nature="n", detected_at=aware_at, aware_at=aware_at, **fields)


def load(size: int) -> None:
    """Write ``size`` rows of each kind the dashboard reads: breaches, purge runs, events, subject keys."""
    now = timezone.now()
    for number in range(size):
        breach(now - (number % 80) * HOUR, contact_email=CONTACT_EMAIL)
    PurgeRun.objects.bulk_create(
        PurgeRun(
            policy=f"shop.Model{number % 5}",
            status=PurgeRun.Status.FAILED if number % 3 == 0 else PurgeRun.Status.DONE,
            error="database went away" if number % 3 == 0 else "",
            started_at=now - number * HOUR,
        )
        for number in range(size)
    )
    kinds = list(SecurityEvent.Kind)
    SecurityEvent.objects.bulk_create(SecurityEvent(kind=kinds[number % len(kinds)]) for number in range(size))
    keys.keys_for(range(1, size + 1), create=True)
    user = get_user_model().objects.get_or_create(username="requester")[0]
    DataRequest.objects.bulk_create(
        DataRequest(
            subject=user,
            kind=DataRequest.Kind.ACCESS,
            channel=DataRequest.Channel.MAIL,
            received_at=now - number * HOUR,
            due_at=now - number * HOUR + datetime.timedelta(days=30),
        )
        for number in range(size)
    )


def dashboard_html(response) -> str:
    content = response.content.decode()
    start = content.find('id="privacy-dashboard"')
    return content[start : content.find('id="two-factor-module"', start)] if start >= 0 else ""


# -- who sees it ----------------------------------------------------------------------


def test_a_superuser_sees_the_dashboard_in_the_index(verified_admin_client):
    response = verified_admin_client.get(INDEX)

    assert response.status_code == 200
    assert "Privacy dashboard" in dashboard_html(response)


def test_staff_with_the_permission_see_the_dashboard_and_its_page(client, officer):
    verify(client, officer)

    assert "Privacy dashboard" in dashboard_html(client.get(INDEX))
    page = client.get(PAGE)
    assert page.status_code == 200 and 'id="privacy-dashboard"' in page.content.decode()


def test_staff_without_the_permission_see_no_dashboard_and_are_refused_its_page(client, clerk):
    breach(timezone.now(), contact_email=CONTACT_EMAIL)
    verify(client, clerk)

    index = client.get(INDEX)
    assert index.status_code == 200
    assert 'id="privacy-dashboard"' not in index.content.decode()
    for method in ["GET", "HEAD", *HTTP_METHODS]:
        response = client.generic(method, PAGE)
        assert response.status_code == 403, method
        assert b"privacy-dashboard" not in response.content


def test_the_dashboard_page_is_read_only_even_for_a_superuser(verified_admin_client):
    for method in HTTP_METHODS:
        assert verified_admin_client.generic(method, PAGE).status_code == 405, method


def test_staff_not_verified_by_a_second_factor_are_sent_to_log_in(client, officer):
    client.force_login(officer)

    response = client.get(PAGE)

    assert response.status_code == 302 and response.url.startswith("/admin/login/")


def test_anonymous_visitors_and_customers_are_sent_to_log_in(client, django_user_model):
    assert client.get(PAGE).url.startswith("/admin/login/")
    client.force_login(django_user_model.objects.create_user("customer", password=PASSWORD))
    assert client.get(PAGE).url.startswith("/admin/login/")


def test_an_inactive_officer_is_refused(client, officer):
    verify(client, officer)
    officer.is_active = False
    officer.save()

    assert client.get(PAGE).status_code == 302


# -- what it shows --------------------------------------------------------------------


def test_breaches_are_listed_by_their_clocks_soonest_first(verified_admin_client):
    now = timezone.now()
    late = breach(now - 75 * HOUR)
    soon = breach(now - 70 * HOUR)
    breach(now - 80 * HOUR, notified_authority_at=now - 10 * HOUR, status=Breach.Status.NOTIFIED)
    closed = breach(now - 90 * HOUR, status=Breach.Status.CLOSED)

    rows = dashboard_context(now)["breaches"].rows

    assert [(row.record.pk, row.overdue, row.time_left) for row in rows] == [
        (late.pk, True, "3 hours"),
        (soon.pk, False, "2 hours"),
    ]
    html = dashboard_html(verified_admin_client.get(INDEX))
    assert f'data-breach="{late.pk}"' in html and "overdue by 3 hours" in html
    assert "2 hours left" in html
    assert f'data-breach="{closed.pk}"' not in html


def test_open_requests_are_listed_by_due_date_with_the_days_left(verified_admin_client, django_user_model):
    from privacy_kit.requests import extend, open_request, refuse

    layla = django_user_model.objects.create_user("layla", email="layla@example.sa")
    now = timezone.now()

    def request_of(kind, days_ago):
        received = now - datetime.timedelta(days=days_ago)
        return open_request(layla, kind=kind, channel=DataRequest.Channel.MAIL, received_at=received)

    late = request_of(DataRequest.Kind.ERASURE, 32)
    soon = request_of(DataRequest.Kind.ACCESS, 27)
    extended = request_of(DataRequest.Kind.COPY, 28)
    extend(extended, until=extended.due_at + datetime.timedelta(days=20), reason="archive")
    refuse(request_of(DataRequest.Kind.OBJECTION, 29), reason=DataRequest.RefusalReason.values[0])

    rows = dashboard_context(now)["requests"].rows

    assert [(row.record.pk, row.overdue, row.time_left) for row in rows] == [
        (late.pk, True, "2 days"),
        (soon.pk, False, "3 days"),
        (extended.pk, False, "22 days"),
    ]
    html = dashboard_html(verified_admin_client.get(INDEX))
    assert f'data-request="{late.pk}"' in html and "overdue by 2 days" in html and "3 days left" in html
    assert "layla" not in html


def test_a_long_list_stops_at_its_rows_and_says_how_many_more(verified_admin_client):
    now = timezone.now()
    for number in range(ROWS + 5):
        breach(now - number * HOUR)

    section = dashboard_context(now)["breaches"]

    assert (len(section.rows), section.total, section.more) == (ROWS, ROWS + 5, 5)
    assert "and 5 more" in dashboard_html(verified_admin_client.get(INDEX))


def test_the_last_run_of_each_policy_and_the_failures_of_the_week(verified_admin_client):
    now = timezone.now()
    PurgeRun.objects.create(policy="shop.Order", status="failed", error="lock timeout", started_at=now - 3 * HOUR)
    last = PurgeRun.objects.create(policy="shop.Order", status="done", deleted=12, started_at=now - HOUR)
    PurgeRun.objects.create(policy="shop.Cart", status="failed", error="old", started_at=now - 10 * 24 * HOUR)

    policies = {row.policy: row for row in dashboard_context(now)["policies"]}

    assert policies["shop.Order"].last_run == last and policies["shop.Order"].failures == 1
    assert policies["shop.Cart"].failures == 0  # failed ten days ago
    # A registered policy that never ran says so.
    assert policies["privacy_kit.AccessLog"].last_run is None
    html = dashboard_html(verified_admin_client.get(INDEX))
    assert "lock timeout" in html and "Never run." in html


def test_security_events_of_the_week_by_kind(verified_admin_client):
    for _ in range(3):
        SecurityEvent.objects.create(kind=SecurityEvent.Kind.FAILED_LOGIN)
    SecurityEvent.objects.create(kind=SecurityEvent.Kind.LOCKOUT)
    SecurityEvent.objects.create(kind=SecurityEvent.Kind.EXPORT, created_at=timezone.now() - 8 * 24 * HOUR)

    counts = [(entry["kind"], entry["count"]) for entry in dashboard_context()["security_events"]]

    assert counts == [("failed_login", 3), ("lockout", 1)]
    html = dashboard_html(verified_admin_client.get(INDEX))
    assert 'data-kind="failed_login"' in html and 'data-kind="export"' not in html


def test_the_keys_in_use_by_id_and_the_last_rotation(verified_admin_client, settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "ENCRYPTION_KEYS": [TEST_KEY_PRIMARY, TEST_KEY_OLD]}
    keys.keys_for([1, 2], create=True)
    keys.destroy(2)
    SecurityEvent.objects.create(kind=SecurityEvent.Kind.KEY_ROTATION, detail="12 values under old keys re-encrypted")

    section = dashboard_context()["keys"]

    primary, old = (keys_id(TEST_KEY_PRIMARY), keys_id(TEST_KEY_OLD))
    assert (section.primary, section.older) == (primary, [old])
    [entry] = section.subject_keys
    assert (entry["live"], entry["destroyed"], entry["current"]) == (1, 1, True)
    assert section.last_rotation["detail"] == "12 values under old keys re-encrypted"
    html = dashboard_html(verified_admin_client.get(INDEX))
    assert primary in html and old in html and "12 values under old keys re-encrypted" in html
    for key in (TEST_KEY_PRIMARY, TEST_KEY_OLD):
        assert key not in verified_admin_client.get(INDEX).content.decode()


def keys_id(text: str) -> str:
    from privacy_kit import crypto

    return crypto.key_id(crypto.decode_key(text)).hex()


def test_the_dashboard_shows_no_contact_details_of_a_breach(verified_admin_client):
    breach(timezone.now() - 70 * HOUR, contact_email=CONTACT_EMAIL, contact_name="Noura Al-Harbi")

    html = dashboard_html(verified_admin_client.get(INDEX))

    assert CONTACT_EMAIL not in html and "Noura" not in html


def test_the_dashboard_in_arabic(verified_admin_client):
    breach(timezone.now() - 70 * HOUR)

    response = verified_admin_client.get(INDEX, HTTP_ACCEPT_LANGUAGE="ar")

    html = dashboard_html(response)
    assert 'dir="rtl"' in response.content.decode()
    assert "لوحة الخصوصية" in html and "ساعتان" in html


# -- queries ------------------------------------------------------------------------


# The session, the user and the device; the admin's recent actions; the dashboard's
# sections (breaches, two for the purges, purge failures, security events, subject keys,
# the last rotation, the requests); the permissions of staff.
SUPERUSER_QUERIES = 3 + 1 + 8


def index_queries(client, django_assert_max_num_queries, limit: int) -> int:
    with django_assert_max_num_queries(limit) as captured:
        assert client.get(INDEX).status_code == 200
    return len(captured)


@pytest.mark.parametrize("who", ["superuser", "officer"])
def test_the_index_costs_the_same_queries_with_one_row_of_each_kind_and_with_many(
    client, admin_user, officer, django_assert_max_num_queries, who
):
    verify(client, admin_user if who == "superuser" else officer)
    limit = SUPERUSER_QUERIES + (2 if who == "officer" else 0)
    load(1)
    few = index_queries(client, django_assert_max_num_queries, limit)
    load(300)
    many = index_queries(client, django_assert_max_num_queries, limit)

    assert few == many
    assert SubjectKey.objects.count() == 300 and Breach.objects.count() == DataRequest.objects.count() == 301


# -- in Chromium, in English and in Arabic (PostgreSQL runs) ------------------------------


@pytest.fixture
def officer_with_phone(officer):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return officer, TOTPDevice.objects.create(user=officer, name="phone", confirmed=True)


def browse_dashboard(driver, live_server, officer_with_phone, language: str) -> None:
    from django.conf import settings
    from django_otp.oath import totp
    from selenium.webdriver.common.by import By

    from tests.browser import click_and_wait

    officer, phone = officer_with_phone
    driver.get(f"{live_server.url}/admin/login/?next=/admin/")
    driver.add_cookie({"name": settings.LANGUAGE_COOKIE_NAME, "value": language})
    driver.get(f"{live_server.url}/admin/login/?next=/admin/")
    driver.find_element(By.NAME, "username").send_keys(officer.username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.NAME, "otp_token").send_keys(f"{totp(phone.bin_key):06d}")
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "#login-form input[type=submit]"))


def dashboard_rows() -> tuple[Breach, Breach]:
    now = timezone.now()
    late = breach(now - 75 * HOUR)
    soon = breach(now - 70 * HOUR)
    PurgeRun.objects.create(policy="shop.Order", status="failed", error="lock timeout", started_at=now - HOUR)
    for _ in range(2):
        SecurityEvent.objects.create(kind=SecurityEvent.Kind.LOCKOUT)
    from privacy_kit.requests import open_request

    customer = get_user_model().objects.create_user("layla", email="layla@example.sa")
    received = now - datetime.timedelta(days=25)
    open_request(customer, kind=DataRequest.Kind.ERASURE, channel=DataRequest.Channel.MAIL, received_at=received)
    return late, soon


def _needs_chromium(test):
    from tests.browser import needs_chromium

    return needs_chromium(pytest.mark.django_db(transaction=True)(test))


@_needs_chromium
def test_the_dashboard_in_chromium_in_english(browser, live_server, officer_with_phone):
    from selenium.webdriver.common.by import By

    from tests.browser import screenshot

    late, soon = dashboard_rows()
    browse_dashboard(browser, live_server, officer_with_phone, "en")

    dashboard = browser.find_element(By.ID, "privacy-dashboard")
    assert dashboard.is_displayed()
    text = dashboard.text
    assert "Privacy dashboard" in text
    breaches = browser.find_element(By.ID, "privacy-dashboard-breaches").text
    assert f"breach #{late.pk}" in breaches and "overdue by 3 hours" in breaches
    assert f"breach #{soon.pk}" in breaches and "2 hours left" in breaches
    assert "lock timeout" in browser.find_element(By.ID, "privacy-dashboard-purges").text
    requests = browser.find_element(By.ID, "privacy-dashboard-requests").text
    assert "erasure" in requests and "5 days left" in requests and "layla" not in requests
    assert "lockout" in browser.find_element(By.ID, "privacy-dashboard-security-events").text
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("dir") != "rtl"
    screenshot(browser, "admin-privacy-dashboard-en.png")


@_needs_chromium
def test_the_dashboard_in_chromium_in_arabic_is_right_to_left(browser, live_server, officer_with_phone):
    from selenium.webdriver.common.by import By

    from tests.browser import screenshot

    late, soon = dashboard_rows()
    browse_dashboard(browser, live_server, officer_with_phone, "ar")

    assert browser.find_element(By.TAG_NAME, "html").get_attribute("dir") == "rtl"
    dashboard = browser.find_element(By.ID, "privacy-dashboard")
    assert dashboard.is_displayed()
    assert "لوحة الخصوصية" in dashboard.text
    breaches = browser.find_element(By.ID, "privacy-dashboard-breaches").text
    assert f"#{late.pk}" in breaches and "متأخر 3 ساعات" in breaches
    assert f"#{soon.pk}" in breaches and "بقي 2 ساعتان" in breaches
    assert "5 أيام" in browser.find_element(By.ID, "privacy-dashboard-requests").text
    assert "قفل الدخول" in browser.find_element(By.ID, "privacy-dashboard-security-events").text
    # Right to left: the table's first column is on the right.
    title = browser.find_element(By.CSS_SELECTOR, "#privacy-dashboard-breaches th[scope=col]")
    due = browser.find_elements(By.CSS_SELECTOR, "#privacy-dashboard-breaches th[scope=col]")[1]
    assert title.location["x"] > due.location["x"]
    screenshot(browser, "admin-privacy-dashboard-ar.png")

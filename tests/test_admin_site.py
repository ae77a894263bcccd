"""The admin behind two-factor authentication: set-up, login, backup codes, lockout."""

import datetime
import os
import re
import subprocess
import sys
import time
from urllib.parse import unquote

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from axes.models import AccessLog as AxesAccessLog
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP, totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

import privacy_kit.admin
from example_shop.shop.models import Customer, Order, SavedAddress
from privacy_kit import tracking
from privacy_kit.admin import PrivacyAdminSite
from privacy_kit.consent import grant
from privacy_kit.models import (
    AccessLog,
    Breach,
    DataRequest,
    ErasureRecord,
    LegalHold,
    PolicyVersion,
    PurgeRun,
    Purpose,
    SecurityEvent,
)
from privacy_kit.two_factor.backup_codes import replace_backup_codes
from privacy_kit.two_factor.totp import totp_secret
from tests.runs import settings_only
from tests.settings import BASE_DIR
from tests.two_factor import verify

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN = "/admin/login/"
SETUP = "/admin/two-factor/setup/"
BACKUP_CODES = "/admin/two-factor/backup-codes/"
NEW_BACKUP_CODES = "/admin/two-factor/backup-codes/new/"
CUSTOMER_NAME = "Reem Al-Saud"


def current_code(device):
    """Return the code the user's authenticator app shows now."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def wrong_code(device):
    """Return a well-formed code that is not the current one."""
    return f"{(int(current_code(device)) + 1) % 10**device.digits:0{device.digits}d}"


def log_in(client, username="staff", password=PASSWORD, code=""):
    return client.post(LOGIN, {"username": username, "password": password, "otp_token": code, "next": "/admin/"})


def reaches_index(client):
    return client.get("/admin/").status_code == 200


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.sa", PASSWORD)


@pytest.fixture
def phone(staff):
    return TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)


@pytest.fixture
def backup_codes(staff):
    return replace_backup_codes(staff)


# The site


def test_privacy_kit_site_is_djangos_default_site_so_admin_register_lands_on_it():
    assert isinstance(admin.site, PrivacyAdminSite)
    assert privacy_kit.admin.site._registry is admin.site._registry
    assert Customer in privacy_kit.admin.site._registry  # registered by example_shop with @admin.register


# What a shop's process sees at start-up: each INSTALLED_APPS entry of the admin, in a fresh interpreter.
STARTED_SHOP = """
import sys
import django
from django.contrib import admin
django.setup()
import privacy_kit.admin
from example_shop.shop.models import Customer
from privacy_kit.admin import PersonalDataAdmin, UserAdmin
from privacy_kit.models import AccessLog, SecurityEvent
from django.contrib.auth.models import User
assert admin.site._registry is privacy_kit.admin.site._registry, "two sites"
assert isinstance(admin.site._registry[Customer], PersonalDataAdmin)
assert {AccessLog, SecurityEvent} <= set(admin.site._registry)
assert type(admin.site._registry[User]) is UserAdmin
print(type(admin.site._wrapped).__name__)
"""


def start_shop(tmp_path, admin_app):
    """Start django with tests/settings.py, the admin app given by ``admin_app``; return the run."""
    (tmp_path / "shop_settings.py").write_text(
        "from tests.settings import *\n"
        "INSTALLED_APPS = [name for name in INSTALLED_APPS if not name.endswith('PrivacyAdminConfig')]\n"
        f"INSTALLED_APPS.insert(0, {admin_app!r})\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "shop_settings", "PYTHONPATH": f"{tmp_path}:{BASE_DIR}"}
    return subprocess.run(
        [sys.executable, "-c", STARTED_SHOP], env=env, capture_output=True, text=True, timeout=120, cwd=BASE_DIR
    )


@settings_only
@pytest.mark.parametrize(
    "admin_app",
    ["privacy_kit.two_factor.apps.PrivacyAdminConfig", "privacy_kit.admin.apps.PrivacyAdminConfig"],
    ids=["entry", "entry-of-earlier-versions"],
)
def test_each_admin_entry_makes_one_site_with_privacy_kits_and_the_shops_model_admins(tmp_path, admin_app):
    run = start_shop(tmp_path, admin_app)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "PrivacyAdminSite"


@settings_only
def test_the_admin_entry_loads_without_the_model_admins():
    # Django imports it while INSTALLED_APPS is read; the ModelAdmins load with autodiscovery.
    code = "import sys, privacy_kit.two_factor.apps; print('privacy_kit.admin' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=BASE_DIR)
    assert run.stdout.strip() == "False", run.stderr


@pytest.fixture
def one_of_everything(staff):
    """At least one row of every model the admin shows, so that each change page has an object to open."""
    customer = Customer.objects.create(name=CUSTOMER_NAME, email="reem@example.sa", phone="+966 55 000 1111")
    contact = {"full_name": CUSTOMER_NAME, "address": "Olaya St", "city": "Riyadh", "phone": "0551234567"}
    order = Order.objects.create(user=staff, **contact, email="reem@example.sa", subtotal=10, shipping=25, total=35)
    order.items.create(name_en="Dates", name_ar="تمر", unit_price=10, quantity=1)
    SavedAddress.objects.create(user=staff, **contact, email="reem@example.sa")
    Purpose.objects.create(slug="analytics", name="Analytics")
    PolicyVersion.objects.create(
        version="1", language="en", text="t", effective_at=timezone.now() - datetime.timedelta(days=1)
    )
    grant(staff, ["analytics"], source="account")
    tracking.record(staff, "search", {"q": CUSTOMER_NAME}, purpose="analytics")
    LegalHold.objects.create(subject=staff, reason="audit")
    PurgeRun.objects.create(policy="shop.Customer", status="done")
    AccessLog.objects.create(actor=staff, model_label="shop.Customer", object_id=str(customer.pk), fields=["name"])
    SecurityEvent.objects.create(kind=SecurityEvent.Kind.FAILED_LOGIN)
    ErasureRecord.objects.create(subject_ref="x" * 22, reason="asked")
    Breach.objects.create(title="Orders exported", nature="A support account exported orders.")
    DataRequest.objects.create(subject=staff, kind="access", channel="mail")
    Group.objects.create(name="support")
    colleague = type(staff).objects.create_user("colleague", password=PASSWORD, is_staff=True)
    TOTPDevice.objects.create(user=colleague, name="phone", confirmed=True)
    replace_backup_codes(colleague)
    for model in (AccessAttempt, AccessFailureLog, AxesAccessLog):
        fields = {"user_agent": "test", "ip_address": "10.0.0.1", "username": "colleague", "http_accept": "*/*"}
        if model is AccessAttempt:
            fields.update(get_data="", post_data="", failures_since_start=1)
        model.objects.create(path_info=LOGIN, **fields)
    return customer


def every_admin_url():
    """Return every URL of the admin site that needs a verified user, filled with existing objects."""
    site = privacy_kit.admin.site
    urls = ["/admin/", "/admin/password_change/", "/admin/password_change/done/", "/admin/jsi18n/"]
    urls.append("/admin/privacy-dashboard/")
    urls.append("/admin/autocomplete/?app_label=auth&model_name=user&field_name=user")
    urls += sorted({f"/admin/{model._meta.app_label}/" for model in site._registry})
    for model, model_admin in site._registry.items():
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, f"no {model._meta.label} to open: add one to the fixture"
        prefix = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for pattern in model_admin.get_urls():
            urls.append(prefix + re.sub(r"<(?:\w+:)?\w+>", str(obj.pk), str(pattern.pattern)).strip("^$"))
        urls.append(f"/admin/r/{ContentType.objects.get_for_model(model).pk}/{obj.pk}/")
    return urls


# Every method: Django's views treat anything but POST like GET, so each must be refused.
HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


def assert_refused_everywhere(client):
    urls = every_admin_url()
    assert len(urls) > 60
    for url in urls:
        for method in HTTP_METHODS:
            form = "post=yes&name=changed"
            response = client.generic(method, url, form, content_type="application/x-www-form-urlencoded")
            assert response.status_code in (302, 403), (method, url)
            if response.status_code == 302:
                assert response.url.startswith((LOGIN, SETUP)), (method, url, response.url)
            assert CUSTOMER_NAME not in response.content.decode(), (method, url)


def test_staff_with_only_a_password_reaches_no_admin_page(client, staff, one_of_everything):
    assert log_in(client).status_code == 302
    assert_refused_everywhere(client)


def test_staff_with_a_device_logged_in_without_the_code_reaches_no_admin_page(client, staff, phone, one_of_everything):
    client.force_login(staff)  # as if the password had passed and the code not
    assert_refused_everywhere(client)
    assert Group.objects.filter(name="support").exists()


# Set-up


def test_staff_without_a_device_is_led_to_set_up_after_the_password(client, staff):
    response = log_in(client)
    assert response.status_code == 302 and response.url.startswith(SETUP)


def test_staff_without_a_device_cannot_skip_set_up(client, staff):
    log_in(client)
    assert client.get("/admin/").url.startswith(LOGIN)
    assert client.get(LOGIN).url.startswith(SETUP)
    assert client.get("/admin/auth/user/").status_code == 302
    assert client.get(BACKUP_CODES).status_code == 302


def test_set_up_page_shows_a_qr_code_drawn_inline_and_the_secret(client, staff):
    log_in(client)
    page = client.get(SETUP)
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    html = page.content.decode()
    assert page.status_code == 200
    qr_code = html.split('class="privacy-kit-qr-code"', 1)[1].split("</div>", 1)[0]
    assert "<svg" in qr_code and "<path" in qr_code
    assert "<img" not in html and "otpauth:" not in html  # drawn here, the secret sent to no service
    assert totp_secret(device) in html
    assert client.get(SETUP).content.decode().count(totp_secret(device)) == 1  # same secret on reload


def test_set_up_refuses_a_wrong_code(client, staff):
    log_in(client)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=staff)
    response = client.post(SETUP, {"otp_token": wrong_code(device)})
    assert response.status_code == 200 and response.context["form"].errors
    device.refresh_from_db()
    assert not device.confirmed and not StaticDevice.objects.filter(user=staff).exists()
    assert not reaches_index(client)


def test_set_up_with_the_right_code_confirms_the_device_and_shows_ten_backup_codes_once(client, staff):
    log_in(client)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=staff)
    response = client.post(SETUP, {"otp_token": current_code(device)})
    assert response.status_code == 302 and response.url == BACKUP_CODES
    device.refresh_from_db()
    assert device.confirmed
    page = client.get(BACKUP_CODES)
    codes = set(StaticToken.objects.filter(device__user=staff).values_list("token", flat=True))
    assert len(codes) == 10 and all(code in page.content.decode() for code in codes)
    assert client.get(BACKUP_CODES).status_code == 302  # not shown again
    assert reaches_index(client)  # the session is verified


def test_set_up_is_not_offered_to_staff_who_have_a_device(client, staff, phone):
    client.force_login(staff)
    assert client.get(SETUP).url.startswith(LOGIN)
    assert client.post(SETUP, {"otp_token": current_code(phone)}).url.startswith(LOGIN)
    assert not reaches_index(client)


def test_set_up_is_not_offered_to_anonymous_or_non_staff(client, django_user_model):
    assert client.get(SETUP).url.startswith(LOGIN)
    client.force_login(django_user_model.objects.create_user("customer", password=PASSWORD))
    assert client.get(SETUP).url.startswith(LOGIN)
    assert not TOTPDevice.objects.exists()


# Login


def test_password_and_authenticator_code_reach_the_index(client, staff, phone):
    response = log_in(client, code=current_code(phone))
    assert response.status_code == 302 and response.url == "/admin/"
    assert reaches_index(client)


def test_an_admin_login_lasts_a_working_day(client, staff, phone):
    log_in(client, code=current_code(phone))
    assert reaches_index(client) and client.session.get_expiry_age() == 8 * 3600


def test_the_admin_session_age_is_a_setting(client, staff, phone, settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "ADMIN_SESSION_HOURS": 1}
    log_in(client, code=current_code(phone))
    assert reaches_index(client) and client.session.get_expiry_age() == 3600


def test_a_verified_session_cookie_replayed_after_logout_reaches_nothing(client, staff, phone):
    from django.test import Client

    log_in(client, code=current_code(phone))
    assert reaches_index(client)
    stolen = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    client.post("/admin/logout/")
    replay = Client()
    replay.cookies[django_settings.SESSION_COOKIE_NAME] = stolen
    response = replay.get("/admin/")
    assert response.status_code == 302 and "/login/" in response.url


def test_password_without_the_code_is_refused(client, staff, phone):
    response = log_in(client)
    assert response.status_code == 200 and response.context["form"].errors
    assert not reaches_index(client)


def test_a_backup_code_works_once(client, staff, phone, backup_codes):
    assert log_in(client, code=backup_codes[0].upper()).status_code == 302
    assert reaches_index(client)
    client.post("/admin/logout/")
    assert log_in(client, code=backup_codes[0]).status_code == 200
    assert not reaches_index(client)
    assert StaticToken.objects.filter(device__user=staff).count() == 9


@pytest.mark.parametrize("code", ["wrong", "12ab56", "1234567890", "'; --", "١٢٣٤٥٦", "x" * 40])
def test_wrong_and_malformed_codes_are_refused(client, staff, phone, backup_codes, code):
    code = wrong_code(phone) if code == "wrong" else code
    response = log_in(client, code=code)
    assert response.status_code == 200 and response.context["form"].non_field_errors()
    assert not reaches_index(client)


def test_a_replayed_code_is_refused(client, staff, phone):
    code = current_code(phone)
    assert log_in(client, code=code).status_code == 302
    client.post("/admin/logout/")
    assert log_in(client, code=code).status_code == 200
    assert not reaches_index(client)


def test_otp_throttling_is_on(client, staff, phone):
    log_in(client, code=wrong_code(phone))
    response = log_in(client, code=current_code(phone))  # right, but too soon after a wrong one
    assert response.status_code == 200 and "temporarily disabled" in str(response.context["form"].non_field_errors())
    assert not reaches_index(client)


def test_a_non_staff_user_with_a_device_is_refused(client, django_user_model):
    user = django_user_model.objects.create_user("customer", password=PASSWORD)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    response = log_in(client, username="customer", code=current_code(device))
    assert response.status_code == 200 and response.context["form"].non_field_errors()
    assert not reaches_index(client)


def test_the_login_form_posted_without_csrf_token_is_refused(staff, phone):
    client = Client(enforce_csrf_checks=True)
    assert log_in(client, code=current_code(phone)).status_code == 403
    assert not reaches_index(client)


def test_the_set_up_form_posted_without_csrf_token_is_refused(staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    assert client.post(SETUP, {"otp_token": current_code(device)}).status_code == 403
    device.refresh_from_db()
    assert not device.confirmed


def test_without_admin_2fa_required_a_password_is_enough(client, staff, settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "ADMIN_2FA_REQUIRED": False}
    assert log_in(client).url == "/admin/"
    assert reaches_index(client)


# Lockout (django-axes, AXES_FAILURE_LIMIT = 5 in the test settings)


def test_wrong_codes_after_the_right_password_count_as_failed_logins(client, staff, phone, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, code=wrong_code(phone)).status_code == 200
    assert AccessAttempt.objects.get(username="staff").failures_since_start == settings.AXES_FAILURE_LIMIT - 1
    assert log_in(client, code=wrong_code(phone)).status_code == 429


def test_after_the_failure_limit_of_wrong_codes_even_the_right_code_is_locked_out(client, staff, phone, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the lockout, not the throttle, refuses the right code
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, code=wrong_code(phone))
    response = log_in(client, code=current_code(phone))
    assert response.status_code == 429
    assert not reaches_index(client)


def test_wrong_passwords_lock_out_the_username(client, staff, phone, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, password="wrong")
    assert log_in(client, code=current_code(phone)).status_code == 429
    assert not reaches_index(client)


def test_wrong_passwords_from_one_ip_lock_out_other_usernames_too(client, staff, phone, settings):
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, username=f"guess{attempt}", password="wrong")
    assert log_in(client, code=current_code(phone)).status_code == 429


def test_an_expired_code_is_refused(client, staff, phone):
    old = TOTP(phone.bin_key, step=phone.step, t0=phone.t0, digits=phone.digits)
    old.time = time.time() - 10 * 60  # twenty steps ago, far outside the device's tolerance
    response = log_in(client, code=f"{old.token():0{phone.digits}d}")
    assert response.status_code == 200 and response.context["form"].non_field_errors()
    assert not reaches_index(client)
    assert SecurityEvent.objects.filter(kind="failed_otp", user=staff).count() == 1


def test_a_backup_code_used_twice_is_refused_and_counted(client, staff, phone, backup_codes):
    assert log_in(client, code=backup_codes[3]).status_code == 302
    second = Client()  # another browser, with the code seen over the user's shoulder
    response = log_in(second, code=backup_codes[3])
    assert response.status_code == 200 and response.context["form"].non_field_errors()
    assert not reaches_index(second)
    assert SecurityEvent.objects.filter(kind="failed_otp", user=staff).count() == 1
    assert AccessAttempt.objects.get(username="staff").failures_since_start == 1


def test_a_non_staff_user_verified_by_a_device_cannot_enter_the_admin(client, django_user_model):
    user = django_user_model.objects.create_user("customer", password=PASSWORD)
    verify(client, user)
    for url in ("/admin/", "/admin/shop/customer/", NEW_BACKUP_CODES, SETUP):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(LOGIN), url


# Backup codes: downloaded when shown, replaced after the code is entered again


def set_up(client, staff):
    """Log in with the password, set up the authenticator app; return it."""
    log_in(client)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=staff)
    assert client.post(SETUP, {"otp_token": current_code(device)}).url == BACKUP_CODES
    return device


def downloaded_codes(page):
    """Return the lines of the text file that the page's download link holds."""
    html = page.content.decode()
    link = re.search(r'<a [^>]*href="data:text/plain;charset=utf-8,([^"]*)"[^>]*download="([^"]+)"', html)
    assert link and link.group(2) == "backup-codes.txt"
    return unquote(link.group(1)).splitlines()


def test_the_backup_codes_are_downloadable_as_text_when_they_are_shown(client, staff):
    set_up(client, staff)
    codes = set(StaticToken.objects.filter(device__user=staff).values_list("token", flat=True))
    lines = downloaded_codes(client.get(BACKUP_CODES))
    assert codes <= set(lines) and "Backup codes for" in lines[0]
    assert client.get(BACKUP_CODES).status_code == 302  # neither page nor file again


def test_new_backup_codes_need_the_current_code_and_replace_the_old_ones(client, staff, phone, backup_codes, settings):
    settings.OTP_STATIC_THROTTLE_FACTOR = 0  # an old code is tried below, then a new one at once
    assert log_in(client, code=backup_codes[0]).status_code == 302  # the app's code is for what follows
    assert client.get(NEW_BACKUP_CODES).status_code == 200
    response = client.post(NEW_BACKUP_CODES, {"otp_token": current_code(phone)})
    assert response.status_code == 302 and response.url == BACKUP_CODES
    new_codes = set(StaticToken.objects.filter(device__user=staff).values_list("token", flat=True))
    assert len(new_codes) == 10 and not new_codes & set(backup_codes)
    assert new_codes <= set(downloaded_codes(client.get(BACKUP_CODES)))
    assert reaches_index(client)
    client.post("/admin/logout/")
    assert log_in(client, code=backup_codes[1]).status_code == 200  # an old code
    assert log_in(client, code=new_codes.pop()).status_code == 302


def test_new_backup_codes_with_a_wrong_code_are_refused_and_counted(client, staff, phone, backup_codes):
    log_in(client, code=current_code(phone))
    response = client.post(NEW_BACKUP_CODES, {"otp_token": wrong_code(phone)})
    assert response.status_code == 200 and response.context["form"].errors
    assert set(StaticToken.objects.filter(device__user=staff).values_list("token", flat=True)) == set(backup_codes)
    assert SecurityEvent.objects.filter(kind="failed_otp", user=staff).count() == 1
    assert AccessAttempt.objects.get(username="staff").failures_since_start == 1
    assert reaches_index(client)


def test_guessing_codes_for_new_backup_codes_locks_out_and_logs_out(client, staff, phone, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    log_in(client, code=current_code(phone))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post(NEW_BACKUP_CODES, {"otp_token": wrong_code(phone)}).status_code == 200
    assert client.post(NEW_BACKUP_CODES, {"otp_token": wrong_code(phone)}).status_code == 429
    assert SecurityEvent.objects.filter(kind="lockout", user=staff).exists()
    assert not reaches_index(client) and "_auth_user_id" not in client.session


def test_a_session_verified_by_a_backup_code_stays_verified_with_new_codes(client, staff, phone, backup_codes):
    log_in(client, code=backup_codes[0])
    assert client.post(NEW_BACKUP_CODES, {"otp_token": backup_codes[1]}).url == BACKUP_CODES
    assert reaches_index(client)


def test_new_backup_codes_are_not_offered_to_an_unverified_session(client, staff, phone, backup_codes):
    client.force_login(staff)
    for response in (client.get(NEW_BACKUP_CODES), client.post(NEW_BACKUP_CODES, {"otp_token": current_code(phone)})):
        assert response.status_code == 302 and response.url.startswith(LOGIN)
    assert set(StaticToken.objects.filter(device__user=staff).values_list("token", flat=True)) == set(backup_codes)


def test_the_new_backup_codes_form_posted_without_csrf_token_is_refused(staff, phone, backup_codes):
    client = Client(enforce_csrf_checks=True)
    verify(client, staff, phone)
    assert client.post(NEW_BACKUP_CODES, {"otp_token": current_code(phone)}).status_code == 403
    assert set(StaticToken.objects.filter(device__user=staff).values_list("token", flat=True)) == set(backup_codes)


def test_the_index_links_to_new_backup_codes(verified_admin_client):
    assert f'href="{NEW_BACKUP_CODES}"' in verified_admin_client.get("/admin/").content.decode()


# Two-factor devices added and removed are security events


def device_events(kind):
    return list(SecurityEvent.objects.filter(kind=kind).order_by("pk").values_list("user__username", "ip", "detail"))


def test_set_up_records_the_app_and_the_backup_codes_as_added_devices(client, staff):
    device = set_up(client, staff)
    backup = StaticDevice.objects.get(user=staff)
    assert device_events("device_added") == [
        ("staff", "127.0.0.1", f"otp_totp.TOTPDevice #{device.pk}"),
        ("staff", "127.0.0.1", f"otp_static.StaticDevice #{backup.pk}, 10 backup codes"),
    ]
    assert device_events("device_removed") == []


def test_new_backup_codes_record_the_old_ones_removed_and_the_new_ones_added(client, staff, phone, backup_codes):
    old = StaticDevice.objects.get(user=staff)
    log_in(client, code=backup_codes[0])
    client.post(NEW_BACKUP_CODES, {"otp_token": current_code(phone)})
    assert device_events("device_removed") == [("staff", None, f"otp_static.StaticDevice #{old.pk}")]
    assert [user for user, *_ in device_events("device_added")] == ["staff", "staff"]  # the fixture's codes, the new


def test_a_device_deleted_in_the_admin_is_recorded(verified_admin_client, staff, phone):
    url = f"/admin/otp_totp/totpdevice/{phone.pk}/delete/"
    assert verified_admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not TOTPDevice.objects.filter(pk=phone.pk).exists()
    assert device_events("device_removed") == [("staff", None, f"otp_totp.TOTPDevice #{phone.pk}")]


def test_an_unfinished_set_up_removed_is_not_a_device_removed(staff):
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=False).delete()
    assert device_events("device_removed") == []


def test_a_user_deleted_with_devices_records_them_removed_without_the_user(staff, phone, backup_codes):
    backup = StaticDevice.objects.get(user=staff)
    staff.delete()
    assert not TOTPDevice.objects.exists() and not StaticDevice.objects.exists()
    assert sorted(device_events("device_removed")) == [
        (None, None, f"otp_static.StaticDevice #{backup.pk}, with its user"),
        (None, None, f"otp_totp.TOTPDevice #{phone.pk}, with its user"),
    ]


# Ending a lockout: a superuser unlocks, or the cool-off passes

ATTEMPTS = "/admin/axes/accessattempt/"


def lock_out(settings, username="staff"):
    """Lock ``username`` and the test client's IP address out with wrong passwords, from another browser."""
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(Client(), username=username, password="wrong")
    assert AccessAttempt.objects.filter(username=username).exists()


def unlock_selected(client):
    attempts = list(AccessAttempt.objects.values_list("pk", flat=True))
    return client.post(ATTEMPTS, {"action": "unlock", "_selected_action": attempts})


def test_a_superuser_unlocks_a_locked_out_user(verified_admin_client, admin_user, staff, phone, settings):
    lock_out(settings)
    assert log_in(Client(), code=current_code(phone)).status_code == 429
    assert unlock_selected(verified_admin_client).status_code == 302
    assert not AccessAttempt.objects.exists()
    event = SecurityEvent.objects.get(kind="unlock")
    assert (event.user, event.ip) == (staff, "127.0.0.1")
    assert f"by user #{admin_user.pk}" in event.detail
    assert log_in(Client(), code=current_code(phone)).status_code == 302


def test_staff_who_are_not_superusers_cannot_unlock(django_user_model, staff, settings):
    lock_out(settings)
    clerk = django_user_model.objects.create_user("clerk", password=PASSWORD, is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(content_type__app_label="axes"))
    client = Client()
    verify(client, clerk)
    page = client.get(ATTEMPTS)
    assert page.status_code == 200 and 'value="unlock"' not in page.content.decode()
    unlock_selected(client)
    attempts = list(AccessAttempt.objects.values_list("pk", flat=True))
    client.post(ATTEMPTS, {"action": "delete_selected", "_selected_action": attempts, "post": "yes"})
    client.post(f"{ATTEMPTS}{attempts[0]}/delete/", {"post": "yes"})
    assert AccessAttempt.objects.count() == len(attempts)
    assert not SecurityEvent.objects.filter(kind="unlock").exists()


def test_attempts_are_not_deleted_even_by_a_superuser_only_unlocked(verified_admin_client, staff, settings):
    lock_out(settings)
    [attempt] = AccessAttempt.objects.all()
    assert verified_admin_client.post(f"{ATTEMPTS}{attempt.pk}/delete/", {"post": "yes"}).status_code == 403
    assert 'value="unlock"' in verified_admin_client.get(ATTEMPTS).content.decode()


def test_a_lockout_ends_after_the_cool_off(client, staff, phone, settings):
    lock_out(settings)
    assert log_in(client, code=current_code(phone)).status_code == 429
    # One hour (AXES_COOLOFF_TIME) and a minute later, as far as django-axes can tell.
    past = timezone.now() - datetime.timedelta(hours=settings.AXES_COOLOFF_TIME, minutes=1)
    AccessAttempt.objects.update(attempt_time=past)
    assert log_in(client, code=current_code(phone)).status_code == 302
    assert reaches_index(client)

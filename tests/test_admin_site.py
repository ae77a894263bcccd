"""The admin behind two-factor authentication: set-up, login, backup codes, lockout."""

import datetime
import re

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from axes.models import AccessLog as AxesAccessLog
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

import privacy_kit.admin
from example_shop.shop.models import Customer
from privacy_kit import tracking
from privacy_kit.admin import devices
from privacy_kit.admin.sites import PrivacyAdminSite
from privacy_kit.consent import grant
from privacy_kit.models import AccessLog, LegalHold, PolicyVersion, PurgeRun, Purpose, SecurityEvent

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN = "/admin/login/"
SETUP = "/admin/two-factor/setup/"
BACKUP_CODES = "/admin/two-factor/backup-codes/"
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
    return devices.replace_backup_codes(staff)


# The site


def test_privacy_kit_site_is_djangos_default_site_so_admin_register_lands_on_it():
    assert isinstance(admin.site, PrivacyAdminSite)
    assert privacy_kit.admin.site._registry is admin.site._registry
    assert Customer in privacy_kit.admin.site._registry  # registered by example_shop with @admin.register


@pytest.fixture
def one_of_everything(staff):
    """At least one row of every model the admin shows, so that each change page has an object to open."""
    customer = Customer.objects.create(name=CUSTOMER_NAME, email="reem@example.sa", phone="+966 55 000 1111")
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
    Group.objects.create(name="support")
    colleague = type(staff).objects.create_user("colleague", password=PASSWORD, is_staff=True)
    TOTPDevice.objects.create(user=colleague, name="phone", confirmed=True)
    devices.replace_backup_codes(colleague)
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


def assert_refused_everywhere(client):
    urls = every_admin_url()
    assert len(urls) > 60
    for url in urls:
        for response in (client.get(url), client.post(url, {"post": "yes", "name": "changed"})):
            assert response.status_code in (302, 403), url
            if response.status_code == 302:
                assert response.url.startswith((LOGIN, SETUP)), (url, response.url)
            assert CUSTOMER_NAME not in response.content.decode(), url


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
    assert devices.totp_secret(device) in html
    assert client.get(SETUP).content.decode().count(devices.totp_secret(device)) == 1  # same secret on reload


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
    device = devices.pending_totp_device(staff)
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

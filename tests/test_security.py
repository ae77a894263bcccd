"""Access log, security events and PersonalDataAdmin: masking, logging, blind-index search, alerts."""

import datetime

import django
import pytest
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from example_shop.shop.models import Customer
from privacy_kit import crypto
from privacy_kit.admin import PersonalDataAdmin
from privacy_kit.consent import grant
from privacy_kit.models import (
    AccessLog,
    ConsentRecord,
    ErasureRecord,
    LedgerError,
    PolicyVersion,
    Purpose,
    SecurityEvent,
)
from privacy_kit.security.proxy import forwarded_client_ip
from privacy_kit.signals import security_alert
from tests.settings import TEST_BLIND_INDEX_KEY, TEST_KEY_OLD, TEST_KEY_PRIMARY
from tests.testapp.models import Contact
from tests.two_factor import verify

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
CUSTOMERS = "/admin/shop/customer/"
NAME, EMAIL, PHONE = "Reem Al-Saud", "reem.alsaud@example.sa", "+966 55 000 1111"
ROTATING = {"ENCRYPTION_KEYS": [TEST_KEY_PRIMARY, TEST_KEY_OLD], "BLIND_INDEX_KEY": TEST_BLIND_INDEX_KEY}
# Django 6.0 takes ADMINS as addresses; 5.2 as (name, address) pairs.
ADMINS = ["security@shop.example"] if django.VERSION >= (6,) else [("Security", "security@shop.example")]


@pytest.fixture
def customer():
    return Customer.objects.create(name=NAME, email=EMAIL, phone=PHONE, address="Olaya Street 1, Riyadh")


@pytest.fixture
def admins(settings):
    settings.ADMINS = ADMINS
    return settings


@pytest.fixture
def alerts():
    received = []

    def receiver(sender, event, **kwargs):
        received.append(event)

    security_alert.connect(receiver, dispatch_uid="tests.security_alert")
    yield received
    security_alert.disconnect(dispatch_uid="tests.security_alert")


def verified_client(user):
    client = Client()
    verify(client, user)
    return client


def change_url(customer):
    return f"{CUSTOMERS}{customer.pk}/change/"


# The masked change list


def test_changelist_shows_no_personal_data(verified_admin_client, customer):
    response = verified_admin_client.get(CUSTOMERS)
    html = response.content.decode()
    assert response.status_code == 200
    assert "•••••" in html
    for value in (NAME, EMAIL, PHONE, "Reem", "reem.alsaud", "000 1111"):
        assert value not in html


def test_changelist_does_not_decrypt_while_the_change_view_must(verified_admin_client, customer):
    table = connection.ops.quote_name(Customer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET name = %s WHERE id = %s", ["not-a-ciphertext", customer.pk])
    assert verified_admin_client.get(CUSTOMERS).status_code == 200
    verified_admin_client.raise_request_exception = False
    assert verified_admin_client.get(change_url(customer)).status_code == 500


def test_changelist_writes_no_access_log(verified_admin_client, customer):
    verified_admin_client.get(CUSTOMERS)
    assert not AccessLog.objects.exists()


# Opening a record


def test_opening_a_record_writes_one_access_log_row(verified_admin_client, admin_user, customer):
    response = verified_admin_client.get(change_url(customer), REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200 and NAME in response.content.decode()
    entry = AccessLog.objects.get()
    assert entry.actor == admin_user
    assert entry.subject is None  # the demo's Customer is not registered with a subject
    assert (entry.model_label, entry.object_id) == ("shop.Customer", str(customer.pk))
    assert entry.fields == ["name", "email", "phone", "address"]
    assert entry.ip == "10.1.2.3"


def test_saving_a_record_writes_no_access_log(verified_admin_client, customer):
    data = {"name": NAME, "email": EMAIL, "phone": PHONE, "address": ""}
    assert verified_admin_client.post(change_url(customer), data).status_code == 302
    assert not AccessLog.objects.exists()


# Append-only


def test_access_log_is_append_only(admin_user):
    entry = AccessLog.objects.create(actor=admin_user, model_label="shop.Customer", object_id="1", fields=["name"])
    with pytest.raises(LedgerError):
        entry.save()
    with pytest.raises(LedgerError):
        entry.delete()
    with pytest.raises(LedgerError):
        AccessLog.objects.update(object_id="2")
    with pytest.raises(LedgerError):
        AccessLog.objects.all().delete()
    assert AccessLog.objects.get().object_id == "1"


def test_security_event_is_append_only():
    event = SecurityEvent.objects.create(kind=SecurityEvent.Kind.LOCKOUT)
    with pytest.raises(LedgerError):
        event.save()
    with pytest.raises(LedgerError):
        event.delete()
    with pytest.raises(LedgerError):
        SecurityEvent.objects.update(detail="changed")
    with pytest.raises(LedgerError):
        SecurityEvent.objects.all().delete()


# Superusers only


LOGS = ["accesslog", "securityevent", "erasurerecord"]


def one_row_of_each_log(actor):
    """Write one access log row, one security event and one erasure record; return their keys by model."""
    return {
        "accesslog": AccessLog.objects.create(actor=actor, model_label="shop.Customer", object_id="1").pk,
        "securityevent": SecurityEvent.objects.create(kind=SecurityEvent.Kind.FAILED_LOGIN).pk,
        "erasurerecord": ErasureRecord.objects.create(subject_ref="x" * 22, reason="asked").pk,
    }


@pytest.mark.parametrize("model", LOGS)
def test_logs_are_read_only_for_superusers(verified_admin_client, admin_user, model):
    pk = one_row_of_each_log(admin_user)[model]
    assert verified_admin_client.get(f"/admin/privacy_kit/{model}/").status_code == 200
    page = verified_admin_client.get(f"/admin/privacy_kit/{model}/{pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert verified_admin_client.get(f"/admin/privacy_kit/{model}/add/").status_code == 403
    assert verified_admin_client.post(f"/admin/privacy_kit/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403


@pytest.mark.parametrize("model", LOGS)
def test_logs_are_hidden_from_staff_who_are_not_superusers(django_user_model, admin_user, model):
    one_row_of_each_log(admin_user)
    staff = django_user_model.objects.create_user("clerk", password=PASSWORD, is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="privacy_kit"))
    client = verified_client(staff)
    assert client.get(f"/admin/privacy_kit/{model}/").status_code == 403
    assert f"/admin/privacy_kit/{model}/" not in client.get("/admin/").content.decode()


# Search through the blind index


@pytest.mark.parametrize("term", [EMAIL, EMAIL.upper(), f"  {EMAIL}  ", f'"{EMAIL}"'])
def test_search_finds_a_customer_by_exact_email_in_any_case(verified_admin_client, customer, term):
    Customer.objects.create(name="Other", email="other@example.sa")
    response = verified_admin_client.get(CUSTOMERS, {"q": term})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [customer]


@pytest.mark.parametrize("term", ["reem", "alsaud@example.sa", "example.sa", "REEM.ALSAUD", NAME, "123"])
def test_search_by_part_of_an_encrypted_value_finds_nothing(verified_admin_client, customer, term):
    response = verified_admin_client.get(CUSTOMERS, {"q": term})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


# Bulk access


def test_bulk_access_raises_one_event_one_mail_and_one_alert(verified_admin_client, admin_user, admins, alerts):
    admins.PRIVACY_KIT = {**admins.PRIVACY_KIT, "BULK_ACCESS_THRESHOLD": 3}
    customers = [Customer.objects.create(name=f"Customer {n}", email=f"c{n}@example.sa") for n in range(6)]
    for customer in customers[:3]:
        verified_admin_client.get(change_url(customer))
    assert not SecurityEvent.objects.filter(kind="bulk_access").exists()
    for customer in customers[3:]:
        verified_admin_client.get(change_url(customer))
    event = SecurityEvent.objects.get(kind="bulk_access")
    assert event.user == admin_user
    assert alerts == [event]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["security@shop.example"]
    assert "bulk access" in message.subject
    for customer in customers:
        assert customer.name not in message.body and customer.email not in message.body
    assert admin_user.email not in message.subject + message.body


def test_opening_one_record_again_and_again_is_not_bulk_access(verified_admin_client, customer, admins):
    admins.PRIVACY_KIT = {**admins.PRIVACY_KIT, "BULK_ACCESS_THRESHOLD": 3}
    for _ in range(6):
        verified_admin_client.get(change_url(customer))
    assert AccessLog.objects.count() == 6
    assert not SecurityEvent.objects.filter(kind="bulk_access").exists() and not mail.outbox


# Failed logins, codes and lockouts


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.sa", PASSWORD)


def wrong_code(device):
    """Return a well-formed code that is not the current one."""
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{(code + 1) % 10**device.digits:0{device.digits}d}"


def log_in(client, password=PASSWORD, code=""):
    return client.post(
        "/admin/login/", {"username": "staff", "password": password, "otp_token": code, "next": "/admin/"}
    )


def test_a_wrong_password_records_a_failed_login(client, staff):
    log_in(client, password="wrong password")
    event = SecurityEvent.objects.get()
    assert (event.kind, event.user, event.ip) == ("failed_login", staff, "127.0.0.1")
    assert "wrong password" not in event.detail


def test_a_wrong_code_records_a_failed_code(client, staff):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    log_in(client, code=wrong_code(device))
    event = SecurityEvent.objects.get()
    assert (event.kind, event.user) == ("failed_otp", staff)


def test_a_lockout_records_an_event_alerts_and_mails_admins(client, staff, admins, alerts, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, password="wrong password")
    assert AccessAttempt.objects.exists()
    lockout = SecurityEvent.objects.get(kind="lockout")
    assert lockout.user == staff
    assert SecurityEvent.objects.filter(kind="failed_login").count() == settings.AXES_FAILURE_LIMIT
    assert alerts == [lockout]
    assert len(mail.outbox) == 1 and "lockout" in mail.outbox[0].subject
    assert staff.email not in mail.outbox[0].body and "wrong password" not in mail.outbox[0].body


def lock_out(client, attempts, username="staff"):
    for _ in range(attempts):
        client.post("/admin/login/", {"username": username, "password": "wrong password", "next": "/admin/"})


def lockouts_of(user):
    return SecurityEvent.objects.filter(kind="lockout", user=user)


def back_date_security_events(hours):
    """Move every security event that many hours back, as if recorded then (the rows are append-only)."""
    table = connection.ops.quote_name(SecurityEvent._meta.db_table)
    past = timezone.now() - datetime.timedelta(hours=hours)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET created_at = %s", [past])


def test_attempts_while_locked_out_raise_no_more_alerts(client, staff, admins, alerts, settings):
    lock_out(client, settings.AXES_FAILURE_LIMIT)
    for attempt in range(20):
        password = PASSWORD if attempt % 2 else "wrong password"
        assert log_in(client, password=password).status_code == 429
    assert lockouts_of(staff).count() == 1
    assert len(alerts) == 1 and len(mail.outbox) == 1


def test_another_user_locked_out_still_alerts(client, staff, django_user_model, admins, settings):
    other = django_user_model.objects.create_superuser("other", "other@example.sa", PASSWORD)
    lock_out(client, settings.AXES_FAILURE_LIMIT)
    # Another address, so that the first lockout (by username and address) does not stop it early.
    other_client = Client(REMOTE_ADDR="203.0.113.9")
    lock_out(other_client, settings.AXES_FAILURE_LIMIT + 3, username="other")
    assert lockouts_of(staff).count() == 1 and lockouts_of(other).count() == 1
    assert len(mail.outbox) == 2


def test_lockouts_of_unknown_usernames_alert_once_an_hour_together(client, admins, settings):
    lock_out(client, settings.AXES_FAILURE_LIMIT, username="nobody")
    lock_out(Client(REMOTE_ADDR="203.0.113.9"), settings.AXES_FAILURE_LIMIT, username="no-one-either")
    assert AccessAttempt.objects.filter(username="no-one-either", failures_since_start__gte=5).exists()
    assert lockouts_of(None).count() == 1 and len(mail.outbox) == 1


def test_a_lockout_an_hour_after_the_last_alert_alerts_again(client, staff, admins, settings):
    lock_out(client, settings.AXES_FAILURE_LIMIT)
    assert len(mail.outbox) == 1
    # An hour and a minute later, for django-axes (its cool-off) and for privacy_kit (the last alert).
    AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(hours=1, minutes=1))
    back_date_security_events(hours=1)
    lock_out(client, settings.AXES_FAILURE_LIMIT + 3)
    assert lockouts_of(staff).count() == 2
    assert len(mail.outbox) == 2


def test_still_locked_out_an_hour_after_the_alert_alerts_again(client, staff, admins, settings):
    settings.AXES_COOLOFF_TIME = 24
    lock_out(client, settings.AXES_FAILURE_LIMIT)
    back_date_security_events(hours=1)
    for _ in range(3):
        assert log_in(client).status_code == 429
    assert lockouts_of(staff).count() == 2
    assert len(mail.outbox) == 2


# The client IP address: REMOTE_ADDR, or a trusted proxy's header when configured

FORGED, CLIENT, PROXY = "198.51.100.66", "203.0.113.7", "10.0.0.2"


def test_a_forged_x_forwarded_for_is_ignored_by_default(client, staff):
    log_in_from = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": FORGED}
    client.post("/admin/login/", {"username": "staff", "password": "wrong"}, **log_in_from)
    assert SecurityEvent.objects.get(kind="failed_login").ip == PROXY
    assert AccessAttempt.objects.get().ip_address == PROXY


def test_changing_the_forged_header_does_not_escape_the_ip_lockout(client, staff, settings):
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        forged = {"HTTP_X_FORWARDED_FOR": f"198.51.100.{attempt}"}
        client.post("/admin/login/", {"username": f"guess{attempt}", "password": "wrong"}, **forged)
    forged = {"HTTP_X_FORWARDED_FOR": "198.51.100.200"}
    assert client.post("/admin/login/", {"username": "staff", "password": PASSWORD}, **forged).status_code == 429


@pytest.fixture
def behind_one_proxy(settings):
    settings.AXES_CLIENT_IP_CALLABLE = forwarded_client_ip("HTTP_X_FORWARDED_FOR", proxies=1)


def test_behind_a_configured_proxy_the_address_it_appended_is_the_client(client, staff, behind_one_proxy):
    # The client sent a forged address; the proxy appended the one it saw.
    headers = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"{FORGED}, {CLIENT}"}
    client.post("/admin/login/", {"username": "staff", "password": "wrong"}, **headers)
    assert SecurityEvent.objects.get(kind="failed_login").ip == CLIENT
    assert AccessAttempt.objects.get().ip_address == CLIENT


def test_behind_a_configured_proxy_the_access_log_has_the_client_address(
    verified_admin_client, customer, behind_one_proxy
):
    verified_admin_client.get(change_url(customer), REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{FORGED}, {CLIENT}")
    assert AccessLog.objects.get().ip == CLIENT


def test_behind_a_configured_proxy_consent_evidence_hashes_the_client_address(rf, django_user_model, behind_one_proxy):
    Purpose.objects.create(slug="analytics", name="Analytics")
    PolicyVersion.objects.create(version="1", language="en", text="t", effective_at=timezone.now())
    user = django_user_model.objects.create_user("layla")
    for remote, forwarded in ((PROXY, f"{FORGED}, {CLIENT}"), ("192.0.2.99", CLIENT)):
        grant(
            user, ["analytics"], source="api", request=rf.post("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
        )
    hashes = set(ConsentRecord.objects.values_list("ip_hash", flat=True))
    assert len(hashes) == 1 and "" not in hashes


@pytest.mark.parametrize(
    ("header", "proxies", "expected"),
    [
        (f"{FORGED}, {CLIENT}", 1, CLIENT),
        (f"{FORGED}, {CLIENT}, 10.0.0.1", 2, CLIENT),
        (CLIENT, 2, PROXY),  # fewer addresses than proxies: not through them
        ("", 1, PROXY),
        (f"{FORGED}, not-an-address", 1, PROXY),
        ("2001:db8::1", 1, "2001:db8::1"),
    ],
)
def test_forwarded_client_ip_reads_the_address_the_nearest_proxies_wrote(rf, header, proxies, expected):
    request = rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=header)
    assert forwarded_client_ip(proxies=proxies)(request) == expected


# Key rotation


def test_rotate_keys_records_one_key_rotation_event_and_no_key():
    with override_settings(PRIVACY_KIT={**ROTATING, "ENCRYPTION_KEYS": [TEST_KEY_OLD]}):
        Contact.objects.create(email="one@example.sa", note="a note")
    with override_settings(PRIVACY_KIT=ROTATING):
        call_command("rotate_keys", "testapp.Contact", "--dry-run", verbosity=0)
        assert not SecurityEvent.objects.exists()
        call_command("rotate_keys", "testapp.Contact", verbosity=0)
    event = SecurityEvent.objects.get()
    assert event.kind == "key_rotation" and event.user is None
    assert event.detail == "2 values under old keys re-encrypted, 2 fields: testapp.Contact"
    for key in (TEST_KEY_OLD, TEST_KEY_PRIMARY, TEST_BLIND_INDEX_KEY):
        assert key not in event.detail and crypto.key_id(crypto.decode_key(key)).hex() not in event.detail


# Personal fields where a change list would show them: check privacy_kit.E047


def admin_errors(**options):
    model_admin = type("ShopCustomerAdmin", (PersonalDataAdmin,), options)(Customer, AdminSite())
    return [(error.id, error.msg) for error in model_admin.check()]


@pytest.mark.parametrize(
    ("option", "value", "path"),
    [
        ("list_filter", ["email"], "email"),
        ("list_filter", [("phone", admin.AllValuesFieldListFilter)], "phone"),
        ("list_editable", ["name"], "name"),
    ],
)
def test_a_personal_field_in_a_list_option_is_a_check_error(option, value, path):
    options = {option: value, "list_display": ["__str__", "name"] if option == "list_editable" else ["__str__"]}
    [(error_id, message)] = admin_errors(**options)
    assert error_id == "privacy_kit.E047"
    assert f"'{path}' in {option}" in message and "ShopCustomerAdmin" in message


@pytest.fixture
def cart_dates_are_personal():
    """Register the carts' plain date as a personal field, for this test only."""
    from privacy_kit import registry
    from tests.testapp.models import Cart

    registry.register(Cart, subject="customer", category="personal", personal_fields=["added_on"])
    yield Cart
    registry.unregister(Cart)


def test_a_personal_date_in_date_hierarchy_is_a_check_error(cart_dates_are_personal):
    class CartAdmin(PersonalDataAdmin):
        date_hierarchy = "added_on"
        list_filter = ["product"]

    assert [error.id for error in CartAdmin(cart_dates_are_personal, AdminSite()).check()] == ["privacy_kit.E047"]


def test_a_personal_field_across_a_relation_is_a_check_error():
    from tests.testapp.models import Visit

    class VisitAdmin(PersonalDataAdmin):
        list_filter = ["contact__email", "contact"]

    assert [error.id for error in VisitAdmin(Visit, AdminSite()).check()] == ["privacy_kit.E047"]


def test_plain_fields_in_list_options_pass_the_checks():
    assert admin_errors(list_filter=["created_at"], date_hierarchy="created_at") == []


def test_the_demo_customer_admin_passes_the_checks():
    assert admin.site._registry[Customer].check() == []


def test_a_record_saved_in_the_admin_leaves_no_personal_data_in_the_admin_log(verified_admin_client, customer):
    from django.contrib.admin.models import LogEntry

    data = {"name": NAME, "email": EMAIL, "phone": PHONE, "address": "Olaya Street 2, Riyadh"}
    assert verified_admin_client.post(change_url(customer), data).status_code == 302
    entry = LogEntry.objects.get()
    assert entry.object_repr == str(customer) == f"customer #{customer.pk}"
    changelist = verified_admin_client.get(CUSTOMERS).content.decode()
    for value in (NAME, EMAIL, PHONE):
        assert value not in entry.object_repr + entry.change_message + changelist

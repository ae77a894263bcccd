"""PersonalDataAdmin's actions: export a customer's data, erase a customer (after the code again).

A site of its own shows the test app's orders, registered in the registry by a fixture.
"""

import decimal
import json

import pytest
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import path
from django.utils import timezone
from django_otp.oath import totp

from privacy_kit.admin import PersonalDataAdmin
from privacy_kit.admin.sites import PrivacyAdminSite
from privacy_kit.models import ErasureRecord, LegalHold, SecurityEvent
from tests.testapp.models import Order
from tests.testapp.policies import register_orders
from tests.two_factor import verify

site = PrivacyAdminSite(name="admin")


@admin.register(Order, site=site)
class OrderAdmin(PersonalDataAdmin):
    list_display = ["__str__", "full_name", "total"]


urlpatterns = [path("admin/", site.urls)]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
ORDERS = "/admin/testapp/order/"
FULL_NAME = "Layla Al-Harbi"


@pytest.fixture(autouse=True)
def orders_registered():
    register_orders()


@pytest.fixture
def layla(django_user_model):
    return django_user_model.objects.create_user("layla", email="layla@example.sa", password="pw-layla-1")


def make_order(customer, **fields):
    values = {"full_name": FULL_NAME, "phone": "+966 50 000 0001", "total": decimal.Decimal("99.50")}
    return Order.objects.create(customer=customer, created_at=timezone.now(), **{**values, **fields})


@pytest.fixture
def order(layla):
    return make_order(layla)


def verified(user):
    """Return a client of ``user``, verified by their authenticator app in its session, and the app."""
    client = Client()
    return client, verify(client, user)


@pytest.fixture
def staff(admin_user):
    return verified(admin_user)


def current_code(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def wrong_code(device):
    return f"{(int(current_code(device)) + 1) % 10**6:06d}"


def act(client, action, *orders, **data):
    return client.post(ORDERS, {"action": action, "_selected_action": [o.pk for o in orders], **data}, follow=True)


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def events(kind):
    return SecurityEvent.objects.filter(kind=kind)


# Export


def test_export_downloads_the_customers_data_and_records_it(staff, order, admin_user):
    client, _ = staff
    response = client.post(ORDERS, {"action": "export_personal_data", "_selected_action": [order.pk]})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    document = json.loads(b"".join(response.streaming_content))
    assert document["subject"] == order.customer_id
    assert FULL_NAME in json.dumps(document, ensure_ascii=False)
    [event] = events("export")
    assert (event.user, event.detail) == (admin_user, f"subject #{order.customer_id}")


def test_export_needs_exactly_one_row(staff, order, layla):
    client, _ = staff
    response = act(client, "export_personal_data", order, make_order(layla))
    assert messages_of(response) == ["Select exactly one record."]
    assert not events("export").exists()


def test_export_of_a_row_without_a_customer_exports_nothing(staff):
    client, _ = staff
    response = act(client, "export_personal_data", make_order(None))
    assert messages_of(response) == ["This record belongs to no customer account."]
    assert not events("export").exists()


# Erasure


def test_erase_first_asks_for_a_reason_and_the_code_again(staff, order, layla):
    client, _ = staff
    page = act(client, "erase_subject", order)
    html = page.content.decode()
    assert page.status_code == 200 and 'name="otp_token"' in html and 'name="reason"' in html
    assert f'name="_selected_action" value="{order.pk}"' in html
    layla.refresh_from_db()
    assert layla.is_active and not events("erasure").exists()


def test_erase_with_the_right_code_closes_the_account_and_queues_the_erasure(
    staff, order, layla, admin_user, django_capture_on_commit_callbacks
):
    client, phone = staff
    with django_capture_on_commit_callbacks(execute=True):
        response = act(
            client, "erase_subject", order, post="yes", reason="Asked by email", otp_token=current_code(phone)
        )
    assert messages_of(response) == ["This customer's account is closed and the erasure of their data is queued."]
    layla.refresh_from_db()
    assert not layla.is_active
    [event] = events("erasure")
    assert (event.user, event.detail) == (admin_user, f"subject #{layla.pk}")
    record = ErasureRecord.objects.get()
    assert (record.source, record.reason) == ("admin", "Asked by email")
    order.refresh_from_db()
    assert order.full_name != FULL_NAME


def test_erase_with_a_wrong_code_is_refused_and_counted(staff, order, layla, admin_user):
    client, phone = staff
    response = act(client, "erase_subject", order, post="yes", reason="Asked by email", otp_token=wrong_code(phone))
    assert response.status_code == 200 and response.context["form"].non_field_errors()
    layla.refresh_from_db()
    assert layla.is_active and not events("erasure").exists()
    assert events("failed_otp").get().user == admin_user
    assert AccessAttempt.objects.get(username=admin_user.username).failures_since_start == 1


def test_erase_without_a_reason_does_not_use_up_the_code(staff, order, layla):
    client, phone = staff
    code = current_code(phone)
    response = act(client, "erase_subject", order, post="yes", reason="", otp_token=code)
    assert response.status_code == 200 and response.context["form"].errors["reason"]
    assert not events("failed_otp").exists()
    act(client, "erase_subject", order, post="yes", reason="Asked by email", otp_token=code)
    assert events("erasure").exists()


def test_erase_under_a_legal_hold_is_refused_with_the_reason(staff, order, layla, admin_user):
    client, phone = staff
    LegalHold.objects.create(subject=layla, reason="tax audit")
    response = act(client, "erase_subject", order, post="yes", reason="Asked by email", otp_token=current_code(phone))
    [message] = messages_of(response)
    assert "legal hold" in message and "Nothing was erased" in message
    layla.refresh_from_db()
    assert layla.is_active and not events("erasure").exists()


def test_erase_needs_exactly_one_row(staff, order, layla):
    client, _ = staff
    response = act(client, "erase_subject", order, make_order(layla))
    assert messages_of(response) == ["Select exactly one record."]


def test_staff_without_the_delete_permission_are_not_offered_erasure(django_user_model, order):
    clerk = django_user_model.objects.create_user("clerk", password="pw-clerk-1", is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(codename="view_order"))
    client, phone = verified(clerk)
    html = client.get(ORDERS).content.decode()
    assert 'value="export_personal_data"' not in html and 'value="erase_subject"' not in html
    act(client, "erase_subject", order, post="yes", reason="x", otp_token=current_code(phone))
    order.customer.refresh_from_db()
    assert order.customer.is_active and not events("erasure").exists()


def test_the_actions_are_refused_to_an_unverified_session(admin_user, order):
    client = Client()
    client.force_login(admin_user)
    response = client.post(ORDERS, {"action": "export_personal_data", "_selected_action": [order.pk]})
    assert response.status_code == 302 and response.url.startswith("/admin/login/")
    assert not events("export").exists()


def test_the_change_list_offers_both_actions_and_stays_masked(staff, order):
    client, _ = staff
    html = client.get(ORDERS).content.decode()
    assert 'value="export_personal_data"' in html and 'value="erase_subject"' in html
    assert FULL_NAME not in html and "•••••" in html

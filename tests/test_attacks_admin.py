"""Attacks on the admin: what a clerk, a password thief or a curious method tried, through the real views.

A site of its own shows the test app's orders, registered in the registry by a fixture.
"""

import decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import path
from django.utils import timezone
from django_otp.oath import totp

from privacy_kit.admin import PersonalDataAdmin
from privacy_kit.admin.sites import PrivacyAdminSite
from privacy_kit.models import AccessLog, SecurityEvent
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


def make_order(customer):
    return Order.objects.create(
        customer=customer,
        created_at=timezone.now(),
        full_name=FULL_NAME,
        phone="+966 50 000 0001",
        total=decimal.Decimal("99.50"),
    )


def verified(user):
    client = Client()
    return client, verify(client, user)


def current_code(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def clerk(django_user_model):
    user = django_user_model.objects.create_user("clerk", password="pw-clerk-1", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_order", "delete_order"]))
    return user


# Access not logged


@pytest.mark.parametrize("method", ["options", "put", "patch", "delete", "trace"])
def test_open_a_record_with_another_method_than_get_is_logged(admin_user, django_user_model, method):
    layla = django_user_model.objects.create_user("layla", password="pw-layla-1")
    order = make_order(layla)
    client, _ = verified(admin_user)
    response = getattr(client, method)(f"{ORDERS}{order.pk}/change/")
    if response.status_code == 200 and FULL_NAME in response.content.decode():
        [entry] = AccessLog.objects.all()
        assert (entry.actor_id, entry.subject_id, entry.object_id) == (admin_user.pk, layla.pk, str(order.pk))
        assert "full_name" in entry.fields
    else:
        assert not AccessLog.objects.exists()


def test_open_a_record_with_options_shows_it_and_logs_it(admin_user, django_user_model):
    layla = django_user_model.objects.create_user("layla", password="pw-layla-1")
    order = make_order(layla)
    client, _ = verified(admin_user)
    response = client.options(f"{ORDERS}{order.pk}/change/")
    assert response.status_code == 200 and FULL_NAME in response.content.decode()
    assert AccessLog.objects.get().object_id == str(order.pk)


# A clerk erases a superuser


def test_clerk_erases_a_superuser_is_refused(clerk, admin_user):
    order = make_order(admin_user)
    client, phone = verified(clerk)
    response = client.post(
        ORDERS,
        {
            "action": "erase_subject",
            "_selected_action": [order.pk],
            "post": "yes",
            "reason": "Asked by email",
            "otp_token": current_code(phone),
        },
        follow=True,
    )
    assert messages_of(response) == ["Only a superuser can erase a staff account. Nothing was erased."]
    admin_user.refresh_from_db()
    assert admin_user.is_active and not SecurityEvent.objects.filter(kind="erasure").exists()


def test_clerk_erases_another_staff_user_is_refused(clerk, django_user_model):
    colleague = django_user_model.objects.create_user("colleague", password="pw-colleague-1", is_staff=True)
    order = make_order(colleague)
    client, phone = verified(clerk)
    response = client.post(
        ORDERS,
        {
            "action": "erase_subject",
            "_selected_action": [order.pk],
            "post": "yes",
            "reason": "Asked by email",
            "otp_token": current_code(phone),
        },
        follow=True,
    )
    assert messages_of(response) == ["Only a superuser can erase a staff account. Nothing was erased."]
    colleague.refresh_from_db()
    assert colleague.is_active

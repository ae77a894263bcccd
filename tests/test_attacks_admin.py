"""Attacks on the admin: what a clerk, a password thief or a curious method tried, through the real views.

A site of its own shows the test app's orders, registered in the registry by a fixture.
"""

import decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.auth.views import LoginView
from django.test import Client
from django.urls import path
from django.utils import timezone
from django_otp.oath import totp

from privacy_kit.admin import PersonalDataAdmin
from privacy_kit.admin.personal_data import MASK
from privacy_kit.admin.sites import PrivacyAdminSite
from privacy_kit.models import AccessLog, ErasureRecord, SecurityEvent
from tests.testapp.models import Contact, Order
from tests.testapp.policies import register_orders
from tests.two_factor import verify

site = PrivacyAdminSite(name="admin")


@admin.register(Order, site=site)
class OrderAdmin(PersonalDataAdmin):
    list_display = ["__str__", "full_name", "total"]


@admin.register(Contact, site=site)
class ContactAdmin(PersonalDataAdmin):
    """Contacts are registered with subject=None (tests/testapp/apps.py): their rows belong to no account."""


urlpatterns = [path("admin/", site.urls), path("accounts/login/", LoginView.as_view(template_name="admin/login.html"))]
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


def erase_as(clerk, order):
    """Post the erase action, its reason and a right code, as the clerk; return the response."""
    client, phone = verified(clerk)
    return client.post(
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


def test_clerk_erases_a_superuser_is_refused(clerk, admin_user):
    response = erase_as(clerk, make_order(admin_user))
    assert messages_of(response) == ["Only a superuser can erase a staff account. Nothing was erased."]
    admin_user.refresh_from_db()
    assert admin_user.is_active and not SecurityEvent.objects.filter(kind="erasure").exists()


def test_clerk_erases_another_staff_user_is_refused(clerk, django_user_model):
    colleague = django_user_model.objects.create_user("colleague", password="pw-colleague-1", is_staff=True)
    response = erase_as(clerk, make_order(colleague))
    assert messages_of(response) == ["Only a superuser can erase a staff account. Nothing was erased."]
    colleague.refresh_from_db()
    assert colleague.is_active


# A forged post of a subject action where rows belong to no account


CONTACTS = "/admin/testapp/contact/"


@pytest.mark.parametrize("action", ["export_personal_data", "erase_subject"])
def test_forged_subject_action_on_rows_of_no_account_does_nothing_and_says_so(admin_user, action):
    contact = Contact.objects.create(email="layla@example.sa", note="Called about a refund")
    client, phone = verified(admin_user)
    page = client.get(CONTACTS).content.decode()
    assert 'value="export_personal_data"' not in page and 'value="erase_subject"' not in page
    data = {"action": action, "_selected_action": [contact.pk], "post": "yes", "reason": "Asked by email"}
    response = client.post(CONTACTS, {**data, "otp_token": current_code(phone)}, follow=True)
    assert response["Content-Type"].startswith("text/html")
    assert messages_of(response) == ["These records belong to no customer account: nothing was exported or erased."]
    assert not SecurityEvent.objects.filter(kind__in=["export", "erasure"]).exists()
    assert not ErasureRecord.objects.exists() and not AccessLog.objects.exists()
    assert Contact.objects.get().note == "Called about a refund"


def test_forged_subject_action_needs_the_view_permission_first(django_user_model):
    clerk = django_user_model.objects.create_user("outsider", password="pw-outsider-1", is_staff=True)
    client, _ = verified(clerk)
    contact = Contact.objects.create(email="layla@example.sa")
    response = client.post(CONTACTS, {"action": "export_personal_data", "_selected_action": [contact.pk]})
    assert response.status_code == 403


# A password thief at the set-up page


SETUP = "/admin/two-factor/setup/"


def pending_secret(client):
    return client.get(SETUP).context["secret"]


def test_password_thief_opens_the_set_up_page_and_gets_another_secret(django_user_model):
    user = django_user_model.objects.create_user("newstaff", password="pw-newstaff-1", is_staff=True)
    owner, thief = Client(), Client()
    owner.force_login(user)
    thief.force_login(user)
    assert pending_secret(owner) != pending_secret(thief)


def test_password_thief_cannot_use_the_owners_secret_after_the_owner_confirms(django_user_model):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = django_user_model.objects.create_user("newstaff", password="pw-newstaff-1", is_staff=True)
    owner, thief = Client(), Client()
    owner.force_login(user)
    thief.force_login(user)
    owner.get(SETUP)
    thief.get(SETUP)
    owners = TOTPDevice.objects.get(pk=owner.session["privacy_kit_pending_totp_device"])
    assert owner.post(SETUP, {"otp_token": current_code(owners)}).status_code == 302
    assert list(TOTPDevice.objects.filter(user=user).values_list("pk", "confirmed")) == [(owners.pk, True)]


def test_device_added_at_set_up_sends_an_alert(django_user_model, django_capture_on_commit_callbacks):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from privacy_kit.signals import security_alert

    alerts = []

    def receiver(sender, event, **kwargs):
        alerts.append((event.kind, event.detail))

    security_alert.connect(receiver, dispatch_uid="test_device_added_alert")

    user = django_user_model.objects.create_user("newstaff", password="pw-newstaff-1", is_staff=True)
    owner = Client()
    owner.force_login(user)
    owner.get(SETUP)
    device = TOTPDevice.objects.get(confirmed=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            owner.post(SETUP, {"otp_token": current_code(device)})
    finally:
        security_alert.disconnect(dispatch_uid="test_device_added_alert")
    assert alerts == [("device_added", f"otp_totp.TOTPDevice #{device.pk}")]


# Session limit after a password-only login elsewhere


def test_staff_sets_up_two_factor_after_a_password_only_login_and_keeps_two_weeks(django_user_model, settings):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = django_user_model.objects.create_user("newstaff", password="pw-newstaff-1", is_staff=True)
    client = Client()
    client.force_login(user)  # a password-only login elsewhere: the default age
    client.get(SETUP)
    device = TOTPDevice.objects.get(confirmed=False)
    assert client.post(SETUP, {"otp_token": current_code(device)}).status_code == 302
    hours = settings.PRIVACY_KIT.get("ADMIN_SESSION_HOURS", 8)
    assert client.session.get_expiry_age() == int(hours * 3600)


# Wrong codes forgotten by a password-only login elsewhere


def test_wrong_codes_between_password_only_logins_lock_the_account(admin_user, settings):
    from axes.models import AccessAttempt

    device = verify(Client(), admin_user)
    wrong = f"{(int(current_code(device)) + 1) % 10**6:06d}"
    client = Client()
    answers = []
    for _ in range(3):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            data = {"username": "admin", "password": "password", "otp_token": wrong, "next": "/admin/"}
            answers.append(client.post("/admin/login/", data).status_code)
        Client().post("/accounts/login/", {"username": "admin", "password": "password"})
    assert answers[: settings.AXES_FAILURE_LIMIT - 1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert answers[settings.AXES_FAILURE_LIMIT - 1 :] == [429] * (len(answers) - settings.AXES_FAILURE_LIMIT + 1)
    assert AccessAttempt.objects.get(username="admin").failures_since_start >= settings.AXES_FAILURE_LIMIT
    assert SecurityEvent.objects.filter(kind="lockout", user=admin_user).exists()


def test_axes_reset_on_success_with_admin_two_factor_is_an_error(settings):
    from django.core.checks import run_checks

    settings.AXES_RESET_ON_SUCCESS = True
    messages = [message for message in run_checks() if message.id == "privacy_kit.E048"]
    assert [message.msg for message in messages] == [
        "AXES_RESET_ON_SUCCESS is True: a password-only login anywhere forgets the wrong admin codes before a lockout."
    ]
    assert (
        messages[0].hint
        == "Set AXES_RESET_ON_SUCCESS = False: failures then end only by AXES_COOLOFF_TIME or an unlock."
    )


def test_axes_reset_on_success_off_is_no_error(settings):
    from django.core.checks import run_checks

    settings.AXES_RESET_ON_SUCCESS = False
    assert [message for message in run_checks() if message.id == "privacy_kit.E048"] == []


# Exports by a clerk


def export(client, order):
    return client.post(ORDERS, {"action": "export_personal_data", "_selected_action": [order.pk]}, follow=True)


def test_clerk_with_only_view_exports_a_customer_is_refused(django_user_model):
    clerk = django_user_model.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(codename="view_order"))
    layla = django_user_model.objects.create_user("layla", password="pw-layla-1")
    client, _ = verified(clerk)
    response = export(client, make_order(layla))
    assert response["Content-Type"].startswith("text/html")
    assert not SecurityEvent.objects.filter(kind="export").exists()


def test_clerk_exports_many_customers_is_logged_and_raises_bulk_access(django_user_model, settings):
    clerk = django_user_model.objects.create_user("exporter", password="pw-exporter-1", is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(codename__in=["view_order", "export_personal_data"]))
    client, _ = verified(clerk)
    threshold = settings.PRIVACY_KIT.get("BULK_ACCESS_THRESHOLD", 50)
    customers = [
        django_user_model.objects.create_user(f"customer{n}", password="pw-customer-1") for n in range(threshold + 1)
    ]
    for customer in customers:
        response = export(client, make_order(customer))
        assert response["Content-Type"].startswith("application/json")
        assert response.getvalue()  # read whole: the download is a spooled file, closed at its end
    assert AccessLog.objects.filter(actor=clerk, fields=["(export)"]).count() == threshold + 1
    assert SecurityEvent.objects.filter(kind="bulk_access", user=clerk).count() == 1


# Personal data shown by privacy_kit's own admin pages and the user admin, with no log

SEARCHED = "pregnancy test near Olaya"


def search_event(user):
    from privacy_kit.models import BehavioralEvent, Purpose

    purpose, _ = Purpose.objects.get_or_create(slug="personalization", defaults={"name": "Personalization"})
    return BehavioralEvent.objects.create(user=user, purpose=purpose, kind="search", data={"q": SEARCHED})


@pytest.mark.urls("tests.urls")
def test_open_a_behavioral_event_shows_the_search_and_is_logged(verified_admin_client, admin_user, django_user_model):
    layla = django_user_model.objects.create_user("layla", password="pw-layla-1")
    event = search_event(layla)
    response = verified_admin_client.get(f"/admin/privacy_kit/behavioralevent/{event.pk}/change/")
    assert response.status_code == 200 and SEARCHED in response.content.decode()
    [entry] = AccessLog.objects.all()
    assert (entry.actor_id, entry.subject_id, entry.model_label, entry.object_id) == (
        admin_user.pk,
        layla.pk,
        "privacy_kit.BehavioralEvent",
        str(event.pk),
    )
    assert entry.fields == ["data"]


@pytest.mark.urls("tests.urls")
def test_open_a_behavioral_event_stays_read_only(verified_admin_client, django_user_model):
    event = search_event(django_user_model.objects.create_user("layla", password="pw-layla-1"))
    url = f"/admin/privacy_kit/behavioralevent/{event.pk}/change/"
    assert verified_admin_client.post(url, {"kind": "cart", "data": "{}"}).status_code == 403
    assert verified_admin_client.get(f"/admin/privacy_kit/behavioralevent/{event.pk}/delete/").status_code == 403
    event.refresh_from_db()
    assert (event.kind, event.data) == ("search", {"q": SEARCHED})


USER_EMAIL, FIRST_NAME, LAST_NAME = "layla.harbi@example.com", "Layla", "Al-Harbi"


@pytest.fixture
def layla(django_user_model):
    return django_user_model.objects.create_user(
        "layla", email=USER_EMAIL, first_name=FIRST_NAME, last_name=LAST_NAME, password="pw-layla-1"
    )


@pytest.mark.urls("tests.urls")
def test_list_users_shows_email_and_names_masked(verified_admin_client, layla):
    response = verified_admin_client.get("/admin/auth/user/")
    page = response.content.decode()
    assert response.status_code == 200 and "layla" in page
    assert USER_EMAIL not in page and FIRST_NAME not in page and LAST_NAME not in page
    assert MASK in page
    assert not AccessLog.objects.exists()


@pytest.mark.urls("tests.urls")
def test_open_a_user_shows_email_and_is_logged(verified_admin_client, admin_user, layla):
    response = verified_admin_client.get(f"/admin/auth/user/{layla.pk}/change/")
    assert response.status_code == 200 and USER_EMAIL in response.content.decode()
    [entry] = AccessLog.objects.all()
    assert (entry.actor_id, entry.subject_id, entry.model_label, entry.object_id) == (
        admin_user.pk,
        layla.pk,
        "auth.User",
        str(layla.pk),
    )
    assert entry.fields == ["first_name", "last_name", "email"]


@pytest.mark.urls("tests.urls")
def test_open_a_user_with_options_is_logged(verified_admin_client, layla):
    response = verified_admin_client.options(f"/admin/auth/user/{layla.pk}/change/")
    assert response.status_code == 200 and USER_EMAIL in response.content.decode()
    assert AccessLog.objects.get().subject_id == layla.pk

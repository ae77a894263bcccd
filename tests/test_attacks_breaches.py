"""The breach register in the admin: escalating events, editing a breach, downloading its notice, and forged posts.

Security events are for superusers only; a staff user who may record breaches still
cannot reach them, so a forged escalation by anyone else changes nothing.
"""

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from privacy_kit.models import AccessLog, Breach, SecurityEvent
from tests.two_factor import verify

pytestmark = pytest.mark.django_db
EVENTS = "/admin/privacy_kit/securityevent/"
BREACHES = "/admin/privacy_kit/breach/"
IP = "203.0.113.7"


def notice_url(entry, language="en", fmt="md"):
    return f"{BREACHES}{entry.pk}/notice/{language}/{fmt}/"


@pytest.fixture
def events(admin_user):
    return [
        SecurityEvent.objects.create(kind=SecurityEvent.Kind.BULK_ACCESS, user=admin_user, ip=IP),
        SecurityEvent.objects.create(kind=SecurityEvent.Kind.LOCKOUT, ip=IP),
    ]


def staff_client(django_user_model, name, *permissions):
    user = django_user_model.objects.create_user(name, password=f"pw-{name}-1", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="privacy_kit", codename=codename))
    client = Client()
    verify(client, user)
    return client, user


def escalate_post(client, events):
    return client.post(EVENTS, {"action": "escalate_to_breach", "_selected_action": [event.pk for event in events]})


def breach(**fields):
    return Breach.objects.create(
        **{"title": "Orders exported", "nature": "A support account exported orders.", **fields}
    )


# -- escalation ------------------------------------------------------------------------


def test_a_superuser_escalates_events_into_a_breach_and_lands_on_it(verified_admin_client, events, admin_user):
    response = escalate_post(verified_admin_client, events)
    [entry] = Breach.objects.all()
    assert response.status_code == 302 and response.url == f"{BREACHES}{entry.pk}/change/"
    assert set(entry.events.all()) == set(events)
    assert entry.recorded_by == admin_user


def test_the_escalate_action_is_offered_on_the_events_page(verified_admin_client, events):
    content = verified_admin_client.get(EVENTS).content.decode()
    assert 'value="escalate_to_breach"' in content


def test_a_forged_escalation_by_staff_without_any_permission_changes_nothing(django_user_model, events):
    client, _user = staff_client(django_user_model, "clerk")
    assert escalate_post(client, events).status_code == 403
    assert not Breach.objects.exists()


def test_a_forged_escalation_by_staff_who_may_record_breaches_changes_nothing(django_user_model, events):
    # Recording a breach is not seeing the security events: those are for superusers.
    client, _user = staff_client(django_user_model, "officer", "add_breach", "change_breach", "view_breach")
    assert escalate_post(client, events).status_code == 403
    assert not Breach.objects.exists()


def test_a_forged_escalation_by_staff_who_may_view_events_but_not_record_breaches_changes_nothing(
    django_user_model, events
):
    client, _user = staff_client(django_user_model, "viewer", "view_securityevent")
    assert escalate_post(client, events).status_code == 403
    assert not Breach.objects.exists()


def test_an_unverified_session_cannot_escalate(client, admin_user, events):
    client.force_login(admin_user)  # the password only: no second factor in this session
    response = escalate_post(client, events)
    assert response.status_code == 302 and "/login/" in response.url
    assert not Breach.objects.exists()


def test_escalating_no_event_changes_nothing(verified_admin_client):
    response = verified_admin_client.post(EVENTS, {"action": "escalate_to_breach", "index": "0"}, follow=True)
    assert "Items must be selected" in response.content.decode()
    assert not Breach.objects.exists()


# -- editing a breach ------------------------------------------------------------------------


def test_staff_who_may_record_breaches_add_one_but_cannot_link_events_by_a_forged_field(django_user_model, events):
    client, officer = staff_client(django_user_model, "officer", "add_breach", "view_breach")
    now = timezone.localtime().strftime("%Y-%m-%d %H:%M:%S")
    date, time = now.split()
    response = client.post(
        f"{BREACHES}add/",
        {
            "title": "Laptop stolen",
            "nature": "A laptop with an orders export was stolen.",
            "detected_at_0": date,
            "detected_at_1": time,
            "aware_at_0": date,
            "aware_at_1": time,
            "status": "open",
            # Forged: none of these is a field of the form.
            "events": [event.pk for event in events],
            "recorded_by": "",
            "closed_at": "2000-01-01 00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    [entry] = Breach.objects.all()
    assert entry.title == "Laptop stolen"
    assert not entry.events.exists()
    assert entry.recorded_by == officer and entry.closed_at is None


def test_the_models_affected_are_chosen_among_the_registered_ones(verified_admin_client):
    entry = breach()
    page = verified_admin_client.get(f"{BREACHES}{entry.pk}/change/").content.decode()
    assert 'value="shop.Order"' in page and 'value="auth.User"' in page
    assert 'value="privacy_kit.BehavioralEvent"' in page


def test_staff_without_the_view_permission_cannot_open_a_breach(django_user_model):
    client, _user = staff_client(django_user_model, "clerk")
    entry = breach()
    assert client.get(f"{BREACHES}{entry.pk}/change/").status_code == 403


def test_nobody_deletes_a_breach_record(verified_admin_client):
    entry = breach()
    response = verified_admin_client.post(f"{BREACHES}{entry.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Breach.objects.filter(pk=entry.pk).exists()


def test_the_change_page_shows_the_clock_and_the_events_without_their_addresses(verified_admin_client, events):
    verified_admin_client.post(EVENTS, {"action": "escalate_to_breach", "_selected_action": [e.pk for e in events]})
    entry = Breach.objects.get()
    page = verified_admin_client.get(f"{BREACHES}{entry.pk}/change/").content.decode()
    assert "bulk access" in page and "lockout" in page
    assert IP not in page
    assert notice_url(entry, "ar", "md") in page and notice_url(entry, "en", "json") in page


def test_the_list_shows_each_clock(verified_admin_client):
    breach(aware_at=timezone.now() - timezone.timedelta(hours=80))
    breach(aware_at=timezone.now() - timezone.timedelta(hours=70))
    page = verified_admin_client.get(BREACHES).content.decode()
    assert "overdue by 8 hours" in page and "due in 2 hours" in page


# -- the notice, downloaded -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "fmt", "start"), [("en", "md", "# Notice of a personal data breach"), ("ar", "md", "# إشعار")]
)
def test_the_notice_downloads_in_each_language(verified_admin_client, language, fmt, start):
    entry = breach()
    response = verified_admin_client.get(notice_url(entry, language, fmt))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="breach-{entry.pk}-notice-{language}.{fmt}"'
    assert response.content.decode().startswith(start)


def test_the_json_notice_downloads_as_json(verified_admin_client):
    entry = breach()
    response = verified_admin_client.get(notice_url(entry, "ar", "json"))
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content)["language"] == "ar"


def test_a_download_of_the_subjects_to_tell_is_logged(verified_admin_client, admin_user):
    entry = breach()
    verified_admin_client.get(notice_url(entry))
    [logged] = AccessLog.objects.filter(model_label="privacy_kit.Breach")
    assert (logged.actor, logged.object_id, logged.fields) == (admin_user, str(entry.pk), ["notice"])


def test_staff_without_the_view_permission_cannot_download_the_notice(django_user_model):
    client, _user = staff_client(django_user_model, "clerk")
    entry = breach()
    assert client.get(notice_url(entry)).status_code == 403
    assert not AccessLog.objects.exists()


@pytest.mark.parametrize(("language", "fmt"), [("fr", "md"), ("en", "pdf"), ("EN", "md")])
def test_an_unknown_language_or_format_is_not_found(verified_admin_client, language, fmt):
    assert verified_admin_client.get(notice_url(breach(), language, fmt)).status_code == 404


def test_a_notice_of_an_unknown_breach_is_not_found(verified_admin_client):
    assert verified_admin_client.get(f"{BREACHES}999/notice/en/md/").status_code == 404


def test_an_unverified_session_cannot_download_the_notice(client, admin_user):
    client.force_login(admin_user)
    response = client.get(notice_url(breach()))
    assert response.status_code == 302 and "/login/" in response.url

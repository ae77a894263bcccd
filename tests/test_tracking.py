import datetime

import pytest
from django.db import connection
from django.utils import timezone

from privacy_kit.consent import grant, withdraw
from privacy_kit.consent.subjects import Subject
from privacy_kit.models import BehavioralEvent, PolicyVersion, Purpose
from privacy_kit.tracking import erase_events, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def policy():
    for slug in ["personalization", "analytics"]:
        Purpose.objects.create(slug=slug, name=slug)
    return PolicyVersion.objects.create(
        version="1", language="en", text="t", effective_at=timezone.now() - datetime.timedelta(days=1)
    )


@pytest.fixture
def users(django_user_model, policy):
    return [django_user_model.objects.create_user(name) for name in ["amal", "bilal"]]


def test_nothing_is_recorded_without_consent(users):
    assert record(users[0], "search", {"q": "saffron"}) is None
    assert not BehavioralEvent.objects.exists()


def test_an_event_is_recorded_under_consent_with_its_data_encrypted(users):
    grant(users[0], ["personalization"], source="banner")
    event = record(users[0], "search", {"q": "زعفران"})
    assert BehavioralEvent.objects.get() == event
    assert BehavioralEvent.objects.get().data == {"q": "زعفران"} and event.purpose.slug == "personalization"
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM privacy_kit_behavioralevent")
        assert "زعفران" not in cursor.fetchone()[0]


def test_consent_to_another_purpose_is_not_enough(users):
    grant(users[0], ["analytics"], source="banner")
    assert record(users[0], "search", {"q": "x"}) is None
    assert record(users[0], "product_view", {"id": 3}, purpose="analytics") is not None
    assert BehavioralEvent.objects.count() == 1


def test_after_withdrawal_nothing_more_is_recorded(users):
    grant(users[0], ["personalization"], source="banner")
    withdraw(users[0], ["personalization"], source="preferences")
    assert record(users[0], "search", {"q": "x"}) is None


def test_withdrawal_erases_exactly_that_purpose_of_exactly_that_subject(users, django_capture_on_commit_callbacks):
    amal = users[0]
    for user in users:
        grant(user, ["personalization", "analytics"], source="banner")
        record(user, "search", {"q": user.username})
        record(user, "product_view", {"id": 1}, purpose="analytics")
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(amal, ["personalization"], source="preferences")
    remaining = {(event.user.username, event.purpose.slug) for event in BehavioralEvent.objects.all()}
    assert remaining == {("amal", "analytics"), ("bilal", "personalization"), ("bilal", "analytics")}


def test_erasure_waits_for_the_commit(users, django_capture_on_commit_callbacks):
    grant(users[0], ["personalization"], source="banner")
    record(users[0], "search", {"q": "x"})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        withdraw(users[0], ["personalization"], source="preferences")
    assert len(callbacks) == 1 and BehavioralEvent.objects.count() == 1


def test_erase_events_is_batched_and_idempotent(users, settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "PURGE_BATCH_SIZE": 3}
    grant(users[0], ["personalization"], source="banner")
    for number in range(10):
        record(users[0], "search", {"n": number})
    who = Subject(user_id=users[0].pk)
    assert erase_events(who, ["personalization"]) == 10
    assert erase_events(who, ["personalization"]) == 0
    assert erase_events(Subject(), ["personalization"]) == 0


def test_a_visitors_withdrawal_erases_only_that_visitors_events(users, django_capture_on_commit_callbacks):
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory

    def visitor():
        request = RequestFactory().get("/")
        request.user = AnonymousUser()
        return request

    first, second = visitor(), visitor()
    for request in (first, second):
        grant(request, ["personalization"], source="banner")
        record(request, "search", {"q": "kabsa"})
    grant(users[0], ["personalization"], source="banner")
    record(users[0], "search", {"q": "kabsa"})
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(first, ["personalization"], source="preferences")
    assert BehavioralEvent.objects.count() == 2
    assert not BehavioralEvent.objects.filter(visitor=first._privacy_visitor).exists()

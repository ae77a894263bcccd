"""Attacks on consent and tracking: a shared browser, a flood of anonymous rows, hostile JSON, made-up sources."""

import datetime
import importlib
import io
import json

import pytest
from celery.signals import task_prerun
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from privacy_kit import tracking
from privacy_kit.conf import app_settings
from privacy_kit.consent import ConsentError, grant, withdraw
from privacy_kit.ledger import LedgerError
from privacy_kit.models import BehavioralEvent, ConsentRecord, PolicyVersion, Purpose
from privacy_kit.tracking import TrackingError

pytestmark = pytest.mark.django_db


def privacy_kit(**values):
    """Return the test settings' PRIVACY_KIT with ``values`` on top."""
    return {**settings.PRIVACY_KIT, **values}

CONSENT = "/privacy/consent/"
API = "/privacy/api/consent/"


@pytest.fixture
def shop():
    """The demo's purposes and policy (as its data migration publishes them) and its catalog."""
    importlib.import_module("example_shop.shop.migrations.0002_purposes_and_policy").publish(apps, None)
    call_command("seed_shop", stdout=io.StringIO())


@pytest.fixture
def policy():
    for slug in ("analytics", "personalization"):
        Purpose.objects.create(slug=slug, name=slug.title())
    return PolicyVersion.objects.create(
        version="1", language="en", text="Policy", effective_at=timezone.now() - datetime.timedelta(days=1)
    )


@pytest.fixture
def queued_erasures():
    """Collect the purposes of every behavioral erasure task that runs."""
    queued = []

    def receiver(sender=None, kwargs=None, **extra):
        if sender is not None and sender.name == "privacy_kit.erase_behavioral_for_purpose":
            queued.append(kwargs)

    task_prerun.connect(receiver, weak=False)
    yield queued
    task_prerun.disconnect(receiver)


# Item: a shared browser hands one person's consent and history to the next account.


def test_second_customer_on_a_shared_browser_inherits_neither_consent_nor_search(shop, django_user_model):
    first = django_user_model.objects.create_user("first", password="pw-First-1")
    second = django_user_model.objects.create_user("second", password="pw-Second-1")
    browser = Client()
    browser.post(CONSENT, {"choice": "accept_all", "next": "/"})
    browser.post("/accounts/login/", {"username": "first", "password": "pw-First-1"})
    browser.post("/accounts/logout/")
    browser.get("/search/", {"q": "dates"})
    browser.post("/accounts/login/", {"username": "second", "password": "pw-Second-1"})

    assert ConsentRecord.objects.filter(user=first).exists()
    assert not ConsentRecord.objects.filter(user=second).exists()
    assert not BehavioralEvent.objects.filter(user=second).exists()


def test_visitor_id_is_forgotten_at_login_and_at_logout_and_the_next_decision_gets_a_new_one(shop, django_user_model):
    django_user_model.objects.create_user("first", password="pw-First-1")
    browser = Client()
    name = app_settings.CONSENT_COOKIE_NAME
    browser.post(CONSENT, {"choice": "accept_all", "next": "/"})
    first_visitor = browser.cookies[name].value
    browser.post("/accounts/login/", {"username": "first", "password": "pw-First-1"})
    at_login = (browser.cookies[name].value, browser.cookies[name]["max-age"])
    browser.post(CONSENT, {"choice": "accept_all", "next": "/"})  # as the user: no visitor id is made
    browser.post("/accounts/logout/")
    at_logout = (browser.cookies[name].value, browser.cookies[name]["max-age"])
    browser.post(CONSENT, {"choice": "reject_all", "next": "/"})

    assert at_login == at_logout == ("", 0)
    assert browser.cookies[name].value not in ("", first_visitor)


# Item: anonymous visitors write permanent rows without limit.


@override_settings(PRIVACY_KIT=privacy_kit(CONSENT_RATE_LIMIT={"per_address": 5, "per_visitor": 3}))
def test_banner_posts_with_the_cookie_dropped_each_time_are_limited_per_address(policy):
    statuses = []
    for _ in range(8):
        statuses.append(Client().post(CONSENT, {"choice": "accept_all", "next": "/"}).status_code)

    assert statuses == [303] * 5 + [429] * 3
    assert ConsentRecord.objects.count() == 5 * 2


@override_settings(PRIVACY_KIT=privacy_kit(CONSENT_RATE_LIMIT={"per_address": 100, "per_visitor": 3}))
def test_api_toggles_of_one_visitor_are_limited_per_visitor(policy):
    browser = Client()
    statuses = []
    for index in range(5):
        body = {"grant": ["analytics"]} if index % 2 else {"withdraw": ["analytics"]}
        statuses.append(browser.post(API, json.dumps(body), content_type="application/json").status_code)

    # The first request has no visitor id yet: its answer makes one, counted from the second on.
    assert statuses == [200] * 4 + [429]
    assert ConsentRecord.objects.count() == 4


@override_settings(PRIVACY_KIT=privacy_kit(CONSENT_RATE_LIMIT={"per_address": 1, "per_visitor": 1}))
def test_a_rate_limited_request_gets_429_and_writes_nothing(policy):
    Client().post(CONSENT, {"choice": "accept_all", "next": "/"})
    response = Client().post(CONSENT, {"choice": "reject_all", "next": "/"})

    assert response.status_code == 429
    assert response.content.decode() == "Too many consent changes from this browser or network. Please try again later."
    assert 0 < int(response["Retry-After"]) <= 3600
    assert sorted(ConsentRecord.objects.values_list("action", flat=True)) == ["grant", "grant"]


def test_anonymous_reject_all_queues_no_erasure_for_a_visitor_with_no_events(
    policy, queued_erasures, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        Client().post(CONSENT, {"choice": "reject_all", "next": "/"})

    assert ConsentRecord.objects.filter(action="withdraw").count() == 2
    assert queued_erasures == []
    assert len(callbacks) == 1  # the check ran, and found nothing to erase


def test_withdrawing_with_events_kept_still_queues_their_erasure(
    policy, queued_erasures, django_user_model, django_capture_on_commit_callbacks
):
    user = django_user_model.objects.create_user("layla")
    grant(user, ["personalization"], source="account")
    tracking.record(user, "search", {"q": "dates"})
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(user, ["personalization"], source="account")

    assert [entry["purposes"] for entry in queued_erasures] == [["personalization"]]
    assert not BehavioralEvent.objects.exists()


def test_tracking_a_10_megabyte_payload_is_refused(policy, django_user_model):
    user = django_user_model.objects.create_user("layla")
    grant(user, ["personalization"], source="account")

    with pytest.raises(TrackingError) as error:
        tracking.record(user, "search", {"q": "x" * 10_000_000})
    assert str(error.value) == (
        "Behavioral event data of kind 'search' is 10000009 bytes as JSON; "
        "the limit is 16384 (PRIVACY_KIT['TRACKING_DATA_MAX_BYTES'])."
    )
    assert not BehavioralEvent.objects.exists()


def test_tracking_a_kind_over_40_characters_is_a_clear_error_not_a_database_error(policy, django_user_model):
    user = django_user_model.objects.create_user("layla")
    grant(user, ["personalization"], source="account")

    with pytest.raises(TrackingError) as error:
        tracking.record(user, "k" * 41, {})
    assert str(error.value) == (
        "A behavioral event kind is a slug of at most 40 characters (letters, digits, _ and -), not 41 characters."
    )


def test_visitor_only_ledger_rows_past_their_retention_are_purged(policy):
    from privacy_kit.consent import purge_visitor_records

    Client().post(CONSENT, {"choice": "accept_all", "next": "/"})
    period = app_settings.CONSENT_COOKIE_DAYS + app_settings.CONSENT_EVIDENCE_DAYS
    later = timezone.now() + datetime.timedelta(days=period, hours=1)

    assert purge_visitor_records(now=later) == 2
    assert not ConsentRecord.objects.exists()


def test_visitor_only_ledger_rows_within_their_retention_and_user_rows_stay(policy, django_user_model):
    from privacy_kit.consent import purge_visitor_records

    user = django_user_model.objects.create_user("layla")
    grant(user, ["analytics"], source="account")
    Client().post(CONSENT, {"choice": "accept_all", "next": "/"})
    period = app_settings.CONSENT_COOKIE_DAYS + app_settings.CONSENT_EVIDENCE_DAYS

    assert purge_visitor_records(now=timezone.now() + datetime.timedelta(days=period - 1)) == 0
    assert purge_visitor_records(now=timezone.now() + datetime.timedelta(days=period + 1)) == 2
    assert list(ConsentRecord.objects.values_list("user", flat=True)) == [user.pk]


# Item: deeply nested JSON and huge slug lists.


def test_20_kilobytes_of_nested_json_to_the_api_is_a_400_for_its_size(policy):
    response = Client().post(API, "[" * 20_000, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "error": "The request body is larger than 16384 bytes: send only the purposes to change."
    }


def test_deeply_nested_json_within_the_size_cap_is_a_400_not_a_recursion_error(policy):
    response = Client().post(API, "[" * 16_000, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "error": 'Send a JSON object such as {"grant": ["analytics"], "withdraw": ["marketing"]}.'
    }


def test_a_megabyte_of_slugs_is_a_400_and_is_not_echoed(policy):
    body = json.dumps({"grant": [f"slug-{index}" for index in range(100_000)]})
    response = Client().post(API, body, content_type="application/json")

    assert response.status_code == 400
    assert len(response.content) < 300


def test_unknown_slugs_are_echoed_at_most_a_few(policy):
    body = json.dumps({"grant": [f"slug-{index}" for index in range(50)]})
    response = Client().post(API, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"error": "Unknown purpose: slug-0, slug-1, slug-2, slug-3, slug-4 (and 45 more)."}


# Item: consent sources declared by the shop.


@override_settings(PRIVACY_KIT=privacy_kit(CONSENT_SOURCES=["mobile_app", "call_centre"]))
def test_a_source_declared_in_settings_is_recorded(policy, django_user_model):
    user = django_user_model.objects.create_user("layla")
    (record,) = grant(user, ["analytics"], source="mobile_app")

    assert ConsentRecord.objects.get(pk=record.pk).source == "mobile_app"


@override_settings(PRIVACY_KIT=privacy_kit(CONSENT_SOURCES=["mobile_app"]))
def test_an_undeclared_source_is_still_refused(policy, django_user_model):
    user = django_user_model.objects.create_user("layla")

    with pytest.raises(ConsentError) as error:
        grant(user, ["analytics"], source="fax")
    assert str(error.value) == (
        "Unknown consent source 'fax'; use one of banner, preferences, checkout, account, api, login, erasure, "
        "mobile_app, or declare it in PRIVACY_KIT['CONSENT_SOURCES']."
    )


def test_the_nightly_purge_also_purges_expired_visitor_consent_rows(policy):
    from privacy_kit.tasks import purge_expired

    Client().post(CONSENT, {"choice": "accept_all", "next": "/"})
    period = app_settings.CONSENT_COOKIE_DAYS + app_settings.CONSENT_EVIDENCE_DAYS
    ConsentRecord.objects.anonymize(created_at=timezone.now() - datetime.timedelta(days=period + 1))
    purge_expired.delay().get()

    assert not ConsentRecord.objects.exists()


def test_visitor_consent_rows_still_refuse_an_ordinary_delete(policy):
    Client().post(CONSENT, {"choice": "accept_all", "next": "/"})

    with pytest.raises(LedgerError):
        ConsentRecord.objects.filter(user__isnull=True).delete()


def consent_check_ids():
    from django.core import checks

    return [message.id for message in checks.run_checks() if message.id in ("privacy_kit.E022", "privacy_kit.E023")]


@override_settings(PRIVACY_KIT=privacy_kit(CONSENT_SOURCES=["Call Centre", "x" * 21, "mobile_app"]))
def test_a_declared_source_the_ledger_cannot_store_fails_check_e022():
    assert consent_check_ids() == ["privacy_kit.E022", "privacy_kit.E022"]


@override_settings(PRIVACY_KIT=privacy_kit(CONSENT_RATE_LIMIT={"per_address": 0}))
def test_a_rate_limit_of_zero_fails_check_e023():
    assert consent_check_ids() == ["privacy_kit.E023"]


@override_settings(PRIVACY_KIT=privacy_kit(CONSENT_SOURCES=["mobile_app"], CONSENT_RATE_LIMIT={"per_visitor": 10}))
def test_declared_sources_and_rate_limits_pass_the_checks():
    assert consent_check_ids() == []


def test_a_long_unknown_slug_on_the_preferences_page_is_echoed_cut_short(policy):
    response = Client().post("/privacy/preferences/", {"purpose": "x" * 100_000, "action": "grant"})

    assert response.status_code == 400
    assert response.content.decode() == f"Unknown purpose: {'x' * 50}…."

import datetime

import pytest
from django.contrib.auth import login
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from privacy_kit import consent, crypto
from privacy_kit.consent import NoPolicyError, UnknownPurposeError, grant, has_consent, withdraw
from privacy_kit.consent.subjects import subject_of, visitor_id
from privacy_kit.middleware import ConsentMiddleware, PrivacyContext
from privacy_kit.models import ConsentRecord, LedgerError, PolicyVersion, Purpose
from privacy_kit.tracking import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def purposes():
    return {
        slug: Purpose.objects.create(slug=slug, name=slug.title(), requires_consent=slug != "necessary")
        for slug in ["analytics", "personalization", "marketing", "necessary"]
    }


def publish(version, *, days_ago=1, reconsent=False, language="en"):
    return PolicyVersion.objects.create(
        version=version,
        language=language,
        text=f"Policy {version} ({language})",
        effective_at=timezone.now() - datetime.timedelta(days=days_ago),
        requires_reconsent=reconsent,
    )


@pytest.fixture
def policy(purposes):
    return publish("1")


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("layla", password="pw-Layla-1")


def visitor_request(cookies=None):
    """A request through ConsentMiddleware, as an anonymous visitor."""
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="pytest")
    request.COOKIES.update(cookies or {})
    request.user = AnonymousUser()
    request.session = SessionStore()
    request.privacy = PrivacyContext(request)  # what ConsentMiddleware attaches
    return request


# -- grant, withdraw, has_consent --------------------------------------------------


def test_grant_records_who_what_when_how_and_under_which_text(user, policy):
    request = visitor_request()
    [entry] = grant(user, ["analytics"], source="account", request=request)
    stored = ConsentRecord.objects.get()
    assert stored.pk == entry.pk
    assert (stored.user, stored.purpose.slug, stored.action, stored.policy_version, stored.source) == (
        user,
        "analytics",
        "grant",
        policy,
        "account",
    )
    assert stored.ip_hash and "203.0.113.9" not in stored.ip_hash and stored.user_agent == "pytest"
    assert has_consent(user, "analytics") and not has_consent(user, "marketing")


def test_withdraw_ends_consent(user, policy):
    grant(user, ["analytics", "marketing"], source="banner")
    withdraw(user, ["analytics"], source="preferences")
    assert not has_consent(user, "analytics") and has_consent(user, "marketing")
    assert ConsentRecord.objects.count() == 3


def test_the_latest_decision_wins(user, policy):
    for _ in range(2):
        grant(user, ["analytics"], source="banner")
        withdraw(user, ["analytics"], source="banner")
    assert not has_consent(user, "analytics")
    grant(user, ["analytics"], source="banner")
    assert has_consent(user, "analytics")


def test_grant_without_a_published_policy_is_refused_and_records_nothing(user, purposes):
    publish("future", days_ago=-3)
    with pytest.raises(NoPolicyError, match="No privacy policy is in effect"):
        grant(user, ["analytics"], source="banner")
    assert not ConsentRecord.objects.exists()


def test_unknown_purpose_is_refused_and_records_nothing(user, policy):
    with pytest.raises(UnknownPurposeError, match="'nope'"):
        grant(user, ["analytics", "nope"], source="banner")
    assert not ConsentRecord.objects.exists()


def test_unknown_source_and_a_bare_string_are_refused(user, policy):
    with pytest.raises(consent.ConsentError):
        grant(user, ["analytics"], source="telepathy")
    with pytest.raises(TypeError):
        grant(user, "analytics", source="banner")
    assert not ConsentRecord.objects.exists()


def test_purpose_that_needs_no_consent_is_always_allowed_for_a_known_subject(user, policy):
    assert has_consent(user, "necessary")
    assert not has_consent(user, "unknown-purpose")


def test_an_anonymous_user_object_is_not_a_subject(policy):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(TypeError):
        grant(AnonymousUser(), ["analytics"], source="banner")


# -- policy versions and re-consent ----------------------------------------------------


def test_new_version_without_reconsent_keeps_earlier_grants(user, policy):
    grant(user, ["analytics"], source="banner")
    publish("1.1", days_ago=0)
    assert has_consent(user, "analytics")


def test_version_requiring_reconsent_makes_earlier_grants_lapse(user, policy):
    grant(user, ["analytics"], source="banner")
    publish("2", days_ago=0, reconsent=True)
    assert not has_consent(user, "analytics")
    [renewed] = grant(user, ["analytics"], source="banner")
    assert renewed.policy_version.version == "2" and has_consent(user, "analytics")


def test_a_reconsent_version_not_yet_in_effect_changes_nothing(user, policy):
    grant(user, ["analytics"], source="banner")
    publish("3", days_ago=-10, reconsent=True)
    assert has_consent(user, "analytics")


def test_grant_records_the_policy_in_the_visitors_language(user, purposes):
    publish("1", language="en")
    arabic = publish("1", language="ar")
    from django.utils import translation

    with translation.override("ar"):
        [entry] = grant(user, ["analytics"], source="banner")
    assert entry.policy_version == arabic


def test_effective_policy_is_immutable(policy):
    policy.text = "quietly changed"
    with pytest.raises(LedgerError, match="publish a new version"):
        policy.save()
    with pytest.raises(LedgerError):
        policy.delete()
    policy.refresh_from_db()
    assert policy.text == "Policy 1 (en)"


def test_a_future_policy_can_still_be_edited_and_its_hash_follows(purposes):
    draft = publish("draft", days_ago=-5)
    draft.text = "better wording"
    draft.save()
    import hashlib

    assert PolicyVersion.objects.get(pk=draft.pk).text_sha256 == hashlib.sha256(b"better wording").hexdigest()


# -- the ledger is append-only --------------------------------------------------------


def test_consent_records_cannot_be_changed_or_deleted_through_the_orm(user, policy):
    [entry] = grant(user, ["analytics"], source="banner")
    entry.action = "withdraw"
    with pytest.raises(LedgerError):
        entry.save()
    with pytest.raises(LedgerError):
        entry.delete()
    with pytest.raises(LedgerError):
        ConsentRecord.objects.filter(pk=entry.pk).update(action="withdraw")
    with pytest.raises(LedgerError):
        ConsentRecord.objects.all().delete()
    assert ConsentRecord.objects.get().action == "grant"


def test_deleting_a_user_keeps_the_ledger(user, policy):
    grant(user, ["analytics"], source="banner")
    user.delete()
    assert ConsentRecord.objects.get().user is None


# -- anonymous visitors ------------------------------------------------------------


def test_a_visitor_gets_a_consent_id_on_the_first_grant(policy):
    request = visitor_request()
    assert visitor_id(request) is None
    grant(request, ["analytics"], source="banner")
    assert visitor_id(request) is not None
    assert ConsentRecord.objects.get().visitor == visitor_id(request)
    assert request.privacy.has("analytics")


def test_visitor_consent_follows_the_signed_cookie_and_nothing_else(policy):
    first = visitor_request()
    grant(first, ["analytics"], source="banner")
    response = ConsentMiddleware(lambda r: HttpResponse())(first)
    cookie = response.cookies["privacy_consent"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    again = visitor_request({"privacy_consent": cookie.value})
    assert has_consent(again, "analytics")
    forged = visitor_request({"privacy_consent": cookie.value[:-1] + ("A" if cookie.value[-1] != "A" else "B")})
    assert not has_consent(forged, "analytics") and visitor_id(forged) is None
    unsigned = visitor_request({"privacy_consent": str(visitor_id(first))})
    assert not has_consent(unsigned, "analytics")


def test_an_expired_cookie_counts_as_no_consent(policy, settings):
    first = visitor_request()
    grant(first, ["analytics"], source="banner")
    response = ConsentMiddleware(lambda r: HttpResponse())(first)
    cookie = response.cookies["privacy_consent"].value
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "CONSENT_COOKIE_DAYS": 0}
    import time

    time.sleep(1.1)
    assert not has_consent(visitor_request({"privacy_consent": cookie}), "analytics")


def test_login_carries_the_visitors_consent_and_events_to_the_user(user, policy):
    request = visitor_request()
    grant(request, ["personalization"], source="banner")
    event = record(request, "search", {"q": "oud"})
    visitor = visitor_id(request)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    assert has_consent(user, "personalization")
    event.refresh_from_db()
    assert event.user == user and event.visitor is None and event.data == {"q": "oud"}
    # A visitor's event is sealed under the shared keys; the user's is under the user's own key.
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM privacy_kit_behavioralevent WHERE id = %s", [event.pk])
        assert crypto.is_subject_envelope(cursor.fetchone()[0])
    carried = ConsentRecord.objects.get(user=user)
    assert carried.source == "login" and carried.visitor == visitor


def test_login_twice_does_not_duplicate_and_never_overrides_a_newer_user_decision(user, policy):
    request = visitor_request()
    grant(request, ["personalization", "analytics"], source="banner")
    withdraw(user, ["analytics"], source="account")  # the user's own, newer decision
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    assert ConsentRecord.objects.filter(user=user, source="login").count() == 1
    assert has_consent(user, "personalization") and not has_consent(user, "analytics")


# -- the middleware ------------------------------------------------------------------


def test_middleware_costs_no_query_for_a_visitor_without_cookie(policy, django_assert_num_queries):
    request = visitor_request()
    with django_assert_num_queries(0):
        assert not request.privacy.has("analytics")
        assert not request.privacy.has("marketing")


def test_middleware_costs_one_query_however_often_it_is_asked(user, policy, django_assert_num_queries):
    grant(user, ["analytics"], source="banner")
    request = visitor_request()
    request.user = user
    with django_assert_num_queries(1):
        for _ in range(5):
            assert request.privacy.has("analytics") and not request.privacy.has("marketing")
        assert not request.privacy.decided


def test_subject_of_a_request_prefers_the_user(user, policy):
    request = visitor_request()
    request.user = user
    assert subject_of(request).user_id == user.pk


def test_a_lapsed_grant_is_a_question_to_ask_again(user, policy):
    from privacy_kit.consent import state_of

    grant(user, ["analytics"], source="banner")
    withdraw(user, ["marketing"], source="banner")
    publish("2", days_ago=0, reconsent=True)
    state = state_of(user)
    assert not state["analytics"].decided and not state["analytics"].granted
    assert state["marketing"].decided

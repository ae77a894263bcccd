"""The consent pages: banner, preferences, policy, JSON API and the consent_required decorator."""

import datetime
import json
import re
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory
from django.utils import timezone

from privacy_kit.conf import app_settings
from privacy_kit.consent import grant, has_consent
from privacy_kit.consent.subjects import COOKIE_SALT
from privacy_kit.models import BehavioralEvent, ConsentRecord, PolicyVersion, Purpose

pytestmark = pytest.mark.django_db

SHOP = "/tests/banner/"
CONSENT = "/privacy/consent/"
PREFERENCES = "/privacy/preferences/"
POLICY = "/privacy/policy/"
API = "/privacy/api/consent/"
ANALYTICS = "/tests/analytics/"
ASKING = ["analytics", "marketing", "personalization"]  # the purposes that need consent


@pytest.fixture
def purposes():
    return {
        slug: Purpose.objects.create(
            slug=slug, name=f"{slug.title()} name", description=f"Why {slug}", requires_consent=slug != "necessary"
        )
        for slug in [*ASKING, "necessary"]
    }


@pytest.fixture
def policy(purposes):
    return PolicyVersion.objects.create(
        version="1", language="en", text="Policy one", effective_at=timezone.now() - datetime.timedelta(days=1)
    )


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("layla", password="pw-Layla-1")


def cookie_of(client):
    morsel = client.cookies.get(app_settings.CONSENT_COOKIE_NAME)
    return morsel.value if morsel is not None and morsel.value else None


def visitor_of(client):
    """Return the visitor id that the client's consent cookie carries (checking its signature)."""
    request = RequestFactory().get("/")
    request.COOKIES[app_settings.CONSENT_COOKIE_NAME] = cookie_of(client)
    return uuid.UUID(request.get_signed_cookie(app_settings.CONSENT_COOKIE_NAME, salt=COOKIE_SALT))


def ledger(**filters):
    """Return the consent records as (user id, visitor, purpose, action, source), oldest first."""
    rows = ConsentRecord.objects.filter(**filters).order_by("created_at", "pk")
    return [(row.user_id, row.visitor, row.purpose.slug, row.action, row.source) for row in rows]


def banner_shown(client):
    page = client.get(SHOP)
    assert page.status_code == 200 and "A shop page" in page.content.decode()
    return 'id="privacy-banner"' in page.content.decode()


def api_state(client):
    response = client.get(API)
    assert response.status_code == 200
    return {entry["slug"]: entry for entry in response.json()["purposes"]}


# -- banner ------------------------------------------------------------------------


def test_banner_returns_to_the_page_without_its_query(client, policy):
    # A search typed before consent must not be replayed (and recorded) after it.
    html = client.get(SHOP, {"q": "oud"}).content.decode()
    assert f'<input type="hidden" name="next" value="{SHOP}">' in html


def test_banner_is_shown_to_a_new_visitor(client, policy):
    html = client.get(SHOP).content.decode()
    assert 'id="privacy-banner"' in html
    assert f'action="{CONSENT}"' in html and 'name="csrfmiddlewaretoken"' in html
    assert f'<input type="hidden" name="next" value="{SHOP}">' in html
    assert 'name="choice" value="accept_all"' in html and 'name="choice" value="reject_all"' in html
    assert 'name="choice" value="save"' in html and "<details" in html
    for slug in ASKING:
        assert f'name="purposes" value="{slug}"' in html
    assert 'value="necessary"' not in html
    assert f'href="{POLICY}"' in html
    assert ConsentRecord.objects.count() == 0


def test_banner_buttons_are_equally_prominent(client, policy):
    html = client.get(SHOP).content.decode()
    accept = re.search(r'<button([^>]*)value="accept_all"([^>]*)>', html)
    reject = re.search(r'<button([^>]*)value="reject_all"([^>]*)>', html)
    assert accept and reject and accept.groups() == reject.groups()


def test_banner_is_hidden_after_a_decision(client, policy):
    assert banner_shown(client)
    client.post(CONSENT, {"choice": "reject_all", "next": SHOP})
    assert not banner_shown(client)


def test_banner_comes_back_when_a_new_purpose_needs_consent(client, policy):
    client.post(CONSENT, {"choice": "accept_all"})
    Purpose.objects.create(slug="newsletter", name="Newsletter")
    assert banner_shown(client)


def test_banner_is_hidden_without_a_published_policy(client, purposes):
    PolicyVersion.objects.create(
        version="2", language="en", text="Not yet", effective_at=timezone.now() + datetime.timedelta(days=1)
    )
    assert not banner_shown(client)


def test_banner_is_hidden_when_no_purpose_needs_consent(client, policy):
    Purpose.objects.filter(requires_consent=True).delete()
    assert not banner_shown(client)


SETUP_HINT = 'class="privacy-banner-setup"'


def test_banner_with_nothing_to_ask_shows_under_debug_what_to_create(client, settings):
    settings.DEBUG = True
    html = client.get(SHOP).content.decode()
    assert SETUP_HINT in html and 'id="privacy-banner"' not in html
    assert "<code>Purpose</code> with <code>requires_consent</code>" in html
    assert "<code>PolicyVersion</code> in effect" in html


def test_the_debug_hint_names_only_what_is_missing(client, settings, purposes):
    settings.DEBUG = True
    html = client.get(SHOP).content.decode()
    assert SETUP_HINT in html and "<code>PolicyVersion</code> in effect" in html
    assert "<code>Purpose</code> with" not in html


def test_banner_with_nothing_to_ask_shows_nothing_without_debug(client):
    html = client.get(SHOP).content.decode()
    assert "A shop page" in html and SETUP_HINT not in html and "privacy_kit:" not in html


def test_the_debug_hint_goes_once_the_banner_can_ask(client, settings, policy):
    settings.DEBUG = True
    html = client.get(SHOP).content.decode()
    assert 'id="privacy-banner"' in html and SETUP_HINT not in html


def banner_warnings(**kwargs):
    from django.core import checks

    return [message for message in checks.run_checks(**kwargs) if message.id == "privacy_kit.W037"]


def test_no_purpose_and_no_policy_is_a_warning_with_the_database():
    [warning] = banner_warnings(databases=["default"])
    assert warning.msg == (
        "{% consent_banner %} renders nothing: no Purpose requires consent and no PolicyVersion is in effect."
    )
    assert banner_warnings() == []  # only with --database


def test_a_purpose_without_a_policy_is_a_warning_naming_the_policy(purposes):
    [warning] = banner_warnings(databases=["default"])
    assert warning.msg.endswith("renders nothing: no PolicyVersion is in effect.")


def test_a_purpose_and_a_policy_in_effect_pass_the_banner_check(policy):
    assert banner_warnings(databases=["default"]) == []


def test_the_stylesheet_is_found_by_staticfiles_and_styles_every_class_of_the_pages():
    from pathlib import Path

    from django.contrib.staticfiles import finders

    import privacy_kit

    stylesheet = finders.find("privacy_kit/consent.css")
    assert stylesheet is not None
    css = Path(stylesheet).read_text(encoding="utf-8")
    templates = Path(privacy_kit.__file__).parent / "templates" / "privacy_kit"
    used = {
        name
        for template in templates.glob("*.html")
        for attribute in re.findall(r'class="([^"{]*)"', template.read_text(encoding="utf-8"))
        for name in attribute.split()
    }
    assert {"privacy-banner", "privacy-banner__button", "privacy-banner-setup"} <= used
    missing = sorted(name for name in used if not re.search(rf"\.{re.escape(name)}(?![\w-])", css))
    assert missing == [], f"privacy_kit/static/privacy_kit/consent.css does not style {missing}"


def test_banner_without_consent_middleware_names_the_line_to_add(client, policy, settings):
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if "ConsentMiddleware" not in name]
    with pytest.raises(ImproperlyConfigured, match=r"privacy_kit\.middleware\.ConsentMiddleware"):
        client.get(SHOP)


# -- banner submit -----------------------------------------------------------------


def test_accept_all_grants_every_purpose_that_needs_consent(client, policy):
    response = client.post(CONSENT, {"choice": "accept_all", "next": SHOP})
    assert response.status_code == 303 and response["Location"] == SHOP
    visitor = visitor_of(client)
    assert ledger() == [(None, visitor, slug, "grant", "banner") for slug in ASKING]
    assert set(ConsentRecord.objects.values_list("policy_version", flat=True)) == {policy.pk}


def test_reject_all_withdraws_every_purpose_even_one_never_granted(client, policy):
    response = client.post(CONSENT, {"choice": "reject_all", "next": SHOP})
    assert response.status_code == 303
    assert ledger() == [(None, visitor_of(client), slug, "withdraw", "banner") for slug in ASKING]


def test_save_grants_the_ticked_purposes_and_withdraws_the_others(client, policy):
    response = client.post(CONSENT, {"choice": "save", "purposes": ["marketing", "analytics"], "next": SHOP})
    assert response.status_code == 303
    visitor = visitor_of(client)
    assert sorted(ledger()) == sorted(
        [
            (None, visitor, "analytics", "grant", "banner"),
            (None, visitor, "marketing", "grant", "banner"),
            (None, visitor, "personalization", "withdraw", "banner"),
        ]
    )


def test_save_with_nothing_ticked_withdraws_everything(client, policy):
    client.post(CONSENT, {"choice": "save"})
    assert [row[2:4] for row in ledger()] == [(slug, "withdraw") for slug in ASKING]


def test_the_visitor_cookie_is_signed_httponly_and_samesite(client, policy):
    client.post(CONSENT, {"choice": "accept_all"})
    morsel = client.cookies[app_settings.CONSENT_COOKIE_NAME]
    assert morsel["httponly"] is True and morsel["samesite"] == "Lax"
    assert int(morsel["max-age"]) == app_settings.CONSENT_COOKIE_DAYS * 86400
    visitor = visitor_of(client)  # raises BadSignature unless signed with privacy_kit's salt
    assert str(visitor) != morsel.value
    assert set(ConsentRecord.objects.values_list("visitor", flat=True)) == {visitor}


def test_the_visitors_consent_survives_later_requests_through_the_cookie(client, policy):
    client.post(CONSENT, {"choice": "save", "purposes": ["analytics"]})
    state = api_state(client)
    assert state["analytics"]["granted"] and state["analytics"]["decided"]
    assert not state["marketing"]["granted"] and state["marketing"]["decided"]
    assert client.get(ANALYTICS).status_code == 200


@pytest.mark.parametrize("next_url", ["/tests/banner/?page=2", "/privacy/preferences/"])
def test_submit_goes_back_to_a_page_of_the_site(client, policy, next_url):
    response = client.post(CONSENT, {"choice": "accept_all", "next": next_url})
    assert response.status_code == 303 and response["Location"] == next_url


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", ""])
def test_submit_never_goes_to_another_site(client, policy, next_url):
    response = client.post(CONSENT, {"choice": "accept_all", "next": next_url})
    assert response.status_code == 303 and response["Location"] == "/"
    assert len(ledger()) == len(ASKING)


def test_banner_is_only_posted(client, policy):
    assert client.get(CONSENT, {"choice": "accept_all"}).status_code == 405
    assert ConsentRecord.objects.count() == 0


def test_unknown_purpose_is_refused_and_records_nothing(client, policy):
    response = client.post(CONSENT, {"choice": "save", "purposes": ["analytics", "mind-reading"]})
    assert response.status_code == 400 and "mind-reading" in response.content.decode()
    assert ConsentRecord.objects.count() == 0
    assert cookie_of(client) is None


def test_unknown_choice_is_refused_and_records_nothing(client, policy):
    assert client.post(CONSENT, {"choice": "accept_some"}).status_code == 400
    assert client.post(CONSENT, {}).status_code == 400
    assert ConsentRecord.objects.count() == 0


# -- forged cookies, other subjects, CSRF ------------------------------------------


def change_one_char(text, position):
    replacement = "0" if text[position] != "0" else "1"
    return text[:position] + replacement + text[position + 1 :]


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda value, visitor: change_one_char(value, 0), id="visitor-id-changed"),
        pytest.param(lambda value, visitor: change_one_char(value, len(value) - 1), id="signature-changed"),
        pytest.param(lambda value, visitor: str(visitor), id="unsigned-id"),
        pytest.param(lambda value, visitor: f"{visitor}:garbage", id="made-up-signature"),
    ],
)
def test_a_forged_or_tampered_cookie_is_no_consent_never_someone_elses(policy, forge):
    alice = Client()
    alice.post(CONSENT, {"choice": "accept_all"})
    alices_cookie, alice_id = cookie_of(alice), visitor_of(alice)
    mallory = Client()
    mallory.cookies[app_settings.CONSENT_COOKIE_NAME] = forge(alices_cookie, alice_id)
    assert mallory.cookies[app_settings.CONSENT_COOKIE_NAME].value != alices_cookie

    assert not any(entry["decided"] or entry["granted"] for entry in api_state(mallory).values())
    assert mallory.get(ANALYTICS).status_code == 403
    assert banner_shown(mallory)
    mallory.post(CONSENT, {"choice": "reject_all"})

    mallory_id = visitor_of(mallory)
    assert mallory_id != alice_id
    assert ledger(visitor=alice_id) == [(None, alice_id, slug, "grant", "banner") for slug in ASKING]
    assert ledger(visitor=mallory_id) == [(None, mallory_id, slug, "withdraw", "banner") for slug in ASKING]
    assert all(entry["granted"] for slug, entry in api_state(alice).items() if slug in ASKING)


def test_another_subjects_ids_in_the_form_are_ignored(client, policy, user):
    alice = Client()
    alice.post(CONSENT, {"choice": "accept_all"})
    alice_id = visitor_of(alice)
    grant(user, ["analytics"], source="account")
    forged = {"user": user.pk, "user_id": user.pk, "visitor": str(alice_id)}

    client.post(CONSENT, {"choice": "reject_all", **forged})
    client.post(PREFERENCES, {"purpose": "marketing", "action": "grant", **forged})

    mine = visitor_of(client)
    assert mine != alice_id
    assert ledger(user=user) == [(user.pk, None, "analytics", "grant", "account")]
    assert ledger(visitor=alice_id) == [(None, alice_id, slug, "grant", "banner") for slug in ASKING]
    assert ledger(visitor=mine) == [
        *[(None, mine, slug, "withdraw", "banner") for slug in ASKING],
        (None, mine, "marketing", "grant", "preferences"),
    ]
    assert has_consent(user, "analytics") and not has_consent(user, "marketing")


def test_another_subjects_ids_in_the_json_are_ignored(client, policy, user):
    alice = Client()
    alice.post(CONSENT, {"choice": "accept_all"})
    alice_id = visitor_of(alice)
    grant(user, ["analytics"], source="account")
    body = {"withdraw": ["analytics"], "user": user.pk, "user_id": user.pk, "visitor": str(alice_id)}

    response = client.post(API, json.dumps(body), content_type="application/json")

    assert response.status_code == 200
    mine = visitor_of(client)
    assert mine != alice_id
    assert ledger(user=user) == [(user.pk, None, "analytics", "grant", "account")]
    assert ledger(visitor=alice_id) == [(None, alice_id, slug, "grant", "banner") for slug in ASKING]
    assert ledger(visitor=mine) == [(None, mine, "analytics", "withdraw", "api")]
    assert has_consent(user, "analytics")


@pytest.mark.parametrize(
    ("url", "data", "content_type"),
    [
        pytest.param(CONSENT, {"choice": "accept_all"}, None, id="banner"),
        pytest.param(PREFERENCES, {"purpose": "analytics", "action": "grant"}, None, id="preferences"),
        pytest.param(API, json.dumps({"grant": ["analytics"]}), "application/json", id="api"),
    ],
)
@pytest.mark.parametrize("csrf_middleware", [True, False], ids=["with-csrf-middleware", "views-check-themselves"])
def test_a_post_without_csrf_token_is_refused_and_records_nothing(
    policy, settings, url, data, content_type, csrf_middleware
):
    if not csrf_middleware:
        settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if not name.endswith("CsrfViewMiddleware")]
    browser = Client(enforce_csrf_checks=True)
    browser.get(SHOP)  # the browser holds a CSRF cookie, but the forged request carries no token
    extra = {"content_type": content_type} if content_type else {}
    assert browser.post(url, data, **extra).status_code == 403
    assert ConsentRecord.objects.count() == 0
    assert cookie_of(browser) is None


@pytest.mark.parametrize("csrf_middleware", [True, False], ids=["with-csrf-middleware", "views-check-themselves"])
def test_the_banner_form_with_its_csrf_token_is_accepted(policy, settings, csrf_middleware):
    if not csrf_middleware:
        settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if not name.endswith("CsrfViewMiddleware")]
    browser = Client(enforce_csrf_checks=True)
    html = browser.get(SHOP).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = browser.post(CONSENT, {"csrfmiddlewaretoken": token, "choice": "accept_all", "next": SHOP})
    assert response.status_code == 303
    assert [row[2:4] for row in ledger()] == [(slug, "grant") for slug in ASKING]


# -- preferences -------------------------------------------------------------------


def preference_buttons(client):
    """Return {slug: action} of the one button shown for each purpose on the preferences page."""
    html = client.get(PREFERENCES).content.decode()
    buttons = re.findall(r'<button[^>]*data-purpose="([^"]+)" data-action="([^"]+)"', html)
    assert len(buttons) == len(dict(buttons)), "one button per purpose"
    return dict(buttons)


def test_preferences_show_every_purpose_and_its_state(client, policy):
    client.post(PREFERENCES, {"purpose": "analytics", "action": "grant"})
    client.post(PREFERENCES, {"purpose": "marketing", "action": "withdraw"})
    page = client.get(PREFERENCES)
    html = page.content.decode()
    assert page.status_code == 200
    for slug in [*ASKING, "necessary"]:
        assert f"{slug.title()} name" in html and f"Why {slug}" in html
    assert 'data-purpose-row="analytics" data-state="granted"' in html
    assert 'data-purpose-row="marketing" data-state="withdrawn"' in html
    assert 'data-purpose-row="personalization" data-state="undecided"' in html
    assert 'data-purpose-row="necessary" data-state="required"' in html
    assert preference_buttons(client) == {"analytics": "withdraw", "marketing": "grant", "personalization": "grant"}
    assert ">Withdraw</button>" in html and ">Allow</button>" in html


def test_preferences_grant_in_one_click(client, policy):
    response = client.post(PREFERENCES, {"purpose": "analytics", "action": "grant"})
    assert response.status_code == 303 and response["Location"] == PREFERENCES
    assert ledger() == [(None, visitor_of(client), "analytics", "grant", "preferences")]
    assert preference_buttons(client)["analytics"] == "withdraw"


def test_preferences_withdraw_in_one_click_on_the_same_page(client, policy):
    client.post(PREFERENCES, {"purpose": "analytics", "action": "grant"})
    response = client.post(PREFERENCES, {"purpose": "analytics", "action": "withdraw"})
    assert response.status_code == 303 and response["Location"] == PREFERENCES
    visitor = visitor_of(client)
    assert ledger() == [
        (None, visitor, "analytics", "grant", "preferences"),
        (None, visitor, "analytics", "withdraw", "preferences"),
    ]
    assert preference_buttons(client)["analytics"] == "grant"
    assert client.get(ANALYTICS).status_code == 403


def test_withdrawing_on_the_preferences_page_erases_the_behavioral_data(
    client, policy, purposes, django_capture_on_commit_callbacks
):
    client.post(PREFERENCES, {"purpose": "analytics", "action": "grant"})
    visitor = visitor_of(client)
    BehavioralEvent.objects.create(visitor=visitor, purpose=purposes["analytics"], kind="search", data={"q": "tea"})
    kept = BehavioralEvent.objects.create(visitor=visitor, purpose=purposes["marketing"], kind="cart", data={})
    with django_capture_on_commit_callbacks(execute=True):
        client.post(PREFERENCES, {"purpose": "analytics", "action": "withdraw"})
    assert list(BehavioralEvent.objects.all()) == [kept]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"purpose": "mind-reading", "action": "grant"}, id="unknown-purpose"),
        pytest.param({"action": "grant"}, id="no-purpose"),
        pytest.param({"purpose": "analytics", "action": "delete"}, id="bad-action"),
        pytest.param({"purpose": "analytics"}, id="no-action"),
    ],
)
def test_preferences_refuse_a_bad_request_and_record_nothing(client, policy, data):
    assert client.post(PREFERENCES, data).status_code == 400
    assert ConsentRecord.objects.count() == 0


def test_a_logged_in_users_consent_attaches_to_the_user(client, policy, user):
    client.force_login(user)
    client.post(CONSENT, {"choice": "save", "purposes": ["analytics"]})
    client.post(PREFERENCES, {"purpose": "marketing", "action": "grant"})
    assert sorted(ledger()) == sorted(
        [
            (user.pk, None, "analytics", "grant", "banner"),
            (user.pk, None, "marketing", "withdraw", "banner"),
            (user.pk, None, "personalization", "withdraw", "banner"),
            (user.pk, None, "marketing", "grant", "preferences"),
        ]
    )
    assert cookie_of(client) is None
    assert has_consent(user, "analytics") and has_consent(user, "marketing")
    assert not has_consent(user, "personalization")
    assert not banner_shown(client)


# -- policy ------------------------------------------------------------------------


@pytest.fixture
def bilingual_policy():
    effective = datetime.datetime(2025, 1, 1, 9, 0, tzinfo=datetime.UTC)
    return {
        language: PolicyVersion.objects.create(version="2025.1", language=language, text=text, effective_at=effective)
        for language, text in [("en", "We keep your orders for two years."), ("ar", "نحتفظ بطلباتك لمدة سنتين.")]
    }


def test_policy_page_shows_the_current_version_in_english(client, bilingual_policy):
    page = client.get(POLICY, HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200
    assert "We keep your orders for two years." in html and "نحتفظ" not in html
    assert "2025.1" in html and "Jan. 1, 2025" in html
    assert '<html lang="en" dir="ltr">' in html and '<meta charset="utf-8">' in html


def test_policy_page_in_arabic_is_arabic_and_right_to_left(client, bilingual_policy):
    page = client.get(POLICY, HTTP_ACCEPT_LANGUAGE="ar")
    html = page.content.decode()
    assert page.status_code == 200
    assert "نحتفظ بطلباتك لمدة سنتين." in html and "two years" not in html
    assert "2025.1" in html
    assert '<html lang="ar" dir="rtl">' in html and 'lang="ar"' in html


def test_policy_page_falls_back_to_the_default_language(client, bilingual_policy):
    html = client.get(POLICY, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "We keep your orders for two years." in html and '<article class="privacy-policy__text" lang="en">' in html


def test_policy_page_without_a_policy_is_404_and_says_so(client):
    page = client.get(POLICY)
    assert page.status_code == 404
    assert "No privacy policy has been published yet." in page.content.decode()


# -- JSON API ----------------------------------------------------------------------


def test_api_get_describes_the_policy_and_a_new_visitors_purposes(client, policy):
    response = client.get(API)
    assert response.status_code == 200
    data = response.json()
    assert data["policy"] == {"version": "1", "language": "en"}
    by_slug = {entry["slug"]: entry for entry in data["purposes"]}
    assert set(by_slug) == {*ASKING, "necessary"}
    assert by_slug["analytics"] == {
        "slug": "analytics",
        "name": "Analytics name",
        "requires_consent": True,
        "decided": False,
        "granted": False,
    }
    assert by_slug["necessary"]["requires_consent"] is False
    assert cookie_of(client) is None and ConsentRecord.objects.count() == 0


def test_api_get_without_a_policy_says_null(client, purposes):
    assert client.get(API).json()["policy"] is None


def test_api_post_with_the_csrf_header_records_and_returns_the_new_state(policy):
    front_end = Client(enforce_csrf_checks=True)
    front_end.get(API)  # gives the front end its CSRF cookie
    token = front_end.cookies["csrftoken"].value
    body = json.dumps({"grant": ["analytics"], "withdraw": ["marketing"]})
    response = front_end.post(API, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    visitor = visitor_of(front_end)
    assert ledger() == [(None, visitor, "analytics", "grant", "api"), (None, visitor, "marketing", "withdraw", "api")]
    state = {entry["slug"]: entry for entry in response.json()["purposes"]}
    assert (state["analytics"]["decided"], state["analytics"]["granted"]) == (True, True)
    assert (state["marketing"]["decided"], state["marketing"]["granted"]) == (True, False)
    assert (state["personalization"]["decided"], state["personalization"]["granted"]) == (False, False)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param("", id="empty"),
        pytest.param('["analytics"]', id="not-an-object"),
        pytest.param('{"grant": "analytics"}', id="not-a-list"),
        pytest.param('{"grant": [1]}', id="not-slugs"),
        pytest.param('{"grant": ["analytics"], "withdraw": ["analytics"]}', id="both-ways"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
    ],
)
def test_api_refuses_bad_json_and_records_nothing(client, policy, body):
    response = client.post(API, body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]
    assert ConsentRecord.objects.count() == 0


def test_api_unknown_purpose_is_refused_and_records_nothing(client, policy):
    body = json.dumps({"grant": ["analytics"], "withdraw": ["mind-reading"]})
    response = client.post(API, body, content_type="application/json")
    assert response.status_code == 400 and "mind-reading" in response.json()["error"]
    assert ConsentRecord.objects.count() == 0


# -- consent_required --------------------------------------------------------------


def test_a_consent_required_view_explains_itself_without_consent(client, policy):
    response = client.get(ANALYTICS)
    html = response.content.decode()
    assert response.status_code == 403
    assert "analytics dashboard" not in html
    assert "Analytics name" in html and f'href="{PREFERENCES}"' in html
    assert response.templates[0].name == "privacy_kit/consent_required.html"


def test_a_consent_required_view_runs_with_consent(client, policy):
    client.post(PREFERENCES, {"purpose": "analytics", "action": "grant"})
    response = client.get(ANALYTICS)
    assert response.status_code == 200 and response.content == b"analytics dashboard"


# -- no policy published -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "data", "content_type"),
    [
        pytest.param(CONSENT, {"choice": "accept_all"}, None, id="banner-accept"),
        pytest.param(CONSENT, {"choice": "reject_all"}, None, id="banner-reject"),
        pytest.param(PREFERENCES, {"purpose": "analytics", "action": "grant"}, None, id="preferences-grant"),
        pytest.param(PREFERENCES, {"purpose": "analytics", "action": "withdraw"}, None, id="preferences-withdraw"),
        pytest.param(API, json.dumps({"grant": ["analytics"]}), "application/json", id="api"),
    ],
)
def test_without_a_published_policy_consent_is_refused_with_409(client, purposes, url, data, content_type):
    extra = {"content_type": content_type} if content_type else {}
    response = client.post(url, data, **extra)
    assert response.status_code == 409
    assert "No privacy policy is in effect" in response.content.decode()
    assert ConsentRecord.objects.count() == 0
    assert cookie_of(client) is None

import datetime

import pytest
from django.utils import timezone

from privacy_kit.consent import grant
from privacy_kit.models import AccessLog, ConsentRecord, PolicyVersion, Purpose

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(admin_user):
    Purpose.objects.create(slug="analytics", name="Analytics")
    policy = PolicyVersion.objects.create(
        version="1", language="en", text="t", effective_at=timezone.now() - datetime.timedelta(days=1)
    )
    [entry] = grant(admin_user, ["analytics"], source="account")
    return policy, entry


def test_consent_ledger_is_listed_but_cannot_be_added_changed_or_deleted(verified_admin_client, ledger):
    _, entry = ledger
    assert verified_admin_client.get("/admin/privacy_kit/consentrecord/").status_code == 200
    assert verified_admin_client.get("/admin/privacy_kit/consentrecord/add/").status_code == 403
    response = verified_admin_client.post(
        f"/admin/privacy_kit/consentrecord/{entry.pk}/change/", {"action": "withdraw"}
    )
    assert response.status_code == 403
    assert (
        verified_admin_client.post(f"/admin/privacy_kit/consentrecord/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert ConsentRecord.objects.get().action == "grant"


def test_an_effective_policy_is_read_only_in_the_admin(verified_admin_client, ledger):
    policy, _ = ledger
    page = verified_admin_client.get(f"/admin/privacy_kit/policyversion/{policy.pk}/change/")
    assert page.status_code == 200 and 'name="text"' not in page.content.decode()
    assert (
        verified_admin_client.post(f"/admin/privacy_kit/policyversion/{policy.pk}/change/", {"text": "x"}).status_code
        == 403
    )
    assert (
        verified_admin_client.post(f"/admin/privacy_kit/policyversion/{policy.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    policy.refresh_from_db()
    assert policy.text == "t"


def test_a_draft_policy_and_purposes_are_editable(verified_admin_client, ledger):
    draft = PolicyVersion.objects.create(
        version="2", language="en", text="draft", effective_at=timezone.now() + datetime.timedelta(days=7)
    )
    page = verified_admin_client.get(f"/admin/privacy_kit/policyversion/{draft.pk}/change/")
    assert 'name="text"' in page.content.decode()
    assert verified_admin_client.get("/admin/privacy_kit/purpose/add/").status_code == 200


def test_purge_runs_are_read_only_and_holds_are_released_not_deleted(verified_admin_client, admin_user):
    from privacy_kit.models import LegalHold, PurgeRun

    run = PurgeRun.objects.create(policy="shop.Order", status="done")
    assert verified_admin_client.get("/admin/privacy_kit/purgerun/").status_code == 200
    assert (
        verified_admin_client.post(f"/admin/privacy_kit/purgerun/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    hold = LegalHold.objects.create(subject=admin_user, reason="audit")
    assert (
        verified_admin_client.post(f"/admin/privacy_kit/legalhold/{hold.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    verified_admin_client.post("/admin/privacy_kit/legalhold/", {"action": "release", "_selected_action": [hold.pk]})
    hold.refresh_from_db()
    assert hold.released_at is not None


def test_user_admin_is_a_personal_data_admin_that_still_adds_users(verified_admin_client, django_user_model):
    from django.contrib.auth import admin as auth_admin

    from privacy_kit.admin import PersonalDataAdmin, site

    password = "pw-Noura-long-1"
    user_admin = site._registry[django_user_model]
    assert isinstance(user_admin, PersonalDataAdmin) and isinstance(user_admin, auth_admin.UserAdmin)
    response = verified_admin_client.post(
        "/admin/auth/user/add/",
        {"username": "noura", "password1": password, "password2": password, "usable_password": "true"},
    )
    assert response.status_code == 302
    noura = django_user_model.objects.get(username="noura")
    assert noura.check_password(password)
    assert not AccessLog.objects.exists()

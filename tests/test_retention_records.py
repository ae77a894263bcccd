"""privacy_kit's own records expire like the shop's data: access log, security events, purge runs, axes.

They are registered by privacy_kit with periods in ``PRIVACY_KIT["RETENTION"]`` and
purged by ``purge_policy``, the engine of every other policy. The append-only guard
of the ledgers lets that purge through and still refuses every other change.
"""

import datetime
import decimal

import pytest
from axes.models import AccessAttempt, AccessAttemptExpiration, AccessFailureLog
from axes.models import AccessLog as AxesAccessLog
from django.core import checks
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from privacy_kit import registry
from privacy_kit.conf import app_settings
from privacy_kit.models import AccessLog, ConsentRecord, LedgerError, PurgeRun, SecurityEvent
from privacy_kit.retention import plan_purge, purge_policy
from privacy_kit.retention.records import OWN_RECORD_PERIODS
from tests.testapp.models import Order

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def days_ago(days):
    return NOW - datetime.timedelta(days=days)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("clerk", password="pw-clerk-1", is_staff=True)


@pytest.fixture
def layla(django_user_model):
    return django_user_model.objects.create_user("layla", password="pw-layla-1")


def access(staff, subject, days):
    return AccessLog.objects.create(
        actor=staff,
        subject=subject,
        model_label="testapp.Order",
        object_id="1",
        ip="10.0.0.1",
        created_at=days_ago(days),
    )


def event(user, days, kind=SecurityEvent.Kind.FAILED_LOGIN):
    return SecurityEvent.objects.create(kind=kind, user=user, ip="10.0.0.2", created_at=days_ago(days))


def axes_row(model, username, days, **fields):
    row = model.objects.create(username=username, ip_address="10.0.0.3", user_agent="x", **fields)
    # axes stamps attempt_time itself (auto_now_add): age the row as the database sees it.
    model.objects.filter(pk=row.pk).update(attempt_time=days_ago(days))
    return row


def privacy_checks():
    return [message for message in checks.run_checks() if message.id.startswith("privacy_kit.")]


# -- the periods -----------------------------------------------------------------


def test_the_own_records_have_documented_default_periods():
    with override_settings(PRIVACY_KIT={}):
        assert {name: app_settings.RETENTION[name] for name in OWN_RECORD_PERIODS} == {
            "access_log": 365,
            "security_events": 365,
            "purge_runs": 365,
            "axes_attempts": 30,
            "axes_logs": 90,
            "closed_records": 1827,
        }


def test_each_own_record_is_registered_by_age_with_its_period():
    expected = {
        "privacy_kit.AccessLog": ("created_at", "access_log"),
        "privacy_kit.SecurityEvent": ("created_at", "security_events"),
        "privacy_kit.PurgeRun": ("started_at", "purge_runs"),
        "axes.AccessAttempt": ("attempt_time", "axes_attempts"),
        "axes.AccessFailureLog": ("attempt_time", "axes_attempts"),
        "axes.AccessLog": ("attempt_time", "axes_logs"),
    }
    for label, (date_field, period) in expected.items():
        retention = registry.get(label).retention
        assert (retention.basis, retention.date_field, retention.after_days, retention.action) == (
            "age",
            date_field,
            period,
            "delete",
        ), label
        # Evidence about people, not the people's own data: no export and no erasure reaches it through the registry.
        assert registry.get(label).subject is None


def test_registering_the_own_records_raises_no_check_message():
    assert privacy_checks() == []


def test_the_nightly_purge_plans_the_own_records():
    planned = {name for name, _start, _end in plan_purge()}
    assert {
        "privacy_kit.AccessLog",
        "privacy_kit.SecurityEvent",
        "privacy_kit.PurgeRun",
        "axes.AccessAttempt",
    } <= planned


# -- the purge, by age -------------------------------------------------------------


def test_old_access_log_rows_go_and_recent_ones_stay(staff, layla):
    old, recent = access(staff, layla, 366), access(staff, layla, 364)
    assert purge_policy("privacy_kit.AccessLog", now=NOW).deleted == 1
    assert list(AccessLog.objects.all()) == [recent]
    assert not AccessLog.objects.filter(pk=old.pk).exists()


def test_old_security_events_go_and_recent_ones_stay(layla):
    old, recent = event(layla, 400), event(layla, 10)
    assert purge_policy("privacy_kit.SecurityEvent", now=NOW).deleted == 1
    assert list(SecurityEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    assert old.pk != recent.pk


def test_old_purge_runs_go_and_the_run_that_purges_them_stays():
    old = PurgeRun.objects.create(policy="testapp.Order", started_at=days_ago(400), status=PurgeRun.Status.DONE)
    recent = PurgeRun.objects.create(policy="testapp.Order", started_at=days_ago(30), status=PurgeRun.Status.DONE)
    assert purge_policy("privacy_kit.PurgeRun", now=NOW).deleted == 1
    assert not PurgeRun.objects.filter(pk=old.pk).exists()
    assert PurgeRun.objects.filter(pk=recent.pk).exists()
    assert PurgeRun.objects.filter(policy="privacy_kit.PurgeRun", status=PurgeRun.Status.DONE, deleted=1).exists()


def test_old_axes_attempts_and_failure_logs_go_and_recent_ones_stay():
    old = axes_row(AccessAttempt, "layla", 31, get_data="", post_data="", failures_since_start=3)
    AccessAttemptExpiration.objects.create(access_attempt=old, expires_at=days_ago(30))
    recent = axes_row(AccessAttempt, "omar", 29, get_data="", post_data="", failures_since_start=1)
    old_failure, recent_failure = axes_row(AccessFailureLog, "layla", 31), axes_row(AccessFailureLog, "omar", 1)
    assert purge_policy("axes.AccessAttempt", now=NOW).deleted == 1
    assert purge_policy("axes.AccessFailureLog", now=NOW).deleted == 1
    assert list(AccessAttempt.objects.all()) == [recent]
    assert not AccessAttemptExpiration.objects.exists()  # it went with its attempt
    assert list(AccessFailureLog.objects.all()) == [recent_failure]
    assert old_failure.pk != recent_failure.pk


def test_old_axes_login_logs_go_after_their_own_period():
    old, recent = axes_row(AxesAccessLog, "layla", 91), axes_row(AxesAccessLog, "layla", 89)
    assert purge_policy("axes.AccessLog", now=NOW).deleted == 1
    assert list(AxesAccessLog.objects.all()) == [recent]
    assert old.pk != recent.pk


def test_a_shop_sets_its_own_periods(settings, staff, layla):
    kept = access(staff, layla, 100)
    with override_settings(PRIVACY_KIT={**settings.PRIVACY_KIT, "RETENTION": {"access_log": 90}}):
        assert purge_policy("privacy_kit.AccessLog", now=NOW).deleted == 1
    assert not AccessLog.objects.filter(pk=kept.pk).exists()


def test_the_purge_of_own_records_touches_nothing_else(staff, layla):
    access(staff, layla, 800)
    event(layla, 800)
    axes_row(AccessAttempt, "layla", 800, get_data="", post_data="", failures_since_start=1)
    order = Order.objects.create(
        customer=layla, full_name="Layla", total=decimal.Decimal("1"), created_at=days_ago(800)
    )
    consent = ConsentRecord.objects.count()
    call_command("purge_expired", "--policy", "privacy_kit.AccessLog", verbosity=0)
    call_command("purge_expired", "--policy", "privacy_kit.SecurityEvent", verbosity=0)
    call_command("purge_expired", "--policy", "axes.AccessAttempt", verbosity=0)
    assert not AccessLog.objects.exists() and not SecurityEvent.objects.exists() and not AccessAttempt.objects.exists()
    order.refresh_from_db()
    assert order.full_name == "Layla" and order.customer == layla
    assert ConsentRecord.objects.count() == consent
    assert layla.__class__.objects.filter(pk__in=[layla.pk, staff.pk]).count() == 2


def test_a_dry_run_deletes_no_own_record(staff, layla):
    row = access(staff, layla, 800)
    assert purge_policy("privacy_kit.AccessLog", now=NOW, dry_run=True).deleted == 1
    assert AccessLog.objects.filter(pk=row.pk).exists()


# -- the append-only guard lets only the purge through -----------------------------------


@pytest.mark.parametrize("model", [AccessLog, SecurityEvent])
def test_the_guard_still_refuses_every_other_delete_and_update(model, staff, layla):
    row = access(staff, layla, 800) if model is AccessLog else event(layla, 800)
    with pytest.raises(LedgerError):
        model.objects.filter(pk=row.pk).delete()
    with pytest.raises(LedgerError):
        model.objects.all().delete()
    with pytest.raises(LedgerError):
        model.objects.filter(pk=row.pk).update(ip="10.9.9.9")
    with pytest.raises(LedgerError):
        row.delete()
    row.ip = "10.9.9.9"
    with pytest.raises(LedgerError):
        row.save()
    assert model.objects.filter(pk=row.pk, ip__in=["10.0.0.1", "10.0.0.2"]).exists()


def test_the_guard_still_refuses_after_a_purge(staff, layla):
    access(staff, layla, 800)
    recent = access(staff, layla, 1)
    purge_policy("privacy_kit.AccessLog", now=NOW)
    with pytest.raises(LedgerError):
        AccessLog.objects.filter(pk=recent.pk).delete()
    with pytest.raises(LedgerError):
        recent.delete()
    assert AccessLog.objects.filter(pk=recent.pk).exists()


# -- legal holds, and records linked to a breach ------------------------------------------


def test_a_legal_hold_keeps_the_access_log_and_events_about_the_held_subject(staff, layla, django_user_model):
    from privacy_kit.models import LegalHold

    omar = django_user_model.objects.create_user("omar", password="pw-omar-1")
    held_access, other_access = access(staff, layla, 800), access(staff, omar, 800)
    held_event, other_event = event(layla, 800), event(omar, 800)
    hold = LegalHold.objects.create(subject=layla, reason="litigation")
    assert purge_policy("privacy_kit.AccessLog", now=NOW).deleted == 1
    assert purge_policy("privacy_kit.SecurityEvent", now=NOW).deleted == 1
    assert list(AccessLog.objects.all()) == [held_access] and list(SecurityEvent.objects.all()) == [held_event]
    assert other_access.pk != held_access.pk and other_event.pk != held_event.pk
    hold.release()
    assert purge_policy("privacy_kit.AccessLog", now=NOW).deleted == 1
    assert purge_policy("privacy_kit.SecurityEvent", now=NOW).deleted == 1


def test_the_inventory_says_legal_holds_reach_the_access_log():
    from privacy_kit.rights.inventory import as_markdown, inventory

    [ip] = [e for e in inventory() if e["model"] == "privacy_kit.AccessLog" and e["field"] == "ip"]
    assert ip["legal_holds_honored"] is True
    section = as_markdown().split("## privacy_kit.AccessLog ")[1].split("\n## ")[0]
    assert "- Subject: none (evidence about people: no export or erasure); legal holds of `subject` honored" in section


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"keep_while_linked": ["ip"]}, "keep_while_linked names 'ip', which is not a relation of the model"),
        ({"keep_while_linked": ["nothing"]}, "keep_while_linked names 'nothing', which is not a relation"),
        (
            {"legal_hold_paths": ["model_label"]},
            "legal_hold_paths names 'model_label', which does not lead to auth.User",
        ),
    ],
)
def test_malformed_retention_options_are_check_errors(option, message):
    retention = registry.Retention(basis="age", date_field="created_at", after_days=30, **option)
    registry.register(AccessLog, subject=None, category="security", retention=retention)
    [error] = [m for m in privacy_checks() if m.id == "privacy_kit.E030"]
    assert message in error.msg


# -- checks of the periods ------------------------------------------------------------------


def own_period_messages():
    return [m for m in checks.run_checks() if m.id in ("privacy_kit.W060", "privacy_kit.W061")]


def test_records_of_breaches_kept_less_than_five_years_is_a_warning(settings):
    with override_settings(PRIVACY_KIT={**settings.PRIVACY_KIT, "RETENTION": {"closed_records": 365}}):
        [warning] = own_period_messages()
    assert warning.id == "privacy_kit.W060"
    assert "365 days" in warning.msg and "five years" in warning.msg
    assert "1827" in warning.hint


@pytest.mark.parametrize("cooloff", [None, 24 * 60, datetime.timedelta(days=31)])
def test_axes_attempts_kept_less_than_a_lockout_lasts_is_a_warning(settings, cooloff):
    settings.AXES_COOLOFF_TIME = cooloff
    [warning] = own_period_messages()
    assert warning.id == "privacy_kit.W061"
    assert "30 days" in warning.msg


@pytest.mark.parametrize("cooloff", [1, 0.5, datetime.timedelta(days=29)])
def test_axes_attempts_kept_longer_than_a_lockout_raise_nothing(settings, cooloff):
    settings.AXES_COOLOFF_TIME = cooloff
    assert own_period_messages() == []

"""The breach register: the 72-hour clock, escalation from security events, the subjects, the notice."""

import datetime
import decimal
import io
import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from privacy_kit import registry
from privacy_kit.breaches import NOTIFICATION_DEADLINE, breach_notice, escalate, render_notice, subjects_concerned
from privacy_kit.breaches.notice import ITEMS
from privacy_kit.models import Breach, SecurityEvent
from privacy_kit.retention import purge_policy
from tests.testapp.models import Contact, Order
from tests.testapp.policies import register_orders

pytestmark = pytest.mark.django_db
NOW = timezone.now()
ARABIC_LETTERS = re.compile(r"[\u0600-\u06FF]")
FULL_NAME, PHONE, IP = "Layla Al-Harbi", "+966 50 000 0001", "203.0.113.7"
# The items PDPL IR Art. 24 asks of a notice, by their keys in it.
IR24_ITEMS = {
    "nature",
    "occurred_at",
    "detected_at",
    "aware_at",
    "data_categories",
    "approximate_subjects",
    "approximate_records",
    "consequences",
    "measures_taken",
    "measures_proposed",
    "contact",
    "notified_authority_at",
    "subjects_notified_at",
    "status",
}


def hours_ago(hours):
    return NOW - datetime.timedelta(hours=hours)


def days_ago(days):
    return NOW - datetime.timedelta(days=days)


@pytest.fixture
def layla(django_user_model):
    return django_user_model.objects.create_user("layla", email="layla@example.sa", password="pw-layla-1")


@pytest.fixture
def omar(django_user_model):
    return django_user_model.objects.create_user("omar", password="pw-omar-1")


def order(customer, days, **fields):
    values = {"full_name": FULL_NAME, "phone": PHONE, "total": decimal.Decimal("10")}
    return Order.objects.create(customer=customer, created_at=days_ago(days), **{**values, **fields})


def breach(**fields):
    values = {"title": "Orders exported", "nature": "A support account was used to export orders.", "aware_at": NOW}
    return Breach.objects.create(**{**values, **fields})


def full_breach(**fields):
    values = {
        "occurred_at": hours_ago(30),
        "detected_at": hours_ago(26),
        "aware_at": hours_ago(24),
        "data_categories": "Names and phone numbers of customers",
        "consequences": "Phishing calls to the customers concerned.",
        "measures_taken": "The account was locked and its sessions ended.",
        "measures_proposed": "Two-factor authentication for support staff.",
        "advice_to_subjects": "Do not give your password on the phone.",
        "contact_name": "Data protection officer",
        "contact_email": "dpo@shop.example",
        "contact_phone": "+966 11 000 0000",
        "affected_models": ["testapp.Order"],
    }
    return breach(**{**values, **fields})


def notice_text(*args):
    out = io.StringIO()
    call_command("breach_notice", *map(str, args), stdout=out)
    return out.getvalue()


# -- the 72-hour clock -----------------------------------------------------------------


def test_the_notice_is_due_72_hours_after_the_shop_became_aware():
    entry = breach(aware_at=hours_ago(10))
    assert entry.due_at == hours_ago(10) + datetime.timedelta(hours=72)
    assert NOTIFICATION_DEADLINE == datetime.timedelta(hours=72)
    assert entry.time_left(NOW) == datetime.timedelta(hours=62)


def test_due_at_follows_aware_at_when_it_is_corrected():
    entry = breach(aware_at=hours_ago(10))
    entry.aware_at = hours_ago(20)
    assert entry.due_at == hours_ago(20) + datetime.timedelta(hours=72)


def test_the_clock_runs_out_after_72_hours_and_not_before():
    entry = breach(aware_at=hours_ago(72))
    assert not entry.is_overdue(now=entry.due_at)
    assert entry.is_overdue(now=entry.due_at + datetime.timedelta(seconds=1))
    assert entry.time_left(entry.due_at + datetime.timedelta(hours=1)) == -datetime.timedelta(hours=1)


def test_notifying_the_authority_stops_the_clock():
    entry = breach(aware_at=hours_ago(100), notified_authority_at=hours_ago(40), status=Breach.Status.NOTIFIED)
    assert not entry.is_overdue(NOW)
    assert not entry.notified_late
    late = breach(aware_at=hours_ago(100), notified_authority_at=hours_ago(1), delay_reason="Forensics took longer.")
    assert late.notified_late


def test_the_queries_of_the_clock():
    overdue = breach(aware_at=hours_ago(73))
    running = breach(aware_at=hours_ago(1))
    notified = breach(aware_at=hours_ago(80), notified_authority_at=hours_ago(70), status=Breach.Status.NOTIFIED)
    closed = breach(aware_at=hours_ago(90), status=Breach.Status.CLOSED)
    assert set(Breach.objects.awaiting_notification()) == {overdue, running}
    assert set(Breach.objects.awaiting_notification().due_before(NOW)) == {overdue}
    assert set(Breach.objects.due_before(NOW + datetime.timedelta(hours=72))) == {overdue, running, notified, closed}
    assert set(Breach.objects.open()) == {overdue, running, notified}


def test_closing_stamps_the_time_and_reopening_clears_it():
    entry = breach()
    assert entry.closed_at is None
    entry.status = Breach.Status.CLOSED
    entry.save(update_fields=["status"])
    entry.refresh_from_db()
    assert entry.closed_at is not None
    entry.status = Breach.Status.OPEN
    entry.save()
    entry.refresh_from_db()
    assert entry.closed_at is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"detected_at": hours_ago(1), "aware_at": hours_ago(2)}, "aware_at", "before it was detected"),
        (
            {"occurred_at": hours_ago(1), "detected_at": hours_ago(2), "aware_at": NOW},
            "detected_at",
            "before it happened",
        ),
        ({"affected_from": hours_ago(1), "affected_until": hours_ago(2)}, "affected_until", "before its start"),
        ({"aware_at": hours_ago(1), "notified_authority_at": hours_ago(2)}, "notified_authority_at", "before the shop"),
        ({"status": Breach.Status.NOTIFIED}, "notified_authority_at", "Say when the authority was notified"),
        ({"aware_at": hours_ago(100), "notified_authority_at": hours_ago(1)}, "delay_reason", "reasons for the delay"),
        ({"affected_models": ["shop.Nothing"]}, "affected_models", "Not in the personal-data registry: shop.Nothing"),
    ],
)
def test_inconsistent_facts_are_refused_with_the_field_to_fix(fields, field, message):
    entry = Breach(title="t", nature="n", **{"detected_at": hours_ago(3), "aware_at": hours_ago(2), **fields})
    with pytest.raises(ValidationError) as raised:
        entry.full_clean()
    assert message in " ".join(raised.value.message_dict[field])


# -- escalation from security events --------------------------------------------------------


def test_escalating_events_opens_a_breach_linked_to_them(layla):
    first = SecurityEvent.objects.create(kind="bulk_access", user=layla, ip=IP, created_at=hours_ago(5))
    second = SecurityEvent.objects.create(kind="lockout", user=layla, ip=IP, created_at=hours_ago(2))
    third = SecurityEvent.objects.create(kind="lockout", ip=IP, created_at=hours_ago(1))
    entry = escalate(SecurityEvent.objects.filter(pk__in=[second.pk, first.pk, third.pk]), by=layla, aware_at=NOW)
    assert set(entry.events.all()) == {first, second, third}
    assert (entry.detected_at, entry.occurred_at, entry.aware_at) == (hours_ago(5), hours_ago(5), NOW)
    assert entry.due_at == NOW + datetime.timedelta(hours=72)
    assert entry.recorded_by == layla and entry.status == Breach.Status.OPEN
    assert entry.title == "Escalated from 3 security events"
    assert "bulk access (1), lockout (2)" in entry.nature
    # Nothing the events hold of a person goes into the breach's text.
    assert IP not in entry.nature + entry.title and "layla" not in entry.nature + entry.title


def test_escalation_starts_the_clock_now_by_default(layla):
    event = SecurityEvent.objects.create(kind="bulk_access", user=layla, created_at=hours_ago(5))
    before = timezone.now()
    entry = escalate([event])
    assert before <= entry.aware_at <= timezone.now()
    assert entry.recorded_by is None


def test_escalating_nothing_is_refused():
    with pytest.raises(ValueError, match="at least one security event"):
        escalate(SecurityEvent.objects.none())
    assert not Breach.objects.exists()


# -- the subjects concerned, from the registry -----------------------------------------------


def test_the_subjects_are_the_owners_of_the_rows_in_the_window(layla, omar, django_user_model):
    register_orders()
    order(layla, 10)
    order(layla, 12)
    order(omar, 11)
    order(None, 10)  # a guest's order: a record with no account
    late = django_user_model.objects.create_user("late", password="pw-late-1")
    order(late, 1)  # placed after the window
    entry = full_breach(affected_from=days_ago(20), affected_until=days_ago(5))
    found = subjects_concerned(entry)
    assert found.subject_ids == tuple(sorted([layla.pk, omar.pk]))
    [orders] = found.models
    assert (orders.label, orders.records, orders.subjects, orders.records_without_subject) == ("testapp.Order", 4, 2, 1)
    assert (found.records, found.subjects, found.unlisted) == (4, 2, ())


def test_without_a_window_every_row_counts(layla, omar):
    register_orders()
    order(layla, 1000)
    order(omar, 0)
    assert subjects_concerned(full_breach()).subject_ids == tuple(sorted([layla.pk, omar.pk]))


def test_the_accounts_table_can_be_the_model_affected(layla, omar):
    entry = full_breach(affected_models=["auth.User"])
    found = subjects_concerned(entry)
    assert set(found.subject_ids) == {layla.pk, omar.pk}
    assert found.models[0].personal_fields == ("username", "email", "first_name", "last_name", "password")


def test_subjects_a_callable_names_are_said_to_be_unlisted(layla):
    registry.register(Order, subject=lambda row: row.customer, category="personal", personal_fields=["full_name"])
    order(layla, 1)
    found = subjects_concerned(full_breach())
    assert (found.unlisted, found.subject_ids, found.records) == (("testapp.Order",), (), 1)


def test_rows_of_no_account_have_no_subject_to_tell():
    registry.register(Contact, subject=None, category="personal", personal_fields=["email"])
    Contact.objects.create(email="supplier@example.sa")
    [contacts] = subjects_concerned(full_breach(affected_models=["testapp.Contact"])).models
    assert (contacts.records, contacts.subjects, contacts.records_without_subject) == (1, 0, 1)


# -- the notice ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_notice_has_every_item_of_ir_article_24(language, layla):
    register_orders()
    order(layla, 3)
    notice = breach_notice(full_breach(notified_authority_at=NOW, status=Breach.Status.NOTIFIED), language=language)
    assert IR24_ITEMS <= set(notice["fields"])
    assert list(notice["fields"]) == [key for key, _label in ITEMS]
    for key in IR24_ITEMS - {"subjects_notified_at"}:
        assert notice["fields"][key]["value"] not in (None, ""), key
    assert notice["fields"]["approximate_subjects"]["value"] == 1  # from the registry: no estimate was given
    assert notice["fields"]["approximate_records"]["value"] == 1
    assert notice["subjects"]["ids"] == [layla.pk]
    assert "Names and phone numbers of customers" in notice["fields"]["data_categories"]["value"]


def test_the_arabic_notice_is_in_arabic_and_the_english_one_in_english(layla):
    register_orders()
    entry = full_breach()
    english, arabic = breach_notice(entry, language="en"), breach_notice(entry, language="ar")
    assert english["title"] == "Notice of a personal data breach"
    assert arabic["title"] == "إشعار بتسرّب بيانات شخصية"
    for key, _label in ITEMS:
        assert not ARABIC_LETTERS.search(english["fields"][key]["label"]), key
        assert ARABIC_LETTERS.search(arabic["fields"][key]["label"]), key
    assert ARABIC_LETTERS.search(arabic["subjects"]["label"]) and ARABIC_LETTERS.search(arabic["law"])
    assert arabic["fields"]["status"]["value"] == "مفتوح"
    # What staff wrote stays as they wrote it; the registry's field names are translated.
    assert arabic["fields"]["consequences"]["value"] == "Phishing calls to the customers concerned."


def test_the_staff_estimates_win_over_the_registry_counts():
    notice = breach_notice(full_breach(approximate_subjects=5000, approximate_records=12000))
    assert (notice["fields"]["approximate_subjects"]["value"], notice["fields"]["approximate_records"]["value"]) == (
        5000,
        12000,
    )


@pytest.mark.parametrize(("language", "unknown"), [("en", "Not known yet; it will follow."), ("ar", "غير معروف بعد")])
def test_an_item_not_known_yet_says_so(language, unknown):
    entry = breach(consequences="", measures_proposed="")
    notice = breach_notice(entry, language=language)
    assert notice["fields"]["consequences"]["value"] is None
    assert unknown in render_notice(notice, "md")


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_markdown_notice_has_a_section_per_item_and_the_subjects(language, layla):
    register_orders()
    order(layla, 3)
    notice = breach_notice(full_breach(), language=language)
    text = render_notice(notice, "md")
    assert text.startswith(f"# {notice['title']}\n")
    for key, item in notice["fields"].items():
        if key != "reference":
            assert f"\n## {item['label']}\n" in text, key
    assert f"\n## {notice['subjects']['label']}\n" in text
    assert f": {layla.pk}\n" in text
    assert "`testapp.Order`" in text


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_notice_holds_no_value_of_the_subjects(language, layla):
    register_orders()
    order(layla, 3)
    event = SecurityEvent.objects.create(kind="bulk_access", user=layla, ip=IP)
    entry = escalate([event])
    entry.affected_models = ["testapp.Order", "auth.User"]
    entry.save()
    for fmt in ("md", "json"):
        text = render_notice(breach_notice(entry, language=language), fmt)
        for value in (FULL_NAME, PHONE, IP, "layla@example.sa", "layla"):
            assert value not in text, (fmt, value)


def test_times_are_given_in_the_shops_time_zone():
    entry = breach(aware_at=datetime.datetime(2026, 3, 1, 7, 0, tzinfo=datetime.UTC))
    notice = breach_notice(entry)
    assert notice["fields"]["aware_at"]["value"] == "2026-03-01T10:00+03:00"  # Asia/Riyadh
    assert notice["fields"]["due_at"]["value"] == "2026-03-04T10:00+03:00"
    assert "2026-03-04 10:00 (UTC+03:00)" in render_notice(notice, "md")


def test_a_language_other_than_english_or_arabic_is_refused():
    with pytest.raises(ValueError, match="en or ar"):
        breach_notice(breach(), language="fr")


# -- manage.py breach_notice ------------------------------------------------------------------


def test_the_command_prints_the_notice_in_each_language_and_format(layla):
    register_orders()
    order(layla, 3)
    entry = full_breach()
    english = notice_text(entry.pk)
    assert english.startswith("# Notice of a personal data breach\n")
    assert notice_text(entry.pk, "--language", "ar").startswith("# إشعار بتسرّب بيانات شخصية\n")
    data = json.loads(notice_text(entry.pk, "--language", "ar", "--format", "json"))
    assert data["language"] == "ar" and data["subjects"]["ids"] == [layla.pk]
    assert set(data["fields"]) >= IR24_ITEMS


def test_the_command_refuses_an_unknown_breach():
    with pytest.raises(CommandError, match="No breach #999"):
        notice_text(999)


def test_the_command_refuses_an_unknown_language():
    with pytest.raises(CommandError, match="invalid choice: 'fr'"):
        notice_text(breach().pk, "--language", "fr")


# -- the record is kept five years after it closes ----------------------------------------------


def closed_breach(days):
    entry = breach(aware_at=days_ago(days + 30), detected_at=days_ago(days + 30), status=Breach.Status.CLOSED)
    Breach.objects.filter(pk=entry.pk).update(closed_at=days_ago(days))
    return entry


def test_breaches_are_kept_five_years_after_closing_then_purged():
    gone, kept = closed_breach(5 * 365 + 3), closed_breach(5 * 365 - 1)
    still_open = breach(aware_at=days_ago(4000), detected_at=days_ago(4000))
    assert purge_policy("privacy_kit.Breach", now=NOW).deleted == 1
    assert set(Breach.objects.all()) == {kept, still_open}
    assert gone.pk not in set(Breach.objects.values_list("pk", flat=True))


def test_an_event_escalated_into_a_breach_is_kept_with_the_breach(layla):
    linked = SecurityEvent.objects.create(kind="bulk_access", user=layla, created_at=days_ago(800))
    alone = SecurityEvent.objects.create(kind="bulk_access", user=layla, created_at=days_ago(800))
    entry = escalate([linked])
    assert purge_policy("privacy_kit.SecurityEvent", now=NOW).deleted == 1
    assert list(SecurityEvent.objects.all()) == [linked]
    assert alone.pk != linked.pk
    # Once the breach record goes, its events follow at the next purge.
    Breach.objects.filter(pk=entry.pk).update(status=Breach.Status.CLOSED, closed_at=days_ago(2000))
    assert purge_policy("privacy_kit.Breach", now=NOW).deleted == 1
    assert purge_policy("privacy_kit.SecurityEvent", now=NOW).deleted == 1
    assert not SecurityEvent.objects.exists()


def test_a_model_no_longer_registered_is_named_in_the_notice_not_a_crash(layla):
    register_orders()
    order(layla, 3)
    entry = full_breach(affected_models=["testapp.Order", "shop.Gone"])  # saved without clean(), as code may
    found = subjects_concerned(entry)
    assert (found.unknown, found.subject_ids) == (("shop.Gone",), (layla.pk,))
    notice = breach_notice(entry)
    assert notice["subjects"]["unknown_models"] == ["shop.Gone"]
    assert "shop.Gone is not in the personal-data registry any more" in render_notice(notice, "md")

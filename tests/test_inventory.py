import io
import json

import pytest
from django.core import checks
from django.core.management import CommandError, call_command
from django.db import models
from django.test import override_settings
from django.test.utils import isolate_apps

from privacy_kit import registry
from privacy_kit.fields import EncryptedField, EncryptedTextField
from privacy_kit.models import BehavioralEvent
from privacy_kit.rights.inventory import as_markdown, inventory, unregistered_models
from tests.testapp.models import Contact, Order
from tests.testapp.policies import ORDER_PERSONAL_FIELDS, register_orders

ORDER_FIELDS = ["customer", "full_name", "phone", "address", "note", "total", "created_at"]


@pytest.fixture
def order_policy(settings):
    """Order under a named period, with accounting fields kept after anonymization."""
    register_orders(
        personal_fields=[*ORDER_PERSONAL_FIELDS, "customer"], after_days="orders", purposes=["orders", "accounting"]
    )
    with override_settings(PRIVACY_KIT={**settings.PRIVACY_KIT, "RETENTION": {"orders": 400}}):
        yield


def entries_of(label):
    return {entry["field"]: entry for entry in inventory() if entry["model"] == label}


def run_command(*args):
    out = io.StringIO()
    call_command("privacy_inventory", *args, stdout=out)
    return out.getvalue()


def unregistered_warnings():
    return [message for message in checks.run_checks() if message.id == "privacy_kit.W032"]


# Django 6.1's model checks ask the database which features it has (JSON, generated columns).
runs_model_checks = pytest.mark.django_db


# -- the inventory ---------------------------------------------------------------


def test_every_registered_field_is_listed_and_nothing_else(order_policy):
    expected = set()
    for entry in registry.registrations():
        kept = entry.retention.keep_fields if entry.retention else ()
        encrypted = [field.name for field in entry.model._meta.get_fields() if isinstance(field, EncryptedField)]
        expected |= {(entry.name, name) for name in [*entry.personal_fields, *kept, *encrypted]}
    listed = {(entry["model"], entry["field"]) for entry in inventory() if entry["registered"]}
    assert listed == expected
    assert ("testapp.Record", "flag") in listed and ("privacy_kit.BehavioralEvent", "data") in listed


def test_behavioral_events_are_listed_with_their_named_period():
    assert entries_of("privacy_kit.BehavioralEvent") == {
        "data": {
            "model": "privacy_kit.BehavioralEvent",
            "model_verbose_name": "behavioral event",
            "registered": True,
            "field": "data",
            "field_verbose_name": "data",
            "personal": True,
            "encrypted": True,
            "keyed_per_subject": True,
            "searchable": False,
            "category": "behavioral",
            "subject": "user",
            "purposes": [],
            "recipients": [],
            "transfers": [],
            "retention_basis": "age",
            "retention_date_field": "created_at",
            "retention_days": 365,
            "retention_period": "behavioral",
            "action": "delete",
            "kept": False,
            "legal_holds_honored": True,
            "legal_hold_paths": ["user"],
            "access": {
                "in_admin": True,
                "superusers_only": False,
                "permissions": ["privacy_kit.change_behavioralevent", "privacy_kit.view_behavioralevent"],
                "two_factor": True,
                "masked": True,
                "openings_logged": True,
            },
        }
    }


def test_a_registered_model_lists_personal_encrypted_and_kept_fields_in_model_order(order_policy):
    entries = entries_of("testapp.Order")
    assert list(entries) == ORDER_FIELDS
    full_name, customer, total = entries["full_name"], entries["customer"], entries["total"]
    assert (full_name["personal"], full_name["encrypted"], full_name["kept"]) == (True, True, False)
    assert (customer["personal"], customer["encrypted"], customer["field_verbose_name"]) == (True, False, "customer")
    assert (total["personal"], total["encrypted"], total["kept"]) == (False, False, True)
    assert {
        key: full_name[key]
        for key in ("category", "subject", "purposes", "retention_basis", "retention_days", "retention_period")
    } == {
        "category": "personal",
        "subject": "customer",
        "purposes": ["orders", "accounting"],
        "retention_basis": "relationship",
        "retention_days": 400,
        "retention_period": "orders",
    }
    assert (full_name["action"], full_name["legal_holds_honored"]) == ("anonymize", True)


def test_searchable_fields_are_marked():
    entries = entries_of("testapp.Record")
    assert {name for name, entry in entries.items() if entry["searchable"]} == {"email", "integer", "date", "code"}
    assert all(entry["encrypted"] for entry in entries.values())


def test_a_number_of_days_has_no_period_name():
    registry.register(
        Order,
        subject="customer",
        category="personal",
        personal_fields=["full_name"],
        retention=registry.Retention(basis="relationship", date_field="created_at", after_days=730),
    )
    full_name = entries_of("testapp.Order")["full_name"]
    assert (full_name["retention_days"], full_name["retention_period"]) == (730, None)


def test_a_registration_without_retention_or_subject_says_so():
    email = entries_of("testapp.Contact")["email"]
    unset = ("subject", "retention_basis", "retention_date_field", "retention_days", "retention_period", "action")
    assert all(email[key] is None for key in unset)
    assert email["legal_holds_honored"] is False


def test_a_callable_subject_is_named_callable_and_honors_no_legal_hold():
    registry.register(Contact, subject=lambda contact: None, category="personal", personal_fields=["email"])
    email = entries_of("testapp.Contact")["email"]
    assert (email["subject"], email["legal_holds_honored"]) == ("callable", False)


def test_a_model_with_encrypted_fields_and_no_registration_is_listed_as_not_registered():
    registry.unregister(Contact)
    entries = entries_of("testapp.Contact")
    assert list(entries) == ["email", "note"]
    assert all(not entry["registered"] and entry["category"] is None for entry in entries.values())
    assert entries["email"]["searchable"] is True


def test_entries_are_ordered_by_model_label_and_the_same_every_time():
    entries = inventory()
    labels = [entry["model"] for entry in entries]
    assert labels == sorted(labels)
    assert entries == inventory()
    json.dumps(entries)  # only JSON types


@isolate_apps("tests.testapp")
def test_proxy_models_are_left_out_and_unmanaged_models_kept():
    class Diary(models.Model):
        entry = EncryptedTextField()

        class Meta:
            app_label = "testapp"

    class DiaryProxy(Diary):
        class Meta:
            app_label = "testapp"
            proxy = True

    class Legacy(models.Model):
        note = EncryptedTextField()

        class Meta:
            app_label = "testapp"
            managed = False

    found = unregistered_models([Diary._meta.apps.get_app_config("testapp")])
    assert [model.__name__ for model in found] == ["Diary", "Legacy"]


# -- manage.py privacy_inventory -------------------------------------------------------


def test_markdown_has_a_section_per_model_and_a_table_of_fields(order_policy):
    output = run_command()
    assert output == as_markdown()
    assert output.startswith("# Records of processing\n")
    order = output[output.index("## testapp.Order (order)") :]
    order = order[: order.index("\n## ")]
    assert "- Category: personal" in order
    assert "- Subject: `customer`; legal holds honored" in order
    assert "- Purposes: orders, accounting" in order
    assert "| `full_name` | full name | yes | yes | yes | no | no |" in order
    assert "| `total` | total | no | no | no | no | yes |" in order
    assert "| `email` |" not in order


def test_markdown_resolves_named_retention_periods(order_policy):
    output = run_command("--format", "md")
    assert (
        '- Retention: age basis: delete each row 365 days (`behavioral` in PRIVACY_KIT["RETENTION"]) '
        "after its `created_at`" in output
    )
    assert (
        "- Retention: relationship basis: anonymize the subject's rows 400 days (`orders` in "
        'PRIVACY_KIT["RETENTION"]) after the subject\'s last activity' in output
    )


@pytest.mark.parametrize(("days", "period"), [(1, "1 day"), (2, "2 days"), (11, "11 days")])
def test_markdown_says_day_or_days(settings, days, period):
    register_orders(personal_fields=ORDER_PERSONAL_FIELDS, after_days="orders")
    with override_settings(PRIVACY_KIT={**settings.PRIVACY_KIT, "RETENTION": {"orders": days}}):
        output = run_command()
    assert f"the subject's rows {period} (`orders` in " in output


@pytest.mark.parametrize(
    ("days", "period"), [(1, "1 يوم"), (2, "2 يومان"), (3, "3 أيام"), (11, "11 يومًا"), (100, "100 يوم")]
)
def test_the_number_of_days_has_the_arabic_plural_forms(days, period):
    from django.utils import translation

    from privacy_kit.rights.inventory import days_text

    with translation.override("ar"):
        assert days_text(days) == period


def test_markdown_lists_unregistered_models_apart():
    registry.unregister(Contact)
    output = run_command()
    unregistered = output[output.index("## Not registered") :]
    assert "privacy_kit.W032" in unregistered
    assert "### testapp.Contact (contact)" in unregistered
    assert "| `email` | email | yes | yes | no | yes | no |" in unregistered
    assert "\n## testapp.Contact" not in output


def test_json_is_the_inventory_indented():
    output = run_command("--format", "json")
    assert json.loads(output) == inventory()
    assert output == json.dumps(json.loads(output), indent=2) + "\n"


def test_json_lists_behavioral_events():
    [entry] = [
        entry for entry in json.loads(run_command("--format=json")) if entry["model"] == BehavioralEvent._meta.label
    ]
    assert (entry["field"], entry["retention_days"], entry["retention_period"]) == ("data", 365, "behavioral")


def test_an_unknown_format_is_a_command_error():
    with pytest.raises(CommandError, match="invalid choice: 'xml'"):
        run_command("--format", "xml")


# -- check privacy_kit.W032 ----------------------------------------------------------


@runs_model_checks
def test_a_model_with_encrypted_fields_and_no_registration_is_a_warning_with_the_call_to_add():
    registry.unregister(Contact)
    [warning] = [message for message in unregistered_warnings() if message.obj is Contact]
    assert warning.level == checks.WARNING
    assert "testapp.Contact has encrypted fields (email, note)" in warning.msg
    assert (
        'registry.register(Contact, subject="<path to the user>", category="personal", '
        'personal_fields=["email", "note"])' in warning.hint
    )


@runs_model_checks
def test_the_hint_also_offers_subject_none_for_rows_of_no_account():
    registry.unregister(Order)
    [warning] = [message for message in unregistered_warnings() if message.obj is Order]
    assert (
        'registry.register(Order, subject=None, category="personal", '
        'personal_fields=["full_name", "phone", "address"]) (retention by age only' in warning.hint
    )


@runs_model_checks
def test_the_hint_names_the_relation_to_the_user_as_subject():
    registry.unregister(Order)
    [warning] = [message for message in unregistered_warnings() if message.obj is Order]
    assert 'registry.register(Order, subject="customer", category="personal"' in warning.hint
    assert 'personal_fields=["full_name", "phone", "address"]' in warning.hint


@runs_model_checks
def test_the_warning_is_gone_once_the_model_is_registered():
    registry.unregister(Contact)
    assert any(message.obj is Contact for message in unregistered_warnings())
    registry.register(Contact, subject=None, category="personal", personal_fields=["email", "note"])
    assert not any(message.obj is Contact for message in unregistered_warnings())


@runs_model_checks
def test_the_models_of_privacy_kit_and_the_test_app_with_encrypted_fields_are_registered():
    apps_warned = {message.obj._meta.app_label for message in unregistered_warnings()}
    assert not apps_warned & {"privacy_kit", "testapp"}


# -- PDPL Art. 31: recipients, transfers outside the Kingdom, measures ------------------

COURIER = "SMSA Express (courier)"
PROCESSOR = "Payments Europe Ltd"


@pytest.fixture
def order_recipients():
    registry.register(
        Order,
        subject="customer",
        category="personal",
        personal_fields=[*ORDER_PERSONAL_FIELDS, "customer"],
        recipients=[COURIER],
        transfers=[
            registry.Transfer(country="IE", safeguard="standard_contractual_clauses", recipient=PROCESSOR),
            registry.Transfer(country="AE", safeguard="adequacy"),
        ],
    )


def test_json_lists_the_recipients_and_the_transfers_of_each_field(order_recipients):
    [full_name] = [
        e
        for e in json.loads(run_command("--format", "json"))
        if e["field"] == "full_name" and e["model"] == "testapp.Order"
    ]
    assert full_name["recipients"] == [COURIER]
    assert full_name["transfers"] == [
        {"country": "IE", "safeguard": "standard_contractual_clauses", "recipient": PROCESSOR},
        {"country": "AE", "safeguard": "adequacy", "recipient": ""},
    ]


def test_markdown_lists_the_recipients_and_the_transfers_outside_the_kingdom(order_recipients):
    output = run_command("--format", "md")
    order = output[output.index("## testapp.Order (order)") :]
    order = order[: order.index("\n## ")]
    assert f"- Recipients: {COURIER}" in order
    assert (
        f"- Transfers outside the Kingdom: IE, to {PROCESSOR}, under standard contractual clauses; "
        "AE, under an adequacy decision for the destination" in order
    )


def test_markdown_says_when_no_recipient_and_no_transfer_is_declared():
    output = run_command()
    events = output[output.index("## privacy_kit.BehavioralEvent") :]
    events = events[: events.index("\n## ")]
    assert "- Recipients: none declared" in events
    assert "- Transfers outside the Kingdom: none declared" in events


def test_fields_sealed_under_their_subjects_key_are_marked(order_recipients):
    entries = entries_of("testapp.Order")
    assert entries["full_name"]["keyed_per_subject"] is True  # Order has a foreign key to its customer
    assert entries["customer"]["keyed_per_subject"] is False  # not encrypted
    registry.register(Contact, subject=None, category="personal", personal_fields=["email"])
    assert entries_of("testapp.Contact")["email"]["keyed_per_subject"] is False  # no subject: shared keys


def test_who_can_see_the_data_in_the_admin_is_listed():
    shop_order = entries_of("shop.Order")["full_name"]["access"]
    assert shop_order == {
        "in_admin": True,
        "superusers_only": False,
        "permissions": ["shop.change_order", "shop.view_order"],
        "two_factor": True,
        "masked": True,
        "openings_logged": True,
    }
    security = entries_of("privacy_kit.SecurityEvent")["ip"]["access"]
    assert (security["in_admin"], security["superusers_only"], security["masked"]) == (True, True, False)


def test_markdown_says_who_can_see_the_data_and_how_it_is_protected():
    output = run_command()
    order = output[output.index("## shop.Order (order)") :]
    order = order[: order.index("\n## ")]
    assert (
        "- Measures: encrypted fields sealed under each subject's own key (destroyed at erasure); in the admin to "
        "superusers and staff holding shop.change_order or shop.view_order, after two-factor authentication; "
        "masked in lists, each opening logged" in order
    )
    security = output[output.index("## privacy_kit.SecurityEvent") :]
    assert "in the admin to superusers only, after two-factor authentication; read only" in security.split("\n## ")[0]


def test_markdown_without_two_factor_says_so(settings):
    with override_settings(PRIVACY_KIT={**settings.PRIVACY_KIT, "ADMIN_2FA_REQUIRED": False}):
        output = run_command()
    order = output[output.index("## shop.Order (order)") :].split("\n## ")[0]
    assert "without two-factor authentication" in order


def test_the_registration_in_docs_inventory_md_runs_as_written():
    from pathlib import Path

    from tests.docs import fenced_blocks

    blocks = fenced_blocks(
        Path(__file__).resolve().parent.parent / "docs" / "inventory.md",
        "The PDPL Art. 31 record: recipients, transfers, measures",
    )
    exec(blocks[0], {"Order": Order})  # the docs' own example, with the test app's orders
    full_name = entries_of("testapp.Order")["full_name"]
    assert full_name["recipients"] == ["SMSA Express (courier)", "Payments Europe Ltd (card payments)"]
    assert [transfer["country"] for transfer in full_name["transfers"]] == ["IE", "AE"]

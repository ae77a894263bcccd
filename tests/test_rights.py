import datetime
import decimal
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from privacy_kit import registry
from privacy_kit.consent import grant, has_consent
from privacy_kit.crypto import DecryptionError
from privacy_kit.models import (
    BehavioralEvent,
    ConsentRecord,
    ErasureRecord,
    LegalHold,
    PolicyVersion,
    Purpose,
    SecurityEvent,
)
from privacy_kit.rights import (
    SCHEMA_VERSION,
    ErasureRefused,
    erase_subject,
    export_subject,
    replay_erasures,
    stream_export,
    subject_of_row,
    subject_reference,
)
from privacy_kit.tasks import erase_subject as erase_subject_task
from tests.test_fields import write_stored
from tests.testapp.models import Cart, Order
from tests.testapp.policies import register_carts, register_orders

pytestmark = pytest.mark.django_db
NOW = timezone.now()
PASSWORD = "pw-Layla-1"


@pytest.fixture
def policy():
    for slug in ("personalization", "analytics", "necessary"):
        Purpose.objects.create(slug=slug, name=slug.title(), requires_consent=slug != "necessary")
    return PolicyVersion.objects.create(
        version="1", language="en", text="Policy", effective_at=NOW - datetime.timedelta(days=1)
    )


@pytest.fixture
def shop_registry():
    register_orders()
    register_carts()


def customer_with_history(django_user_model, name, *, orders=2, events=3):
    user = django_user_model.objects.create_user(
        name, email=f"{name}@example.com", password=PASSWORD, first_name=name.title(), last_name="Q."
    )
    for index in range(orders):
        Order.objects.create(
            customer=user,
            full_name=f"{name.title()} Q.",
            phone=f"+96650000000{index}",
            address=f"{index} Olaya St, Riyadh",
            note="leave at door",
            total=decimal.Decimal("99.50") + index,
            created_at=NOW - datetime.timedelta(days=index),
        )
    Cart.objects.create(customer=user, product=f"dates for {name}", added_on=NOW.date())
    grant(user, ["personalization", "analytics"], source="account")
    personalization = Purpose.objects.get(slug="personalization")
    for index in range(events):
        BehavioralEvent.objects.create(user=user, purpose=personalization, kind="search", data={"q": f"{name} {index}"})
    return user


@pytest.fixture
def layla(django_user_model, policy, shop_registry):
    return customer_with_history(django_user_model, "layla")


@pytest.fixture
def omar(django_user_model, policy, shop_registry):
    return customer_with_history(django_user_model, "omar")


def section(document, label):
    return next(entry for entry in document["records"] if entry["model"] == label)


def snapshot():
    """Every stored value of the tables an erasure touches, as the database has them."""
    tables = [Order, Cart, BehavioralEvent, ConsentRecord, ErasureRecord]
    state = {}
    with connection.cursor() as cursor:
        for model in [*tables, Order.customer.field.related_model]:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)} ORDER BY 1")
            state[model._meta.label] = cursor.fetchall()
    return state


# -- export ---------------------------------------------------------------


def test_export_holds_every_registered_field_of_the_subject_decrypted(layla, omar):
    document = export_subject(layla)
    assert document["schema_version"] == SCHEMA_VERSION
    assert document["subject"] == layla.pk
    orders = section(document, "testapp.Order")
    registration = registry.get("testapp.Order")
    assert set(registration.personal_fields) <= set(orders["fields"])
    assert {row["full_name"] for row in orders["rows"]} == {"Layla Q."}
    assert sorted(row["phone"] for row in orders["rows"]) == ["+966500000000", "+966500000001"]
    assert {row["customer"] for row in orders["rows"]} == {layla.pk}
    assert [row["product"] for row in section(document, "testapp.Cart")["rows"]] == ["dates for layla"]
    events = section(document, "privacy_kit.BehavioralEvent")
    assert sorted(row["data"]["q"] for row in events["rows"]) == ["layla 0", "layla 1", "layla 2"]
    assert {row["purpose"] for row in events["rows"]} == {"personalization"}
    consents = section(document, "privacy_kit.ConsentRecord")["rows"]
    assert sorted(row["purpose"] for row in consents) == ["analytics", "personalization"]
    account = section(document, "auth.User")["rows"]
    assert account[0]["email"] == "layla@example.com"
    assert "password" not in account[0]


def test_export_holds_nothing_of_another_subject(layla, omar):
    text = json.dumps(export_subject(layla))
    for trace in ("omar", "Omar", str(omar.email)):
        assert trace not in text


def test_export_is_plain_json_with_iso_8601_times(layla):
    document = export_subject(layla)
    assert json.loads(json.dumps(document)) == document
    created = section(document, "testapp.Order")["rows"][0]["created_at"]
    assert datetime.datetime.fromisoformat(created.replace("Z", "+00:00")).tzinfo is not None
    assert section(document, "testapp.Order")["rows"][0]["total"] in {"99.50", "100.50"}


def test_streamed_export_is_the_same_document(layla):
    assert json.loads("".join(stream_export(layla, now=NOW))) == export_subject(layla, now=NOW)


def test_export_streams_a_long_history_in_pieces(django_user_model, policy, shop_registry):
    user = customer_with_history(django_user_model, "long", orders=1, events=1200)
    pieces = list(stream_export(user))
    assert max(len(piece) for piece in pieces) < len("".join(pieces)) / 2
    assert len(section(json.loads("".join(pieces)), "privacy_kit.BehavioralEvent")["rows"]) == 1200


def test_export_of_a_value_that_no_longer_decrypts_fails_closed(layla):
    order = Order.objects.filter(customer=layla).first()
    write_stored(Order, order.pk, "phone", "AQAAAAAA" + "B" * 40)
    with pytest.raises(DecryptionError) as failure:
        export_subject(layla)
    assert (failure.value.model, failure.value.field) == ("testapp.order", "phone")
    assert "AQAAAAAA" not in str(failure.value)


def test_export_of_a_subject_with_no_rows_is_still_complete(django_user_model, policy, shop_registry):
    user = django_user_model.objects.create_user("nadia")
    document = export_subject(user)
    assert section(document, "testapp.Order")["rows"] == []
    assert section(document, "auth.User")["rows"][0]["username"] == "nadia"


def test_subject_of_row_follows_the_registry(layla):
    assert subject_of_row(Order.objects.filter(customer=layla).first()) == layla
    assert subject_of_row(layla) == layla


# -- erasure --------------------------------------------------------------


def test_erasure_keeps_accounting_fields_and_erases_the_rest(layla, omar):
    totals = sorted(Order.objects.filter(customer=layla).values_list("total", flat=True))
    record = erase_subject(layla, reason="customer asked")
    orders = Order.objects.filter(customer=layla)
    assert sorted(orders.values_list("total", flat=True)) == totals
    assert {(o.full_name, o.phone, o.address, o.note) for o in orders} == {("", "", None, "")}
    assert not Cart.objects.filter(customer=layla).exists()
    assert not BehavioralEvent.objects.filter(user=layla).exists()
    assert record.status == ErasureRecord.Status.DONE
    assert record.counts["testapp.Order"] == {"anonymized": 2}
    assert record.counts["testapp.Cart"] == {"deleted": 1}
    assert record.counts["privacy_kit.BehavioralEvent"] == {"deleted": 3}


def test_erasure_leaves_other_subjects_alone(layla, omar):
    before = export_subject(omar, now=NOW)
    erase_subject(layla, reason="customer asked")
    assert export_subject(omar, now=NOW) == before


def test_erasure_withdraws_consents_and_anonymizes_the_ledger(layla):
    granted = ConsentRecord.objects.filter(user=layla).count()
    erase_subject(layla, reason="customer asked")
    assert not ConsentRecord.objects.filter(user=layla).exists()
    withdrawals = ConsentRecord.objects.filter(source=ConsentRecord.Source.ERASURE)
    assert sorted(withdrawals.values_list("purpose__slug", flat=True)) == ["analytics", "personalization"]
    # The ledger keeps every row, none of them tied to the person any more.
    assert ConsentRecord.objects.filter(user__isnull=True, visitor__isnull=True).count() == granted + 2
    assert not has_consent(layla, "personalization")


def test_erasure_keeps_rows_registered_with_nothing_personal(layla):
    registry.register(Cart, subject="customer", category="financial")
    erase_subject(layla, reason="customer asked")
    assert Cart.objects.filter(customer=layla).count() == 1


def test_erasure_deletes_rows_whose_values_no_longer_decrypt(layla, orders_loaded_on_delete):
    registry.register(Order, subject="customer", category="personal", personal_fields=["full_name"])
    keys = sorted(Order.objects.filter(customer=layla).values_list("pk", flat=True))
    for pk in keys:
        write_stored(Order, pk, "full_name", "AQAAAAAA" + "B" * 40)  # altered, or sealed under a retired key
    erase_subject(layla, reason="customer asked")
    assert sorted(orders_loaded_on_delete) == keys
    assert not Order.objects.filter(customer=layla).exists()


def test_erasure_closes_the_account(layla):
    erase_subject(layla, reason="customer asked")
    layla.refresh_from_db()
    assert not layla.is_active
    assert (layla.username, layla.email, layla.first_name, layla.last_name) == (f"erased-{layla.pk}", "", "", "")
    assert not layla.has_usable_password()


def test_erasure_record_names_the_subject_by_a_keyed_hash_only(layla):
    record = erase_subject(layla, reason="customer asked")
    assert record.subject_ref == subject_reference(layla.pk)
    assert str(layla.pk) != record.subject_ref
    assert record.requested_by is None
    assert record.completed_at is not None


def test_erasure_twice_changes_nothing_the_second_time(layla):
    first = erase_subject(layla, reason="customer asked")
    before = snapshot()
    second = erase_subject(layla, reason="customer asked")
    assert second.pk == first.pk
    assert snapshot() == before
    assert ErasureRecord.objects.count() == 1


def test_interrupted_erasure_is_finished_by_running_it_again(layla):
    # A worker died after writing the record: the record is pending and nothing else changed.
    pending = ErasureRecord.objects.create(subject_ref=subject_reference(layla.pk), reason="customer asked")
    record = erase_subject(layla, reason="customer asked")
    assert record.pk == pending.pk
    assert record.status == ErasureRecord.Status.DONE
    assert not Cart.objects.filter(customer=layla).exists()


def test_erasure_under_legal_hold_is_refused_and_changes_nothing(layla, admin_user):
    LegalHold.objects.create(subject=layla, reason="open chargeback")
    before = snapshot()
    with pytest.raises(ErasureRefused) as refusal:
        erase_subject(layla, reason="customer asked")
    assert refusal.value.hold.reason == "open chargeback"
    assert "legal hold" in str(refusal.value)
    assert snapshot() == before


def test_erasure_after_the_hold_is_released_goes_ahead(layla):
    LegalHold.objects.create(subject=layla, reason="open chargeback").release()
    assert erase_subject(layla, reason="customer asked").status == ErasureRecord.Status.DONE


def test_erasure_with_a_broken_registry_is_refused_before_anything_changes(layla):
    registry.register(Cart, subject="product", category="behavioral", personal_fields=["product"])
    before = snapshot()
    with pytest.raises(ImproperlyConfigured, match="subject 'product' does not lead to"):
        erase_subject(layla, reason="customer asked")
    assert snapshot() == before


def test_erase_subject_task_erases(layla, admin_user):
    result = erase_subject_task.delay(layla.pk, reason="asked by phone", source="admin", requested_by_id=admin_user.pk)
    outcome = result.get()
    assert outcome["erased"] is True
    record = ErasureRecord.objects.get(pk=outcome["record"])
    assert (record.source, record.requested_by) == ("admin", admin_user)


def test_erase_subject_task_under_a_hold_placed_meanwhile_changes_nothing(layla):
    LegalHold.objects.create(subject=layla, reason="court order")
    assert erase_subject_task.delay(layla.pk, reason="asked").get() == {"erased": False, "why": "legal hold"}
    assert Cart.objects.filter(customer=layla).exists()


# -- replay after a restore -----------------------------------------------

RESTORED = ["auth.User", "testapp.Order", "testapp.Cart", "privacy_kit.BehavioralEvent", "privacy_kit.ConsentRecord"]


def test_replay_after_restoring_a_backup_taken_before_the_erasure(layla, omar, tmp_path):
    backup = tmp_path / "backup.json"
    call_command("dumpdata", *RESTORED, output=str(backup), verbosity=0)
    erase_subject(layla, reason="customer asked")
    ledger = tmp_path / "erasures.json"
    call_command("dumpdata", "privacy_kit.ErasureRecord", output=str(ledger), verbosity=0)
    # Restore: the backup brings Layla's data back, and knows nothing of the erasure.
    ErasureRecord.objects.all().delete()
    call_command("loaddata", str(backup), verbosity=0)
    assert Order.objects.get(customer=layla, total="99.50").full_name == "Layla Q."
    omar_before = export_subject(omar, now=NOW)

    call_command("replay_erasures", "--records", str(ledger), verbosity=0)

    assert {o.full_name for o in Order.objects.filter(customer=layla)} == {""}
    assert not Cart.objects.filter(customer=layla).exists()
    assert not BehavioralEvent.objects.filter(user=layla).exists()
    layla.refresh_from_db()
    assert not layla.is_active
    assert export_subject(omar, now=NOW) == omar_before


def test_replay_skips_a_subject_under_legal_hold(layla):
    erase_subject(layla, reason="customer asked")
    LegalHold.objects.create(subject=layla, reason="court order")
    assert replay_erasures().held == 1


def test_replay_refuses_a_file_with_other_rows(layla, tmp_path):
    other = tmp_path / "users.json"
    call_command("dumpdata", "auth.User", output=str(other), verbosity=0)
    with pytest.raises(CommandError, match="give only erasure records"):
        call_command("replay_erasures", "--records", str(other))


# -- the my-data pages ------------------------------------------------------


@pytest.fixture
def logged_in(client, layla):
    client.force_login(layla)
    return client


def test_my_data_page_lists_what_we_hold(logged_in):
    page = logged_in.get("/privacy/my-data/").content.decode()
    assert "2 entries in" in page
    assert 'data-purpose-row="personalization" data-state="granted"' in page


def test_my_data_needs_a_login(client, policy):
    response = client.get("/privacy/my-data/")
    assert response.status_code == 302
    assert client.post("/privacy/my-data/export/", {"password": PASSWORD}).status_code == 302


def test_download_gives_own_data_and_records_an_export(logged_in, layla, omar):
    response = logged_in.post("/privacy/my-data/export/", {"password": PASSWORD})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response["Cache-Control"]
    document = json.loads(b"".join(response.streaming_content))
    assert {row["customer"] for row in section(document, "testapp.Order")["rows"]} == {layla.pk}
    assert SecurityEvent.objects.filter(kind="export", user=layla).count() == 1


def test_download_needs_the_password(logged_in, layla):
    response = logged_in.post("/privacy/my-data/export/", {"password": "wrong"})
    assert response.status_code == 400
    assert SecurityEvent.objects.filter(kind="failed_login", user=layla).exists()
    assert not SecurityEvent.objects.filter(kind="export").exists()


def test_download_is_only_posted(logged_in):
    assert logged_in.get("/privacy/my-data/export/").status_code == 405


def test_delete_account_is_only_posted(logged_in, layla):
    assert logged_in.get("/privacy/my-data/delete/").status_code == 405
    layla.refresh_from_db()
    assert layla.is_active


def test_delete_account_with_a_wrong_password_counts_as_a_failed_login(logged_in, layla):
    response = logged_in.post("/privacy/my-data/delete/", {"password": "wrong", "confirm": "on"})
    assert response.status_code == 400
    assert "That password is not right." in response.content.decode()
    assert SecurityEvent.objects.filter(kind="failed_login", user=layla).exists()


@pytest.mark.parametrize("name", ["user", "user_id", "id"])
def test_download_naming_another_user_is_refused_and_recorded(logged_in, layla, omar, name):
    response = logged_in.post(f"/privacy/my-data/export/?{name}={omar.pk}", {"password": PASSWORD})
    assert response.status_code == 403
    assert b"omar" not in response.content
    assert SecurityEvent.objects.filter(kind="export", user=layla, detail__startswith="refused").count() == 1


def test_download_is_rate_limited(logged_in, settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "EXPORTS_PER_HOUR": 2}
    responses = [logged_in.post("/privacy/my-data/export/", {"password": PASSWORD}) for _ in range(3)]
    for response in responses:
        response.close()
    assert [response.status_code for response in responses] == [200, 200, 429]


def test_delete_account_closes_it_and_erases(logged_in, layla, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post("/privacy/my-data/delete/", {"password": PASSWORD, "confirm": "on"})
    assert response.status_code == 302
    assert response["Location"] == "/privacy/my-data/deleted/"
    layla.refresh_from_db()
    assert not layla.is_active
    assert "_auth_user_id" not in logged_in.session
    record = ErasureRecord.objects.get()
    assert (record.source, record.requested_by) == ("account", None)
    assert not Cart.objects.filter(customer=layla).exists()
    assert SecurityEvent.objects.filter(kind="erasure", user=layla).exists()


def test_delete_account_needs_password_and_confirmation(logged_in, layla):
    assert logged_in.post("/privacy/my-data/delete/", {"password": PASSWORD}).status_code == 400
    assert logged_in.post("/privacy/my-data/delete/", {"password": "nope", "confirm": "on"}).status_code == 400
    layla.refresh_from_db()
    assert layla.is_active
    assert not ErasureRecord.objects.exists()


def test_delete_account_naming_another_user_is_refused(logged_in, layla, omar):
    response = logged_in.post("/privacy/my-data/delete/", {"password": PASSWORD, "confirm": "on", "user": omar.pk})
    assert response.status_code == 403
    omar.refresh_from_db()
    layla.refresh_from_db()
    assert omar.is_active and layla.is_active


def test_delete_account_under_legal_hold_says_so_without_the_reason_and_changes_nothing(logged_in, layla):
    LegalHold.objects.create(subject=layla, reason="open chargeback")
    response = logged_in.post("/privacy/my-data/delete/", {"password": PASSWORD, "confirm": "on"})
    assert response.status_code == 409
    page = response.content.decode()
    assert "We must keep your data for now, so your account cannot be deleted yet." in page
    assert "open chargeback" not in page
    layla.refresh_from_db()
    assert layla.is_active
    assert not ErasureRecord.objects.exists()


def test_withdraw_on_my_data_page_comes_back_to_it(logged_in, layla, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(
            "/privacy/preferences/", {"purpose": "personalization", "action": "withdraw", "next": "/privacy/my-data/"}
        )
    assert response["Location"] == "/privacy/my-data/"
    assert not BehavioralEvent.objects.filter(user=layla).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the erasure lock is a PostgreSQL advisory lock")
def test_erasure_already_running_elsewhere_changes_nothing(layla):
    import psycopg

    from privacy_kit.retention.purge import _lock_key

    params = {k: v for k, v in connection.get_connection_params().items() if k in ("host", "port", "user", "dbname")}
    other = psycopg.connect(**params, autocommit=True)
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [_lock_key("erase_subject", subject_reference(layla.pk))])
        before = snapshot()
        record = erase_subject(layla, reason="customer asked")
        assert record.pk is None
        assert snapshot() == before
    finally:
        other.close()

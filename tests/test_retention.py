import datetime
import decimal
import sys

import pytest
from django.core import checks
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.test import override_settings
from django.utils import timezone

from privacy_kit import registry
from privacy_kit.models import BehavioralEvent, LegalHold, PurgeRun
from privacy_kit.retention import anonymous_value, expired, inactive_users, plan_purge, purge_policy
from tests.test_fields import write_stored
from tests.testapp.models import Cart, Order, PurgeEvent
from tests.testapp.policies import ORDER_PERSONAL_FIELDS, register_carts, register_orders

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def days_ago(days):
    return NOW - datetime.timedelta(days=days)


@pytest.fixture
def policies(settings):
    register_orders(personal_fields=[*ORDER_PERSONAL_FIELDS, "customer"])
    register_carts(after_days="carts")
    with override_settings(PRIVACY_KIT={**settings.PRIVACY_KIT, "RETENTION": {"carts": 30}}):
        yield


def make_user(django_user_model, name, *, joined, last_login=None):
    return django_user_model.objects.create(
        username=name, date_joined=days_ago(joined), last_login=days_ago(last_login) if last_login else None
    )


def order(customer, days, name="Salma Q.", total="99.50"):
    return Order.objects.create(
        customer=customer,
        full_name=name,
        phone="0550000000",
        address="Riyadh",
        note="gift wrap",
        total=decimal.Decimal(total),
        created_at=days_ago(days),
    )


# -- age basis -------------------------------------------------------------------


def test_purge_deletes_rows_whose_values_no_longer_decrypt(django_user_model, orders_loaded_on_delete):
    registry.register(
        Order,
        subject="customer",
        category="personal",
        personal_fields=["full_name"],
        retention=registry.Retention(basis="age", date_field="created_at", after_days=30),
    )
    old = order(make_user(django_user_model, "salma", joined=900), 400)
    write_stored(Order, old.pk, "full_name", "AQAAAAAA" + "B" * 40)  # altered, or sealed under a retired key
    assert purge_policy("testapp.Order").deleted == 1
    assert orders_loaded_on_delete == [old.pk]


def test_age_basis_deletes_rows_older_than_the_period(policies, django_user_model):
    user = make_user(django_user_model, "u", joined=10)
    old = [Cart.objects.create(customer=user, product=f"p{i}", added_on=days_ago(31 + i).date()) for i in range(3)]
    fresh = [Cart.objects.create(customer=user, product="new", added_on=days_ago(days).date()) for days in (0, 29)]
    assert set(expired(registry.get("testapp.Cart"), NOW)) == set(old)
    result = purge_policy("testapp.Cart", now=NOW, batch_size=2)
    assert result.deleted == 3
    assert set(Cart.objects.all()) == set(fresh)


def test_behavioral_events_are_registered_by_privacy_kit_with_the_behavioral_period():
    entry = registry.get("privacy_kit.BehavioralEvent")
    assert (entry.category, entry.retention.basis, entry.retention.days) == ("behavioral", "age", 365)


# -- relationship basis ------------------------------------------------------------


def test_relationship_basis_uses_the_latest_activity_of_the_subject(policies, django_user_model):
    gone = make_user(django_user_model, "gone", joined=2000, last_login=900)
    logged_in = make_user(django_user_model, "logged-in", joined=2000, last_login=10)
    new_order = make_user(django_user_model, "new-order", joined=2000, last_login=900)
    recent_cart = make_user(django_user_model, "recent-cart", joined=2000, last_login=900)
    joined = make_user(django_user_model, "joined-lately", joined=100)
    for user in (gone, logged_in, new_order, recent_cart, joined):
        order(user, 1000)
    order(new_order, 5)
    Cart.objects.create(customer=recent_cart, product="x", added_on=days_ago(3).date())
    since = days_ago(730)
    assert set(inactive_users(since)) == {gone}
    assert [o.customer for o in expired(registry.get("testapp.Order"), NOW)] == [gone]


def test_anonymize_overwrites_personal_fields_and_keeps_accounting_fields(policies, django_user_model):
    gone = make_user(django_user_model, "gone", joined=2000, last_login=900)
    kept = make_user(django_user_model, "kept", joined=2000, last_login=1)
    target, other = order(gone, 1000, total="120.00"), order(kept, 1000)
    result = purge_policy("testapp.Order", now=NOW)
    assert result.anonymized == 1 and result.deleted == 0
    target.refresh_from_db()
    assert (target.full_name, target.phone, target.address, target.note, target.customer) == ("", "", None, "", None)
    assert target.total == decimal.Decimal("120.00") and target.created_at == days_ago(1000)
    other.refresh_from_db()
    assert other.full_name == "Salma Q." and other.customer == kept


def test_anonymized_rows_are_not_counted_again(policies, django_user_model):
    gone = make_user(django_user_model, "gone", joined=2000, last_login=900)
    order(gone, 1000)
    assert purge_policy("testapp.Order", now=NOW).anonymized == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT full_name FROM testapp_order")
        assert cursor.fetchone()[0] == ""
    assert purge_policy("testapp.Order", now=NOW).anonymized == 0


# -- legal hold ------------------------------------------------------------------


def test_a_legal_hold_stops_the_purge_until_released(policies, django_user_model):
    gone = make_user(django_user_model, "gone", joined=2000, last_login=900)
    held = order(gone, 1000)
    # A cart counts as activity too: this one is older than the relationship period.
    Cart.objects.create(customer=gone, product="p", added_on=days_ago(800).date())
    hold = LegalHold.objects.create(subject=gone, reason="tax audit 2026")
    assert purge_policy("testapp.Order", now=NOW).anonymized == 0
    assert purge_policy("testapp.Cart", now=NOW).deleted == 0
    held.refresh_from_db()
    assert held.full_name == "Salma Q."
    hold.release()
    assert purge_policy("testapp.Order", now=NOW).anonymized == 1
    assert purge_policy("testapp.Cart", now=NOW).deleted == 1


def test_rows_without_a_subject_still_expire_under_a_hold_on_someone_else(policies, django_user_model):
    someone = make_user(django_user_model, "someone", joined=10)
    LegalHold.objects.create(subject=someone, reason="dispute")
    Cart.objects.create(customer=None, product="p", added_on=days_ago(60).date())
    assert purge_policy("testapp.Cart", now=NOW).deleted == 1


# -- runs, dry runs, the command ---------------------------------------------------


def test_dry_run_counts_and_changes_nothing(policies, django_user_model):
    gone = make_user(django_user_model, "gone", joined=2000, last_login=900)
    order(gone, 1000)
    Cart.objects.create(customer=gone, product="p", added_on=days_ago(800).date())
    assert purge_policy("testapp.Order", now=NOW, dry_run=True).anonymized == 1
    assert purge_policy("testapp.Cart", now=NOW, dry_run=True).deleted == 1
    assert Order.objects.get().full_name == "Salma Q." and Cart.objects.count() == 1
    assert set(PurgeRun.objects.values_list("dry_run", "status")) == {(True, "done")}


def test_every_run_is_logged_without_personal_data(policies, django_user_model):
    gone = make_user(django_user_model, "gone", joined=2000, last_login=900)
    order(gone, 1000, name="Very Personal Name")
    purge_policy("testapp.Order", now=NOW)
    run = PurgeRun.objects.get()
    assert (run.policy, run.status, run.anonymized, run.deleted) == ("testapp.Order", "done", 1, 0)
    assert run.finished_at is not None and "Personal" not in str(run.__dict__)


def test_purge_expired_command(policies, django_user_model, capsys):
    gone = make_user(django_user_model, "gone", joined=2000, last_login=900)
    order(gone, 1000)
    call_command("purge_expired", "--dry-run", "--policy", "testapp.Order")
    assert "testapp.Order: would delete 0, anonymize 1" in capsys.readouterr().out
    call_command("purge_expired")
    out = capsys.readouterr().out
    assert "testapp.Order: did delete 0, anonymize 1" in out and "testapp.Cart: did delete 0" in out
    assert "privacy_kit.BehavioralEvent" in out


def test_the_celery_tasks_run_the_same_engine(policies, django_user_model):
    from privacy_kit.tasks import purge_expired

    user = make_user(django_user_model, "u", joined=10)
    Cart.objects.create(customer=user, product="old", added_on=days_ago(90).date())
    assert purge_expired.delay().get() >= 2
    assert not Cart.objects.exists()


def test_plan_cuts_a_large_table_into_chunks(policies, django_user_model, settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "PURGE_BATCH_SIZE": 2, "RETENTION": {"carts": 30}}
    user = make_user(django_user_model, "u", joined=10)
    Cart.objects.bulk_create(Cart(customer=user, product="p", added_on=NOW.date()) for _ in range(45))
    chunks = [(start, end) for name, start, end in plan_purge() if name == "testapp.Cart"]
    ids = set(Cart.objects.values_list("pk", flat=True))
    # Chunks of 10 batches, aligned on multiples of their span wherever the keys start.
    assert chunks == [(start, start + 20) for start in range(min(ids) // 20 * 20, max(ids) + 1, 20)]
    assert len(chunks) in (3, 4)


# -- anonymous values and checks ---------------------------------------------------


def test_anonymous_values_fit_each_field():
    meta = Order._meta
    assert anonymous_value(meta.get_field("full_name")) == ""
    assert anonymous_value(meta.get_field("address")) is None
    assert anonymous_value(meta.get_field("total")) == 0


def registry_errors():
    return [m for m in checks.run_checks() if m.id == "privacy_kit.E030"]


def test_registration_mistakes_are_check_errors_not_purge_crashes():
    registry.register(
        Order,
        subject="note",
        category="personal",
        personal_fields=["full_name", "nickname"],
        retention=registry.Retention(
            basis="forever", date_field="full_name", after_days="unknown", action="shred", keep_fields=["tip"]
        ),
    )
    try:
        messages = " ".join(m.msg for m in registry_errors())
    finally:
        registry.unregister(Order)
    for expected in [
        "subject 'note' does not lead to auth.User",
        "'nickname' does not exist",
        "basis 'forever'",
        "action 'shred'",
        "'full_name' is not a date",
        "'tip', which does not exist",
        "'unknown', which PRIVACY_KIT['RETENTION'] does not define",
    ]:
        assert expected in messages


def test_a_good_registry_passes_the_checks(policies):
    assert registry_errors() == []


def test_missing_beat_entry_is_a_warning():
    with override_settings(CELERY_BEAT_SCHEDULE={}):
        assert "privacy_kit.W030" in {m.id for m in checks.run_checks()}


def database_warnings():
    return {m.id for m in checks.run_checks(databases=["default"])}


def installed_days_ago(days):
    """Move the time privacy_kit's migrations were applied (its installation) that many days back."""
    from django.db.migrations.recorder import MigrationRecorder

    assert MigrationRecorder.Migration.objects.filter(app="privacy_kit").update(applied=days_ago(days))


def test_a_fresh_install_has_no_stale_purge_warning():
    # Just migrated, as the test database is: no purge was due yet.
    assert "privacy_kit.W031" not in database_warnings()


def test_a_failed_purge_soon_after_the_install_is_not_yet_stale():
    PurgeRun.objects.create(policy="x", status="failed", started_at=timezone.now(), finished_at=timezone.now())
    assert "privacy_kit.W031" not in database_warnings()


def test_stale_purge_is_a_database_warning():
    installed_days_ago(3)
    assert "privacy_kit.W031" in database_warnings()
    PurgeRun.objects.create(policy="x", status="done", finished_at=timezone.now())
    assert "privacy_kit.W031" not in database_warnings()
    assert "privacy_kit.W031" not in {m.id for m in checks.run_checks()}


def test_a_purge_that_succeeded_long_ago_only_is_stale():
    installed_days_ago(30)
    PurgeRun.objects.create(policy="x", status="done", started_at=days_ago(10), finished_at=days_ago(10))
    assert "privacy_kit.W031" in database_warnings()


def test_purges_failing_since_long_ago_are_stale_whatever_the_migrations_say():
    # A database restored or migrated anew keeps its old purge runs: they date the installation too.
    PurgeRun.objects.create(policy="x", status="failed", started_at=days_ago(3), finished_at=days_ago(3))
    assert "privacy_kit.W031" in database_warnings()


def test_behavioral_event_purge_by_age(django_user_model):
    from privacy_kit.models import PolicyVersion, Purpose

    purpose = Purpose.objects.create(slug="personalization", name="p")
    PolicyVersion.objects.create(version="1", language="en", text="t", effective_at=days_ago(1))
    user = make_user(django_user_model, "u", joined=10)
    BehavioralEvent.objects.create(user=user, purpose=purpose, kind="search", data={}, created_at=days_ago(400))
    keep = BehavioralEvent.objects.create(user=user, purpose=purpose, kind="search", data={}, created_at=days_ago(3))
    assert purge_policy("privacy_kit.BehavioralEvent", now=NOW).deleted == 1
    assert list(BehavioralEvent.objects.all()) == [keep]


# -- batches ---------------------------------------------------------------------


def test_relationship_basis_reads_activity_beyond_the_batch_of_a_row(policies, django_user_model):
    # Batches of two orders: each subject's orders fall in different batches, and what
    # keeps a subject active (a recent order) sits in a batch after their old ones.
    gone = make_user(django_user_model, "gone", joined=2000, last_login=900)
    back = make_user(django_user_model, "back", joined=2000, last_login=900)
    logged_in = make_user(django_user_model, "logged-in", joined=2000, last_login=10)
    old = [order(user, 1000) for user in (gone, back, logged_in, gone, back, gone)]
    recent = order(back, 5)
    due = {o.pk for o in old if o.customer == gone}
    assert {o.pk for o in expired(registry.get("testapp.Order"), NOW)} == due
    assert purge_policy("testapp.Order", now=NOW, batch_size=2).anonymized == 3
    untouched = set(Order.objects.exclude(note="").values_list("pk", flat=True))
    assert untouched == {o.pk for o in old if o.customer != gone} | {recent.pk}
    for batch_size in (1, 2, 3, 100):
        assert purge_policy("testapp.Order", now=NOW, batch_size=batch_size).anonymized == 0


def test_a_subject_active_again_mid_run_keeps_the_rows_of_the_later_batches(policies, django_user_model, monkeypatch):
    first = make_user(django_user_model, "first", joined=2000, last_login=900)
    returning = make_user(django_user_model, "returning", joined=2000, last_login=900)
    early, later = order(first, 1000), [order(returning, 1000), order(returning, 1000)]
    engine = sys.modules[purge_policy.__module__]

    class LogInAfterTheFirstBatch(engine.KeyRanges):
        def found(self, count, **known):
            super().found(count, **known)
            # The customer logs in while the purge runs, after the batch of the first order.
            django_user_model.objects.filter(pk=returning.pk).update(last_login=timezone.now())

    monkeypatch.setattr(engine, "KeyRanges", LogInAfterTheFirstBatch)
    assert purge_policy("testapp.Order", now=NOW, batch_size=1).anonymized == 1
    assert Order.objects.get(pk=early.pk).full_name == ""
    assert [Order.objects.get(pk=o.pk).full_name for o in later] == ["Salma Q.", "Salma Q."]


def test_a_batch_that_fails_inside_a_callers_transaction_leaves_it_usable_and_the_run_failed(policies, monkeypatch):
    # pytest-django runs this test inside a transaction: each batch has a savepoint of its own.
    engine = sys.modules[purge_policy.__module__]

    def broken(using, *, exclusive, **options):
        # Inside the batch, where the batch takes the holds' lock: a statement that fails.
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM privacy_kit_no_such_table")

    monkeypatch.setattr(engine, "lock_holds", broken)
    Cart.objects.create(product="p", added_on=days_ago(90).date())
    with pytest.raises(DatabaseError):
        purge_policy("testapp.Cart", now=NOW)
    run = PurgeRun.objects.get()
    assert run.status == "failed" and run.error in {"ProgrammingError", "OperationalError"}
    assert Cart.objects.count() == 1


def age_policy_without_subject():
    """Register PurgeEvent by age with no subject: no legal hold can keep its rows, so its batches take no lock."""
    registry.register(
        PurgeEvent,
        subject=None,
        category="behavioral",
        personal_fields=["kind"],
        retention=registry.Retention(basis="age", date_field="created_at", after_days=30),
    )
    return PurgeEvent._meta.label


def old_events(count):
    PurgeEvent.objects.bulk_create(PurgeEvent(kind="k", created_at=days_ago(40 + i)) for i in range(count))


@pytest.mark.django_db(transaction=True)
def test_a_batch_without_holds_is_one_delete_that_commits_with_its_count():
    name = age_policy_without_subject()
    old_events(30)
    statements = []

    def record(execute, sql, params, many, context):
        statements.append((sql, connection.in_atomic_block))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert purge_policy(name, now=NOW, batch_size=10).deleted == 30
    on_events = [(sql.split()[0], atomic) for sql, atomic in statements if "testapp_purgeevent" in sql]
    # The bounds of the walk once, then one DELETE a batch: no next-key query while the ranges
    # find rows. The DELETE commits with the UPDATE that adds its count to the run's record:
    # on PostgreSQL both go in one message the server runs as one transaction, elsewhere
    # in the batch's own transaction.
    if connection.vendor == "postgresql":
        # Read committed, then the block: one message.
        assert on_events == [("SELECT", False)] + [("SET", False)] * 3
        block = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; DO"
        messages = [sql for sql, _ in statements if sql.startswith(block)]
        run_table = PurgeRun._meta.db_table
        assert all("DELETE FROM" in sql and f'UPDATE "{run_table}"' in sql for sql in messages)
        assert len(set(messages)) == 3  # each names its own bounds
    else:
        assert on_events == [("SELECT", False)] + [("DELETE", True)] * 3
    assert PurgeRun.objects.get(policy=name).deleted == 30


@pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_batches_commit_without_waiting_for_the_disk_and_the_connection_gets_its_setting_back(monkeypatch):
    name = age_policy_without_subject()
    old_events(3)
    engine = sys.modules[purge_policy.__module__]
    real_counted, seen = engine.counted_range_delete, []

    def showing(*args, **kwargs):
        delete = real_counted(*args, **kwargs)

        def show(start, end):
            with connection.cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                seen.append(cursor.fetchone()[0])
            return delete(start, end)

        return show

    def setting():
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    monkeypatch.setattr(engine, "counted_range_delete", showing)
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO local")
    assert purge_policy(name, now=NOW, batch_size=1).deleted == 3
    assert seen == ["off"] * 3 and setting() == "local"

    def fail(*args, **kwargs):
        def delete(start, end):
            raise RuntimeError("batch failed")

        return delete

    old_events(1)
    monkeypatch.setattr(engine, "counted_range_delete", fail)
    with pytest.raises(RuntimeError):
        purge_policy(name, now=NOW)
    assert setting() == "local"
    assert PurgeRun.objects.order_by("pk").last().status == "failed"
    with connection.cursor() as cursor:
        cursor.execute("RESET synchronous_commit")


def test_a_chunk_run_deletes_nothing_past_the_end_of_its_chunk():
    name = age_policy_without_subject()
    old_events(30)
    keys = sorted(PurgeEvent.objects.values_list("pk", flat=True))
    start, end = keys[4], keys[19]
    # Batches of 10 from the chunk's first key: the last one would reach past the chunk's end.
    assert purge_policy(name, start=start, end=end, batch_size=10, now=NOW).deleted == 15
    assert sorted(PurgeEvent.objects.values_list("pk", flat=True)) == keys[:4] + keys[19:]

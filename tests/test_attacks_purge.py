"""Attacks on the purge engine's fast paths: one statement a batch, compiled once, commits relaxed.

Each test tries to make a purge delete a row that must stay, leave a due row
uncounted, skip a receiver, or leave ``synchronous_commit`` relaxed on a
connection that goes on serving the shop. The policies are the test app's
(``PurgeEvent`` by age, ``Order`` on the relationship basis).
"""

from __future__ import annotations

import datetime
import signal
import sys
import threading
import uuid
from contextlib import contextmanager

import psycopg
import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection, models, transaction
from django.db.models import ExpressionWrapper, F, ProtectedError, TextField
from django.db.models.signals import post_delete, pre_delete
from django.test.utils import isolate_apps
from django.utils import timezone

from privacy_kit import registry
from privacy_kit.models import LegalHold, PurgeRun
from privacy_kit.retention import purge_policy
from tests import test_purge_workers as with_workers
from tests.celery_processes import wait_until
from tests.testapp import privacy
from tests.testapp.models import Cart, Order, PurgeEvent
from tests.testapp.policies import register_orders

# Outside a transaction, as a worker runs them: on PostgreSQL a batch is then one message.
pytestmark = pytest.mark.django_db(transaction=True)
NOW = timezone.now()
on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is PostgreSQL's")
engine = sys.modules[purge_policy.__module__]


def days_ago(days):
    return NOW - datetime.timedelta(days=days)


def age_policy_without_subject():
    """PurgeEvent by age, nobody's rows: its batches take no lock and run as one compiled DELETE each."""
    registry.register(
        PurgeEvent,
        subject=None,
        category="behavioral",
        personal_fields=["kind"],
        retention=registry.Retention(basis="age", date_field="created_at", after_days=30),
    )
    return PurgeEvent._meta.label


def events(keys, *, days=40, user=None, kind="k"):
    PurgeEvent.objects.bulk_create(PurgeEvent(pk=key, user=user, kind=kind, created_at=days_ago(days)) for key in keys)


def keys():
    return sorted(PurgeEvent.objects.values_list("pk", flat=True))


def setting():
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@contextmanager
def soft_time_limit_in(seconds):
    """Raise Celery's ``SoftTimeLimitExceeded`` in this thread after ``seconds``, wherever it is, as a worker's does."""

    def soft_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGUSR1, soft_limit)
    timer = threading.Timer(seconds, signal.pthread_kill, [threading.main_thread().ident, signal.SIGUSR1])
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)


def after_each_batch(monkeypatch, hook):
    """Run ``hook(batch_number)`` after each batch of the next purge, as another client would between them."""

    class Hooked(engine.KeyRanges):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.done = 0

        def found(self, count, **known):
            super().found(count, **known)
            self.done += 1
            hook(self.done)

    monkeypatch.setattr(engine, "KeyRanges", Hooked)


# -- receivers ---------------------------------------------------------------------


@pytest.mark.parametrize("sender", [PurgeEvent, None], ids=["this-model", "any-model"])
def test_a_receiver_connected_after_a_first_purge_hears_every_row_of_the_next(sender):
    # The first purge of the process takes the fast path (nothing listens); the shop then
    # connects receivers: the next purge must send both signals for every row it deletes.
    name = age_policy_without_subject()
    events(range(1, 6))
    assert purge_policy(name, now=NOW, batch_size=2).deleted == 5
    events(range(6, 11))
    events([11], days=5)
    heard = {"pre": [], "post": []}

    def before(sender, instance, **kwargs):
        if isinstance(instance, PurgeEvent):
            heard["pre"].append(instance.pk)

    def after(sender, instance, **kwargs):
        if isinstance(instance, PurgeEvent):
            heard["post"].append(instance.pk)

    pre_delete.connect(before, sender=sender, weak=False)
    post_delete.connect(after, sender=sender, weak=False)
    try:
        assert purge_policy(name, now=NOW, batch_size=2).deleted == 5
    finally:
        pre_delete.disconnect(before, sender=sender)
        post_delete.disconnect(after, sender=sender)
    assert sorted(heard["pre"]) == sorted(heard["post"]) == list(range(6, 11))
    assert keys() == [11]
    # Disconnected again, the fast path comes back and still deletes exactly the due rows.
    events(range(12, 15))
    assert purge_policy(name, now=NOW, batch_size=2).deleted == 3
    assert keys() == [11]


def test_a_receiver_connected_while_a_purge_runs_hears_the_rows_of_its_later_batches(monkeypatch):
    # A module imported late (by another thread of the process, or by the purge's own first
    # batch) connects a receiver mid-walk: the rows of the batches after it must not leave unheard.
    name = age_policy_without_subject()
    events(range(1, 7))
    heard = []

    def before(sender, instance, **kwargs):
        heard.append(instance.pk)

    def connect(batch):
        if batch == 1:
            pre_delete.connect(before, sender=PurgeEvent, weak=False)

    after_each_batch(monkeypatch, connect)
    try:
        assert purge_policy(name, now=NOW, batch_size=2).deleted == 6
    finally:
        pre_delete.disconnect(before, sender=PurgeEvent)
    assert sorted(heard) == [3, 4, 5, 6]
    assert keys() == []


# -- keys ----------------------------------------------------------------------------


def test_keys_at_the_compiled_statements_own_placeholders_negative_keys_and_wide_gaps():
    # range_delete() compiles its DELETE with two placeholder keys near the bottom of the
    # column's range and finds them again among the parameters: rows sitting on exactly those
    # keys, negative keys, and gaps far larger than a batch must all be walked right.
    name = age_policy_without_subject()
    low = connection.ops.integer_field_range(PurgeEvent._meta.pk.get_internal_type())[0]
    first = -(2**31) + 7 if low is None else low + 7
    due = [first - 1, first, first + 1, first + 2, first + 3, -5, -1, 0, 1, 2, 10**6, 10**6 + 1, 10**12]
    young = [first + 4, -3, 3, 10**6 + 2]
    events(due)
    events(young, days=5)
    result = purge_policy(name, now=NOW, batch_size=2)
    assert keys() == sorted(young)
    assert result.deleted == len(due)
    assert PurgeRun.objects.get().deleted == len(due)


def test_rows_added_ahead_of_the_walk_go_and_rows_added_behind_it_stay(monkeypatch):
    name = age_policy_without_subject()
    events([1, 2, 3, 4, 1000, 1001])

    def insert(batch):
        if batch == 1:
            # Ahead of the walk (inside its keys, in a gap it has not reached) and behind it (past its last key).
            events([5, 500])
            events([6], days=5)
            events([2000, 2001])

    after_each_batch(monkeypatch, insert)
    result = purge_policy(name, now=NOW, batch_size=2)
    assert keys() == [6, 2000, 2001]
    assert result.deleted == 8 == PurgeRun.objects.get().deleted


# -- legal holds between batches --------------------------------------------------


def test_a_hold_placed_between_two_batches_keeps_every_later_row_of_its_subject(monkeypatch, django_user_model):
    privacy.register()
    first = django_user_model.objects.create_user("first")
    later = django_user_model.objects.create_user("later")
    # Alternate the two subjects' rows, one row a batch.
    for key in range(1, 9):
        events([key], user=first if key % 2 else later)

    def hold(batch):
        if batch == 1:
            LegalHold.objects.create(subject=later, reason="dispute")

    after_each_batch(monkeypatch, hold)
    result = purge_policy(privacy.POLICY, now=NOW, batch_size=1)
    assert keys() == [2, 4, 6, 8]
    assert result.deleted == 4


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_hold_placed_while_a_delete_batch_waits_on_a_row_lock_waits_for_that_batch(request, django_user_model):
    # On PostgreSQL a delete by age sends its batch as one message (the holds' lock, the DELETE,
    # the count): the lock must still come first, so that a hold saved while the DELETE waits on
    # a row another client locked waits for the batch, and the batch deletes what it read as due.
    from tests.test_attacks_erasure import Connection, settle, waits_on
    from tests.test_attacks_erasure import wait_until as wait_for

    privacy.register()
    user = django_user_model.objects.create_user("salma")
    events([1, 2], user=user)
    blocker = psycopg.connect(**connection.get_connection_params(), autocommit=False)
    request.addfinalizer(blocker.close)
    blocker.execute("SELECT 1 FROM testapp_purgeevent WHERE id = 2 FOR UPDATE")
    purger = Connection(lambda: purge_policy(privacy.POLICY, now=NOW))
    purger.start()
    purger.started_work.wait()
    wait_for(lambda: waits_on(purger.pid, "transactionid", "tuple"))

    holder = Connection(lambda: LegalHold.objects.create(subject=user, reason="dispute"))
    hold_while_the_batch_waits = settle(holder)
    blocker.rollback()
    for thread in (purger, holder):
        thread.join(60)

    assert hold_while_the_batch_waits == "waiting"
    assert (purger.error, holder.error) == (None, None)
    assert purger.result.deleted == 2 and keys() == []
    assert PurgeRun.objects.get().deleted == 2
    assert LegalHold.objects.active().filter(subject=user).exists()


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_batchs_message_quotes_every_value_and_a_statement_holding_its_tag_is_sent_otherwise():
    # The batch's message carries its values as literals: quotes, dollar signs and percent
    # signs in them must reach the server as values, and a value holding the block's own
    # quoting tag must not end the block early (that statement goes the transaction's way).
    run = PurgeRun.objects.create(policy="x", started_at=NOW)
    odd = "it's $$ 100% $x$"
    PurgeEvent.objects.bulk_create(
        PurgeEvent(pk=key, kind=odd if key % 2 else "k", created_at=NOW) for key in range(1, 8)
    )
    ranges = engine.KeyRanges(PurgeEvent.objects.all(), 3)
    delete = engine.counted_range_delete(PurgeEvent.objects.filter(kind=odd), ranges, run, "default", locks_holds=False)
    # Each gives its count and the first key at or after the range's end.
    assert delete(1, 4) == (2, 4) and delete(4, 7) == (1, 7) and delete(7, 100) == (1, None)
    assert keys() == [2, 4, 6]
    run.refresh_from_db()
    assert run.deleted == 4
    tag = engine._BLOCK_TAG
    forged = PurgeEvent.objects.filter(kind=f"{tag}; DELETE FROM testapp_purgeevent; {tag}")
    assert engine.counted_range_delete(forged, ranges, run, "default", locks_holds=False) is None
    assert keys() == [2, 4, 6]


# -- the relaxed commits ---------------------------------------------------------


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("relaxed", ["off", "local"])
def test_a_setting_local_to_the_callers_transaction_does_not_outlive_it(relaxed):
    # The caller relaxes its own transaction only (SET LOCAL) and purges inside it: once it
    # commits, the connection's next transactions must commit as the session says.
    name = age_policy_without_subject()
    events(range(1, 4))
    assert setting() == "on"
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL synchronous_commit TO {relaxed}")
        assert purge_policy(name, now=NOW, batch_size=1).deleted == 3
        assert setting() == relaxed
    assert setting() == "on"
    assert keys() == []


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("subject", [None, "user"], ids=["batch-without-holds", "batch-locking-holds"])
def test_a_soft_time_limit_while_a_batch_waits_leaves_no_relaxed_connection_and_no_lock(request, subject):
    # Celery's soft time limit is a signal whose handler raises SoftTimeLimitExceeded, wherever
    # the worker is: here while a batch's DELETE waits on a row another client has locked.
    if subject:
        privacy.register()
        name = privacy.POLICY
    else:
        name = age_policy_without_subject()
    events(range(1, 7))
    blocker = psycopg.connect(**connection.get_connection_params(), autocommit=False)
    request.addfinalizer(blocker.close)
    blocker.execute("SELECT 1 FROM testapp_purgeevent WHERE id = 3 FOR UPDATE")

    try:
        with pytest.raises(BaseException) as raised, soft_time_limit_in(1.0):
            purge_policy(name, now=NOW, batch_size=2)
    finally:
        blocker.rollback()
    # The soft time limit itself, not an error of the connection it interrupted (which the task would retry).
    assert raised.type is SoftTimeLimitExceeded
    run = PurgeRun.objects.get()
    assert (run.status, run.error, run.deleted) == ("failed", "SoftTimeLimitExceeded", 2)
    # The connection is either gone (and its setting and session locks with it) or back to its own setting.
    if connection.connection is not None and connection.is_usable():
        assert setting() == "on"
    connection.close_if_unusable_or_obsolete()
    # No lock left behind on the policy: the next run is not skipped, and finishes the purge.

    def lock_free():
        [[taken]] = blocker.execute("SELECT pg_try_advisory_lock(%s)", [engine._lock_key(name)]).fetchall()
        return taken

    assert wait_until(lock_free, timeout=5)
    blocker.execute("SELECT pg_advisory_unlock(%s)", [engine._lock_key(name)])
    blocker.rollback()
    # The interrupted DELETE was cancelled, not left to run once the row was free: rows 3 and 4 are still there.
    assert keys() == [3, 4, 5, 6]
    result = purge_policy(name, now=NOW, batch_size=2)
    assert not result.skipped and keys() == []
    assert setting() == "on"


# -- the relationship basis --------------------------------------------------------


def stored_names(pks=None):
    """The stored text of orders' full_name, empty once anonymized (read as stored: a row of nobody may not open)."""
    rows = Order.objects.order_by("pk") if pks is None else Order.objects.filter(pk__in=pks).order_by("pk")
    stored = rows.annotate(stored=ExpressionWrapper(F("full_name"), output_field=TextField()))
    return list(stored.values_list("stored", flat=True))


def test_a_customer_deleted_mid_run_leaves_no_personal_data_in_their_orders(monkeypatch, django_user_model):
    register_orders()
    gone = django_user_model.objects.create(username="gone", date_joined=days_ago(2000), last_login=days_ago(900))
    for _ in range(3):
        Order.objects.create(customer=gone, full_name="Salma Q.", phone="055", total=1, created_at=days_ago(1000))

    def delete_the_customer(batch):
        if batch == 1:
            # The shop deletes the account (the orders keep their rows, customer set to NULL).
            django_user_model.objects.filter(pk=gone.pk).delete()

    after_each_batch(monkeypatch, delete_the_customer)
    purge_policy("testapp.Order", now=NOW, batch_size=1)
    assert stored_names() == ["", "", ""]


def test_orders_of_nobody_expire_by_their_own_date_on_the_relationship_basis(django_user_model):
    register_orders()
    old = Order.objects.create(customer=None, full_name="Guest", phone="055", total=1, created_at=days_ago(1000))
    recent = Order.objects.create(customer=None, full_name="Guest", phone="055", total=1, created_at=days_ago(10))
    assert purge_policy("testapp.Order", now=NOW, batch_size=1).anonymized == 1
    assert stored_names([old.pk]) == [""]
    assert stored_names([recent.pk]) != [""]


# -- the run's record ---------------------------------------------------------------

# The workers, their Redis and the policy of tests/test_purge_workers.py.
redis_server, publisher, queue, workers = (
    with_workers.redis_server,
    with_workers.publisher,
    with_workers.queue,
    with_workers.workers,
)
policy, people = with_workers.policy, with_workers.people
load_events, snapshot, split, runs, send = (
    with_workers.load_events,
    with_workers.snapshot,
    with_workers.split,
    with_workers.runs,
    with_workers.send,
)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("subject", [None, "user"], ids=["autocommit-batches", "batches-locking-holds"])
def test_the_runs_record_counts_each_batch_when_it_commits(monkeypatch, subject):
    # A worker killed between two batches leaves its run marked running, then failed: its
    # record must still say how many rows it deleted, so the runs add up to what went.
    if subject:
        privacy.register()
        name = privacy.POLICY
    else:
        name = age_policy_without_subject()
    events(range(1, 8))
    events([8], days=5)
    seen = []

    def record(batch):
        run = PurgeRun.objects.get()
        seen.append((run.deleted, 8 - PurgeEvent.objects.count()))

    after_each_batch(monkeypatch, record)
    assert purge_policy(name, now=NOW, batch_size=2).deleted == 7
    assert seen == [(2, 2), (4, 4), (6, 6), (7, 7)]


@with_workers.needs_postgres
@with_workers.needs_redis_server
@pytest.mark.django_db(transaction=True)
def test_after_a_worker_is_killed_mid_purge_the_runs_count_every_deleted_row_once(
    policy, people, workers, publisher, queue, redis_server
):
    user, held = people
    now = timezone.now()
    load_events(60_000, user, held, now)
    stay, due = split(snapshot(), held, now)
    first = workers(batch_size=500, visibility_timeout=3)
    send(publisher, queue, "privacy_kit.purge_policy", policy)
    assert wait_until(lambda: PurgeEvent.objects.count() <= len(stay) + len(due) - 5000, interval=0.01), first.log()
    first.kill()
    second = workers(batch_size=500, visibility_timeout=3)
    assert wait_until(lambda: len(runs(policy)) == 2 and runs(policy)[1].finished_at, timeout=60), second.log()
    assert snapshot() == stay
    killed, completed = runs(policy)
    assert (killed.status, killed.error) == ("failed", "Interrupted")
    assert 0 < killed.deleted < len(due)
    assert killed.deleted + completed.deleted == len(due)


# -- rows that other rows point at ----------------------------------------------------


@on_postgres  # the tables are made inside the test's transaction, which PostgreSQL's DDL can be
@isolate_apps("tests.testapp")
@pytest.mark.django_db
def test_cascades_set_null_protect_and_inheritance_go_through_the_collector():
    class Parcel(models.Model):
        created_at = models.DateTimeField()

        class Meta:
            app_label = "testapp"

    class ParcelNote(models.Model):
        parcel = models.ForeignKey(Parcel, on_delete=models.CASCADE)

        class Meta:
            app_label = "testapp"

    class ParcelLink(models.Model):
        parcel = models.ForeignKey(Parcel, null=True, on_delete=models.SET_NULL)

        class Meta:
            app_label = "testapp"

    class ParcelStub(models.Model):
        parcel = models.ForeignKey(Parcel, on_delete=models.PROTECT)

        class Meta:
            app_label = "testapp"

    class ParcelChild(Parcel):
        label = models.CharField(max_length=10, blank=True)

        class Meta:
            app_label = "testapp"

    with connection.schema_editor() as editor:
        for model in (Parcel, ParcelNote, ParcelLink, ParcelStub, ParcelChild):
            editor.create_model(model)
    for model in (Parcel, ParcelChild):
        registry.register(
            model,
            subject=None,
            category="personal",
            personal_fields=[],
            retention=registry.Retention(basis="age", date_field="created_at", after_days=30),
        )
    old, young = days_ago(40), days_ago(5)
    parcels = [Parcel.objects.create(pk=key, created_at=old) for key in range(1, 5)]
    kept = Parcel.objects.create(pk=5, created_at=young)
    child = ParcelChild.objects.create(pk=6, created_at=old)
    ParcelNote.objects.create(parcel=parcels[0])
    ParcelNote.objects.create(parcel=kept)
    link = ParcelLink.objects.create(parcel=parcels[1])
    assert engine.range_delete(Parcel.objects.all()) is None

    # The child's policy deletes its parent row with it, and the parent's policy its children.
    assert purge_policy(ParcelChild._meta.label, now=NOW).deleted == 1
    assert not Parcel.objects.filter(pk=child.pk).exists()
    ParcelChild.objects.create(pk=7, created_at=old)
    result = purge_policy(Parcel._meta.label, now=NOW, batch_size=2)
    assert result.deleted == 5
    assert sorted(Parcel.objects.values_list("pk", flat=True)) == [5]
    assert list(ParcelNote.objects.values_list("parcel", flat=True)) == [5]
    link.refresh_from_db()
    assert link.parcel_id is None
    assert not ParcelChild.objects.exists()

    # A protected row fails its batch, and the run, without deleting any row of that batch.
    protected = [Parcel.objects.create(pk=key, created_at=old) for key in (10, 11, 12, 13)]
    ParcelStub.objects.create(parcel=protected[2])
    with pytest.raises(ProtectedError):
        purge_policy(Parcel._meta.label, now=NOW, batch_size=2)
    assert sorted(Parcel.objects.values_list("pk", flat=True)) == [5, 12, 13]
    run = PurgeRun.objects.filter(policy=Parcel._meta.label).order_by("pk").last()
    assert (run.status, run.error, run.deleted) == ("failed", "ProtectedError", 2)


@on_postgres
@isolate_apps("tests.testapp")
@pytest.mark.django_db  # in the test's transaction, which takes the table it creates away
@pytest.mark.parametrize("key", ["uuid", "text", "composite"])
def test_keys_that_are_not_integers_are_walked_in_pages_and_every_due_row_goes(key):
    fields = {"created_at": models.DateTimeField(), "Meta": type("Meta", (), {"app_label": "testapp"})}
    if key == "uuid":
        fields["id"] = models.UUIDField(primary_key=True)
    elif key == "text":
        fields["id"] = models.CharField(primary_key=True, max_length=20)
    else:
        fields |= {"shop": models.IntegerField(), "number": models.IntegerField()}
        fields["pk"] = models.CompositePrimaryKey("shop", "number")
    Keyed = type("Keyed", (models.Model,), {"__module__": __name__, **fields})
    with connection.schema_editor() as editor:
        editor.create_model(Keyed)
    registry.register(
        Keyed,
        subject=None,
        category="personal",
        personal_fields=[],
        retention=registry.Retention(basis="age", date_field="created_at", after_days=30),
    )

    def make(i, days):
        if key == "uuid":
            return Keyed.objects.create(id=uuid.UUID(int=i * 2**100 + i), created_at=days_ago(days))
        if key == "text":
            return Keyed.objects.create(id=f"k{i:03d}" if i % 2 else f"K-{i}", created_at=days_ago(days))
        return Keyed.objects.create(shop=i % 3, number=-i, created_at=days_ago(days))

    young = [make(i, 5).pk for i in range(0, 30, 7)]
    for i in range(30):
        if i % 7:
            make(i, 40)
    result = purge_policy(Keyed._meta.label, now=NOW, batch_size=4)
    assert sorted(Keyed.objects.values_list("pk", flat=True)) == sorted(young)
    assert result.deleted == 30 - len(young) == PurgeRun.objects.get().deleted


def test_a_customer_active_again_through_another_model_mid_run_keeps_the_later_orders(monkeypatch, django_user_model):
    # Activity is also the customer's rows of every other registered model: a cart line
    # added between two batches makes the customer active for the batches after it.
    register_orders()
    registry.register(
        Cart,
        subject="customer",
        category="behavioral",
        personal_fields=["product"],
        retention=registry.Retention(basis="age", date_field="added_on", after_days=30),
    )
    customer = django_user_model.objects.create(username="back", date_joined=days_ago(2000), last_login=days_ago(900))
    orders = [
        Order.objects.create(customer=customer, full_name="Salma Q.", phone="055", total=1, created_at=days_ago(1000))
        for _ in range(3)
    ]

    def shop(batch):
        if batch == 1:
            Cart.objects.create(customer=customer, product="p", added_on=timezone.localdate())

    after_each_batch(monkeypatch, shop)
    assert purge_policy("testapp.Order", now=NOW, batch_size=1).anonymized == 1
    assert stored_names([orders[0].pk]) == [""]
    assert "" not in stored_names([o.pk for o in orders[1:]])


def test_a_hold_placed_between_two_anonymizing_batches_keeps_the_later_orders(monkeypatch, django_user_model):
    register_orders()
    customer = django_user_model.objects.create(username="held", date_joined=days_ago(2000), last_login=days_ago(900))
    orders = [
        Order.objects.create(customer=customer, full_name="Salma Q.", phone="055", total=1, created_at=days_ago(1000))
        for _ in range(3)
    ]

    def hold(batch):
        if batch == 1:
            LegalHold.objects.create(subject=customer, reason="dispute")

    after_each_batch(monkeypatch, hold)
    result = purge_policy("testapp.Order", now=NOW, batch_size=1)
    assert result.anonymized == 1 == PurgeRun.objects.get().anonymized
    assert stored_names([orders[0].pk]) == [""]
    assert "" not in stored_names([o.pk for o in orders[1:]])

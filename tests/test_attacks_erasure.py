"""Attacks on erasure and retention: what a reviewer did to break their promises, through the real code."""

import datetime
import decimal
import importlib
import io
import logging
import socket
import threading
import time

import pytest
from celery import Celery
from celery.signals import task_prerun
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.core.management import call_command
from django.db import DataError, InterfaceError, OperationalError, connection, connections, transaction
from django.test import Client, override_settings
from django.utils import timezone

from privacy_kit import crypto
from privacy_kit.celery import beat_schedule
from privacy_kit.checks import W033_MSG, W034_MSG
from privacy_kit.consent import IP_BINDING
from privacy_kit.models import ErasureRecord, LegalHold, PurgeRun
from privacy_kit.retention import purge_policy
from privacy_kit.rights.erasure import ErasureRefused, erase_subject, request_erasure, resume_erasures
from privacy_kit.tasks import purge_policy as purge_policy_task
from privacy_kit.tasks import resume_erasures as resume_erasures_task
from tests import test_rights
from tests.celery_app import app as tests_celery_app
from tests.testapp.models import Cart, Order
from tests.testapp.policies import register_carts, register_orders

pytestmark = pytest.mark.django_db
PASSWORD = test_rights.PASSWORD
# The customer with a history, logged in, of the rights tests.
policy, shop_registry, layla, logged_in = (
    test_rights.policy,
    test_rights.shop_registry,
    test_rights.layla,
    test_rights.logged_in,
)
UTC = datetime.UTC


# -- retention of date columns (item: the local date of the cut-off) -------------------


@pytest.fixture
def carts():
    register_carts(after_days=30)


@override_settings(TIME_ZONE="Asia/Riyadh")
def test_a_riyadh_shop_keeps_a_date_row_past_its_period_by_the_utc_date(carts):
    # 22:30 UTC on 31 January is 01:30 on 1 February in Riyadh: the cut-off is 2 January there.
    now = datetime.datetime(2026, 1, 31, 22, 30, tzinfo=UTC)
    Cart.objects.create(product="due", added_on=datetime.date(2026, 1, 1))
    Cart.objects.create(product="kept", added_on=datetime.date(2026, 1, 2))

    result = purge_policy("testapp.Cart", now=now)

    assert result.deleted == 1
    assert list(Cart.objects.values_list("product", flat=True)) == ["kept"]


@override_settings(TIME_ZONE="America/New_York")
def test_a_new_york_shop_loses_a_date_row_a_day_early_by_the_utc_date(carts):
    # 03:00 UTC on 1 February is 22:00 on 31 January in New York: the cut-off is 1 January there.
    now = datetime.datetime(2026, 2, 1, 3, 0, tzinfo=UTC)
    Cart.objects.create(product="due", added_on=datetime.date(2025, 12, 31))
    Cart.objects.create(product="kept", added_on=datetime.date(2026, 1, 1))

    result = purge_policy("testapp.Cart", now=now)

    assert result.deleted == 1
    assert list(Cart.objects.values_list("product", flat=True)) == ["kept"]


# -- malformed purge tasks -----------------------------------------------------------------


def test_a_purge_task_with_a_start_that_is_not_a_key_leaves_no_run_marked_running(carts):
    with pytest.raises(ValueError) as raised:
        purge_policy_task.apply(args=("testapp.Cart", "abc", 100)).get()

    assert str(raised.value) == (
        "testapp.Cart: the chunk start 'abc' is not a primary key of testapp.Cart; "
        "pass integer keys, as plan_purge() does."
    )
    assert not PurgeRun.objects.exists()


def test_a_purge_task_with_a_start_and_no_end_leaves_no_run_marked_running(carts):
    with pytest.raises(ValueError) as raised:
        purge_policy_task.apply(args=("testapp.Cart", 10)).get()

    assert str(raised.value) == "testapp.Cart: a chunk needs both a start and an end, not start=10 and end=None."
    assert not PurgeRun.objects.exists()


def test_a_purge_task_with_an_end_before_its_start_leaves_no_run(carts):
    with pytest.raises(ValueError) as raised:
        purge_policy_task.apply(args=("testapp.Cart", 100, 10)).get()

    assert str(raised.value) == "testapp.Cart: the chunk end 10 must be greater than its start 100."
    assert not PurgeRun.objects.exists()


def test_a_purge_task_with_a_too_long_key_fails_once_and_is_not_retried(carts):
    runs = []
    task_prerun.connect(lambda **kwargs: runs.append(kwargs["task_id"]), weak=False, dispatch_uid="count-runs")
    try:
        huge = 10**120
        result = purge_policy_task.apply(args=("testapp.Cart", huge, huge + 1), throw=False)
    finally:
        task_prerun.disconnect(dispatch_uid="count-runs")

    assert result.state == "FAILURE"
    assert str(result.result) == (
        f"testapp.Cart: the chunk start {huge!r} is not a primary key of testapp.Cart; "
        "pass integer keys, as plan_purge() does."
    )
    assert len(runs) == 1
    assert not PurgeRun.objects.exists()


def test_a_purge_task_that_hits_a_data_error_is_not_retried_as_if_the_database_were_down():
    assert DataError not in purge_policy_task.autoretry_for
    assert set(purge_policy_task.autoretry_for) == {OperationalError, InterfaceError}


# -- an erasure request while the broker is down -------------------------------------------


@pytest.fixture
def dead_broker():
    """Make a Celery app whose broker is a port where nothing listens the current app, tasks not eager."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = Celery("dead_broker", set_as_current=False)
    app.conf.update(
        broker_url=f"redis://127.0.0.1:{port}/0",
        task_always_eager=False,
        broker_connection_retry=False,
        broker_connection_max_retries=0,
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0},
    )
    app.set_current()
    yield app
    tests_celery_app.set_current()


def test_a_customer_deletes_their_account_while_the_broker_is_down_and_is_told_it_is_done(
    logged_in, layla, dead_broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post("/privacy/my-data/delete/", {"password": PASSWORD, "confirm": "on"})

    assert response.status_code == 302
    assert response["Location"] == "/privacy/my-data/deleted/"
    layla.refresh_from_db()
    assert not layla.is_active


def test_a_customer_deletes_their_account_while_the_broker_is_down_and_the_request_is_kept(
    logged_in, layla, dead_broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post("/privacy/my-data/delete/", {"password": PASSWORD, "confirm": "on"})

    record = ErasureRecord.objects.get()
    assert (record.status, record.source, record.requested_by) == ("pending", "account", None)
    assert Cart.objects.filter(customer=layla).exists()


def test_an_erasure_lost_to_a_dead_broker_is_finished_by_the_beat_task(
    logged_in, layla, dead_broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post("/privacy/my-data/delete/", {"password": PASSWORD, "confirm": "on"})
    tests_celery_app.set_current()  # the broker is back

    queued = resume_erasures_task.apply(kwargs={"older_than_minutes": 0}).get()

    assert queued == 1
    record = ErasureRecord.objects.get()
    assert record.status == "done"
    assert record.subject_key == ""
    assert not Cart.objects.filter(customer=layla).exists()
    assert {order.full_name for order in Order.objects.filter(customer=layla)} == {""}


def test_the_resume_beat_task_delivered_twice_erases_once(
    logged_in, layla, dead_broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post("/privacy/my-data/delete/", {"password": PASSWORD, "confirm": "on"})
    tests_celery_app.set_current()

    first = resume_erasures_task.apply(kwargs={"older_than_minutes": 0}).get()
    counts = ErasureRecord.objects.get().counts
    second = resume_erasures_task.apply(kwargs={"older_than_minutes": 0}).get()

    assert (first, second) == (1, 0)
    record = ErasureRecord.objects.get()
    assert record.counts == counts
    assert record.status == "done"


def test_the_resume_beat_task_leaves_a_request_just_made_to_its_own_task(layla):
    record = ErasureRecord.objects.create(subject_ref="x" * 32, reason="r", subject_key=str(layla.pk))

    assert resume_erasures() == 0
    record.refresh_from_db()
    assert record.status == "pending"


def test_the_resume_beat_task_keeps_a_pending_request_while_a_hold_is_active(layla):
    request_erasure(layla, reason="asked", source="api")
    LegalHold.objects.create(subject=layla, reason="open chargeback")

    assert resume_erasures(older_than=datetime.timedelta(0)) == 0
    assert ErasureRecord.objects.get().status == "pending"
    assert Cart.objects.filter(customer=layla).exists()


def test_a_beat_schedule_without_the_erasure_resume_is_warned_about(settings):
    settings.CELERY_BEAT_SCHEDULE = {
        name: entry for name, entry in beat_schedule().items() if entry["task"] != "privacy_kit.resume_erasures"
    }

    found = [message for message in run_checks() if message.id == "privacy_kit.W033"]

    assert [message.msg for message in found] == [W033_MSG]


def test_the_default_beat_schedule_resumes_erasures(settings):
    settings.CELERY_BEAT_SCHEDULE = beat_schedule()

    assert not [message for message in run_checks() if message.id == "privacy_kit.W033"]


# -- a legal hold against a purge batch or an erasure already running (PostgreSQL) ------------

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two connections racing on row locks: TEST_DATABASE=postgres"
)
LONG_AGO = timezone.now() - datetime.timedelta(days=1000)


def backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def waits_on(pid, *events):
    """Say whether the backend ``pid`` is waiting on a lock of one of these kinds (pg_stat_activity.wait_event)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock" and row[1] in events


def wait_until(condition):
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the other connection never got there")
        time.sleep(0.02)


class Connection(threading.Thread):
    """Run a function on a connection of its own; keep its backend pid, its result or its error."""

    def __init__(self, function):
        super().__init__(daemon=True)
        self.function, self.pid, self.result, self.error = function, None, None, None
        self.started_work = threading.Event()

    def run(self):
        try:
            self.pid = backend_pid()
            self.started_work.set()
            self.result = self.function()
        except Exception as error:  # asserted by the test
            self.error = error
        finally:
            self.started_work.set()
            connections.close_all()


def place_hold(user):
    return lambda: LegalHold.objects.create(subject=user, reason="open chargeback")


def settle(holder):
    """Start the hold's connection and wait until it committed or waits on the holds' lock; say which."""
    holder.start()
    holder.started_work.wait()
    wait_until(lambda: not holder.is_alive() or waits_on(holder.pid, "advisory"))
    return "committed" if not holder.is_alive() else "waiting"


def hold_race(user, run, *, inside_shop_transaction=False):
    """Hold the holds' lock with a hold not yet committed; start ``run``; commit the hold once it waits."""
    placed, release = threading.Event(), threading.Event()

    def keep_a_hold_uncommitted():
        with transaction.atomic():
            LegalHold.objects.create(subject=user, reason="dispute")
            placed.set()
            release.wait(60)

    def work():
        if not inside_shop_transaction:
            return run()
        with transaction.atomic():
            get_user_model().objects.get(pk=user.pk)  # the shop's own query first
            return run()

    holder = Connection(keep_a_hold_uncommitted)
    holder.start()
    assert placed.wait(30)
    worker = Connection(work)
    worker.start()
    worker.started_work.wait()
    wait_until(lambda: waits_on(worker.pid, "advisory"))
    release.set()
    for thread in (holder, worker):
        thread.join(60)
    assert holder.error is None
    return worker


def repeatable_read(monkeypatch):
    """Give the default connection Django's ``isolation_level`` option at REPEATABLE READ (reconnect to apply it)."""
    import psycopg

    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "isolation_level", psycopg.IsolationLevel.REPEATABLE_READ)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_hold_placed_while_a_purge_batch_waits_on_a_row_lock_waits_for_that_batch(django_user_model):
    register_orders()
    user = django_user_model.objects.create(username="salma", date_joined=LONG_AGO)
    order = Order.objects.create(customer=user, full_name="Salma Q.", total=decimal.Decimal(1), created_at=LONG_AGO)
    locked, release = threading.Event(), threading.Event()

    def lock_the_order():
        with transaction.atomic():
            Order.objects.select_for_update().filter(pk=order.pk).exists()
            locked.set()
            release.wait(60)

    locker = Connection(lock_the_order)
    locker.start()
    locked.wait(60)
    purger = Connection(lambda: purge_policy("testapp.Order"))
    purger.start()
    purger.started_work.wait()
    wait_until(lambda: waits_on(purger.pid, "transactionid", "tuple"))

    hold_while_the_batch_waits = settle(holder := Connection(place_hold(user)))
    release.set()
    for thread in (locker, purger, holder):
        thread.join(60)

    assert hold_while_the_batch_waits == "waiting"
    assert (purger.error, holder.error) == (None, None)
    assert purger.result.anonymized == 1
    assert LegalHold.objects.active().filter(subject=user).exists()


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_hold_placed_during_an_erasure_stops_it_at_the_next_batch(django_user_model, settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "PURGE_BATCH_SIZE": 40}
    register_orders()
    user = django_user_model.objects.create(username="salma", date_joined=LONG_AGO)
    Order.objects.bulk_create(
        Order(customer=user, full_name="Salma Q.", total=decimal.Decimal(1), created_at=LONG_AGO) for _ in range(400)
    )
    second_batch, go = threading.Event(), threading.Event()
    updates = []

    def pause_at_the_second_batch(execute, sql, params, many, context):
        if sql.startswith('UPDATE "testapp_order"'):
            updates.append(sql)
            if len(updates) == 2:
                second_batch.set()
                go.wait(60)
        return execute(sql, params, many, context)

    def erase():
        with connection.execute_wrapper(pause_at_the_second_batch):
            return erase_subject(user, reason="asked")

    eraser = Connection(erase)
    eraser.start()
    second_batch.wait(60)
    hold_during_the_batch = settle(holder := Connection(place_hold(user)))
    go.set()
    for thread in (eraser, holder):
        thread.join(60)

    assert hold_during_the_batch == "waiting"
    assert isinstance(eraser.error, ErasureRefused)
    assert str(eraser.error).endswith("keeps this account's data until it is released. Nothing was erased.")
    names = [order.full_name for order in Order.objects.filter(customer=user)]
    assert (names.count(""), names.count("Salma Q.")) == (80, 320)
    assert ErasureRecord.objects.get().status == "pending"


# -- personal data left behind after an erasure ------------------------------------------------

CUSTOMER = {
    "username": "noura_q",
    "email": "noura.q@example.sa",
    "first_name": "Nourah",
    "last_name": "Qahtani",
    "phone": "0559876543",
    "ip": "10.9.8.7",
    "user_agent": "NourahBrowser/7.1",
}


def text_columns():
    """Yield (model, column) for every text-like column of every installed model."""
    text_types = ("char", "text", "json", "inet", "uuid", "clob", "varchar")
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.local_concrete_fields:
            db_type = (field.db_type(connection) or "").lower()
            if any(kind in db_type for kind in text_types):
                yield model, field.column


def rows_holding(needles):
    """Return the (table, column, needle) of every stored value that contains one of ``needles``, case-insensitively."""
    found = set()
    with connection.cursor() as cursor:
        for model, column in text_columns():
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"SELECT {connection.ops.quote_name(column)} FROM {table}")
            for (value,) in cursor.fetchall():
                for needle in needles:
                    if value is not None and needle.lower() in str(value).lower():
                        found.add((model._meta.db_table, column, needle))
    return sorted(found)


@pytest.fixture
def shop():
    """The demo's purposes and policy (as its data migration publishes them) and its catalog."""
    importlib.import_module("example_shop.shop.migrations.0002_purposes_and_policy").publish(apps, None)
    call_command("seed_shop", stdout=io.StringIO())


def test_an_erased_customers_journey_leaves_nothing_of_them_in_any_table_or_log(shop, admin_user, caplog):
    caplog.set_level(logging.DEBUG)
    client = Client(REMOTE_ADDR=CUSTOMER["ip"], HTTP_USER_AGENT=CUSTOMER["user_agent"])
    # As a visitor: the banner, a search, a product in the cart.
    client.post("/privacy/consent/", {"choice": "save", "purposes": ["personalization", "analytics"], "next": "/"})
    client.get("/search/", {"q": "dates"})
    password = "Nourah-pass-2026!"
    response = client.post(
        "/accounts/signup/", {"username": CUSTOMER["username"], "password1": password, "password2": password}
    )
    assert response.status_code == 302
    customer = get_user_model().objects.get(username=CUSTOMER["username"])
    customer.email, customer.first_name, customer.last_name = (
        CUSTOMER["email"],
        CUSTOMER["first_name"],
        CUSTOMER["last_name"],
    )
    customer.save()
    client.post("/cart/add/tahini/")
    contact = {
        "full_name": f"{CUSTOMER['first_name']} {CUSTOMER['last_name']}",
        "address": "Olaya",
        "city": "Riyadh",
        "phone": CUSTOMER["phone"],
        "email": CUSTOMER["email"],
    }
    assert client.post("/checkout/", contact).status_code == 302
    client.post("/accounts/logout/")
    # Two failed logins under a case variant of the username.
    for _ in range(2):
        client.post("/accounts/login/", {"username": CUSTOMER["username"].upper(), "password": "wrong"})
    # A staff change of the account, logged by the admin as it does.
    LogEntry.objects.log_actions(
        user_id=admin_user.pk, queryset=[customer], action_flag=CHANGE, change_message="Changed email."
    )
    needles = [value for key, value in CUSTOMER.items()]
    needles.append(crypto.keyring().blind_index(IP_BINDING, CUSTOMER["ip"]))
    assert rows_holding(needles), "the journey stored nothing to find: the search cannot fail"

    erase_subject(customer, reason="asked by email", requested_by=admin_user)

    left = rows_holding(needles)
    assert left == [], left
    assert [
        record.getMessage()
        for record in caplog.records
        if any(n.lower() in record.getMessage().lower() for n in needles)
    ] == []


def test_axes_left_to_log_usernames_and_addresses_is_warned_about(settings):
    del settings.AXES_CLIENT_STR_CALLABLE

    found = [message for message in run_checks() if message.id == "privacy_kit.W034"]

    assert [message.msg for message in found] == [W034_MSG]


def test_axes_describing_attempts_by_path_only_is_not_warned_about(settings):
    settings.AXES_CLIENT_STR_CALLABLE = "privacy_kit.security.lockouts.client_description"

    assert not [message for message in run_checks() if message.id == "privacy_kit.W034"]

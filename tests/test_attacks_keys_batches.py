"""Attacks on the anonymizing batch sent as one message, the holds' lock at read committed, and subject keys.

1. An anonymizing batch on PostgreSQL is one message (``BatchMessage``): its UPDATE is
   what ``QuerySet.update()`` does, its count exact, its lock first.
2. Erasure steps and purge batches read at read committed after the holds' lock; inside a
   shop's transaction at a stricter level they refuse (``TransactionManagementError``)
   rather than miss a hold.
3. Subject keys: an erased subject's values and writes raise ``KeyDestroyed``, also for a
   lookup that raced the erasure, in a long transaction, and in the erasing transaction;
   a moved value raises ``DecryptionError``; the cache's period is kept.

The two known limits are strict xfails: ``update()`` seals under the shared keys (W054),
and an encrypted value other than "" cannot be told anonymous in SQL.
"""

from __future__ import annotations

import datetime
import decimal
import sys
import threading
import time

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth import get_user_model
from django.db import connection, models, transaction
from django.db.models import F, Value
from django.db.transaction import TransactionManagementError
from django.test.utils import isolate_apps
from django.utils import timezone

from privacy_kit import registry
from privacy_kit.crypto import DecryptionError, KeyDestroyed
from privacy_kit.fields import EncryptedCharField, EncryptedDateField, EncryptedJSONField, EncryptedTextField
from privacy_kit.keys import store
from privacy_kit.keys.models import SubjectKey
from privacy_kit.models import ErasureRecord, LegalHold, PurgeRun
from privacy_kit.retention import purge_policy
from privacy_kit.rights.erasure import ErasureRefused, erase_subject
from tests.test_attacks_erasure import LONG_AGO, Connection, hold_race, repeatable_read
from tests.test_attacks_purge import soft_time_limit_in
from tests.test_rights import PASSWORD, layla, logged_in, policy, shop_registry  # noqa: F401 (fixtures)
from tests.testapp.models import Order
from tests.testapp.policies import register_orders

engine = sys.modules[purge_policy.__module__]
on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
NOW = timezone.now()


def sid(user):
    return store.subject_id(user.pk)


def order(user, name="Salma Q.", *, created_at=LONG_AGO, **extra):
    return Order.objects.create(customer=user, full_name=name, total=decimal.Decimal(1), created_at=created_at, **extra)


def stored_full_name(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT full_name FROM testapp_order WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def write_full_name(pk, value):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_order SET full_name = %s WHERE id = %s", [value, pk])


def destroyed_elsewhere(user):
    """What another process's erasure does to the key table, without this process evicting anything."""
    SubjectKey.objects.filter(subject=sid(user)).update(wrapped_key=None, destroyed_at=timezone.now())


# =====================================================================================
# 3. The subject-key read and write paths
# =====================================================================================


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("between", ["erase-in-this-process", "destroyed-elsewhere-then-cache-clear", "evict"])
@pytest.mark.parametrize("shape", ["models", "values_list"])
def test_a_query_iterated_one_row_at_a_time_stops_at_the_erasure(django_user_model, between, shape):
    register_orders()
    user = django_user_model.objects.create_user("it")
    for i in range(3):
        order(user, f"N{i}")
    if shape == "models":
        rows = (row.full_name for row in Order.objects.order_by("pk").iterator(chunk_size=1))
    else:
        rows = Order.objects.order_by("pk").values_list("full_name", flat=True).iterator(chunk_size=1)
    assert next(rows) == "N0"  # the key is now cached; the converter was built with it
    if between == "erase-in-this-process":
        store.destroy(sid(user))
    else:
        destroyed_elsewhere(user)
        if between == "evict":
            store.cache.evict(sid(user))
        else:
            store.cache.clear()
    with pytest.raises(KeyDestroyed):
        next(rows)


@pytest.mark.django_db(transaction=True)
def test_a_query_iterated_inside_a_transaction_stops_at_an_erasure_made_in_it(django_user_model):
    # The shop iterates a subject's rows in one transaction (a management command, an
    # ATOMIC_REQUESTS view) and erases the subject in it: the rows after the erasure must not open.
    register_orders()
    user = django_user_model.objects.create_user("in-tx")
    for i in range(3):
        order(user, f"N{i}")
    store.reset()
    opened = []
    with transaction.atomic():
        rows = Order.objects.order_by("pk").iterator(chunk_size=1)
        opened.append(next(rows).full_name)
        store.destroy(sid(user))
        try:
            opened.extend(row.full_name for row in rows)
        except KeyDestroyed:
            opened.append("KeyDestroyed")
    assert opened == ["N0", "KeyDestroyed"], f"rows opened after the subject's key was destroyed: {opened}"


@pytest.mark.django_db(transaction=True)
def test_writing_for_a_subject_erased_in_the_same_transaction_raises(django_user_model):
    # The shop reads the customer's orders, erases the customer, and a receiver of its own then
    # saves an order for them, all in one transaction.
    register_orders()
    user = django_user_model.objects.create_user("write-after")
    first = order(user, "Before")
    store.reset()
    with transaction.atomic():
        assert Order.objects.get(pk=first.pk).full_name == "Before"
        erase_subject(user, reason="asked")
        try:
            written = order(user, "Written after the erasure")
        except KeyDestroyed:
            written = None
    assert written is None, "an order of an erased subject was sealed under the destroyed key"


@pytest.mark.django_db(transaction=True)
def test_writing_for_a_subject_erased_in_this_process_raises(django_user_model):
    register_orders()
    user = django_user_model.objects.create_user("w")
    order(user, "cached")  # the key is cached: the inline seal would use it
    erase_subject(user, reason="asked")
    with pytest.raises(KeyDestroyed):
        order(user, "after")
    with pytest.raises(KeyDestroyed):
        Order.objects.bulk_create([Order(customer=user, full_name="bulk", total=decimal.Decimal(1), created_at=NOW)])


@pytest.mark.xfail(strict=True, reason="known: update() seals under the shared keys (check W054, docs/keys.md)")
@pytest.mark.django_db(transaction=True)
def test_an_update_for_an_erased_subject_writes_a_value_that_still_opens(django_user_model):
    # QuerySet.update() seals under the shared keys (W054): no KeyDestroyed for an erased subject.
    register_orders()
    user = django_user_model.objects.create_user("upd")
    kept = order(user, "Salma Q.")
    erase_subject(user, reason="asked")
    try:
        Order.objects.filter(pk=kept.pk).update(full_name="Salma Q. again")
    except KeyDestroyed:
        return
    store.reset()
    pytest.fail(f"update() wrote for an erased subject, and it reads back: {Order.objects.get(pk=kept.pk).full_name!r}")


@pytest.mark.django_db(transaction=True)
def test_cache_expiry_is_honored_for_reads_writes_and_inside_a_running_query(django_user_model, settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "SUBJECT_KEY_CACHE_SECONDS": 1}
    register_orders()
    user = django_user_model.objects.create_user("exp")
    for i in range(2):
        order(user, f"E{i}")
    rows = Order.objects.order_by("pk").iterator(chunk_size=1)
    assert next(rows).full_name == "E0"
    destroyed_elsewhere(user)
    time.sleep(1.3)
    with pytest.raises(KeyDestroyed):
        next(rows)
    with pytest.raises(KeyDestroyed):
        list(Order.objects.all())
    with pytest.raises(KeyDestroyed):
        order(user, "after expiry")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("cached", [True, False], ids=["keys-cached", "cache-empty"])
def test_a_value_moved_to_another_subjects_row_or_column_does_not_open(django_user_model, cached):
    register_orders()
    a, b = django_user_model.objects.create_user("a"), django_user_model.objects.create_user("b")
    of_a, of_b = order(a, "Alice", phone="0551"), order(b, "Bob", phone="0552")
    if not cached:
        store.reset()
    else:
        assert {o.full_name for o in Order.objects.all()} == {"Alice", "Bob"}
    write_full_name(of_b.pk, stored_full_name(of_a.pk))
    with pytest.raises(DecryptionError) as raised:
        Order.objects.get(pk=of_b.pk).full_name  # noqa: B018
    assert not isinstance(raised.value, KeyDestroyed)
    # Another column of the same subject's row.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_order SET full_name = phone WHERE id = %s", [of_a.pk])
    with pytest.raises(DecryptionError):
        Order.objects.get(pk=of_a.pk)


@pytest.mark.django_db(transaction=True)
def test_a_searchable_field_under_a_subject_key_keeps_its_blind_index(django_user_model):
    from tests.testapp.models import Record

    registry.register(Record, subject="owner", category="personal")
    owner = django_user_model.objects.create_user("s")
    Record.objects.create(owner=owner, email="First@Example.com", code="c1", char="x")  # key now cached
    second = Record.objects.create(owner=owner, email="  SECOND@example.com ", code="c2", char="y")
    Record.objects.filter(pk=second.pk).update(email="third@example.com")
    rec = Record.objects.get(pk=second.pk)
    rec.code = "c3"
    rec.save(update_fields=["code"])
    assert Record.objects.filter(email="first@example.com").count() == 1
    assert list(Record.objects.filter(email="THIRD@example.com").values_list("pk", flat=True)) == [second.pk]
    assert list(Record.objects.filter(code="c3").values_list("pk", flat=True)) == [second.pk]
    assert not Record.objects.filter(code="c2").exists()


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_key_lookup_racing_the_erasure_does_not_cache_the_destroyed_key(django_user_model):
    # Another thread of the process reads the subject's key from the table just before the
    # erasure commits, and caches it just after: destroy() evicts before and on commit only.
    register_orders()
    user = django_user_model.objects.create_user("race")
    first = order(user, "Before")
    copy = stored_full_name(first.pk)  # a copy of a value (a backup, a replica)
    store.reset()
    read, go = threading.Event(), threading.Event()

    def pause_after_the_key_lookup(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "privacy_kit_subjectkey" in sql and not read.is_set():
            read.set()
            go.wait(30)
        return result

    def reader():
        with connection.execute_wrapper(pause_after_the_key_lookup):
            return Order.objects.get(pk=first.pk).full_name

    thread = Connection(reader)
    thread.start()
    assert read.wait(30)
    store.destroy(sid(user))  # committed, evicted before and after
    go.set()
    thread.join(30)
    # The racing read may open the value (it began before the erasure) or find the key gone.
    assert (thread.error, thread.result) == (None, "Before") or isinstance(thread.error, KeyDestroyed)
    outcomes = {}
    try:
        order(user, "written after the erasure")
        outcomes["write"] = "sealed under the destroyed key"
    except KeyDestroyed:
        outcomes["write"] = "KeyDestroyed"
    write_full_name(first.pk, copy)
    try:
        outcomes["read"] = Order.objects.get(pk=first.pk).full_name
    except KeyDestroyed:
        outcomes["read"] = "KeyDestroyed"
    assert outcomes == {"write": "KeyDestroyed", "read": "KeyDestroyed"}, outcomes


class TextWithSQL(str):
    """A str whose class also has an ``as_sql`` (as a shop's own lazy or marked text type might)."""

    as_sql = None


@pytest.mark.django_db
def test_a_value_of_the_field_cannot_smuggle_plaintext_through_its_own_preparation():
    from tests.testapp.models import Record

    field = Record._meta.get_field("text")
    record = Record.objects.create(text="before")
    try:
        Record.objects.filter(pk=record.pk).update(text=Value(TextWithSQL("the secret"), output_field=field))
    except Exception as error:
        print("SMUGGLE refused:", type(error).__name__, error)
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM testapp_record WHERE id = %s", [record.pk])
        [stored] = cursor.fetchone()
    assert "secret" not in (stored or ""), f"stored in clear: {stored!r}"


@pytest.mark.django_db
def test_bulk_update_of_an_expression_is_refused():
    from tests.testapp.models import Record

    records = [Record.objects.create(text="before", plain="the secret") for _ in range(2)]
    for record in records:
        record.text = F("plain")
    with pytest.raises(ValueError, match="encrypted"), transaction.atomic():
        Record.objects.bulk_update(records, ["text"])
    assert {r.text for r in Record.objects.all()} == {"before"}


# =====================================================================================
# 2. lock_holds() for a batch, at read committed: shops' transactions and isolation levels
# =====================================================================================


def orders_of(user, count=3):
    for i in range(count):
        order(user, f"Held {i}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["atomic-after-queries", "durable", "atomic-savepoint-false-outer"])
def test_erase_subject_inside_the_shops_transaction(django_user_model, how):
    register_orders()
    user = django_user_model.objects.create_user("shop-tx", date_joined=LONG_AGO)
    orders_of(user)
    if how == "atomic-after-queries":
        with transaction.atomic():
            list(Order.objects.filter(customer=user))
            get_user_model().objects.filter(pk=user.pk).update(first_name="x")
            record = erase_subject(user, reason="asked")
    elif how == "durable":
        with transaction.atomic(durable=True):
            get_user_model().objects.get(pk=user.pk)
            record = erase_subject(user, reason="asked")
    else:
        with transaction.atomic(savepoint=False):
            get_user_model().objects.get(pk=user.pk)
            with transaction.atomic(savepoint=False):
                record = erase_subject(user, reason="asked")
    assert record.status == "done"
    assert set(Order.objects.filter(customer=user).values_list("full_name", flat=True)) == {""}


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_delete_account_view_under_atomic_requests(logged_in, layla, monkeypatch):  # noqa: F811
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    response = logged_in.post("/privacy/my-data/delete/", {"password": PASSWORD, "confirm": "on"})
    assert response.status_code == 302, response.content[:500]
    record = ErasureRecord.objects.get()
    assert record.status == "done"
    assert set(Order.objects.filter(customer=layla).values_list("full_name", flat=True)) == {""}


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("isolation", ["read-committed", "django-option-repeatable-read"])
@pytest.mark.parametrize("inside", [False, True], ids=["outermost", "inside-shop-atomic"])
def test_an_erasure_waiting_on_the_holds_lock_sees_the_hold_committed_meanwhile(
    django_user_model, monkeypatch, isolation, inside
):
    register_orders()
    user = django_user_model.objects.create_user("held-erase", date_joined=LONG_AGO)
    orders_of(user)
    if isolation == "django-option-repeatable-read":
        repeatable_read(monkeypatch)
    connection.close()
    try:
        eraser = hold_race(user, lambda: erase_subject(user, reason="asked"), inside_shop_transaction=inside)
    finally:
        connection.close()
    names = sorted(Order.objects.filter(customer=user).values_list("full_name", flat=True))
    # Refused because of the hold, or (inside a repeatable-read transaction of the shop's, whose
    # snapshot is older than the lock) because it cannot see holds: never run past the hold.
    refusal = TransactionManagementError if (inside and isolation != "read-committed") else ErasureRefused
    assert isinstance(eraser.error, refusal), (
        f"{isolation}, inside={inside}: erasure ran past a hold committed while it waited: "
        f"error={eraser.error!r}, orders={names}"
    )
    assert names == ["Held 0", "Held 1", "Held 2"]


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("isolation", ["read-committed", "django-option-repeatable-read"])
def test_a_purge_inside_a_callers_transaction_sees_a_hold_committed_while_it_waited(
    django_user_model, monkeypatch, isolation
):
    register_orders()
    user = django_user_model.objects.create_user("held-purge", date_joined=LONG_AGO)
    orders_of(user)
    if isolation == "django-option-repeatable-read":
        repeatable_read(monkeypatch)
    connection.close()
    try:
        purger = hold_race(user, lambda: purge_policy("testapp.Order"), inside_shop_transaction=True)
    finally:
        connection.close()
    names = sorted(Order.objects.filter(customer=user).values_list("full_name", flat=True))
    if isolation == "read-committed":
        assert purger.error is None
    else:
        assert isinstance(purger.error, TransactionManagementError)
        assert "REPEATABLE READ" in str(purger.error)
    assert names == ["Held 0", "Held 1", "Held 2"], f"{isolation}: the purge anonymized held rows: {names}"


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("isolation", ["default", "django-option-repeatable-read"])
@pytest.mark.parametrize("policy_kind", ["anonymize-relationship", "delete-by-age"])
def test_purge_with_django_autocommit_off(django_user_model, monkeypatch, policy_kind, isolation):
    # DATABASES["default"]["AUTOCOMMIT"] = False: Django's documented way to manage transactions
    # yourself. The shop runs the purge task and commits.
    from tests.testapp import privacy
    from tests.testapp.models import PurgeEvent

    user = django_user_model.objects.create_user("ac", date_joined=LONG_AGO)
    if policy_kind == "anonymize-relationship":
        register_orders()
        orders_of(user)
        name = "testapp.Order"
    else:
        privacy.register()
        PurgeEvent.objects.bulk_create(
            PurgeEvent(user=user, kind="k", created_at=NOW - datetime.timedelta(days=40)) for _ in range(3)
        )
        name = privacy.POLICY
    if isolation != "default":
        repeatable_read(monkeypatch)
    connection.close()
    connection.settings_dict["AUTOCOMMIT"] = False
    error = None
    try:
        try:
            result = purge_policy(name, batch_size=2)
            connection.commit()
        except Exception as raised:  # reported below
            error = raised
            connection.rollback()
    finally:
        connection.close()
        connection.settings_dict["AUTOCOMMIT"] = True
    if isolation != "default":
        # Its own transaction at REPEATABLE READ: refused with the reason, nothing changed.
        assert isinstance(error, TransactionManagementError) and "REPEATABLE READ" in str(error)
        if policy_kind == "anonymize-relationship":
            assert set(Order.objects.filter(customer=user).values_list("full_name", flat=True)) != {""}
        else:
            assert PurgeEvent.objects.filter(user=user).count() == 3
        return
    chain = []
    while error is not None:
        chain.append(f"{type(error).__name__}: {str(error).strip()}")
        error = error.__context__
    assert not chain, " <- ".join(chain)
    assert (result.anonymized or result.deleted) == 3


# =====================================================================================
# 1. The one-message anonymizing batch
# =====================================================================================


@pytest.fixture
def dossiers(django_user_model):
    """A parent and a child table (multi-table inheritance) with every kind of anonymous value."""
    user_model = django_user_model
    with isolate_apps("tests.testapp"):

        class Dossier(models.Model):
            owner = models.ForeignKey(user_model, null=True, on_delete=models.CASCADE, related_name="+")
            created_at = models.DateTimeField()
            name = EncryptedCharField(max_length=50)
            sealed_data = EncryptedJSONField()
            born = EncryptedDateField()
            facts = models.JSONField()
            seen_on = models.DateField()
            seen_at = models.DateTimeField()
            flag = models.BooleanField()
            count = models.IntegerField()
            amount = models.DecimalField(max_digits=8, decimal_places=2)
            nick = models.CharField(max_length=20, null=True)

            class Meta:
                app_label = "testapp"

        class DossierChild(Dossier):
            secret = EncryptedTextField()
            extra = models.JSONField(null=True)
            label = models.CharField(max_length=20)

            class Meta:
                app_label = "testapp"

        with connection.schema_editor() as editor:
            editor.create_model(Dossier)
            editor.create_model(DossierChild)
        try:
            yield Dossier, DossierChild
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {DossierChild._meta.db_table} CASCADE")
                cursor.execute(f"DROP TABLE IF EXISTS {Dossier._meta.db_table} CASCADE")


PARENT_FIELDS = ["name", "sealed_data", "born", "facts", "seen_on", "seen_at", "flag", "count", "amount", "nick"]
ORIGINAL = {
    "name": "Nourah",
    "sealed_data": {"id": "1234"},
    "born": datetime.date(1990, 5, 17),
    "facts": {"city": "Riyadh"},
    "seen_on": datetime.date(2020, 1, 2),
    "seen_at": datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
    "flag": True,
    "count": 7,
    "amount": decimal.Decimal("12.50"),
    "nick": "nono",
}
CHILD_ORIGINAL = {"secret": "passport 99", "extra": {"k": 1}, "label": "vip"}


def register_dossiers(model, fields, subject="owner"):
    return registry.register(
        model,
        subject=subject,
        category="personal",
        personal_fields=fields,
        retention=registry.Retention(basis="age", date_field="created_at", after_days=30, action="anonymize"),
    )


def values_of(model, pk, fields):
    row = model._base_manager.get(pk=pk)
    return {name: getattr(row, name) for name in fields}


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "which", ["parent", "child-parent-and-child-fields", "child-parent-fields-only", "child-own-fields-only"]
)
def test_anonymizing_batches_write_every_anonymous_value_on_every_table(dossiers, django_user_model, which):
    Dossier, Child = dossiers
    owner = django_user_model.objects.create_user("dossier")
    if which == "parent":
        model, fields = Dossier, PARENT_FIELDS
    elif which == "child-parent-and-child-fields":
        model, fields = Child, [*PARENT_FIELDS, *CHILD_ORIGINAL]
    elif which == "child-parent-fields-only":
        model, fields = Child, PARENT_FIELDS
    else:
        model, fields = Child, list(CHILD_ORIGINAL)
    registration = register_dossiers(model, fields)
    extra = CHILD_ORIGINAL if model is Child else {}
    old = [model.objects.create(owner=owner, created_at=LONG_AGO, **ORIGINAL, **extra).pk for _ in range(5)]
    young = [model.objects.create(owner=owner, created_at=NOW, **ORIGINAL, **extra).pk for _ in range(2)]
    expected = {f.name: engine.anonymous_value(f) for f in engine.anonymized_fields(registration)}
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        result = purge_policy(model._meta.label, now=NOW, batch_size=2)
    one_message = [s for s in statements if s.startswith("SET TRANSACTION ISOLATION LEVEL READ COMMITTED; DO")]
    every = {**ORIGINAL, **extra}
    problems = []
    for pk in old:
        got = values_of(model, pk, every)
        want = {**every, **expected}
        if got != want:
            problems.append((pk, {k: (got[k], want[k]) for k in want if got[k] != want[k]}))
    for pk in young:
        if values_of(model, pk, every) != every:
            problems.append((pk, "young row changed"))
    run = PurgeRun.objects.get(policy=model._meta.label)
    assert not problems, problems
    assert result.anonymized == 5 == run.anonymized, (result, run.anonymized, len(one_message))


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "fields",
    [
        [f for f in PARENT_FIELDS if f not in ("sealed_data", "born")],
        ["name", "sealed_data"],
        ["name", "born"],
    ],
    ids=["plain-types-and-encrypted-text", "encrypted-json", "encrypted-date"],
)
def test_a_second_anonymizing_run_changes_nothing(request, dossiers, django_user_model, fields):
    if request.node.callspec.id != "plain-types-and-encrypted-text":
        # Known (not_yet_anonymous): an encrypted value other than "" cannot be told anonymous in SQL.
        request.applymarker(pytest.mark.xfail(strict=True, reason="an encrypted non-text value is rewritten"))
    Dossier, _ = dossiers
    owner = django_user_model.objects.create_user("twice")
    register_dossiers(Dossier, fields)
    for _ in range(4):
        Dossier.objects.create(owner=owner, created_at=LONG_AGO, **ORIGINAL)
    assert purge_policy(Dossier._meta.label, now=NOW, batch_size=2).anonymized == 4
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Dossier._meta.db_table} ORDER BY id")
        before = cursor.fetchall()
    second = purge_policy(Dossier._meta.label, now=NOW, batch_size=2)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Dossier._meta.db_table} ORDER BY id")
        after = cursor.fetchall()
    assert (second.anonymized, before == after) == (0, True), (
        f"second run anonymized {second.anonymized} rows again; stored rows identical: {before == after}"
    )


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_the_one_message_update_is_the_orms_update(django_user_model):
    # Same rows, same values: the compiled literal statement and QuerySet.update() on twin data.
    register_orders(after_days=30)
    users = [django_user_model.objects.create(username=f"twin{i}", date_joined=LONG_AGO) for i in range(4)]
    recent = django_user_model.objects.create(username="recent", date_joined=LONG_AGO, last_login=NOW)
    for user in [*users, recent]:
        order(user, "Q. Person", phone="055", address="x", note="n")
    LegalHold.objects.create(subject=users[0], reason="dispute")
    registration = registry.get("testapp.Order")
    values = {f.name: engine.anonymous_value(f) for f in engine.anonymized_fields(registration)}
    due = engine.expired(registration, NOW)
    expected_pks = sorted(due.values_list("pk", flat=True))
    statement = engine.update_statement(due, values)
    assert statement is not None
    run = PurgeRun.objects.create(policy="x", started_at=NOW)
    message = engine.BatchMessage.for_run("default", run, registry.ANONYMIZE, locks_holds=True)
    count, _ = message.send(statement)
    changed = sorted(pk for pk in Order.objects.values_list("pk", flat=True) if stored_full_name(pk) == "")
    assert (count, changed) == (len(expected_pks), expected_pks)
    run.refresh_from_db()
    assert run.anonymized == count


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_customer_who_logs_in_mid_run_keeps_the_later_orders(monkeypatch, django_user_model):
    register_orders()
    customer = django_user_model.objects.create(username="back", date_joined=LONG_AGO, last_login=LONG_AGO)
    orders = [order(customer, "Salma Q.") for _ in range(3)]

    class Hooked(engine.KeyRanges):
        done = 0

        def found(self, count, **known):
            super().found(count, **known)
            Hooked.done += 1
            if Hooked.done == 1:
                django_user_model.objects.filter(pk=customer.pk).update(last_login=timezone.now())

    monkeypatch.setattr(engine, "KeyRanges", Hooked)
    assert purge_policy("testapp.Order", batch_size=1).anonymized == 1
    assert [stored_full_name(o.pk) == "" for o in orders] == [True, False, False]


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_soft_time_limit_while_an_anonymizing_message_waits_leaves_an_exact_count(request, django_user_model):
    import psycopg

    register_orders()
    customer = django_user_model.objects.create(username="slow", date_joined=LONG_AGO)
    orders = [order(customer, f"S{i}") for i in range(6)]
    blocker = psycopg.connect(**connection.get_connection_params(), autocommit=False)
    request.addfinalizer(blocker.close)
    blocker.execute("SELECT 1 FROM testapp_order WHERE id = %s FOR UPDATE", [orders[2].pk])

    try:
        with pytest.raises(BaseException) as raised, soft_time_limit_in(1.0):
            purge_policy("testapp.Order", batch_size=2)
    finally:
        blocker.rollback()
    assert raised.type is SoftTimeLimitExceeded
    connection.close_if_unusable_or_obsolete()
    run = PurgeRun.objects.get()
    anonymized = [o.pk for o in orders if stored_full_name(o.pk) == ""]
    assert (run.status, run.anonymized, len(anonymized)) == ("failed", 2, 2)
    again = purge_policy("testapp.Order", batch_size=2)
    assert again.anonymized == 4 == PurgeRun.objects.order_by("pk").last().anonymized
    assert all(stored_full_name(o.pk) == "" for o in orders)


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_one_message_batch_over_a_two_hop_subject_path_keeps_a_held_customers_rows(django_user_model):
    # The subject is reached through a join (note -> order -> customer): the UPDATE the message
    # carries is Django's "pk IN (SELECT ...)" rewrite, with the holds' subquery inside it.
    with isolate_apps("tests.testapp"):

        class OrderNote(models.Model):
            order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="+")
            body = EncryptedTextField()
            tag = models.CharField(max_length=20)
            created_at = models.DateTimeField()

            class Meta:
                app_label = "testapp"

        with connection.schema_editor() as editor:
            editor.create_model(OrderNote)
        try:
            registry.register(
                OrderNote,
                subject="order__customer",
                category="personal",
                personal_fields=["body", "tag"],
                retention=registry.Retention(basis="age", date_field="created_at", after_days=30, action="anonymize"),
            )
            held, free = (django_user_model.objects.create_user(n) for n in ("held2", "free2"))
            notes = {}
            for user in (held, free):
                parent = order(user)
                notes[user.username] = [
                    OrderNote.objects.create(order=parent, body="secret", tag="t", created_at=LONG_AGO).pk
                    for _ in range(3)
                ]
            LegalHold.objects.create(subject=held, reason="dispute")
            result = purge_policy(OrderNote._meta.label, now=NOW, batch_size=2)
            tags = {name: [OrderNote.objects.get(pk=pk).tag for pk in pks] for name, pks in notes.items()}
            assert tags == {"held2": ["t", "t", "t"], "free2": ["", "", ""]}
            assert result.anonymized == 3 == PurgeRun.objects.get(policy=OrderNote._meta.label).anonymized
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {OrderNote._meta.db_table} CASCADE")


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_long_transaction_does_not_write_past_the_cache_expiry_of_a_key_destroyed_elsewhere(
    django_user_model, settings
):
    # A key read inside a transaction serves it until it ends (not cached until commit): another
    # process erases the subject, SUBJECT_KEY_CACHE_SECONDS pass, the transaction writes again.
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "SUBJECT_KEY_CACHE_SECONDS": 1}
    register_orders()
    user = django_user_model.objects.create_user("long-tx")
    first = order(user, "Before")
    store.reset()
    outcome = None
    with transaction.atomic():
        assert Order.objects.get(pk=first.pk).full_name == "Before"
        other = Connection(lambda: destroyed_elsewhere(user))
        other.start()
        other.join(30)
        assert other.error is None
        time.sleep(1.3)
        try:
            order(user, "written after the erasure and the expiry")
            outcome = "sealed under the destroyed key"
        except KeyDestroyed:
            outcome = "KeyDestroyed"
    # Committed: the key read before the erasure is now cached afresh, for another period.
    try:
        order(user, "written after the commit")
        after_commit = "sealed under the destroyed key"
    except KeyDestroyed:
        after_commit = "KeyDestroyed"
    assert (outcome, after_commit) == ("KeyDestroyed", "KeyDestroyed"), (
        f"in the transaction: {outcome}; after its commit: {after_commit}"
    )

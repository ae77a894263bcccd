"""Attacks on two guarantees: encrypted fields refuse SQL expressions, and a purge batch sent as one message.

1. No ORM path makes the database store plaintext (or another column's value) in an
   encrypted column through an SQL expression, and bulk_update still seals.
2. On PostgreSQL a delete-by-age purge batch is one message: its count exact, the
   holds' lock first and seen at read committed, every value quoted, every due row
   walked once and inside its chunk, at the ends of the key range too.
"""

from __future__ import annotations

import copy
import sys

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import FieldError
from django.db import DatabaseError, connection, models, transaction
from django.db.models import Case, ExpressionWrapper, F, Func, OuterRef, Subquery, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, Concat, Lower, Upper
from django.db.models.signals import pre_delete
from django.db.models.sql.where import ExtraWhere
from django.test.utils import isolate_apps

from privacy_kit.fields import EncryptedCharField
from privacy_kit.models import PurgeRun
from privacy_kit.retention import plan_purge, purge_policy
from tests.test_attacks_purge import NOW, after_each_batch, age_policy_without_subject, events, keys
from tests.testapp import privacy
from tests.testapp.models import (
    Contact,
    Member,
    PersonSecret,
    PurgeEvent,
    Record,
    Sealed,
    SealedOwned,
    Supplier,
)

pytestmark = pytest.mark.django_db
SECRET = "the secret"
on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
engine = sys.modules[purge_policy.__module__]


# =====================================================================================
# Guarantee 1: encrypted fields refuse database expressions
# =====================================================================================


def stored_column(table, column, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        row = cursor.fetchone()
    return None if row is None else row[0]


def plaintext_anywhere(model, secret=SECRET):
    """Every stored value of the model's own encrypted columns that holds the plaintext (raw SQL)."""
    from privacy_kit.fields import EncryptedField

    found = []
    table = model._meta.db_table
    for field in model._meta.local_fields:
        if isinstance(field, EncryptedField):
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {model._meta.pk.column}, {field.column} FROM {table}")
                for pk, value in cursor.fetchall():
                    if value is not None and secret.lower() in str(value).lower():
                        found.append((table, field.column, pk, value))
    return found


def text():
    return Record._meta.get_field("text")


class Identity(Func):
    """A user's own Func subclass that writes its argument as it is."""

    function = ""
    template = "(%(expressions)s)"


class Literal:
    """Any object with as_sql() and no resolve_expression(): Django's compilers compile it."""

    def __init__(self, value):
        self.value = value

    def as_sql(self, compiler, connection):
        return "%s", [self.value]


# Expressions an attacker could assign to Record.text; each must be refused or sealed.
G1_EXPRESSIONS = {
    "coalesce": lambda: Coalesce(Value(None, output_field=text()), Value(SECRET)),
    "coalesce-of-field-values": lambda: Coalesce(
        Value(None, output_field=text()), Value(SECRET, output_field=models.TextField()), output_field=text()
    ),
    "expression-wrapper": lambda: ExpressionWrapper(Value(SECRET), output_field=text()),
    "rawsql": lambda: RawSQL("%s", [SECRET], output_field=text()),
    "func-subclass": lambda: Identity(Value(SECRET), output_field=text()),
    "lower-of-plain-column": lambda: Lower(F("plain")),
    "f-plus": lambda: Concat(F("plain"), Value("")),
    "case-value-of-other-encrypted-field": lambda: Case(
        When(pk__gt=0, then=Value(SECRET, output_field=Record._meta.get_field("char"))), output_field=text()
    ),
    "case-value-of-other-models-field": lambda: Case(
        When(pk__gt=0, then=Value(SECRET, output_field=Contact._meta.get_field("note"))), output_field=text()
    ),
    "case-output-other-field": lambda: Case(
        When(pk__gt=0, then=Value(SECRET, output_field=Contact._meta.get_field("note"))),
        output_field=Contact._meta.get_field("note"),
    ),
    "case-default-f": lambda: Case(
        When(pk__lt=0, then=Value("x", output_field=text())), default=F("plain"), output_field=text()
    ),
    "case-default-plain-value": lambda: Case(
        When(pk__lt=0, then=Value("x", output_field=text())), default=Value(SECRET)
    ),
    "nested-case-cast-f": lambda: Cast(
        Case(When(pk__gt=0, then=Case(When(pk__gt=0, then=F("plain")), output_field=text())), output_field=text()),
        output_field=text(),
    ),
    "cast-of-cast": lambda: Cast(Cast(Value(SECRET), output_field=models.CharField()), output_field=text()),
    "when-then-string-is-f": lambda: Case(When(pk__gt=0, then="plain"), output_field=text()),
    "value-of-value": lambda: Value(Value(SECRET), output_field=text()),
    "value-of-sealed-value": lambda: Value(Value(SECRET, output_field=text()), output_field=text()),
    # Equal to the field (same creation counter and model): sealed by that copy, still a seal.
    "value-of-copied-field": lambda: Value(SECRET, output_field=copy.copy(text())),
    # Equal-looking: the same Value with output_field the field itself (bulk_update's form): must seal.
    "value-of-the-field": lambda: Value(SECRET, output_field=text()),
    # Django's own CASE with a template of its own: only public kwargs of Case / Cast.
    "case-template-kwarg": lambda: Case(
        When(pk__lt=0, then=Value(None)), output_field=text(), template=f"CASE %(cases)s ELSE '{SECRET}' END"
    ),
    "cast-template-kwarg": lambda: Cast(
        Value(None), output_field=text(), template=f"COALESCE(%(expressions)s, '{SECRET}')"
    ),
    # Objects Django's compilers compile because they have as_sql(), though not resolve_expression().
    "django-extrawhere": lambda: ExtraWhere(["%s"], [SECRET]),
    "object-with-as_sql": lambda: Literal(SECRET),
}


def _do(how, record, expression):
    if how == "update":
        Record.objects.filter(pk=record.pk).update(text=expression)
    elif how == "create":
        Record.objects.create(text=expression, plain="x")
    elif how == "save":
        record.text = expression
        record.save()
    elif how == "save-update-fields":
        record.text = expression
        record.save(update_fields=["text"])
    elif how == "bulk_create":
        Record.objects.bulk_create([Record(text=expression, plain="x")])
    elif how == "bulk_update":
        record.text = expression
        Record.objects.bulk_update([record], ["text"])
    elif how == "update_or_create":
        Record.objects.update_or_create(pk=record.pk, defaults={"text": expression})
    elif how == "get_or_create":
        Record.objects.get_or_create(plain="new one", defaults={"text": expression})


@pytest.mark.parametrize("expression", G1_EXPRESSIONS.values(), ids=G1_EXPRESSIONS.keys())
@pytest.mark.parametrize(
    "how", ["update", "create", "save", "save-update-fields", "bulk_create", "bulk_update", "update_or_create",
            "get_or_create"]
)
def test_no_plaintext_through_an_expression(how, expression):
    record = Record.objects.create(text="before", plain=SECRET)
    try:
        with transaction.atomic():
            _do(how, record, expression())
    except (ValueError, FieldError, TypeError, DatabaseError, AttributeError):
        pass  # refused (or the database refused): the guarantee holds for this one
    assert plaintext_anywhere(Record) == []


def test_bulk_update_still_seals_values():
    records = Record.objects.bulk_create([Record(text=f"old {i}") for i in range(3)])
    for record, value in zip(records, [SECRET, None, ""], strict=True):
        record.text = value
    Record.objects.bulk_update(records, ["text"])
    assert [Record.objects.get(pk=r.pk).text for r in records] == [SECRET, None, ""]
    assert plaintext_anywhere(Record) == []


def test_another_columns_ciphertext_is_not_copied():
    record = Record.objects.create(text="before", char=SECRET)
    for expression in [F("char"), Case(When(pk__gt=0, then=F("char")), output_field=text()),
                       Cast(F("char"), output_field=text()), Coalesce(F("char"), F("text"))]:
        with pytest.raises((ValueError, FieldError)), transaction.atomic():
            Record.objects.filter(pk=record.pk).update(text=expression)
    assert stored_column("testapp_record", "text", record.pk) != stored_column("testapp_record", "char", record.pk)


def test_subquery_of_another_column_is_refused():
    record = Record.objects.create(text="before", plain=SECRET)
    sub = Subquery(Record.objects.filter(pk=OuterRef("pk")).values("plain")[:1])
    with pytest.raises((ValueError, FieldError)), transaction.atomic():
        Record.objects.filter(pk=record.pk).update(text=sub)
    assert plaintext_anywhere(Record) == []


def test_searchable_field_expression_refused_and_index_not_forged():
    record = Record.objects.create(email="a@example.com", plain=SECRET)
    for expression in [Value(SECRET), F("plain"), Upper(Value(SECRET)), Lower(F("plain"))]:
        with pytest.raises((ValueError, FieldError)), transaction.atomic():
            Record.objects.filter(pk=record.pk).update(email=expression)
    email = Record._meta.get_field("email")
    Record.objects.filter(pk=record.pk).update(email=Value(f"{SECRET}@x.com", output_field=email))
    assert plaintext_anywhere(Record) == []
    assert Record.objects.filter(email=f"{SECRET}@x.com").count() == 1


def test_integer_field_arithmetic_refused():
    record = Record.objects.create(integer=41)
    integer = Record._meta.get_field("integer")
    for expression in [F("integer") + 1, F("id"), Value(7), Cast(F("id"), output_field=integer)]:
        with pytest.raises((ValueError, FieldError)), transaction.atomic():
            Record.objects.filter(pk=record.pk).update(integer=expression)
    assert Record.objects.get(pk=record.pk).integer == 41


def test_json_field_expressions_refused():
    from django.db.models.fields.json import KT

    record = Record.objects.create(data={"a": SECRET}, plain=SECRET)
    for expression in [Value({"a": SECRET}, output_field=models.JSONField()), F("plain"), KT("data__a")]:
        with pytest.raises((ValueError, FieldError)), transaction.atomic():
            Record.objects.filter(pk=record.pk).update(data=expression)
    assert plaintext_anywhere(Record) == []


def test_abstract_siblings_field_value_refused():
    member = Member.objects.create(name="m")
    sibling = Member._meta.get_field("name")  # the same declaration, copied to another model
    with pytest.raises(ValueError), transaction.atomic():
        Supplier.objects.create(name=Value(SECRET, output_field=sibling))
    with pytest.raises(ValueError), transaction.atomic():
        Supplier.objects.update(name=Value(SECRET, output_field=sibling))
    assert plaintext_anywhere(Supplier) == [] and plaintext_anywhere(Member) == []
    assert member.pk


def test_multi_table_inheritance_updates():
    child = PersonSecret.objects.create(secret="x")
    owned = SealedOwned.objects.create(secret="x")
    for queryset, field in [(PersonSecret.objects, "secret"), (SealedOwned.objects, "secret")]:
        for expression in [Value(SECRET), Upper(Value(SECRET)), Case(When(pk__gt=0, then=Value(SECRET)),
                                                                   output_field=Sealed._meta.get_field("secret"))]:
            try:
                with transaction.atomic():
                    queryset.update(**{field: expression})
            except (ValueError, FieldError):
                pass
    # The parent's own field, through the child: sealed by it.
    SealedOwned.objects.update(secret=Value(SECRET, output_field=Sealed._meta.get_field("secret")))
    PersonSecret.objects.update(secret=Value(SECRET, output_field=PersonSecret._meta.get_field("secret")))
    assert plaintext_anywhere(PersonSecret) == [] and plaintext_anywhere(Sealed) == []
    assert SealedOwned.objects.get(pk=owned.pk).secret == SECRET
    assert PersonSecret.objects.get(pk=child.pk).secret == SECRET


def test_bulk_create_update_conflicts_keeps_values_sealed():
    record = Record.objects.create(text="before", plain="p")
    kwargs = {"update_conflicts": True, "update_fields": ["text", "plain"]}
    if connection.features.supports_update_conflicts_with_target:
        kwargs["unique_fields"] = ["id"]
    Record.objects.bulk_create([Record(pk=record.pk, text=SECRET, plain="q")], **kwargs)
    assert Record.objects.get(pk=record.pk).text == SECRET
    assert plaintext_anywhere(Record) == []
    with pytest.raises(ValueError), transaction.atomic():
        Record.objects.bulk_create([Record(pk=record.pk, text=Value(SECRET), plain="q")], **kwargs)
    assert plaintext_anywhere(Record) == []


def test_db_default_is_an_error_even_through_encrypt():
    from privacy_kit.fields import encrypt

    with isolate_apps("tests.testapp"):

        class Defaults(models.Model):
            a = EncryptedCharField(max_length=20, db_default=SECRET)
            b = encrypt(models.CharField(max_length=20, db_default=SECRET))
            c = encrypt(models.CharField(max_length=20, db_default=Value(SECRET)))

            class Meta:
                app_label = "testapp"

        flagged = {m.obj.name for m in Defaults.check() if m.id == "privacy_kit.E014"}
    assert flagged == {"a", "b", "c"}


def test_generated_field_with_an_encrypted_output_is_flagged():
    # A GeneratedField whose output_field is encrypted: the database computes the column
    # from the expression, unencrypted, and the field reads it as a ciphertext.
    with isolate_apps("tests.testapp"):

        class Generated(models.Model):
            plain = models.CharField(max_length=20)
            shadow = models.GeneratedField(
                expression=Upper("plain"), output_field=EncryptedCharField(max_length=20), db_persist=True
            )

            class Meta:
                app_label = "testapp"

        errors = [m for m in Generated.check(databases=["default"]) if m.level >= 40]
    assert errors, "no check refuses a GeneratedField whose output_field is an encrypted field"


# =====================================================================================
# Guarantee 2: a delete-by-age purge batch on PostgreSQL is one message
# =====================================================================================

def age_policy():
    """PurgeEvent by age, nobody's rows: its batches take no lock (test_attacks_purge's policy)."""
    return age_policy_without_subject()


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_receiver_connected_for_one_batch_only_leaves_the_count_exact(monkeypatch):
    # A receiver connected for one batch (a module's temporary receiver, a weak receiver
    # collected, another thread's context manager): that batch goes through the collector
    # and adds its count with run_counter; the next one-message batch computes its count as
    # the run's total minus the total it last saw, so it counts that batch a second time.
    name = age_policy()
    events(range(1, 9))
    heard = []

    def receiver(sender, instance, **kwargs):
        heard.append(instance.pk)

    def toggle(batch):
        if batch == 1:
            pre_delete.connect(receiver, sender=PurgeEvent, weak=False)
        if batch == 2:
            pre_delete.disconnect(receiver, sender=PurgeEvent)

    after_each_batch(monkeypatch, toggle)
    result = purge_policy(name, now=NOW, batch_size=2)
    assert keys() == []
    assert sorted(heard) == [3, 4]
    run = PurgeRun.objects.get()
    assert (result.deleted, run.deleted) == (8, 8)


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["one-message", "transaction"])
def test_an_exception_after_a_batch_committed_leaves_the_count_exact(monkeypatch, path):
    # Celery's soft time limit raises wherever the worker is; here just after a batch's
    # message committed (its rows and its count), before the walk noted the count.
    name = age_policy()
    events(range(1, 7))
    if path == "transaction":
        monkeypatch.setattr(engine, "counted_range_delete", lambda *a, **k: None)

    def interrupt(batch):
        if batch == 2:
            raise SoftTimeLimitExceeded()

    after_each_batch(monkeypatch, interrupt)
    with pytest.raises(SoftTimeLimitExceeded):
        purge_policy(name, now=NOW, batch_size=2)
    gone = 6 - PurgeEvent.objects.count()
    run = PurgeRun.objects.get()
    assert (run.status, gone, run.deleted) == ("failed", 4, 4)


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_rows_added_into_a_gap_ahead_of_the_walk_go(monkeypatch):
    # tests/test_attacks_purge.py promises rows added ahead of the walk (in a gap it has not
    # reached) go; the one-message batch read its next key before they were added.
    name = age_policy()
    events([1, 2, 1000, 1001])

    def insert(batch):
        if batch == 1:
            events([5, 500])

    after_each_batch(monkeypatch, insert)
    result = purge_policy(name, now=NOW, batch_size=2)
    assert keys() == []
    assert result.deleted == 6 == PurgeRun.objects.get().deleted


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_gap_insert_in_the_transaction_path_goes(monkeypatch):
    # Control: the same with the batch path that asks for the next key itself.
    name = age_policy()
    events([1, 2, 1000, 1001])
    monkeypatch.setattr(engine, "counted_range_delete", lambda *a, **k: None)

    def insert(batch):
        if batch == 1:
            events([5, 500])

    after_each_batch(monkeypatch, insert)
    result = purge_policy(name, now=NOW, batch_size=2)
    assert keys() == [] and result.deleted == 6


BIG = 2**63 - 1


@pytest.fixture
def extreme_keys():
    """Give the events table its key sequence back after a test stored keys at the ends of the range.

    SQLite's AUTOINCREMENT remembers the largest key ever used: after 2**63 - 1 every
    insert without a key would fail ("database or disk is full").
    """
    yield
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM sqlite_sequence WHERE name = %s", [PurgeEvent._meta.db_table])


@pytest.mark.django_db(transaction=True)
def test_keys_at_the_top_and_bottom_of_bigint_are_walked(extreme_keys):
    name = age_policy()
    due = [-BIG - 1, -BIG, -BIG + 6, -BIG + 8, -5, 0, 5, BIG - 2, BIG - 1, BIG]
    young = [-BIG + 1, BIG - 3]
    events(due)
    events(young, days=5)
    result = purge_policy(name, now=NOW, batch_size=2)
    assert keys() == sorted(young)
    assert result.deleted == len(due) == PurgeRun.objects.get().deleted


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "due", [[BIG - 40, BIG - 25, BIG - 5, BIG], [-BIG - 1, -BIG + 3, -BIG + 25]], ids=["top", "bottom"]
)
def test_the_planned_chunks_near_the_ends_of_bigint_purge_every_due_row(extreme_keys, due):
    # plan_purge() aligns chunks on multiples of the span; the first or last chunk may pass
    # the ends of the key range, which chunk_bounds() refuses as not a key: its rows would never go.
    name = age_policy()
    events(due)
    pieces = plan_purge([name], batch_size=1)
    errors = []
    for policy, start, end in pieces:
        try:
            purge_policy(policy, start=start, end=end, now=NOW, batch_size=1)
        except ValueError as error:
            errors.append(str(error))
    assert keys() == [], (pieces, errors)


@pytest.mark.django_db(transaction=True)
def test_a_chunk_deletes_nothing_outside_it():
    name = age_policy()
    events([-3, 1, 9, 10, 11, 15, 19, 20, 21, 10**6])
    result = purge_policy(name, start=10, end=20, now=NOW, batch_size=2)
    assert keys() == [-3, 1, 9, 20, 21, 10**6]
    assert result.deleted == 4 == PurgeRun.objects.get().deleted


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scs", ["on", "off", "switched-off-after-compiling"])
def test_values_in_the_message_stay_values(scs):
    # Values of the registration's filters reach the message as literals: backslashes and
    # quotes must stay inside them, whatever standard_conforming_strings says.
    nasty = [
        "\\'; DELETE FROM testapp_purgeevent; --",
        "x\\",
        "it's \\' $$ $privacy_kit_batch $ 100%",
        "é\\'ü; DELETE FROM testapp_purgeevent;--",
        "$privacy_kit_batch\\$",
        "\\\\''\\')); DELETE FROM testapp_purgeevent",
    ]
    run = PurgeRun.objects.create(policy="x", started_at=NOW)
    for i, value in enumerate(nasty):
        PurgeEvent.objects.create(pk=100 + i, kind=value, created_at=NOW)
    events(range(1, 6), kind="keep")
    with connection.cursor() as cursor:
        if scs == "off":
            cursor.execute("SET standard_conforming_strings TO off")
    try:
        for value in nasty:
            run.refresh_from_db()  # counted_range_delete counts from the run's total it is given
            ranges = engine.KeyRanges(PurgeEvent.objects.all(), 1000)
            delete = engine.counted_range_delete(
                PurgeEvent.objects.filter(kind=value), ranges, run, "default", locks_holds=True
            )
            assert delete is not None
            if scs == "switched-off-after-compiling":
                with connection.cursor() as cursor:
                    cursor.execute("SET standard_conforming_strings TO off")
            assert delete(-(2**62), 2**62)[0] == 1
            if scs == "switched-off-after-compiling":
                with connection.cursor() as cursor:
                    cursor.execute("SET standard_conforming_strings TO on")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET standard_conforming_strings")
    assert keys() == [1, 2, 3, 4, 5]
    run.refresh_from_db()
    assert run.deleted == len(nasty)


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("encoding", ["LATIN1", "SQL_ASCII", "BIG5", "SJIS", "GBK"])
def test_values_in_the_message_under_another_client_encoding(encoding):
    value = "\u8868\\'; DELETE FROM testapp_purgeevent;--"  # 表: its SJIS/BIG5 form ends in 0x5c
    if encoding in ("LATIN1", "SQL_ASCII"):
        value = "\xe9\\'; DELETE FROM testapp_purgeevent;--"
    run = PurgeRun.objects.create(policy="x", started_at=NOW)
    events(range(1, 4), kind="keep")
    PurgeEvent.objects.create(pk=10, kind=value, created_at=NOW)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SET client_encoding TO '{encoding}'")
        ranges = engine.KeyRanges(PurgeEvent.objects.all(), 1000)
        try:
            delete = engine.counted_range_delete(
                PurgeEvent.objects.filter(kind=value), ranges, run, "default", locks_holds=False
            )
            if delete is not None:
                delete(-(2**62), 2**62)
        except (DatabaseError, UnicodeError):
            pass  # fails closed
    finally:
        connection.close()
    assert keys() == [1, 2, 3, 10] or keys() == [1, 2, 3]


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_server_side_binding_purge_is_exact(monkeypatch):
    name = age_policy()
    events(range(1, 12))
    events([12], days=5)
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "server_side_binding", True)
    connection.close()
    try:
        result = purge_policy(name, now=NOW, batch_size=3)
    finally:
        connection.close()
    assert keys() == [12]
    assert result.deleted == 11 == PurgeRun.objects.get().deleted


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction(monkeypatch):
    name = age_policy()
    events(range(1, 6))
    with transaction.atomic():
        result = purge_policy(name, now=NOW, batch_size=2)
    assert keys() == [] and result.deleted == 5 == PurgeRun.objects.get().deleted


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "isolation", ["read committed", "django-option-repeatable-read", "session-default-repeatable-read"]
)
@pytest.mark.parametrize("path", ["one-message", "transaction"])
def test_a_hold_committed_while_the_batch_waits_on_the_holds_lock_keeps_the_rows(
    request, django_user_model, monkeypatch, isolation, path
):
    # The batch's message takes the holds' lock before its DELETE, so that a hold placed
    # while the batch waits for the lock is seen. Under REPEATABLE READ the snapshot is
    # taken when the statement holding the lock starts, before the wait.
    from tests.test_attacks_erasure import hold_race, repeatable_read

    privacy.register()
    user = django_user_model.objects.create_user("held")
    events([1, 2, 3], user=user)
    if isolation == "django-option-repeatable-read":
        repeatable_read(monkeypatch)
    elif isolation == "session-default-repeatable-read":
        session_default_repeatable_read(monkeypatch)
    if path == "transaction":
        monkeypatch.setattr(engine, "counted_range_delete", lambda *a, **k: None)
    purger = hold_race(user, lambda: purge_policy(privacy.POLICY, now=NOW))
    assert purger.error is None
    assert keys() == [1, 2, 3], f"{isolation}: the batch deleted the rows of a subject it waited to see held"


def session_default_repeatable_read(monkeypatch):
    """Give the default connection the server-side default REPEATABLE READ (reconnect to apply it)."""
    options = "-c default_transaction_isolation=repeatable\\ read"
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "options", options)


P1, P2 = -(2**63) + 7, -(2**63) + 9  # the placeholders Bound.compile uses for a BigAutoField


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", [str(P1), str(P2), f"x {P2} y", f"{P1}.0", f"'{P2}'", f"a{P1}"])
def test_literals_that_look_like_the_placeholders(kind):
    run = PurgeRun.objects.create(policy="x", started_at=NOW)
    keys_due = [P1 - 1, P1, P1 + 1, P2, P2 + 1, 5, 6]
    PurgeEvent.objects.bulk_create(PurgeEvent(pk=k, kind=kind, created_at=NOW) for k in keys_due)
    events([P2 + 3, 7], kind="keep")
    ranges = engine.KeyRanges(PurgeEvent.objects.all(), 2)
    due = PurgeEvent.objects.filter(kind=kind)
    counted = engine.counted_range_delete(due, ranges, run, "default", locks_holds=True)
    # A value that holds a placeholder as a number of its own is not sent in a message; the
    # statement compiled for the transaction path must then delete the same rows.
    plain = engine.range_delete(due)
    total = 0
    for _ in ranges:
        if counted is not None:
            count, next_key = counted(*ranges.bounds)
            ranges.found(count, next_key=next_key)
        else:
            count = plain(*ranges.bounds)
            ranges.found(count)
        total += count
    assert keys() == sorted([P2 + 3, 7])
    run.refresh_from_db()
    assert total == len(keys_due)
    if counted is not None:
        assert run.deleted == total


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_chunk_whose_bounds_are_the_placeholders():
    name = age_policy()
    events([P1 - 1, P1, P1 + 1, P2, P2 + 1])
    result = purge_policy(name, start=P1, end=P2, now=NOW, batch_size=1)
    assert keys() == [P1 - 1, P2, P2 + 1]
    assert result.deleted == 2 == PurgeRun.objects.get().deleted


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("isolation", ["read committed", "session-default-repeatable-read"])
@pytest.mark.parametrize("path", ["one-message", "transaction"])
def test_a_hold_committed_while_an_anonymizing_batch_waits_on_the_holds_lock_keeps_the_order(
    django_user_model, monkeypatch, isolation, path
):
    # The relationship basis anonymizes: on PostgreSQL its batch is one message too, the
    # UPDATE compiled before it. The lock must come first, and be seen at read committed.
    import decimal

    from tests.test_attacks_erasure import LONG_AGO, hold_race
    from tests.testapp.models import Order
    from tests.testapp.policies import register_orders

    register_orders()
    user = django_user_model.objects.create(username="salma", date_joined=LONG_AGO)
    order = Order.objects.create(customer=user, full_name="Salma Q.", total=decimal.Decimal(1), created_at=LONG_AGO)
    if isolation == "session-default-repeatable-read":
        session_default_repeatable_read(monkeypatch)
    if path == "transaction":
        monkeypatch.setattr(engine.BatchMessage, "for_run", classmethod(lambda cls, *a, **k: None))
    purger = hold_race(user, lambda: purge_policy("testapp.Order"))
    assert purger.error is None
    assert purger.result.anonymized == 0
    assert Order.objects.get(pk=order.pk).full_name == "Salma Q."


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_an_anonymizing_batch_is_one_message_and_its_count_commits_with_it(django_user_model):
    import decimal

    from tests.test_attacks_erasure import LONG_AGO
    from tests.testapp.models import Order
    from tests.testapp.policies import register_orders

    register_orders()
    users = [django_user_model.objects.create(username=f"u{i}", date_joined=LONG_AGO) for i in range(3)]
    for user in users:
        Order.objects.create(customer=user, full_name="Q. Person", total=decimal.Decimal(1), created_at=LONG_AGO)
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert purge_policy("testapp.Order", batch_size=1).anonymized == 3
    messages = [sql for sql in statements if sql.startswith("SET TRANSACTION ISOLATION LEVEL READ COMMITTED; DO")]
    assert len(messages) == 3 and all('UPDATE "testapp_order" SET' in sql for sql in messages)
    assert PurgeRun.objects.get(policy="testapp.Order").anonymized == 3
    assert set(Order.objects.values_list("full_name", flat=True)) == {""}

"""Subject keys: every value bound to its owner, erasure that reaches backups (SPEC section 8).

Each attack is made by someone with write access to the database and no key: they copy
a victim's stored values into their own rows, move rows to themselves, swap wrapped
keys, or keep a backup from before an erasure. Before subject keys every one of these
decrypted without error.
"""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from example_shop.shop.models import Order as ShopOrder
from privacy_kit import crypto, keys, registry
from privacy_kit.crypto import DecryptionError, KeyDestroyed
from privacy_kit.keys import store as key_store
from privacy_kit.models import SubjectKey
from privacy_kit.rights import erase_subject, export_subject
from privacy_kit.rights.erasure import replay_erasures
from privacy_kit.rotation import rotate_keys
from tests.testapp.models import Customer, Order, Record
from tests.two_factor import verify

pytestmark = pytest.mark.django_db
ENCRYPTED = ["full_name", "phone", "address"]


def columns(model, pk, names):
    """What the database holds, bypassing the ORM."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(names)} FROM {model._meta.db_table} WHERE id = %s", [pk])
        return cursor.fetchone()


def write(model, pk, **values):
    """Change a row the way an attacker with the database does: straight SQL."""
    assignments = ", ".join(f"{name} = %s" for name in values)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {model._meta.db_table} SET {assignments} WHERE id = %s", [*values.values(), pk])


def restore(model, names, row):
    """Put a row back as a restore of a backup of the data tables does."""
    with connection.cursor() as cursor:
        placeholders = ", ".join(["%s"] * len(names))
        cursor.execute(f"INSERT INTO {model._meta.db_table} ({', '.join(names)}) VALUES ({placeholders})", row)


def order_of(user, name):
    return Order.objects.create(
        customer=user, full_name=name, phone="+966 55 000 1111", address="1 Olaya St", total=10,
        created_at=timezone.now(),
    )


@pytest.fixture
def victim(django_user_model):
    return django_user_model.objects.create_user("victim", password="a victim's long password")


@pytest.fixture
def attacker(django_user_model):
    return django_user_model.objects.create_user("attacker", password="an attacker's long password")


def every_read(pk, user):
    """Each way a shop reads an order, as a callable."""
    rows = Order.objects.filter(pk=pk)
    return {
        "attribute": lambda: Order.objects.get(pk=pk).full_name,
        "values": lambda: list(rows.values("full_name", "phone")),
        "values_list": lambda: list(rows.values_list("address", flat=True)),
        "iterator": lambda: [order.phone for order in rows.iterator()],
        "export": lambda: export_subject(user),
    }


def test_a_row_without_a_subject_is_sealed_under_the_shared_keys():
    nobodys = Order.objects.create(full_name="Nobody", total=1, created_at=timezone.now())
    (stored,) = columns(Order, nobodys.pk, ["full_name"])
    assert stored and not crypto.is_subject_envelope(stored)
    assert Order.objects.get(pk=nobodys.pk).full_name == "Nobody"


def test_a_value_copied_into_another_customers_row_opens_nowhere(victim, attacker):
    theirs, mine = order_of(victim, "Victim Name"), order_of(attacker, "Attacker Name")
    assert all(crypto.is_subject_envelope(value) for value in columns(Order, theirs.pk, ENCRYPTED))
    write(Order, mine.pk, **dict(zip(ENCRYPTED, columns(Order, theirs.pk, ENCRYPTED), strict=True)))
    for way, read in every_read(mine.pk, attacker).items():
        with pytest.raises(DecryptionError, match=r"testapp\.order"):
            read()
            pytest.fail(f"{way} opened a copied value")
    assert Order.objects.get(pk=theirs.pk).full_name == "Victim Name"  # the victim's own row still reads


def test_a_row_moved_to_another_customer_by_its_foreign_key_does_not_open(victim, attacker):
    theirs = order_of(victim, "Victim Name")
    write(Order, theirs.pk, customer_id=attacker.pk)
    for read in every_read(theirs.pk, attacker).values():
        with pytest.raises(DecryptionError):
            read()


def test_swapped_searchable_values_do_not_find_the_wrong_customer(victim, attacker):
    """Before: swapping two customers' email values made get(email=...) return the wrong customer."""
    mine = Customer.objects.create(user=attacker, name="Attacker", email="attacker@example.sa")
    theirs = Customer.objects.create(user=victim, name="Victim", email="victim@example.sa")
    (mine_stored,), (theirs_stored,) = columns(Customer, mine.pk, ["email"]), columns(Customer, theirs.pk, ["email"])
    write(Customer, mine.pk, email=theirs_stored)
    write(Customer, theirs.pk, email=mine_stored)
    with pytest.raises(DecryptionError):
        Customer.objects.get(email="victim@example.sa")


def test_a_wrapped_key_copied_onto_another_subject_does_not_open(victim, attacker):
    theirs, mine = order_of(victim, "Victim Name"), order_of(attacker, "Attacker Name")
    write(Order, mine.pk, **dict(zip(ENCRYPTED, columns(Order, theirs.pk, ENCRYPTED), strict=True)))
    victim_key = SubjectKey.objects.get(subject=str(victim.pk))
    SubjectKey.objects.filter(subject=str(attacker.pk)).update(wrapped_key=victim_key.wrapped_key)
    key_store.reset()
    with pytest.raises(DecryptionError):
        Order.objects.get(pk=mine.pk)
    assert Order.objects.get(pk=theirs.pk).full_name == "Victim Name"


def test_the_shops_order_page_and_the_admin_change_view_fail_closed(client, django_user_model):
    victim = django_user_model.objects.create_user("shop-victim", password="pw")
    attacker = django_user_model.objects.create_user("shop-attacker", password="pw", is_staff=True, is_superuser=True)
    contact = {"address": "1 Olaya St", "city": "Riyadh", "phone": "+966550001111", "email": "v@example.sa"}
    fixed = {"subtotal": 10, "shipping": 0, "total": 10}
    theirs = ShopOrder.objects.create(user=victim, full_name="Victim Name", **contact, **fixed)
    mine = ShopOrder.objects.create(user=attacker, full_name="Attacker Name", **contact, **fixed)
    names = ["full_name", "address", "city", "phone", "email"]
    write(ShopOrder, mine.pk, **dict(zip(names, columns(ShopOrder, theirs.pk, names), strict=True)))
    verify(client, attacker)
    with pytest.raises(DecryptionError):
        client.get(f"/orders/{mine.pk}/")
    with pytest.raises(DecryptionError):
        client.get(f"/admin/shop/order/{mine.pk}/change/")
    assert client.get(f"/admin/shop/order/{theirs.pk}/change/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_page_of_rows_of_many_subjects_costs_one_query_for_their_keys(django_user_model):
    users = [django_user_model.objects.create_user(f"page-{number}") for number in range(40)]
    for user in users:
        order_of(user, f"Name {user.pk}")
    for read in (
        lambda: [order.full_name for order in Order.objects.all()],
        lambda: list(Order.objects.values_list("full_name", "phone")),
        lambda: [order.phone for order in Order.objects.filter(total=10).order_by("-pk")[5:25]],
        lambda: list(Order.objects.values("address").iterator()),
    ):
        key_store.reset()  # a cold process: no key in memory
        with CaptureQueriesContext(connection) as queries:
            assert read()
        assert len(queries) == 2, [query["sql"] for query in queries]  # the rows, and the keys of all their subjects
        with CaptureQueriesContext(connection) as queries:
            read()
        assert len(queries) == 1  # warm: nothing for the keys


def test_inside_a_transaction_a_page_costs_one_query_for_its_keys_too(django_user_model):
    users = [django_user_model.objects.create_user(f"page-{number}") for number in range(20)]
    for user in users:
        order_of(user, f"Name {user.pk}")
    key_store.reset()
    with CaptureQueriesContext(connection) as queries:
        assert len([order.full_name for order in Order.objects.all()]) == 20
    assert len(queries) == 4, [query["sql"][:90] for query in queries][5:20]  # the rows, the keys (in a savepoint)


def test_values_under_the_shared_keys_keep_opening_and_rotate_keys_moves_them_onto_the_subjects_key(victim, attacker):
    theirs, mine = order_of(victim, "Victim Name"), order_of(attacker, "Attacker Name")
    field = Order._meta.get_field("full_name")
    write(Order, theirs.pk, full_name=field.seal("Victim Name"))  # as the version before subject keys wrote it
    assert Order.objects.get(pk=theirs.pk).full_name == "Victim Name"
    (report,) = [entry for entry in rotate_keys(["testapp.Order"]) if entry.field == "full_name"]
    assert report.resealed == 1
    (moved,) = columns(Order, theirs.pk, ["full_name"])
    assert crypto.is_subject_envelope(moved)
    assert rotate_keys(["testapp.Order"], dry_run=True)[0].pending == 0  # nothing left to move
    write(Order, mine.pk, full_name=moved)
    with pytest.raises(DecryptionError):
        Order.objects.get(pk=mine.pk)


def test_update_seals_under_the_shared_keys_until_rotate_keys_moves_the_values(victim):
    """update() cannot tell whose each row is: documented, and rotate_keys finishes the job."""
    theirs = order_of(victim, "Victim Name")
    Order.objects.filter(pk=theirs.pk).update(full_name="Changed Name")
    (stored,) = columns(Order, theirs.pk, ["full_name"])
    assert not crypto.is_subject_envelope(stored) and Order.objects.get(pk=theirs.pk).full_name == "Changed Name"
    rotate_keys(["testapp.Order"])
    (stored,) = columns(Order, theirs.pk, ["full_name"])
    assert crypto.is_subject_envelope(stored) and Order.objects.get(pk=theirs.pk).full_name == "Changed Name"


def test_a_key_made_in_a_rolled_back_savepoint_is_never_used(victim):
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            order_of(victim, "Rolled Back")
            raise RuntimeError("the checkout failed")
        assert not SubjectKey.objects.filter(subject=str(victim.pk)).exists()
        kept = order_of(victim, "Kept Name")
    key_store.reset()
    assert SubjectKey.objects.filter(subject=str(victim.pk)).count() == 1
    assert Order.objects.get(pk=kept.pk).full_name == "Kept Name"


def test_erasure_destroys_the_key_so_a_restored_backup_reads_as_erased_and_replay_cleans_it(victim, attacker):
    theirs, other = order_of(victim, "Victim Name"), order_of(attacker, "Other Customer")
    names = ["id", "customer_id", *ENCRYPTED, "note", "total", "created_at"]
    backup = columns(Order, theirs.pk, names)  # a copy of the data tables, without the key table
    record = erase_subject(victim, reason="asked by the customer")
    assert record.key_destroyed_at is not None
    assert not Order.objects.filter(pk=theirs.pk).exists()
    restore(Order, names, backup)
    key_store.reset()
    with pytest.raises(KeyDestroyed, match="destroyed at") as raised:
        Order.objects.get(pk=theirs.pk)
    assert raised.value.destroyed_at == record.key_destroyed_at
    with pytest.raises(KeyDestroyed):
        list(Order.objects.filter(pk=theirs.pk).values_list("phone"))
    assert Order.objects.get(pk=other.pk).full_name == "Other Customer"
    result = replay_erasures()
    assert result.replayed == 1 and not Order.objects.filter(pk=theirs.pk).exists()
    assert Order.objects.get(pk=other.pk).full_name == "Other Customer"


def test_replay_finds_erased_subjects_by_their_destroyed_key_when_the_ledger_came_back_older(victim):
    """The ledger lives with the data: a restore from before the erasure brings it back without the record."""
    theirs = order_of(victim, "Victim Name")
    names = ["id", "customer_id", *ENCRYPTED, "note", "total", "created_at"]
    backup = columns(Order, theirs.pk, names)
    erase_subject(victim, reason="asked by the customer")
    from privacy_kit.models import ErasureRecord

    ErasureRecord.objects.all().delete()  # the ledger as the old backup had it
    restore(Order, names, backup)
    assert replay_erasures().replayed == 1
    assert not Order.objects.filter(pk=theirs.pk).exists()


def test_an_erased_subject_gets_no_new_values(victim):
    erase_subject(victim, reason="asked by the customer")
    with pytest.raises(KeyDestroyed):
        order_of(victim, "After The Erasure")


def test_a_subject_path_that_crosses_a_relation_is_refused_by_a_check():
    from privacy_kit.checks import check_registry

    registry.register(Record, subject="owner__logentry__user", category="personal")
    errors = [error for error in check_registry() if error.id == "privacy_kit.E055"]
    assert len(errors) == 1 and "owner__logentry__user" in errors[0].msg
    assert "foreign key to the user" in errors[0].hint


@pytest.mark.django_db(databases=["default", "keys"], transaction=True)
def test_keys_in_a_database_of_their_own(settings, victim, attacker):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "KEY_DATABASE": "keys"}
    theirs, mine = order_of(victim, "Victim Name"), order_of(attacker, "Attacker Name")
    assert SubjectKey.objects.using("keys").filter(subject=str(victim.pk)).exists()
    assert not SubjectKey.objects.using("default").exists()
    key_store.reset()
    with CaptureQueriesContext(connection) as queries:
        assert Order.objects.get(pk=theirs.pk).full_name == "Victim Name"
    assert "privacy_kit_subjectkey" not in queries[0]["sql"]  # another database cannot be joined
    write(Order, mine.pk, **dict(zip(ENCRYPTED, columns(Order, theirs.pk, ENCRYPTED), strict=True)))
    with pytest.raises(DecryptionError):
        Order.objects.get(pk=mine.pk)
    erase_subject(victim, reason="asked by the customer")
    assert SubjectKey.objects.using("keys").get(subject=str(victim.pk)).destroyed_at is not None
    assert keys.destroyed_subjects() == {str(victim.pk)}


def test_rotate_keys_re_wraps_the_subject_keys_under_the_new_primary_key(settings, victim):
    import io

    from django.core.management import call_command

    from privacy_kit.crypto import generate_key

    order = order_of(victim, "Victim Name")
    before = SubjectKey.objects.get(subject=str(victim.pk)).key_id
    old = settings.PRIVACY_KIT["ENCRYPTION_KEYS"]
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "ENCRYPTION_KEYS": [generate_key(), *old]}
    out = io.StringIO()
    call_command("rotate_keys", stdout=out)
    assert "subject keys: re-wrapped 1" in out.getvalue()
    assert SubjectKey.objects.get(subject=str(victim.pk)).key_id != before
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "ENCRYPTION_KEYS": settings.PRIVACY_KIT["ENCRYPTION_KEYS"][:1]}
    assert Order.objects.get(pk=order.pk).full_name == "Victim Name"  # opens without the old key


# -- what a reviewer found (each failed before its fix) -------------------------------------


def test_a_raw_query_never_takes_a_crafted_value_for_its_subject(victim, attacker):
    """raw() selects no subject: a value written as "<victim id>|<victim's ciphertext>" must not choose the key."""
    theirs, mine = order_of(victim, "Victim Name"), order_of(attacker, "Attacker Name")
    (stolen,) = columns(Order, theirs.pk, ["full_name"])
    write(Order, mine.pk, full_name=f"{victim.pk}|{stolen}")
    with pytest.raises(DecryptionError):
        Order.objects.get(pk=mine.pk)
    sql = "SELECT id, customer_id, full_name FROM testapp_order WHERE id = %s"
    with pytest.raises(DecryptionError):
        [order.full_name for order in Order.objects.raw(sql, [mine.pk])]
    with pytest.raises(DecryptionError):  # an honest raw() of a subject's value fails closed too
        [order.full_name for order in Order.objects.raw(sql, [theirs.pk])]


def test_a_partial_save_that_would_leave_values_under_another_subjects_key_is_refused(victim, attacker):
    order = order_of(victim, "Victim Name")
    order.customer = attacker
    with pytest.raises(ValueError, match="customer"):
        order.save(update_fields=["customer"])
    order.full_name = "New Name"
    with pytest.raises(ValueError, match="customer"):
        order.save(update_fields=["full_name"])
    order.save(update_fields=["customer", *ENCRYPTED])
    moved = Order.objects.get(pk=order.pk)
    assert moved.customer == attacker and moved.full_name == "New Name"
    moved.phone = "+966 55 999 0000"
    moved.save(update_fields=["phone"])  # the subject the database has: allowed
    assert Order.objects.get(pk=order.pk).phone == "+966 55 999 0000"


def test_multi_table_inheritance_seals_by_the_table_that_holds_the_value(victim):
    from privacy_kit.checks import check_registry
    from tests.testapp.models import PersonSecret, SealedOwned

    registry.register(PersonSecret, subject="owner", category="personal", personal_fields=["secret"])
    registry.register(SealedOwned, subject="owner", category="personal", personal_fields=["secret"])
    refused = {error.obj for error in check_registry() if error.id == "privacy_kit.E055"}
    assert refused == {PersonSecret, SealedOwned}
    # Nothing written is lost meanwhile: both read back what they wrote.
    secret = PersonSecret.objects.create(owner=victim, secret="child's")
    sealed = SealedOwned.objects.create(owner=victim, secret="parent's")
    assert PersonSecret.objects.get(pk=secret.pk).secret == "child's"
    assert SealedOwned.objects.get(pk=sealed.pk).secret == "parent's"


def test_a_union_and_a_subquery_of_subject_values_read_or_fail_closed(victim, attacker):
    from django.db.models import OuterRef, Subquery

    theirs, mine = order_of(victim, "Victim Name"), order_of(attacker, "Attacker Name")
    united = Order.objects.filter(pk=theirs.pk).union(Order.objects.filter(pk=mine.pk))
    assert sorted(order.full_name for order in united) == ["Attacker Name", "Victim Name"]
    latest = Order.objects.filter(customer=OuterRef("pk")).values("full_name")[:1]
    from django.contrib.auth import get_user_model

    with pytest.raises(DecryptionError, match="no subject"):
        list(get_user_model().objects.annotate(name=Subquery(latest)).values_list("name", flat=True))


def test_a_database_check_counts_shared_key_values_in_rows_with_a_subject_until_rotation(victim):
    from privacy_kit.checks import check_shared_values_of_subjects

    order = order_of(victim, "Victim Name")
    profile = Customer.objects.create(user=victim, name="Victim", email="victim@example.sa")
    assert check_shared_values_of_subjects(databases=["default"]) == []  # save() seals under the subject's key
    Order.objects.filter(pk=order.pk).update(full_name="Changed Name", phone="+966 55 111 2222")
    Customer.objects.filter(pk=profile.pk).update(email="changed@example.sa")  # a searchable column
    found = {warning.msg.split(" are ")[0] for warning in check_shared_values_of_subjects(databases=["default"])}
    assert found == {
        "1 values of testapp.Order.full_name",
        "1 values of testapp.Order.phone",
        "1 values of testapp.Customer.email",
    }
    assert check_shared_values_of_subjects() == []  # only with --database
    rotate_keys(["testapp.Order", "testapp.Customer"])
    assert check_shared_values_of_subjects(databases=["default"]) == []
    assert Customer.objects.get(email="changed@example.sa").pk == profile.pk


def test_moving_values_onto_subject_keys_stopped_after_a_batch_resumes_and_loses_nothing(django_user_model):
    users = [django_user_model.objects.create_user(f"rotated-{number}") for number in range(6)]
    orders = [order_of(users[number % 6], f"Name {number}") for number in range(30)]
    field = Order._meta.get_field("full_name")
    for order in orders:  # as the version before subject keys wrote them
        write(Order, order.pk, full_name=field.seal(order.full_name))

    def stop_after_the_first_batch(label, done, total):
        raise KeyboardInterrupt("the worker was stopped")

    with pytest.raises(KeyboardInterrupt):
        rotate_keys(["testapp.Order"], batch_size=10, progress=stop_after_the_first_batch)
    moved = [crypto.is_subject_envelope(columns(Order, order.pk, ["full_name"])[0]) for order in orders]
    assert 0 < sum(moved) < len(orders)  # the first batch committed, the rest not yet
    key_store.reset()
    assert [order.full_name for order in Order.objects.order_by("pk")] == [f"Name {n}" for n in range(30)]
    (report,) = [entry for entry in rotate_keys(["testapp.Order"], batch_size=10) if entry.field == "full_name"]
    assert report.resealed == len(orders) - sum(moved)
    assert all(crypto.is_subject_envelope(columns(Order, order.pk, ["full_name"])[0]) for order in orders)
    assert [order.full_name for order in Order.objects.order_by("pk")] == [f"Name {n}" for n in range(30)]

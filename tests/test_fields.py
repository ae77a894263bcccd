import datetime
import decimal
import json

import pytest
from django.core.exceptions import FieldError, ValidationError
from django.db import connection, models, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Cast, Concat, Upper
from django.test import override_settings
from django.test.utils import isolate_apps
from django.utils.module_loading import import_string
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from privacy_kit import crypto
from privacy_kit.crypto import DecryptionError
from privacy_kit.fields import (
    EncryptedCharField,
    EncryptedEmailField,
    EncryptedField,
    EncryptedIntegerField,
    encrypt,
    encrypted_class,
)
from tests.testapp.models import Contact, Member, Record, Supplier, Visit

pytestmark = pytest.mark.django_db
hypothesis_db = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=200)
ARABIC = "محمد بن عبدالله، حي الملز، الرياض"


def stored(record, column):
    """Return what the database holds in a column, bypassing the ORM."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM testapp_record WHERE id = %s", [record.pk])
        return cursor.fetchone()[0]


def write_stored(model, pk, column, value):
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {model._meta.db_table} SET {column} = %s WHERE id = %s", [value, pk])


SEALING = {"owner": None}


@pytest.fixture(params=["shared keys", "subject keys"])
def sealing(request, django_user_model):
    """Run a round trip under the shared keys, then with Record registered with a subject, under its key."""
    from privacy_kit import registry

    if request.param == "subject keys":
        registry.register(Record, subject="owner", category="personal")
        SEALING["owner"] = django_user_model.objects.create_user("record-owner")
    yield request.param
    SEALING["owner"] = None


def round_trip(**values):
    record = Record.objects.create(owner=SEALING["owner"], **values)
    if SEALING["owner"] is not None:
        envelope = [value for value in stored_envelopes(record) if value]
        assert all(crypto.is_subject_envelope(value.split(":")[-1]) for value in envelope), envelope
    return Record.objects.get(pk=record.pk)


def stored_envelopes(record):
    columns = [field.column for field in Record._meta.concrete_fields if isinstance(field, EncryptedField)]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM testapp_record WHERE id = %s", [record.pk])
        return cursor.fetchone()


# -- round trips -------------------------------------------------------------


@hypothesis_db
@given(value=text)
@example(value="")
@example(value=ARABIC)
@example(value="\x00 nul and emoji 🛒")
def test_text_round_trips(sealing, value):
    assert round_trip(text=value, char=value[:50]).text == value


@hypothesis_db
@given(value=st.emails() | st.just("Ahmed.Ali@Example.SA"))
def test_email_round_trips_with_its_case(sealing, value):
    assert round_trip(email=value).email == value


@hypothesis_db
@given(value=st.integers(min_value=-(2**63), max_value=2**63 - 1))
@example(value=0)
def test_integer_round_trips(sealing, value):
    assert round_trip(integer=value).integer == value


@hypothesis_db
@given(value=st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
@example(value=decimal.Decimal("0.00"))
@example(value=decimal.Decimal("1.10"))
def test_decimal_round_trips_exactly(sealing, value):
    loaded = round_trip(decimal=value).decimal
    assert loaded == value and str(loaded) == str(value)


@hypothesis_db
@given(value=st.dates())
def test_date_round_trips(sealing, value):
    assert round_trip(date=value).date == value


@hypothesis_db
@given(value=st.datetimes(timezones=st.timezones()))
def test_aware_datetime_round_trips_as_the_same_instant(sealing, value):
    loaded = round_trip(moment=value).moment
    # PEP 495: a time in a DST gap or fold never equals one in another zone,
    # so compare with the instant the plain field would store.
    assert loaded == value.astimezone(datetime.UTC)
    assert loaded.utcoffset() == datetime.timedelta(0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)


@hypothesis_db
@given(value=json_values.filter(lambda v: v is not None))
@example(value={})
@example(value=[])
@example(value="")
@example(value={"بحث": ["هاتف", 3, 1.5, True, None]})
def test_json_round_trips(sealing, value):
    assert round_trip(data=value).data == value


@pytest.mark.parametrize(
    "name, falsy",
    [("integer", 0), ("flag", False), ("char", ""), ("text", ""), ("data", {}), ("data", []), ("decimal", 0)],
)
def test_falsy_values_stay_distinct_from_null(name, falsy):
    record = round_trip(**{name: falsy})
    assert getattr(record, name) == falsy and getattr(record, name) is not None
    assert stored(record, name) is not None
    assert Record.objects.filter(**{f"{name}__isnull": True}, pk=record.pk).count() == 0


def test_empty_text_is_stored_empty_and_found_by_its_index():
    record = round_trip(char="", email="", code="")
    assert (record.char, record.email) == ("", "")
    assert stored(record, "char") == "" and stored(record, "email") == ""
    assert Record.objects.get(email="") == record and Record.objects.filter(code="").count() == 1


def test_none_stays_null_in_the_database():
    record = round_trip(char=None, integer=None, data=None)
    assert (record.char, record.integer, record.data) == (None, None, None)
    assert stored(record, "char") is None and stored(record, "email_blind_index") is None
    assert Record.objects.filter(char__isnull=True, pk=record.pk).exists()


def test_boolean_through_encrypt_round_trips():
    assert round_trip(flag=True).flag is True
    assert round_trip(flag=False).flag is False


# -- what the database sees ----------------------------------------------------


def test_database_holds_no_plaintext():
    values = {
        "char": "Layla Haddad",
        "text": ARABIC,
        "email": "layla@example.com",
        "integer": 424242,
        "decimal": decimal.Decimal("1234.56"),
        "date": datetime.date(1990, 5, 17),
        "data": {"street": "Olaya Street"},
        "code": "ZX-99",
    }
    record = Record.objects.create(**values)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM testapp_record WHERE id = %s", [record.pk])
        row = " ".join(str(cell) for cell in cursor.fetchone())
    for needle in ["Layla", "محمد", "layla@example", "424242", "1234.56", "1990-05-17", "Olaya", "ZX-99"]:
        assert needle not in row


def test_same_plaintext_gives_different_ciphertext():
    first, second = Record.objects.create(char="same"), Record.objects.create(char="same")
    assert stored(first, "char") != stored(second, "char")


def test_short_max_length_still_stores_its_ciphertext():
    record = round_trip(short="abcde")
    assert record.short == "abcde"
    assert len(stored(record, "short")) > 5


def test_column_type_is_text_whatever_the_plain_type():
    for name in ["short", "integer", "decimal", "date", "moment", "data", "flag"]:
        field = Record._meta.get_field(name)
        assert field.db_type(connection) == models.TextField().db_type(connection)


# -- validation on the plaintext ------------------------------------------------


def test_validation_runs_on_the_plaintext():
    record = Record(short="toolong", email="not an email", decimal=decimal.Decimal("1.234"))
    with pytest.raises(ValidationError) as caught:
        record.full_clean()
    assert set(caught.value.message_dict) == {"short", "email", "decimal"}


def test_valid_values_pass_full_clean():
    Record(short="abcde", email="a@example.com", decimal=decimal.Decimal("1.23"), integer=5).full_clean()


def test_integer_keeps_the_plain_columns_range():
    with pytest.raises(ValidationError):
        Record(integer=2**63).full_clean()


def test_forms_and_admin_see_the_plain_field():
    field = Record._meta.get_field("email")
    assert isinstance(field, models.EmailField)
    assert field.formfield().__class__.__name__ == "EmailField"
    assert Record._meta.get_field("date").formfield().__class__.__name__ == "DateField"


# -- fail closed ---------------------------------------------------------------


def test_tampered_value_raises_decryption_error_naming_model_field_and_key():
    record = Record.objects.create(char="Nora Al-Qahtani")
    raw = stored(record, "char")
    body = bytearray(crypto.binascii.a2b_base64(raw))
    body[-1] ^= 1
    write_stored(Record, record.pk, "char", crypto.binascii.b2a_base64(bytes(body), newline=False).decode())
    with pytest.raises(DecryptionError) as caught:
        Record.objects.get(pk=record.pk)
    message = str(caught.value)
    assert "testapp.record.char" in message and crypto.keyring().primary_id.hex() in message
    assert "Nora" not in message and raw not in message


@pytest.mark.parametrize("length", [1, 10, 21, 22, 23, 40, -1])
def test_truncated_stored_values_raise(length):
    record = Record.objects.create(email="truncate@example.com")
    write_stored(Record, record.pk, "email", stored(record, "email")[:length])
    with pytest.raises(DecryptionError):
        list(Record.objects.filter(pk=record.pk).values_list("email", flat=True))


def test_value_copied_to_another_column_does_not_decrypt():
    record = Record.objects.create(char="copy me", text="other")
    write_stored(Record, record.pk, "text", stored(record, "char"))
    with pytest.raises(DecryptionError, match=r"testapp\.record\.text"):
        Record.objects.get(pk=record.pk)


def test_value_copied_to_another_model_does_not_decrypt():
    record = Record.objects.create(email="moved@example.com")
    contact = Contact.objects.create(email="placeholder@example.com")
    write_stored(Contact, contact.pk, "email", stored(record, "email"))
    with pytest.raises(DecryptionError, match=r"testapp\.contact\.email"):
        Contact.objects.get(pk=contact.pk)


def test_value_copied_between_children_of_one_abstract_model_does_not_decrypt():
    member, supplier = Member.objects.create(name="Omar"), Supplier.objects.create(name="Other")
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM testapp_member WHERE id = %s", [member.pk])
        write_stored(Supplier, supplier.pk, "name", cursor.fetchone()[0])
    with pytest.raises(DecryptionError):
        Supplier.objects.get(pk=supplier.pk)


def test_tampered_blind_index_prefix_is_detected():
    record = Record.objects.create(email="prefix@example.com")
    raw = stored(record, "email")
    forged = ("A" if raw[0] != "A" else "B") + raw[1:]
    write_stored(Record, record.pk, "email", forged)
    with pytest.raises(DecryptionError):
        Record.objects.get(pk=record.pk)


def test_unknown_key_raises_instead_of_returning_garbage():
    record = Record.objects.create(char="under the old key")
    with override_settings(PRIVACY_KIT={"ENCRYPTION_KEYS": [crypto.generate_key()], "BLIND_INDEX_KEY": None}):
        with pytest.raises(DecryptionError, match="no configured key has this id"):
            Record.objects.get(pk=record.pk)


def test_plaintext_left_in_an_encrypted_column_raises():
    record = Record.objects.create(char="x")
    write_stored(Record, record.pk, "char", "plain text someone wrote directly")
    with pytest.raises(DecryptionError, match="not a privacy_kit envelope"):
        Record.objects.get(pk=record.pk)


def test_authentic_plaintext_of_the_wrong_type_raises():
    # Sealed for the right column but not an integer: never a silent wrong answer.
    record = Record.objects.create(integer=1)
    field = Record._meta.get_field("integer")
    write_stored(Record, record.pk, "integer", field.seal("not a number"))
    with pytest.raises(DecryptionError, match="does not fit"):
        Record.objects.get(pk=record.pk)


# -- lookups -----------------------------------------------------------------------


@pytest.fixture
def people():
    return [
        Record.objects.create(email="Sara@Example.com", integer=7, date=datetime.date(2020, 1, 1), code="A"),
        Record.objects.create(email="ali@example.com", integer=8, date=datetime.date(2021, 1, 1), code="B"),
        Record.objects.create(email=None, integer=None, code=None),
    ]


def test_exact_lookup_uses_the_blind_index(people):
    assert list(Record.objects.filter(email="sara@example.com")) == [people[0]]
    assert Record.objects.get(integer=8) == people[1]
    assert Record.objects.get(date=datetime.date(2020, 1, 1)) == people[0]
    assert Record.objects.get(code="B") == people[1]
    assert not Record.objects.filter(code="b").exists()


def test_email_lookup_ignores_case(people):
    assert Record.objects.get(email="SARA@EXAMPLE.COM") == people[0]


def test_query_compares_the_generated_column():
    sql = str(Record.objects.filter(email="x@example.com").query)
    assert "email_blind_index" in sql


def test_in_lookup(people):
    found = Record.objects.filter(email__in=["ali@example.com", "SARA@example.com", None, "nobody@example.com"])
    assert set(found) == {people[0], people[1]}
    assert not Record.objects.filter(integer__in=[]).exists()


def test_exclude_keeps_nulls_out_as_the_plain_field_would(people):
    assert set(Record.objects.exclude(email="ali@example.com")) == {people[0], people[2]}


def test_isnull_on_every_encrypted_field(people):
    assert list(Record.objects.filter(email__isnull=True)) == [people[2]]
    assert Record.objects.filter(email=None).get() == people[2]
    assert set(Record.objects.filter(char__isnull=True)) == set(people)


def test_lookup_combined_with_q(people):
    from django.db.models import Q

    assert set(Record.objects.filter(Q(email="ali@example.com") | Q(integer=7))) == {people[0], people[1]}


def test_lookup_through_a_relation():
    sara, ali = Contact.objects.create(email="sara@example.com"), Contact.objects.create(email="ali@example.com")
    visits = [Visit.objects.create(contact=sara), Visit.objects.create(contact=ali), Visit.objects.create(contact=None)]
    assert list(Visit.objects.filter(contact__email="SARA@example.com")) == [visits[0]]
    assert set(Visit.objects.exclude(contact__email="sara@example.com")) == {visits[1], visits[2]}
    assert list(Contact.objects.filter(visit__in=[visits[1]], email="ali@example.com")) == [ali]


def test_index_follows_update(people):
    Record.objects.filter(pk=people[0].pk).update(email="new@example.com", integer=70)
    assert Record.objects.get(email="new@example.com") == people[0]
    assert Record.objects.get(integer=70) == people[0]
    assert not Record.objects.filter(email="sara@example.com").exists()


def test_index_follows_bulk_update(people):
    people[0].email, people[1].email = "swap1@example.com", "swap2@example.com"
    Record.objects.bulk_update(people[:2], ["email"])
    assert Record.objects.get(email="swap1@example.com") == people[0]
    assert Record.objects.get(email="swap2@example.com") == people[1]
    assert not Record.objects.filter(email__in=["sara@example.com", "ali@example.com"]).exists()
    assert Record.objects.get(pk=people[0].pk).email == "swap1@example.com"


def test_index_follows_save_with_update_fields(people):
    people[1].email = "changed@example.com"
    people[1].save(update_fields=["email"])
    assert Record.objects.get(email="changed@example.com") == people[1]


def test_index_follows_bulk_create():
    Record.objects.bulk_create([Record(email=f"bulk{i}@example.com", integer=i) for i in range(20)])
    assert Record.objects.get(email="bulk7@example.com").integer == 7
    assert Record.objects.filter(integer__in=[1, 2, 3]).count() == 3


def test_update_with_falsy_and_none_values(people):
    Record.objects.filter(pk=people[0].pk).update(integer=0, email=None)
    record = Record.objects.get(integer=0)
    assert record == people[0] and record.email is None


def test_abstract_children_index_their_own_column():
    member, supplier = Member.objects.create(name="Huda"), Supplier.objects.create(name="Huda")
    assert Member.objects.get(name="Huda") == member and Supplier.objects.get(name="Huda") == supplier
    member_index = Member.objects.values_list("name_blind_index", flat=True).get()
    assert member_index != Supplier.objects.values_list("name_blind_index", flat=True).get()


@pytest.mark.parametrize(
    "lookup",
    [
        "email__contains",
        "email__icontains",
        "email__startswith",
        "email__iexact",
        "integer__gt",
        "integer__lte",
        "date__year",
        "date__range",
        "data__key",
        "char__regex",
        "email__lower",
    ],
)
def test_lookups_the_ciphertext_cannot_answer_raise(lookup, people):
    value = (1, 2) if lookup.endswith("range") else "x"
    with pytest.raises(FieldError, match="encrypted field"):
        list(Record.objects.filter(**{lookup: value}))


def test_exact_on_a_field_that_is_not_searchable_says_how_to_fix_it():
    with pytest.raises(FieldError, match="searchable=True"):
        list(Record.objects.filter(char="x"))
    with pytest.raises(FieldError, match="not searchable"):
        list(Record.objects.filter(text__in=["x"]))


def test_comparing_with_another_column_raises():
    from django.db.models import F

    with pytest.raises(FieldError, match="not against other columns"):
        list(Record.objects.filter(email=F("plain")))


# -- values(), values_list(), update() ---------------------------------------------


def test_values_and_values_list_decrypt(people):
    assert set(Record.objects.values_list("email", flat=True)) == {"Sara@Example.com", "ali@example.com", None}
    assert {row["integer"] for row in Record.objects.values("integer")} == {7, 8, None}


def test_update_encrypts():
    record = Record.objects.create(char="before")
    Record.objects.filter(pk=record.pk).update(char="after", data={"a": 1})
    assert stored(record, "char") != "after"
    record.refresh_from_db()
    assert (record.char, record.data) == ("after", {"a": 1})


def test_bulk_update_encrypts_every_type():
    records = Record.objects.bulk_create([Record(char=str(i)) for i in range(3)])
    for record in records:
        record.decimal = decimal.Decimal("9.99")
        record.moment = datetime.datetime(2024, 2, 29, 12, tzinfo=datetime.UTC)
        record.data = {"n": record.char}
    Record.objects.bulk_update(records, ["decimal", "moment", "data"])
    for record in Record.objects.all():
        assert record.decimal == decimal.Decimal("9.99")
        assert record.moment == datetime.datetime(2024, 2, 29, 12, tzinfo=datetime.UTC)
        assert record.data == {"n": record.char}


def test_json_field_stores_json_text_under_the_encryption():
    record = Record.objects.create(data={"k": "ق"})
    field = Record._meta.get_field("data")
    assert json.loads(field.open(stored(record, "data"))) == {"k": "ق"}


# -- encrypt(field) ----------------------------------------------------------------


def test_encrypt_wraps_a_plain_field_like_django_cryptography():
    field = encrypt(models.CharField(max_length=50))
    assert isinstance(field, EncryptedCharField) and field.max_length == 50


def test_encrypt_builds_importable_classes_for_other_builtin_fields():
    field = encrypt(models.BooleanField(null=True))
    _, path, _, _ = field.deconstruct()
    assert path == "privacy_kit.fields.EncryptedBooleanField"
    import privacy_kit.fields

    assert privacy_kit.fields.EncryptedBooleanField is type(field)
    assert isinstance(field, EncryptedField) and isinstance(field, models.BooleanField)


@pytest.mark.parametrize(
    "plain",
    [
        models.ForeignKey("auth.User", on_delete=models.CASCADE),
        models.FileField(),
        models.BinaryField(),
        models.BigAutoField(primary_key=True),
    ],
)
def test_encrypt_refuses_fields_it_cannot_encrypt(plain):
    with pytest.raises(TypeError, match="does not support"):
        encrypt(plain)


def test_encrypt_refuses_an_encrypted_field():
    with pytest.raises(TypeError):
        encrypted_class(EncryptedIntegerField)


def test_deconstruct_keeps_searchable():
    _, path, _, kwargs = EncryptedEmailField(searchable=True).deconstruct()
    assert path == "privacy_kit.fields.EncryptedEmailField" and kwargs["searchable"] is True


def test_encrypt_takes_a_django_field_class_and_its_options():
    cls = encrypt(models.IntegerField)
    assert cls is EncryptedIntegerField
    field = cls(null=True, help_text="age")
    assert field.null and field.help_text == "age"


@pytest.mark.parametrize("thing", [int, "IntegerField", 3])
def test_encrypt_refuses_what_is_not_a_model_field(thing):
    with pytest.raises(TypeError, match="takes a model field or a model field class"):
        encrypt(thing)


def test_encrypt_of_a_field_class_takes_searchable_on_the_class_not_on_encrypt():
    with pytest.raises(TypeError, match="pass searchable=True to the class"):
        encrypt(models.EmailField, searchable=True)
    assert encrypt(models.EmailField)(searchable=True).searchable


# A shop's own field classes, decorated as django-cryptography's users do (tests/peer_suite).
@encrypt
class ShoeSize(models.IntegerField):
    description = "Shoe size"


@encrypt
class Moment(models.DateTimeField):
    pass


class PlainShoeSize(models.IntegerField):
    pass


# encrypt() not as a decorator: the module's name PlainShoeSize is still the plain class.
EncryptedShoeSize = encrypt(PlainShoeSize)


def test_encrypt_decorates_a_field_class_of_its_own_which_migrations_name_by_its_module():
    assert issubclass(ShoeSize, EncryptedIntegerField) and ShoeSize.__mro__[0].__name__ == "ShoeSize"
    field = ShoeSize(null=True, help_text="EU")
    _, path, _, kwargs = field.deconstruct()
    assert path == "tests.test_fields.ShoeSize" and import_string(path) is ShoeSize
    assert kwargs == {"null": True, "help_text": "EU"}
    assert type(field.clone()) is ShoeSize
    assert str(field.description) == "Encrypted Shoe size"


def test_a_decorated_field_class_keeps_the_codec_of_the_django_field_it_extends():
    riyadh = datetime.datetime(2026, 3, 1, 15, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=3)))
    assert Moment().value_to_text(riyadh) == "2026-03-01T12:00:00+00:00"


@pytest.mark.django_db(transaction=True)
def test_a_decorated_field_class_of_its_own_stores_ciphertext_and_reads_its_value_back():
    with isolate_apps("tests.testapp"):

        class Foot(models.Model):
            size = ShoeSize()

            class Meta:
                app_label = "testapp"

    with connection.schema_editor() as editor:
        editor.create_model(Foot)
    try:
        foot = Foot.objects.create(size=44)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT size FROM {Foot._meta.db_table}")
            [(raw,)] = cursor.fetchall()
        # An envelope that opens to the value, not the value (whose digits base64 may hold by chance).
        assert raw != "44" and len(raw) > 40 and Foot._meta.get_field("size").open(raw) == "44"
        assert Foot.objects.get(pk=foot.pk).size == 44
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(Foot)


def test_encrypt_of_a_field_class_of_its_own_not_as_a_decorator_fails_where_a_migration_would_name_it():
    # A migration would name tests.test_fields.PlainShoeSize, the plain class, and store plaintext.
    with pytest.raises(TypeError, match=r"@encrypt"):
        EncryptedShoeSize().deconstruct()


def test_encrypt_refuses_a_field_class_built_on_field_itself_with_the_way_to_do_it():
    class Shoe(models.Field):
        pass

    with pytest.raises(TypeError, match=r"class EncryptedMyField\(EncryptedField, MyField\)"):
        encrypt(Shoe)


def test_encrypt_refuses_a_field_class_of_its_own_on_a_related_field():
    class Owner(models.ForeignKey):
        pass

    with pytest.raises(TypeError, match="does not support Owner"):
        encrypt(Owner)


def test_description_says_encrypted_with_the_plain_fields_placeholders():
    field = EncryptedCharField(max_length=30)
    assert str(field.description) % field.__dict__ == "Encrypted String (up to 30)"
    assert str(encrypt(models.BooleanField()).description).startswith("Encrypted Boolean")


# -- expressions written to an encrypted column ------------------------------------------


EXPRESSIONS = {
    "a value": lambda: Value("the secret"),
    "a function of a value": lambda: Upper(Value("the secret")),
    "a concatenation": lambda: Concat(Value("the "), Value("secret")),
    "another column": lambda: F("plain"),
    "a cast to the field": lambda: Cast(Value("the secret"), output_field=Record._meta.get_field("text")),
    "a case choosing a plain value": lambda: Case(
        When(pk__gt=0, then=Value("the secret")), output_field=Record._meta.get_field("text")
    ),
}


def written_in_clear(record):
    return "secret" in (stored(record, "text") or "").lower()


@pytest.mark.parametrize("expression", EXPRESSIONS.values(), ids=EXPRESSIONS.keys())
@pytest.mark.parametrize("how", ["create", "save", "update", "bulk_create"])
def test_an_expression_is_refused_rather_than_written_to_an_encrypted_column_in_clear(how, expression):
    # The database stores what an SQL expression computes as it is: assigned to an encrypted
    # field, it would put the plaintext (or another column's) in the encrypted column.
    record = Record.objects.create(text="before", plain="the secret")
    expected = r"testapp.Record.text is encrypted: the database would store what \w+ computes unencrypted"
    with pytest.raises(ValueError, match=expected), transaction.atomic():
        if how == "create":
            Record.objects.create(text=expression(), plain="the secret")
        elif how == "save":
            record.text = expression()
            record.save()
        elif how == "update":
            Record.objects.filter(pk=record.pk).update(text=expression())
        else:
            Record.objects.bulk_create([Record(text=expression(), plain="the secret")])
    assert Record.objects.count() == 1
    assert not written_in_clear(record)
    assert Record.objects.get(pk=record.pk).text == "before"


def test_what_bulk_update_writes_is_still_sealed_and_null_still_clears():
    # bulk_update() writes Case(When(pk=..., then=Value(value, output_field=field))), cast to the
    # field on PostgreSQL: values the field seals itself.
    records = Record.objects.bulk_create([Record(text=f"old {i}") for i in range(3)])
    for record, text in zip(records, ["new secret", None, ""], strict=True):
        record.text = text
    Record.objects.bulk_update(records, ["text"])
    assert [Record.objects.get(pk=record.pk).text for record in records] == ["new secret", None, ""]
    assert not written_in_clear(records[0])
    Record.objects.filter(pk=records[0].pk).update(text=Value(None))
    assert Record.objects.get(pk=records[0].pk).text is None
    # A value the field prepares itself is sealed when saved, as if assigned.
    record = Record.objects.create(text=Value("given secret", output_field=Record._meta.get_field("text")))
    assert Record.objects.get(pk=record.pk).text == "given secret" and not written_in_clear(record)

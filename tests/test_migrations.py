import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, models, transaction
from django.db.migrations import Migration
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
from django.db.migrations.state import ModelState, ProjectState
from django.test.utils import isolate_apps

from privacy_kit.fields import BlindIndexField, EncryptedCharField, EncryptedEmailField
from tests.testapp.models import Record


@pytest.mark.django_db
def test_no_migration_is_missing():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_blind_index_columns_exist_and_are_indexed():
    # (Django's SQLite introspection cannot describe generated columns, so
    # read the indexes, which name their columns.)
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "testapp_record")
    indexed = {column for c in constraints.values() if c["index"] for column in c["columns"]}
    assert {"email_blind_index", "integer_blind_index", "date_blind_index", "code_blind_index"} <= indexed
    assert not {"char_blind_index", "text_blind_index"} & indexed


def test_the_index_field_belongs_to_its_source_once():
    names = [f.name for f in Record._meta.get_fields()]
    assert names.count("email_blind_index") == 1
    assert Record._meta.get_field("email_blind_index").source == "email"


@isolate_apps("tests.testapp")
def test_a_searchable_field_added_to_a_model_already_built_gets_its_blind_index_too():
    class Book(models.Model):
        class Meta:
            app_label = "testapp"

    Book.add_to_class("isbn", EncryptedCharField(max_length=20, searchable=True, unique=True))
    index = Book._meta.get_field("isbn_blind_index")
    assert index.source == "isbn" and index.unique


def book_state(searchable):
    with isolate_apps("tests.testapp"):

        class Book(models.Model):
            title = EncryptedCharField(max_length=100, searchable=searchable)

            class Meta:
                app_label = "testapp"

        return ModelState.from_model(Book)


@pytest.mark.django_db(transaction=True)
def test_turning_searchable_on_is_a_migration_that_adds_the_index_column():
    before, after = ProjectState(), ProjectState()
    before.add_model(book_state(False))
    after.add_model(book_state(True))
    changes = MigrationAutodetector(before, after, NonInteractiveMigrationQuestioner())._detect_changes()
    operations = changes["testapp"][0].operations
    assert {(type(op).__name__, op.name) for op in operations} == {
        ("AddField", "title_blind_index"),
        ("AlterField", "title"),
    }

    migration = Migration("0002_searchable", "testapp")
    migration.operations = operations
    with connection.schema_editor() as editor:
        editor.create_model(before.apps.get_model("testapp", "book"))
    try:
        with connection.schema_editor() as editor:
            state = migration.apply(before.clone(), editor)
        Book = state.apps.get_model("testapp", "book")
        assert [f.name for f in Book._meta.local_fields].count("title_blind_index") == 1
        assert isinstance(Book._meta.get_field("title_blind_index"), BlindIndexField)
        book = Book.objects.create(title="Ibn Battuta")
        assert Book.objects.get(title="Ibn Battuta") == book
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(after.apps.get_model("testapp", "book"))


def subscriber_state(unique):
    with isolate_apps("tests.testapp"):

        class Reader(models.Model):
            email = EncryptedEmailField(searchable=True, unique=unique)

            class Meta:
                app_label = "testapp"

        return ModelState.from_model(Reader)


def unique_columns():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "testapp_reader")
    return {column for c in constraints.values() if c["unique"] and not c["primary_key"] for column in c["columns"]}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("unique", [True, False], ids=["turning unique on", "turning unique off"])
def test_unique_on_a_searchable_field_is_a_migration_of_the_unique_index_on_its_blind_index(unique):
    before, after = ProjectState(), ProjectState()
    before.add_model(subscriber_state(not unique))
    after.add_model(subscriber_state(unique))
    changes = MigrationAutodetector(before, after, NonInteractiveMigrationQuestioner())._detect_changes()
    operations = changes["testapp"][0].operations
    assert {(type(op).__name__, op.name, op.field.unique) for op in operations} == {
        ("AlterField", "email", unique),
        ("AlterField", "email_blind_index", unique),
    }

    migration = Migration("0002_unique", "testapp")
    migration.operations = operations
    with connection.schema_editor() as editor:
        editor.create_model(before.apps.get_model("testapp", "reader"))
    try:
        # The ciphertext column never gets a UNIQUE: equal values never have equal ciphertexts.
        assert unique_columns() == ({"email_blind_index"} if not unique else set())
        with connection.schema_editor() as editor:
            state = migration.apply(before.clone(), editor)
        assert unique_columns() == ({"email_blind_index"} if unique else set())
        Reader = state.apps.get_model("testapp", "reader")
        Reader.objects.create(email="amira@example.sa")
        if unique:
            with pytest.raises(IntegrityError), transaction.atomic():
                Reader.objects.create(email="Amira@example.sa")
        else:
            Reader.objects.create(email="Amira@example.sa")
            assert Reader.objects.filter(email="amira@example.sa").count() == 2
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(after.apps.get_model("testapp", "reader"))

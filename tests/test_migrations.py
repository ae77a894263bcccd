import pytest
from django.core.management import call_command
from django.db import connection, models
from django.db.migrations import Migration
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
from django.db.migrations.state import ModelState, ProjectState
from django.test.utils import isolate_apps

from privacy_kit.fields import BlindIndexField, EncryptedCharField
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

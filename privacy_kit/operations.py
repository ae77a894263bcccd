"""Migration operations: moving a column's values in from another library within ``migrate``."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import router
from django.db.migrations.operations.base import Operation

from . import peers


class ImportCiphertext(Operation):
    """Re-seal the values another library stored in these columns, as ``import_ciphertext`` does.

    Put it after the ``AlterField`` operations that switch the fields to privacy_kit's, in the
    same migration::

        operations = [
            migrations.AlterField("patient", "name", privacy_kit.fields.EncryptedCharField(max_length=100)),
            ImportCiphertext("patient", ["name"], source="django-cryptography"),
        ]

    It reads the model as it is now (its registration decides subject keys), so it belongs
    in the migration that makes the switch. A value that does not verify stops the migration
    with its row named; nothing is lost (inside a transaction, nothing is written either).
    It cannot be reversed: privacy_kit does not write the other library's format.
    """

    reversible = False
    reduces_to_sql = False

    def __init__(self, model_name: str, fields: list[str], *, source: str, batch_size: int | None = None) -> None:
        if source not in peers.SOURCES:
            raise ValueError(f"Unknown source {source!r}: choose one of {', '.join(peers.SOURCES)}.")
        self.model_name = model_name
        self.fields = list(fields)
        self.source = source
        self.batch_size = batch_size

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"model_name": self.model_name, "fields": self.fields, "source": self.source}
        if self.batch_size is not None:
            kwargs["batch_size"] = self.batch_size
        return self.__class__.__name__, [], kwargs

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        from .rotation import import_ciphertext

        using = schema_editor.connection.alias
        historical = to_state.apps.get_model(app_label, self.model_name)
        if not router.allow_migrate_model(using, historical) or not historical._base_manager.using(using).exists():
            return  # a new database: nothing was ever stored by the other library
        model = apps.get_model(app_label, self.model_name)
        reports = import_ciphertext(model, self.fields, source=self.source, batch_size=self.batch_size, using=using)
        if any(report.left.total for report in reports):
            lines = [line for report in reports for line in report.lines()]
            raise ValueError(
                "Some values were left as they are; nothing was lost. Add the key that wrote them "
                "(SECRET_KEY_FALLBACKS, CRYPTOGRAPHY_KEY, SALT_KEY) or fix the rows, and migrate again:\n"
                + "\n".join(lines)
            )

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        raise NotImplementedError("ImportCiphertext cannot be reversed.")

    def describe(self) -> str:
        return f"Import the {self.source} values of {self.model_name}.{', '.join(self.fields)}"

    @property
    def migration_name_fragment(self) -> str:
        return f"import_{self.model_name.lower()}"

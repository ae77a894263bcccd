"""A database router that keeps the subject keys in ``PRIVACY_KIT["KEY_DATABASE"]``."""

from __future__ import annotations

from typing import Any

from ..conf import app_settings

APP_LABEL = "privacy_kit"
MODEL_NAME = "subjectkey"


class KeyRouter:
    """Route ``SubjectKey`` to ``KEY_DATABASE``, and keep every other model out of a separate key database.

    Add ``"privacy_kit.keys.routers.KeyRouter"`` to ``DATABASE_ROUTERS``; then
    ``manage.py migrate --database <KEY_DATABASE>`` creates only the subject-key table
    there, and ``manage.py migrate`` leaves it out of the default database.
    """

    def _is_key(self, model: Any) -> bool:
        return model._meta.app_label == APP_LABEL and model._meta.model_name == MODEL_NAME

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return app_settings.KEY_DATABASE if self._is_key(model) else None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return app_settings.KEY_DATABASE if self._is_key(model) else None

    def allow_relation(self, first: Any, second: Any, **hints: Any) -> bool | None:
        # Subject keys hold no relation; let other routers (or Django's default) decide the rest.
        return False if self._is_key(first) or self._is_key(second) else None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        key_database = app_settings.KEY_DATABASE
        if app_label == APP_LABEL and model_name == MODEL_NAME:
            return db == key_database
        if db == key_database and key_database != "default":
            return False
        return None

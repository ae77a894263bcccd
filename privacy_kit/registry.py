"""The personal-data registry: where personal data lives, whose it is, and how long it is kept.

Each model is described once; retention, export, erasure and the inventory all
read this description::

    from privacy_kit import registry

    registry.register(
        Order,
        subject="customer",
        category="personal",
        personal_fields=["full_name", "phone", "address"],
        retention=registry.Retention(
            basis="relationship", date_field="created_at", after_days=730,
            action="anonymize", keep_fields=["total", "created_at"],
        ),
    )

Mistakes in a registration are reported by ``manage.py check`` (see
``registration_errors``), not at purge time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from .conf import app_settings

RELATIONSHIP = "relationship"
AGE = "age"
DELETE = "delete"
ANONYMIZE = "anonymize"
BASES = (RELATIONSHIP, AGE)
ACTIONS = (DELETE, ANONYMIZE)


@dataclass(frozen=True)
class Retention:
    """How long rows are kept and what happens to them then.

    ``basis="age"``: a row expires when its ``date_field`` is older than the period.
    ``basis="relationship"``: a subject's rows expire once the subject has been
    inactive for the period. ``after_days`` is a number of days or a key of
    ``PRIVACY_KIT["RETENTION"]``.
    """

    basis: str
    date_field: str
    after_days: int | str
    action: str = DELETE
    keep_fields: Iterable[str] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "keep_fields", tuple(self.keep_fields))

    @property
    def days(self) -> int:
        """Return the period in days, reading ``PRIVACY_KIT["RETENTION"]`` for a named period."""
        if isinstance(self.after_days, str):
            return int(app_settings.RETENTION[self.after_days])
        return int(self.after_days)


@dataclass(frozen=True)
class Registration:
    """One model's entry in the registry."""

    model: type[models.Model]
    subject: str | Callable[[models.Model], Any] | None
    category: str
    personal_fields: tuple[str, ...] = ()
    retention: Retention | None = None
    purposes: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        """The policy's name: the model's label, such as ``shop.Order``."""
        return self.model._meta.label

    @property
    def subject_path(self) -> str | None:
        """The ORM path from a row to its user, or None when the subject is a callable."""
        return self.subject if isinstance(self.subject, str) else None


class Registry:
    """The registrations of a project, one per model."""

    def __init__(self) -> None:
        self._registrations: dict[str, Registration] = {}
        # By model class: Options.label is computed on every read, and this runs for every value saved.
        self._subject_columns: dict[type[models.Model], models.Field | None] = {}
        self.version = 0  # changes with every registration: what caches of the registry compare

    def register(
        self,
        model: type[models.Model],
        *,
        subject: str | Callable[[models.Model], Any] | None,
        category: str,
        personal_fields: Iterable[str] = (),
        retention: Retention | None = None,
        purposes: Iterable[str] = (),
    ) -> Registration:
        """Describe a model's personal data; registering a model again replaces its entry.

        ``subject`` is required: a path of relations from a row to its user
        (``"customer"``, ``"order__customer"``), a callable that takes a row and returns
        its user or None, or None for rows that belong to no customer account (retention
        by age only; export and erasure leave them out).
        """
        registration = Registration(
            model=model,
            subject=subject,
            category=category,
            personal_fields=tuple(personal_fields),
            retention=retention,
            purposes=tuple(purposes),
        )
        self._registrations[registration.name] = registration
        self._subject_columns.clear()
        self.version += 1
        return registration

    def unregister(self, model: type[models.Model]) -> None:
        self._registrations.pop(model._meta.label, None)
        self._subject_columns.clear()
        self.version += 1

    def subject_column(self, model: type[models.Model]) -> models.Field | None:
        """Return the column of the model's own table that names each row's subject, or None.

        That is the primary key of the user model, or the foreign key to the user that
        the registration's subject path names when the path is that one relation. The
        encrypted values of rows with such a column are sealed under their subject's key.
        """
        try:
            return self._subject_columns[model]
        except KeyError:
            column = self._subject_columns[model] = self._find_subject_column(model)
            return column

    def _find_subject_column(self, model: type[models.Model]) -> models.Field | None:
        concrete = model._meta.concrete_model or model
        if concrete._meta.label == settings.AUTH_USER_MODEL:
            return concrete._meta.pk
        registration = self._registrations.get(model._meta.label) or self._registrations.get(concrete._meta.label)
        path = registration.subject_path if registration else None
        if not path or "__" in path:
            return None
        relation = _field(concrete, path)
        if (
            isinstance(relation, models.ForeignKey)
            and relation.model is concrete  # in the model's own table, not a parent's
            and relation.related_model is not None
            and relation.related_model._meta.label == settings.AUTH_USER_MODEL
            and relation.target_field.primary_key
        ):
            return relation
        return None

    def registrations(self) -> list[Registration]:
        return list(self._registrations.values())

    def get(self, name: str) -> Registration:
        """Return the registration of a model label; raise ``LookupError`` naming the known ones."""
        try:
            return self._registrations[name]
        except KeyError:
            known = ", ".join(sorted(self._registrations)) or "none"
            raise LookupError(f"No registration named {name!r}; registered: {known}.") from None


default_registry = Registry()
register = default_registry.register
unregister = default_registry.unregister
registrations = default_registry.registrations
subject_column = default_registry.subject_column
get = default_registry.get


def _field(model: type[models.Model], name: str) -> models.Field | None:
    try:
        return model._meta.get_field(name)  # type: ignore[return-value]
    except FieldDoesNotExist:
        return None


def _path_target(model: type[models.Model], path: str) -> type[models.Model] | None:
    """Return the model that an ORM path of relations ends at, or None if it breaks."""
    current = model
    for part in path.split("__"):
        relation = _field(current, part)
        if relation is None or not relation.is_relation or relation.related_model is None:
            return None
        current = relation.related_model  # type: ignore[assignment]
    return current


def registration_errors(registration: Registration) -> list[str]:
    """Return what is wrong with a registration, in sentences that say what to fix."""
    model, label = registration.model, registration.name
    errors = []
    if registration.subject_path is not None:
        target = _path_target(model, registration.subject_path)
        if target is None or target._meta.label != settings.AUTH_USER_MODEL:
            errors.append(
                f"{label}: subject {registration.subject_path!r} does not lead to {settings.AUTH_USER_MODEL}; "
                "give the path of relations from a row to its user, such as 'customer' or 'order__customer'."
            )
    elif registration.subject is not None and not callable(registration.subject):
        errors.append(f"{label}: subject must be a path of relations, a callable, or None.")
    for name in registration.personal_fields:
        if _field(model, name) is None:
            errors.append(f"{label}: personal field {name!r} does not exist.")
    retention = registration.retention
    if retention is None:
        return errors
    if retention.basis not in BASES:
        errors.append(f"{label}: retention basis {retention.basis!r} is not one of {', '.join(BASES)}.")
    if retention.action not in ACTIONS:
        errors.append(f"{label}: retention action {retention.action!r} is not one of {', '.join(ACTIONS)}.")
    date_field = _field(model, retention.date_field)
    if not isinstance(date_field, models.DateField):
        errors.append(f"{label}: retention date_field {retention.date_field!r} is not a date or datetime field.")
    for name in retention.keep_fields:
        if _field(model, name) is None:
            errors.append(f"{label}: keep_fields names {name!r}, which does not exist.")
    if retention.basis == RELATIONSHIP and registration.subject_path is None:
        errors.append(f"{label}: the relationship basis needs a subject path to the user.")
    if isinstance(retention.after_days, str) and retention.after_days not in app_settings.RETENTION:
        errors.append(
            f"{label}: after_days names {retention.after_days!r}, which PRIVACY_KIT['RETENTION'] does not define."
        )
    elif not isinstance(retention.after_days, str) and int(retention.after_days) < 0:
        errors.append(f"{label}: after_days must not be negative.")
    if retention.action == ANONYMIZE:
        for name in registration.personal_fields:
            personal = _field(model, name)
            if name not in retention.keep_fields and personal is not None and personal.primary_key:
                errors.append(f"{label}: the primary key {name!r} cannot be anonymized.")
    return errors

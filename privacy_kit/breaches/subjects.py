"""The subjects a breach concerns, found through the registry: their ids and counts, never their values.

A breach names the models whose rows were exposed (``affected_models``) and the
window of the rows' dates (``affected_from``, ``affected_until``); each model's
registration says which date that is (its retention's ``date_field``) and how a
row leads to its user (``subject``). The user model itself can be named too: the
accounts table is the one most often copied.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models

from .. import registry
from ..retention.purge import cutoff_date

if TYPE_CHECKING:
    from .models import Breach

# What the accounts table holds of a person, when the user model is among the affected models.
ACCOUNT_FIELDS = ("username", "email", "first_name", "last_name", "password")
ACCOUNT_CATEGORY = "account"


@dataclass(frozen=True)
class AffectedModel:
    """One model a breach exposed: how many of its rows, and how many subjects they belong to."""

    label: str
    verbose_name: str
    category: str | None
    personal_fields: tuple[str, ...]
    date_field: str | None
    records: int
    #: Distinct subjects of the rows; None when a callable names each row's user (not countable in SQL).
    subjects: int | None
    records_without_subject: int

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "personal_fields": list(self.personal_fields)}


@dataclass(frozen=True)
class SubjectsConcerned:
    """The subjects a breach concerns: per model, and the ids of the users to tell."""

    models: tuple[AffectedModel, ...] = ()
    subject_ids: tuple[Any, ...] = field(default=())
    #: The labels the breach names that no breach can name now (a model unregistered since): not counted.
    unknown: tuple[str, ...] = ()

    @property
    def records(self) -> int:
        return sum(model.records for model in self.models)

    @property
    def subjects(self) -> int:
        return len(self.subject_ids)

    @property
    def unlisted(self) -> tuple[str, ...]:
        """Return the labels of the models whose subjects the registry cannot list (a callable subject)."""
        return tuple(model.label for model in self.models if model.subjects is None)


def affectable_models() -> list[tuple[str, str]]:
    """Return (label, verbose name) of every model a breach can name: the registered ones and the user model."""
    user_model = get_user_model()
    choices = {entry.name: str(entry.model._meta.verbose_name) for entry in registry.registrations()}
    choices.setdefault(user_model._meta.label, str(user_model._meta.verbose_name))
    return sorted(choices.items())


def unknown_models(labels: Iterable[Any]) -> list[str]:
    """Return the labels among ``labels`` that no breach can name (neither registered nor the user model)."""
    known = {label for label, _name in affectable_models()}
    return [str(label) for label in labels if label not in known]


def _window(rows: models.QuerySet, date_field: models.Field | None, start: Any, end: Any) -> models.QuerySet:
    if date_field is None:
        return rows  # no date to compare: every row counts
    bounds: dict[str, Any] = {}
    for lookup, moment in (("gte", start), ("lte", end)):
        if moment is None:
            continue
        if not isinstance(date_field, models.DateTimeField):
            moment = cutoff_date(moment) if isinstance(moment, datetime.datetime) else moment
        bounds[f"{date_field.name}__{lookup}"] = moment
    return rows.filter(**bounds)


def _json_key(pk: Any) -> Any:
    return pk if isinstance(pk, int) else str(pk)


def subjects_concerned(breach: Breach) -> SubjectsConcerned:
    """Return the rows and subjects of the breach's affected models within its window, as counts and user ids.

    A model is counted once per row whose date (its registration's retention
    ``date_field``, the user model's ``date_joined``) falls in the window; without
    a date field every row counts. Nothing is decrypted or returned but ids.
    """
    user_model = get_user_model()
    affected: list[AffectedModel] = []
    subject_ids: set[Any] = set()
    unknown = unknown_models(breach.affected_models)
    for label in breach.affected_models:
        if label in unknown:
            continue
        path: str | None
        callable_subject = False
        if label in (settings.AUTH_USER_MODEL, user_model._meta.label):
            model: type[models.Model] = user_model
            names = {f.name for f in model._meta.concrete_fields}
            date_name: str | None = "date_joined" if "date_joined" in names else None
            path, category = "pk", ACCOUNT_CATEGORY
            personal = tuple(name for name in ACCOUNT_FIELDS if name in names)
        else:
            registration = registry.get(label)
            model, path, category = registration.model, registration.subject_path, registration.category
            callable_subject = registration.subject is not None and path is None
            date_name = registration.retention.date_field if registration.retention else None
            personal = registration.personal_fields
        date_field = model._meta.get_field(date_name) if date_name else None
        rows = _window(model._base_manager.order_by(), date_field, breach.affected_from, breach.affected_until)  # type: ignore[arg-type]
        records = rows.count()
        subjects: int | None
        if path is None:
            # A callable subject cannot be followed in SQL; rows of no account belong to nobody to tell.
            subjects, without = (None, 0) if callable_subject else (0, records)
        else:
            with_subject = rows.exclude(**{f"{path}__isnull": True})
            ids = {_json_key(pk) for pk in with_subject.values_list(path, flat=True).distinct()}
            subject_ids |= ids
            subjects = len(ids)
            without = 0 if path == "pk" else records - with_subject.count()
        affected.append(
            AffectedModel(
                label=model._meta.label,
                verbose_name=str(model._meta.verbose_name),
                category=category,
                personal_fields=tuple(personal),
                date_field=date_name,
                records=records,
                subjects=subjects,
                records_without_subject=without,
            )
        )
    ordered = tuple(sorted(subject_ids, key=lambda pk: (not isinstance(pk, int), pk)))
    return SubjectsConcerned(models=tuple(affected), subject_ids=ordered, unknown=tuple(unknown))

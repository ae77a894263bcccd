"""Corrections: the fields a shop marks ``correctable`` in the registry, corrected by their subject or by staff.

A correction goes through a ModelForm over exactly the correctable fields of
the row's model, so it is validated as the model's own forms validate it. It is
recorded as a ``SecurityEvent`` of kind ``correction`` that names the model, the
row and the fields changed, never a value.
"""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.forms.models import modelform_factory
from django.http import HttpRequest
from django.utils.translation import gettext as _

from .. import registry
from ..crypto import DecryptionError
from ..models import SecurityEvent
from ..security.events import record_security_event

logger = logging.getLogger(__name__)

#: Posted next to the fields of a correction form: which row, and the password that confirms it.
FORM_KEYS = ("csrfmiddlewaretoken", "password", "model", "row")


class CorrectionRefused(ValueError):
    """A correction was refused: a row that is not the subject's, a field not correctable, an invalid value.

    ``errors`` maps each field to its messages (as a form gives them); ``foreign``
    says the row belongs to another subject. Nothing was changed.
    """

    def __init__(self, message: str, *, errors: dict[str, list[str]] | None = None, foreign: bool = False) -> None:
        super().__init__(message)
        self.errors = errors or {}
        self.foreign = foreign


def correctable_registrations() -> list[registry.Registration]:
    """Return the registrations with correctable fields and a subject path, by name."""
    return sorted(
        (entry for entry in registry.registrations() if entry.correctable and entry.subject_path),
        key=lambda entry: entry.name,
    )


def form_class(registration: registry.Registration) -> type[forms.ModelForm]:
    """Return the ModelForm over exactly the correctable fields of a registration's model."""
    return modelform_factory(registration.model, fields=list(registration.correctable))


def correction_form(obj: models.Model, data: Any = None, **kwargs: Any) -> forms.ModelForm:
    """Return the correction form of a registered row, bound to ``data`` when given."""
    registration = _registration(obj._meta.label)
    return form_class(registration)(data, instance=obj, **kwargs)


def _registration(label: str) -> registry.Registration:
    try:
        registration = registry.get(label)
    except LookupError:
        raise CorrectionRefused(_("There is nothing to correct there.")) from None
    if not registration.correctable or not registration.subject_path:
        raise CorrectionRefused(_("There is nothing to correct there."))
    return registration


def correctable_rows(subject: Any, *, limit: int = 20) -> list[tuple[registry.Registration, list[models.Model]]]:
    """Return, per registration with correctable fields, the subject's latest rows (at most ``limit`` each)."""
    found = []
    for registration in correctable_registrations():
        rows = registration.model._base_manager.filter(**{str(registration.subject_path): subject.pk})
        try:
            latest = list(rows.order_by("-pk")[:limit])
        except DecryptionError as error:
            # One value that no longer opens keeps that model's entries off the page, not the page itself.
            logger.error("The correctable entries of user #%s could not be read: %s", subject.pk, error)
            continue
        if latest:
            found.append((registration, latest))
    return found


def subject_row(subject: Any, label: str, pk: Any, *, lock: bool = False) -> models.Model:
    """Return the row ``pk`` of the registered model ``label`` if it is the subject's; else raise ``CorrectionRefused``.

    A row of another subject, and a row that does not exist, are refused alike
    (``foreign``): whether someone else's row exists is not told. ``lock`` reads it
    under a row lock, inside the caller's transaction.
    """
    registration = _registration(str(label))
    model = registration.model
    try:
        key = model._meta.pk.to_python(pk)  # type: ignore[union-attr]
    except (ValidationError, TypeError, ValueError):
        key = None
    row = None
    if key is not None:
        if lock:
            # The row alone (not the rows of its subject path), then read again after the lock.
            list(model._base_manager.select_for_update().filter(pk=key).values_list("pk"))
        row = model._base_manager.filter(pk=key, **{str(registration.subject_path): subject.pk}).first()
    if row is None:
        raise CorrectionRefused(_("That entry is not one of yours."), foreign=True)
    return row


def correct(
    obj: models.Model, data: Any, *, subject: Any, by: Any = None, request: HttpRequest | None = None
) -> list[str]:
    """Apply ``data`` to the correctable fields of the subject's row ``obj``; return the names of the fields changed.

    ``data`` holds every correctable field of the model (as its form posts them)
    and nothing else. Raise ``CorrectionRefused`` for a row that is not the
    subject's, a field that is not correctable, or a value the form refuses; then
    nothing is changed.
    """
    registration = _registration(obj._meta.label)
    with transaction.atomic(using=router.db_for_write(obj._meta.model)):
        # The row is the subject's, read from the database under a lock that an erasure's batch waits for.
        subject_row(subject, obj._meta.label, obj.pk, lock=True)
        _refuse_if_erased(subject)
        return _apply(registration, obj, data, subject=subject, by=by, request=request)


def _refuse_if_erased(subject: Any) -> None:
    """Refuse a correction of a subject whose erasure is recorded: it would write their data back."""
    from ..models import ErasureRecord
    from ..rights.erasure import subject_reference

    if ErasureRecord.objects.filter(subject_ref=subject_reference(subject.pk)).exists():
        raise CorrectionRefused(
            _("This account is erased or being erased: its data cannot be corrected. Nothing was changed.")
        )


def _apply(
    registration: registry.Registration, obj: models.Model, data: Any, *, subject: Any, by: Any, request: Any
) -> list[str]:
    allowed = set(registration.correctable)
    unknown = sorted(str(name)[:50] for name in data if name not in allowed)
    if unknown:
        message = _("Not a field that can be corrected: %(names)s. Nothing was changed.") % {
            "names": ", ".join(unknown)
        }
        raise CorrectionRefused(message, errors={name: [message] for name in unknown})
    form = correction_form(obj, data)
    if not form.is_valid():
        errors = {name: [str(message) for message in messages] for name, messages in form.errors.items()}
        raise CorrectionRefused(_("The correction is not valid. Nothing was changed."), errors=errors)
    changed = [name for name in registration.correctable if name in form.changed_data]
    if changed:
        form.save(commit=False)
        # A field kept up to date on every save (auto_now) records the correction too.
        touched = [f.name for f in obj._meta.concrete_fields if getattr(f, "auto_now", False)]
        obj.save(update_fields=[*changed, *touched])
        who = "" if getattr(by, "pk", by) in (None, subject.pk) else f" by staff #{getattr(by, 'pk', by)}"
        detail = f"{obj._meta.label} #{obj.pk}: {', '.join(changed)}{who}"
        record_security_event(SecurityEvent.Kind.CORRECTION, user=subject, request=request, detail=detail)
    return changed

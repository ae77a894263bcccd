"""Erasure: delete or anonymize every row of a subject, as the registry says, and keep a ledger of it.

An ``ErasureRecord`` is written before anything is destroyed and completed
after, so an interrupted erasure is visible and is finished by running it
again. Each model's rows go in primary-key batches, one short transaction each.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX, make_password
from django.core.exceptions import ImproperlyConfigured
from django.db import models, router, transaction
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from .. import crypto, registry
from ..batches import delete_rows, key_pages, primary_key_batches
from ..conf import app_settings
from ..consent import _record, consent_state
from ..consent.subjects import Subject
from ..models import ConsentRecord, LegalHold, SecurityEvent
from ..retention.purge import anonymized_fields, anonymous_value, not_yet_anonymous, policy_lock
from ..security.events import record_subject_event
from .models import ErasureRecord

SUBJECT_BINDING = crypto.Binding("privacy_kit.erasurerecord", "subject_ref")
# The login attempts django-axes keeps by username and IP address.
AXES_LOGS = ("axes.AccessAttempt", "axes.AccessLog", "axes.AccessFailureLog")
DELETED = "deleted"
ANONYMIZED = "anonymized"


class ErasureRefused(Exception):
    """The subject cannot be erased now: a legal hold is active. Nothing was changed."""

    def __init__(self, message: str, *, hold: LegalHold) -> None:
        super().__init__(message)
        self.hold = hold


def subject_reference(pk: Any) -> str:
    """Return the keyed hash that names a subject in the erasure ledger without identifying them."""
    return crypto.keyring().blind_index(SUBJECT_BINDING, str(pk))


def _check_registry() -> None:
    problems = [problem for entry in registry.registrations() for problem in registry.registration_errors(entry)]
    if problems:
        raise ImproperlyConfigured(
            "Erasure refused: the personal-data registry has errors (see manage.py check): " + " ".join(problems)
        )


def _refuse_if_held(user: Any) -> None:
    hold = LegalHold.objects.active().filter(subject_id=user.pk).order_by("placed_at").first()
    if hold is not None:
        placed = formats.date_format(timezone.localtime(hold.placed_at), "DATE_FORMAT")
        raise ErasureRefused(
            _("A legal hold placed on %(date)s keeps this account's data until it is released. Nothing was erased.")
            % {"date": placed},
            hold=hold,
        )


def erase_subject(user: Any, *, reason: str, requested_by: Any = None, source: str = "api") -> ErasureRecord:
    """Delete or anonymize every row of ``user`` per the registry, withdraw their consents, close the account.

    Raise ``ErasureRefused`` while a legal hold is active and ``ImproperlyConfigured``
    while the registry has errors, in both cases before anything changes. Running
    it again finishes an interrupted erasure and otherwise changes nothing.
    """
    _check_registry()
    _refuse_if_held(user)
    reference = subject_reference(user.pk)
    using = router.db_for_write(ErasureRecord)
    with policy_lock("erase_subject", reference, using) as acquired:
        record = ErasureRecord.objects.filter(subject_ref=reference).order_by("-requested_at", "-pk").first()
        if not acquired:
            # Another worker is erasing this subject right now and will complete its record.
            return record or ErasureRecord(subject_ref=reference, reason=reason[:200], source=source)
        if record is None:
            record = ErasureRecord.objects.create(
                subject_ref=reference,
                reason=reason[:200],
                source=source,
                requested_by_id=getattr(requested_by, "pk", requested_by),
            )
        # Counted as the steps commit, written once with the completion: an erasure
        # interrupted and run again records what its last run did.
        changed = False
        for label, action, number in apply_erasure(user):
            if number:
                record.add_counts({label: {action: number}})
                changed = True
        if record.status != ErasureRecord.Status.DONE:
            record.status = ErasureRecord.Status.DONE
            record.completed_at = timezone.now()
            record.save(update_fields=["counts", "status", "completed_at"])
        elif changed:
            record.save(update_fields=["counts"])
    return record


def apply_erasure(user: Any) -> Iterator[tuple[str, str, int]]:
    """Erase the subject's rows and yield (model label, action, rows) as each step commits."""
    size = app_settings.PURGE_BATCH_SIZE
    for registration in registry.registrations():
        if registration.subject_path:
            yield from _erase_registered(registration, user, size)
    yield from _erase_consents(user)
    yield from _erase_login_attempts(user)
    yield _close_account(user)


def _erase_registered(registration: registry.Registration, user: Any, size: int) -> Iterator[tuple[str, str, int]]:
    model, path = registration.model, str(registration.subject_path)
    rows = model._base_manager.filter(**{path: user.pk})
    using = router.db_for_write(model)
    retention = registration.retention
    if retention is not None and retention.action == registry.ANONYMIZE:
        fields = anonymized_fields(registration)
        values = {field.name: anonymous_value(field) for field in fields}
        due = not_yet_anonymous(rows, fields)
        for batch in primary_key_batches(due, size):
            with transaction.atomic(using=using):
                number = model._base_manager.filter(pk__in=due.filter(batch).values("pk")).update(**values)
            yield model._meta.label, ANONYMIZED, number
        return
    if retention is None and not registration.personal_fields:
        # Rows that hold nothing personal (an order's lines) stay; what tied them to the person goes with its own row.
        return
    # Rows registered as personal without a retention policy go.
    for batch in primary_key_batches(rows, size):
        with transaction.atomic(using=using):
            deleted = delete_rows(rows.filter(batch))
        for label, number in deleted.items():
            yield label, DELETED, number


def _erase_consents(user: Any) -> Iterator[tuple[str, str, int]]:
    """Withdraw every purpose the subject granted, then cut the ledger rows loose from them."""
    state = consent_state(Subject(user_id=user.pk))
    granted = sorted(slug for slug, entry in state.items() if entry.requires_consent and entry.granted)
    if granted:
        _record(user, granted, ConsentRecord.Action.WITHDRAW, str(ConsentRecord.Source.ERASURE), None)
    number = ConsentRecord.objects.filter(user_id=user.pk).anonymize(user=None, visitor=None, ip_hash="", user_agent="")
    yield ConsentRecord._meta.label, ANONYMIZED, number


def _erase_login_attempts(user: Any) -> Iterator[tuple[str, str, int]]:
    """Delete what django-axes logged under the subject's username (it keeps usernames and IP addresses)."""
    if not apps.is_installed("axes"):
        return
    username = user.get_username()
    for label in AXES_LOGS:
        model = apps.get_model(label)
        number, _per_model = model._default_manager.filter(username=username).delete()
        yield label, DELETED, number


def _close_account(user: Any) -> tuple[str, str, int]:
    """Deactivate the account and overwrite its names, email and username; return 1 if anything changed."""
    user_model = get_user_model()
    meta = user_model._meta
    names = {f.name for f in meta.concrete_fields}
    username_field = meta.get_field(user_model.USERNAME_FIELD)
    placeholder = f"erased-{user.pk}"
    wanted: dict[str, Any] = {
        user_model.USERNAME_FIELD: f"{placeholder}@erased.invalid"
        if isinstance(username_field, models.EmailField)
        else placeholder
    }
    for name in ("first_name", "last_name", "email"):
        if name in names and name not in wanted:
            wanted[name] = anonymous_value(meta.get_field(name))  # type: ignore[arg-type]
    if "is_active" in names:
        wanted["is_active"] = False
    current = user_model._base_manager.filter(pk=user.pk).values(*wanted, *({"password"} & names)).first() or {}
    changes = {name: value for name, value in wanted.items() if current.get(name) != value}
    if "password" in names and not str(current.get("password", "")).startswith(UNUSABLE_PASSWORD_PREFIX):
        changes["password"] = make_password(None)
    if changes:
        user_model._base_manager.filter(pk=user.pk).update(**changes)
    return meta.label, ANONYMIZED, int(bool(changes))


def queue_erasure(request: HttpRequest, subject: Any, *, reason: str, source: str) -> None:
    """Close the subject's account now and queue ``privacy_kit.erase_subject``; record the erasure as a security event.

    Raise ``ErasureRefused`` (its message is for the person asking) while a legal
    hold is active, before anything changes.
    """
    from ..tasks import erase_subject as erase_subject_task

    _check_registry()
    _refuse_if_held(subject)
    record_subject_event(SecurityEvent.Kind.ERASURE, request, subject)
    user_model = get_user_model()
    if any(f.name == "is_active" for f in user_model._meta.concrete_fields):
        user_model._base_manager.filter(pk=subject.pk).update(is_active=False)
    own = getattr(request.user, "pk", None) == subject.pk
    requested_by = None if own else getattr(request.user, "pk", None)
    transaction.on_commit(
        partial(erase_subject_task.delay, subject.pk, reason=reason, source=source, requested_by_id=requested_by)
    )


@dataclass
class ReplayResult:
    """What ``replay_erasures`` did: subjects erased again, and those a legal hold kept."""

    replayed: int = 0
    held: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def replay_erasures() -> ReplayResult:
    """Erase again every subject of a completed ``ErasureRecord``: after a restore, the erased stay erased.

    Subjects are found by the keyed hash of their primary key, reading the users
    table once in key order.
    """
    _check_registry()
    result = ReplayResult()
    erased = set(ErasureRecord.objects.filter(status=ErasureRecord.Status.DONE).values_list("subject_ref", flat=True))
    if not erased:
        return result
    user_model = get_user_model()
    keys = (pk for page in key_pages(user_model._base_manager.values_list("pk"), 5000) for (pk,) in page)
    for pk in keys:
        if subject_reference(pk) not in erased:
            continue
        user = user_model._base_manager.get(pk=pk)
        if LegalHold.objects.active().filter(subject_id=pk).exists():
            result.held += 1
            continue
        result.replayed += 1
        for label, action, number in apply_erasure(user):
            if number:
                entry = result.counts.setdefault(label, {})
                entry[action] = entry.get(action, 0) + number
    return result

"""Erasure: delete or anonymize every row of a subject, as the registry says, and keep a ledger of it.

An ``ErasureRecord`` is written before anything is destroyed and completed
after, so an interrupted erasure is visible and is finished by running it
again. Each model's rows go in primary-key batches, one short transaction each.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX, make_password
from django.core.exceptions import ImproperlyConfigured
from django.db import models, router, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from .. import crypto, keys, registry
from ..batches import delete_rows, key_pages, primary_key_batches
from ..conf import app_settings
from ..consent import IP_BINDING, _record, consent_state
from ..consent.subjects import Subject
from ..keys import subject_id
from ..models import ConsentRecord, LegalHold, SecurityEvent
from ..retention.purge import anonymized_fields, anonymous_value, lock_holds, not_yet_anonymous, policy_lock
from ..security.events import record_subject_event
from .models import ErasureRecord

SUBJECT_BINDING = crypto.Binding("privacy_kit.erasurerecord", "subject_ref")
# The login attempts django-axes keeps by username and IP address.
AXES_LOGS = ("axes.AccessAttempt", "axes.AccessLog", "axes.AccessFailureLog")
DELETED = "deleted"
# A request younger than this is left to the task queued with it.
RESUME_AFTER = datetime.timedelta(minutes=15)
logger = logging.getLogger(__name__)
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


@contextmanager
def _erasure_batch(user: Any, using: str) -> Iterator[None]:
    """Run one erasure step in a transaction that no hold can slip past; raise ``ErasureRefused`` if one is active.

    The holds are read again after taking their lock (shared with the other
    batches, exclusive for placing a hold), so a hold committed while an erasure
    runs stops it at its next batch, and one placed during a batch waits for it.
    """
    with transaction.atomic(using=using):
        lock_holds(using, exclusive=False)
        _refuse_if_held(user)
        yield


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
                subject_key=str(user.pk),
            )
        # Counted as the steps commit, written once with the completion: an erasure
        # interrupted and run again records what its last run did.
        changed = False
        for label, action, number in apply_erasure(user):
            if number:
                record.add_counts({label: {action: number}})
                changed = True
        if record.status != ErasureRecord.Status.DONE:
            # Last, once every row is handled: a copy of the subject's values that survives
            # anywhere (a backup, a replica, a dump) no longer opens.
            record.key_destroyed_at = keys.destroy(subject_id(user.pk))
            record.status = ErasureRecord.Status.DONE
            record.completed_at = timezone.now()
            record.subject_key = ""
            record.save(update_fields=["counts", "status", "completed_at", "subject_key", "key_destroyed_at"])
        elif changed:
            record.save(update_fields=["counts"])
    return record


def apply_erasure(user: Any) -> Iterator[tuple[str, str, int]]:
    """Erase the subject's rows and yield (model label, action, rows) as each step commits."""
    size = app_settings.PURGE_BATCH_SIZE
    for registration in registry.registrations():
        if registration.subject_path:
            yield from _erase_registered(registration, user, size)
    using = router.db_for_write(ErasureRecord)
    # Each last step is one transaction of its own, stopped like a batch by a hold.
    # Security events first: they find the subject's addresses by the consent records' hashes.
    steps = (_erase_security_events, _erase_consents, _erase_admin_log, _erase_login_attempts)
    for step in (*steps, lambda user: [_close_account(user)]):
        with _erasure_batch(user, using):
            done = list(step(user))
        yield from done


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
            with _erasure_batch(user, using):
                number = model._base_manager.filter(pk__in=due.filter(batch).values("pk")).update(**values)
            yield model._meta.label, ANONYMIZED, number
        return
    if retention is None and not registration.personal_fields:
        # Rows that hold nothing personal (an order's lines) stay; what tied them to the person goes with its own row.
        return
    # Rows registered as personal without a retention policy go.
    for batch in primary_key_batches(rows, size):
        with _erasure_batch(user, using):
            deleted = delete_rows(rows.filter(batch))
        for label, number in deleted.items():
            yield label, DELETED, number


def _erase_consents(user: Any) -> Iterator[tuple[str, str, int]]:
    """Withdraw every purpose the subject granted, then cut the ledger rows loose from them."""
    state = consent_state(Subject(user_id=user.pk))
    granted = sorted(slug for slug, entry in state.items() if entry.requires_consent and entry.granted)
    if granted:
        _record(user, granted, ConsentRecord.Action.WITHDRAW, str(ConsentRecord.Source.ERASURE), None)
    # The visitor cookies the subject used before logging in: their rows carry the same address and browser.
    visitors = set(
        ConsentRecord.objects.filter(user_id=user.pk).exclude(visitor=None).values_list("visitor", flat=True)
    )
    cleared = {"user": None, "visitor": None, "ip_hash": "", "user_agent": ""}
    number = ConsentRecord.objects.filter(user_id=user.pk).anonymize(**cleared)
    if visitors:
        number += ConsentRecord.objects.filter(visitor__in=visitors, user__isnull=True).anonymize(**cleared)
    yield ConsentRecord._meta.label, ANONYMIZED, number


def _erase_security_events(user: Any) -> Iterator[tuple[str, str, int]]:
    """Clear the address of the subject's security events; the events stay, tied to the closed account.

    The events of no known user from the subject's addresses go blank too (a failed
    login under a differently cased username is the subject's as well): the addresses
    of their own events, and those whose keyed hash their consent records hold.
    """
    own = SecurityEvent.objects.filter(user_id=user.pk, ip__isnull=False)
    addresses = set(own.values_list("ip", flat=True))
    hashes = set(ConsentRecord.objects.filter(user_id=user.pk).exclude(ip_hash="").values_list("ip_hash", flat=True))
    if hashes:
        keyring = crypto.keyring()
        unknown = SecurityEvent.objects.filter(user__isnull=True, ip__isnull=False).values_list("ip", flat=True)
        addresses |= {ip for ip in unknown.distinct() if keyring.blind_index(IP_BINDING, ip) in hashes}
    number = own.anonymize(ip=None)
    if addresses:
        number += SecurityEvent.objects.filter(user__isnull=True, ip__in=addresses).anonymize(ip=None)
    yield SecurityEvent._meta.label, ANONYMIZED, number


def _erase_admin_log(user: Any) -> Iterator[tuple[str, str, int]]:
    """Replace the name under which the admin's log shows the subject's account (it is the username)."""
    if not apps.is_installed("django.contrib.admin"):
        return
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(get_user_model(), for_concrete_model=False),
        object_id=str(user.pk),
    ).exclude(object_repr=f"erased-{user.pk}")
    yield LogEntry._meta.label, ANONYMIZED, entries.update(object_repr=f"erased-{user.pk}")


def _erase_login_attempts(user: Any) -> Iterator[tuple[str, str, int]]:
    """Delete what django-axes logged under the subject's username (it keeps usernames and IP addresses)."""
    if not apps.is_installed("axes"):
        return
    # axes stores the username as typed: any case of it, or the email used to log in.
    typed = Q(username__iexact=user.get_username())
    email = getattr(user, "email", "")
    if email:
        typed |= Q(username__iexact=email)
    for label in AXES_LOGS:
        model = apps.get_model(label)
        number, _per_model = model._default_manager.filter(typed).delete()
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


def queue_erasure(request: HttpRequest, subject: Any, *, reason: str, source: str) -> ErasureRecord:
    """Close the subject's account now, record the erasure as pending and queue it; log a security event.

    Raise ``ErasureRefused`` (its message is for the person asking) while a legal
    hold is active, before anything changes.
    """
    own = getattr(request.user, "pk", None) == subject.pk
    requested_by = None if own else getattr(request.user, "pk", None)
    using = router.db_for_write(ErasureRecord)
    with transaction.atomic(using=using):
        record = request_erasure(subject, reason=reason, source=source, requested_by=requested_by)
        record_subject_event(SecurityEvent.Kind.ERASURE, request, subject)
    return record


def request_erasure(subject: Any, *, reason: str, source: str, requested_by: Any = None) -> ErasureRecord:
    """Close the account and write a pending ``ErasureRecord`` in one transaction, then queue the erasure.

    The record is committed with the deactivation, so a request whose task never
    reaches the broker is not lost: ``resume_erasures`` queues it again. Raise
    ``ErasureRefused`` while a legal hold is active, before anything changes.
    """
    _check_registry()
    _refuse_if_held(subject)
    reference = subject_reference(subject.pk)
    user_model = get_user_model()
    using = router.db_for_write(ErasureRecord)
    with transaction.atomic(using=using):
        if any(f.name == "is_active" for f in user_model._meta.concrete_fields):
            user_model._base_manager.filter(pk=subject.pk).update(is_active=False)
        pending = ErasureRecord.objects.filter(subject_ref=reference, status=ErasureRecord.Status.PENDING)
        record = pending.order_by("-requested_at", "-pk").first() or ErasureRecord.objects.create(
            subject_ref=reference,
            reason=reason[:200],
            source=source,
            requested_by_id=getattr(requested_by, "pk", requested_by),
            subject_key=str(subject.pk),
        )
        transaction.on_commit(partial(_send_erasure, record), using=using)
    return record


def _send_erasure(record: ErasureRecord) -> bool:
    """Queue ``privacy_kit.erase_subject`` for a pending record; on a broker error log it and return False."""
    from ..tasks import erase_subject as erase_subject_task

    subject_id = get_user_model()._meta.pk.to_python(record.subject_key)  # type: ignore[union-attr]
    try:
        erase_subject_task.delay(
            subject_id, reason=record.reason, source=record.source, requested_by_id=record.requested_by_id
        )
    except Exception as error:
        # The request is committed as pending: the beat task queues it again.
        # The record's key and the error class only; a broker message can quote the task's arguments.
        logger.warning(
            "Erasure record %s could not be queued (%s); privacy_kit.resume_erasures will queue it again.",
            record.pk,
            type(error).__name__,
        )
        return False
    return True


def resume_erasures(*, older_than: datetime.timedelta = RESUME_AFTER) -> int:
    """Queue again every erasure still pending after ``older_than``; return how many were queued.

    Queuing one twice (two beats, a task delivered twice) does no harm: the
    erasure is idempotent and, on PostgreSQL, one run per subject at a time.
    A subject under an active legal hold is left pending until it is released.
    """
    pending = ErasureRecord.objects.filter(
        status=ErasureRecord.Status.PENDING, requested_at__lte=timezone.now() - older_than
    ).exclude(subject_key="")
    held = {str(pk) for pk in LegalHold.objects.active().values_list("subject_id", flat=True)}
    # The newest record of each subject: erase_subject completes that one.
    latest: dict[str, ErasureRecord] = {}
    for record in pending.order_by("requested_at", "pk"):
        latest[record.subject_key] = record
    return sum(_send_erasure(record) for key, record in latest.items() if key not in held)


@dataclass
class ReplayResult:
    """What ``replay_erasures`` did: subjects erased again, and those a legal hold kept."""

    replayed: int = 0
    held: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def replay_erasures() -> ReplayResult:
    """Erase again every subject of a completed ``ErasureRecord``: after a restore, the erased stay erased.

    Subjects are found by the keyed hash of their primary key, and by their destroyed
    subject key (the key database, backed up apart, still knows them when the ledger
    was restored from before the erasure), reading the users table once in key order.
    Nothing is decrypted.
    """
    _check_registry()
    result = ReplayResult()
    erased = set(ErasureRecord.objects.filter(status=ErasureRecord.Status.DONE).values_list("subject_ref", flat=True))
    destroyed = keys.destroyed_subjects()
    if not erased and not destroyed:
        return result
    user_model = get_user_model()
    pks = (pk for page in key_pages(user_model._base_manager.values_list("pk"), 5000) for (pk,) in page)
    for pk in pks:
        if subject_reference(pk) not in erased and subject_id(pk) not in destroyed:
            continue
        user = user_model._base_manager.get(pk=pk)
        if LegalHold.objects.active().filter(subject_id=pk).exists():
            result.held += 1
            continue
        try:
            for label, action, number in apply_erasure(user):
                if number:
                    entry = result.counts.setdefault(label, {})
                    entry[action] = entry.get(action, 0) + number
        except ErasureRefused:
            # A hold placed while the replay ran: the rest of this subject waits for its release.
            result.held += 1
            continue
        result.replayed += 1
    return result

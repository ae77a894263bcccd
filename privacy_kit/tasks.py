"""Celery tasks of privacy_kit, thin wrappers over plain functions.

Each is idempotent (running it twice changes nothing the second time),
acknowledged late (a task on a worker that dies is delivered again) and
retried with backoff when the database connection fails, with time limits well below the
Redis broker's visibility timeout.
"""

from __future__ import annotations

import datetime
import uuid

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError

from . import deadlines, retention, rotation
from .consent import purge_visitor_records
from .consent.subjects import Subject
from .tracking import erase_events

TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    # Connection errors only: a bad value (DataError) or a broken query fails
    # the same way on every retry, and retrying it would hide it for an hour.
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "max_retries": 5,
    # Well below the Redis broker's visibility timeout (one hour by default),
    # after which an unacknowledged task would be delivered a second time.
    "soft_time_limit": 600,
    "time_limit": 660,
}


@shared_task(name="privacy_kit.erase_behavioral_for_purpose", **TASK_OPTIONS)
def erase_behavioral_for_purpose(*, purposes: list[str], user_id: int | None = None, visitor: str | None = None) -> int:
    """Erase one subject's behavioral events kept under the withdrawn purposes."""
    who = Subject(user_id=user_id) if user_id is not None else Subject(visitor=uuid.UUID(visitor) if visitor else None)
    return erase_events(who, purposes)


@shared_task(name="privacy_kit.erase_subject", **TASK_OPTIONS)
def erase_subject(user_id: int, *, reason: str, source: str = "api", requested_by_id: int | None = None) -> dict:
    """Erase one subject per the registry; a legal hold placed meanwhile refuses it and changes nothing."""
    from .rights import ErasureRefused
    from .rights import erase_subject as erase

    user = get_user_model()._base_manager.filter(pk=user_id).first()
    if user is None:
        return {"erased": False, "why": "no such user"}
    try:
        record = erase(user, reason=reason, source=source, requested_by=requested_by_id)
    except ErasureRefused:
        return {"erased": False, "why": "legal hold"}
    return {"erased": True, "record": record.pk, "counts": record.counts}


@shared_task(name="privacy_kit.resume_erasures", **TASK_OPTIONS)
def resume_erasures(older_than_minutes: int = 15) -> int:
    """Queue again the erasures still pending after ``older_than_minutes`` (their task never ran); return how many."""
    from .rights.erasure import resume_erasures as resume

    return resume(older_than=datetime.timedelta(minutes=older_than_minutes))


@shared_task(name="privacy_kit.purge_policy", **TASK_OPTIONS)
def purge_policy(name: str, start: int | None = None, end: int | None = None) -> dict:
    """Purge one retention policy, or one primary-key chunk of it."""
    return retention.purge_policy(name, start=start, end=end).as_dict()


@shared_task(name="privacy_kit.purge_expired", **TASK_OPTIONS)
def purge_expired() -> int:
    """Queue a purge of every retention policy, a large table in chunks for several workers; return how many."""
    pieces = retention.plan_purge()
    for name, start, end in pieces:
        purge_policy.delay(name, start, end)
    # The nightly run also ends the retention period of anonymous visitors' consent rows.
    purge_visitor_consents.delay()
    return len(pieces)


@shared_task(name="privacy_kit.purge_visitor_consents", **TASK_OPTIONS)
def purge_visitor_consents() -> int:
    """Delete the visitor-only consent rows past their retention period; return how many."""
    return purge_visitor_records()


@shared_task(name="privacy_kit.rotate_keys_chunk", **TASK_OPTIONS)
def rotate_keys_chunk(label: str, start: int | None = None, end: int | None = None, blind_index: bool = False) -> int:
    """Re-encrypt under the primary key the values of one model (within ``start <= pk < end``); return how many.

    With ``blind_index``, move instead the blind indexes under an older key to ``BLIND_INDEX_KEY``.
    """
    rotate = rotation.rotate_blind_index if blind_index else rotation.rotate_keys
    return sum(report.resealed for report in rotate([label], start=start, end=end))


@shared_task(name="privacy_kit.deadlines", **TASK_OPTIONS)
def send_deadline_alerts() -> list[dict]:
    """Alert on the requests and breaches near or past their due time, each alert once; return those sent."""
    return [sent.as_dict() for sent in deadlines.send_deadline_alerts()]

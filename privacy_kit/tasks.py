"""Celery tasks of privacy_kit, thin wrappers over plain functions.

Each is idempotent (running it twice changes nothing the second time),
acknowledged late (a task on a worker that dies is delivered again) and
retried with backoff on database errors, with time limits well below the
Redis broker's visibility timeout.
"""

from __future__ import annotations

import uuid

from celery import shared_task
from django.db import DatabaseError

from .consent.subjects import Subject
from .tracking import erase_events

TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (DatabaseError,),
    "retry_backoff": True,
    "max_retries": 5,
    "soft_time_limit": 240,
    "time_limit": 300,
}


@shared_task(name="privacy_kit.erase_behavioral_for_purpose", **TASK_OPTIONS)
def erase_behavioral_for_purpose(*, purposes: list[str], user_id: int | None = None, visitor: str | None = None) -> int:
    """Erase one subject's behavioral events kept under the withdrawn purposes."""
    who = Subject(user_id=user_id) if user_id is not None else Subject(visitor=uuid.UUID(visitor) if visitor else None)
    return erase_events(who, purposes)

"""Behavioral data, recorded only under consent and erased when consent goes."""

from __future__ import annotations

from typing import Any

from privacy_kit.batches import delete_rows, primary_key_batches
from privacy_kit.conf import app_settings
from privacy_kit.consent import state_of
from privacy_kit.consent.subjects import Subject, subject_of


def record(request_or_user: Any, kind: str, data: Any, *, purpose: str = "personalization") -> Any:
    """Store a behavioral event and return it if the subject consents to ``purpose``.

    Without that consent, store nothing and return None.
    """
    from privacy_kit.models import BehavioralEvent

    entry = state_of(request_or_user).get(purpose)
    if entry is None or not entry.granted:
        return None
    who = subject_of(request_or_user)
    return BehavioralEvent.objects.create(**who.owner_fields(), purpose_id=entry.purpose_id, kind=kind, data=data)


def erase_events(who: Subject, purposes: list[str]) -> int:
    """Delete the subject's behavioral events kept under ``purposes``, in batches; return how many."""
    from privacy_kit.models import BehavioralEvent

    if not who.is_known:
        return 0
    events = who.rows(BehavioralEvent.objects.filter(purpose__slug__in=purposes))
    deleted = 0
    for batch in primary_key_batches(events, app_settings.PURGE_BATCH_SIZE):
        deleted += sum(delete_rows(events.filter(batch)).values())
    return deleted

"""Behavioral data, recorded only under consent and erased when consent goes."""

from __future__ import annotations

import json
import re
from typing import Any

from privacy_kit.batches import delete_rows, primary_key_batches
from privacy_kit.conf import app_settings
from privacy_kit.consent import state_of
from privacy_kit.consent.subjects import Subject, subject_of


class TrackingError(ValueError):
    """A behavioral event cannot be stored as given."""


KIND_MAX_LENGTH = 40
KIND_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


def record(request_or_user: Any, kind: str, data: Any, *, purpose: str = "personalization") -> Any:
    """Store a behavioral event and return it if the subject consents to ``purpose``.

    Without that consent, store nothing and return None. A ``kind`` that is not a
    short slug, or ``data`` larger than ``TRACKING_DATA_MAX_BYTES`` as JSON, raises
    ``TrackingError`` whether or not there is consent.
    """
    from privacy_kit.models import BehavioralEvent

    _check_event(kind, data, BehavioralEvent._meta.get_field("data"))
    entry = state_of(request_or_user).get(purpose)
    if entry is None or not entry.granted:
        return None
    who = subject_of(request_or_user)
    return BehavioralEvent.objects.create(**who.owner_fields(), purpose_id=entry.purpose_id, kind=kind, data=data)


def _check_event(kind: Any, data: Any, field: Any) -> None:
    if not isinstance(kind, str) or len(kind) > KIND_MAX_LENGTH or not KIND_PATTERN.fullmatch(kind):
        if not isinstance(kind, str):
            given = f"a {type(kind).__name__}"
        elif len(kind) > KIND_MAX_LENGTH or not kind:
            given = f"{len(kind)} characters"
        else:
            given = "a string with other characters"
        raise TrackingError(
            f"A behavioral event kind is a slug of at most {KIND_MAX_LENGTH} characters "
            f"(letters, digits, _ and -), not {given}."
        )
    limit = app_settings.TRACKING_DATA_MAX_BYTES
    # Measured as the field encodes it before encryption.
    size = len(json.dumps(data, cls=field.encoder, ensure_ascii=False).encode())
    if size > limit:
        raise TrackingError(
            f"Behavioral event data of kind {kind!r} is {size} bytes as JSON; "
            f"the limit is {limit} (PRIVACY_KIT['TRACKING_DATA_MAX_BYTES'])."
        )


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

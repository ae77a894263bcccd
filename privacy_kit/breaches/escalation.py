"""Open a breach from the security events that revealed it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.db import router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..security.models import SecurityEvent
from .models import Breach


def escalate(events: Iterable[SecurityEvent], *, by: Any = None, aware_at: Any = None) -> Breach:
    """Open a breach linked to ``events`` and return it; the 72 hours run from ``aware_at`` (now by default).

    The breach starts from what the events say, and from nothing they hold of a
    person: its nature lists their kinds and times, it was detected when the first
    was recorded, and the staff user ``by`` recorded it. Staff then complete it
    in the admin. Raise ``ValueError`` when there is no event.
    """
    chosen = sorted(events, key=lambda event: (event.created_at, event.pk))
    if not chosen:
        raise ValueError("Choose at least one security event to escalate into a breach.")
    kinds = Counter(str(event.get_kind_display()) for event in chosen)
    first, last = chosen[0].created_at, chosen[-1].created_at
    window = _("%(first)s to %(last)s") % {"first": _moment(first), "last": _moment(last)}
    summary = ", ".join(f"{kind} ({count})" for kind, count in sorted(kinds.items()))
    title = ngettext(
        "Escalated from %(count)d security event", "Escalated from %(count)d security events", len(chosen)
    ) % {"count": len(chosen)}
    nature = _("Security events %(kinds)s, recorded %(window)s. Describe what happened.") % {
        "kinds": summary,
        "window": window,
    }
    with transaction.atomic(using=router.db_for_write(Breach)):
        breach = Breach.objects.create(
            title=title,
            nature=nature,
            occurred_at=first,
            detected_at=first,
            aware_at=aware_at or timezone.now(),
            recorded_by_id=getattr(by, "pk", by),
        )
        breach.events.add(*chosen)
    return breach


def _moment(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")

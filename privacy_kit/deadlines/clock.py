"""The records that run on a clock, each described once: its open rows, its due time, its thresholds.

A clock is a queryset of the records whose time runs, annotated with
``clock_due_at`` (the moment they are due), and the thresholds before that
moment at which an alert goes out. A new kind of record on the clock is one
more entry in ``clocks()``; ``send_deadline_alerts`` and the dashboard read
them all the same way.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

#: The annotation each clock's queryset gives its records: when they are due.
DUE = "clock_due_at"
HOURS = "hours"
DAYS = "days"
BREACH = "breach"
REQUEST = "request"
OVERDUE = "overdue"


@dataclass(frozen=True)
class Threshold:
    """A point before the due time (``before``; zero for overdue) at which an alert goes out."""

    name: str
    before: datetime.timedelta


@dataclass(frozen=True)
class Clock:
    """One kind of record on the clock."""

    name: str
    model: type[models.Model]
    #: The records whose time runs (open, not yet answered), annotated with ``DUE``.
    records: Callable[[], models.QuerySet]
    #: Most urgent first: overdue, then the nearest threshold to the due time, then the farthest.
    thresholds: tuple[Threshold, ...]
    #: Whether time left is told in hours or in days.
    unit: str
    #: What the law asks, for the mail.
    duty: Any
    #: How an alert names a record: its kind and number, nothing about the person.
    describe: Callable[[Any], str]

    @property
    def horizon(self) -> datetime.timedelta:
        """Return how long before its due time a record gets its first alert."""
        return max(threshold.before for threshold in self.thresholds)

    def threshold_reached(self, due_at: datetime.datetime, now: datetime.datetime) -> Threshold | None:
        """Return the most urgent threshold reached at ``now`` by a record due at ``due_at``, or None."""
        for threshold in self.thresholds:
            if now >= due_at - threshold.before:
                return threshold
        return None


def _open_breaches() -> models.QuerySet:
    from ..breaches.models import NOTIFICATION_DEADLINE, Breach

    due = models.ExpressionWrapper(
        models.F("aware_at") + models.Value(NOTIFICATION_DEADLINE), output_field=models.DateTimeField()
    )
    return Breach.objects.awaiting_notification().annotate(**{DUE: due})


def _open_requests() -> models.QuerySet:
    from ..requests.models import DataRequest

    return DataRequest.objects.open().with_due_by().annotate(**{DUE: models.F("due_by")})


def _breach_name(record: Any) -> str:
    return f"{_('breach')} #{record.pk}"


def _request_name(record: Any) -> str:
    return _("Request #%(id)s (%(kind)s)") % {"id": record.pk, "kind": record.get_kind_display()}


def breach_clock() -> Clock:
    """Return the clock of breaches: the authority is told within 72 hours of the shop becoming aware."""
    from ..breaches.models import Breach

    return Clock(
        name=BREACH,
        model=Breach,
        records=_open_breaches,
        thresholds=(
            Threshold(OVERDUE, datetime.timedelta(0)),
            Threshold("6h", datetime.timedelta(hours=6)),
            Threshold("24h", datetime.timedelta(hours=24)),
        ),
        unit=HOURS,
        duty=_("The authority must be notified within 72 hours of the shop becoming aware (PDPL Art. 20)."),
        describe=_breach_name,
    )


def request_clock() -> Clock:
    """Return the clock of data-subject requests: answered within 30 days, or by the date of their extension."""
    from ..requests.models import DataRequest

    return Clock(
        name=REQUEST,
        model=DataRequest,
        records=_open_requests,
        thresholds=(
            Threshold(OVERDUE, datetime.timedelta(0)),
            Threshold("1d", datetime.timedelta(days=1)),
            Threshold("7d", datetime.timedelta(days=7)),
        ),
        unit=DAYS,
        duty=_("A data subject's request is answered within 30 days, extended once at most (PDPL IR Art. 3)."),
        describe=_request_name,
    )


def clocks() -> list[Clock]:
    """Return every clock: data-subject requests and breaches."""
    return [request_clock(), breach_clock()]


def time_left(clock: Clock, due_at: datetime.datetime, now: datetime.datetime) -> str:
    """Return the time left until ``due_at`` in the clock's unit, "3 days", or how long it is overdue."""
    seconds = (due_at - now).total_seconds()
    unit = 3600 if clock.unit == HOURS else 86400
    # Time left is rounded up (23.5 hours left is "24 hours"), time overdue down (a minute late is "0 hours").
    count = math.ceil(seconds / unit) if seconds > 0 else math.floor(-seconds / unit)
    if clock.unit == HOURS:
        amount = ngettext("%(count)d hour", "%(count)d hours", count) % {"count": count}
    else:
        amount = ngettext("%(count)d day", "%(count)d days", count) % {"count": count}
    return amount

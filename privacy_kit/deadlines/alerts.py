"""Alert ADMINS, and the ``deadline_alert`` receivers, when a record nears or passes its due time."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from django.core.mail import mail_admins
from django.db import IntegrityError, router, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from ..signals import deadline_alert
from .clock import DUE, OVERDUE, Clock, Threshold, clocks, time_left
from .models import DeadlineAlert

logger = logging.getLogger(__name__)

SUBJECT_TEMPLATE = "privacy_kit/email/deadline_alert_subject.txt"
BODY_TEMPLATE = "privacy_kit/email/deadline_alert_body.txt"


class MailNotSent(Exception):
    """The mail to ADMINS could not go: the alert is rolled back, to be sent by the next run."""


class ReceiverFailed(Exception):
    """A ``deadline_alert`` receiver raised (the error is the cause): that alert is rolled back."""


@dataclass(frozen=True)
class SentAlert:
    """An alert sent by this run: its row, the record, and the time left (negative once overdue)."""

    alert: DeadlineAlert
    record: Any
    left: datetime.timedelta

    def as_dict(self) -> dict[str, Any]:
        return {
            "clock": self.alert.clock,
            "record": self.alert.record_id,
            "threshold": self.alert.threshold,
            "due_at": self.alert.due_at.isoformat(),
        }


def send_alert(clock: Clock, threshold: Threshold, record: Any, alert: DeadlineAlert, now: datetime.datetime) -> None:
    """Send ``deadline_alert`` for one record and mail ADMINS, with no personal data in the mail."""
    left = alert.due_at - now
    try:
        deadline_alert.send(
            sender=clock.model,
            record=record,
            clock=clock.name,
            threshold=threshold.name,
            due_at=alert.due_at,
            left=left,
        )
    except Exception as error:
        raise ReceiverFailed from error
    context = {
        "record": clock.describe(record),
        "record_id": record.pk,
        "clock": clock.name,
        "threshold": threshold.name,
        "overdue": threshold.name == OVERDUE,
        "due_at": alert.due_at,
        "time_left": time_left(clock, alert.due_at, now),
        "duty": clock.duty,
    }
    subject = " ".join(render_to_string(SUBJECT_TEMPLATE, context).split())
    try:
        mail_admins(subject, render_to_string(BODY_TEMPLATE, context))
    except OSError as error:
        logger.exception("Could not mail ADMINS about %s %s #%s.", threshold.name, clock.name, record.pk)
        raise MailNotSent from error


def send_deadline_alerts(now: datetime.datetime | None = None) -> list[SentAlert]:
    """Send each alert due at ``now`` (default: now) that no run has sent yet; return those sent.

    Each record whose clock runs gets the alert of the most urgent threshold it
    has reached, once per due time: a record first seen 5 hours before its due
    time gets the 6-hour alert, not the 24-hour one as well. The alert's row is
    inserted, then the alert sent, in one transaction: a second process that
    tries the same alert meanwhile waits on the row and then finds it there. A
    mail that cannot go rolls the row back, so the next run sends it again. A
    receiver of ``deadline_alert`` that raises rolls back that alert only: the
    others are sent, then the first error is raised.
    """
    now = now or timezone.now()
    sent: list[SentAlert] = []
    failures: list[BaseException] = []
    for clock in clocks():
        soon = clock.records().filter(**{f"{DUE}__lte": now + clock.horizon})
        records = list(soon.order_by(DUE, "pk"))
        if not records:
            continue
        already = set(
            DeadlineAlert.objects.filter(clock=clock.name, record_id__in=[record.pk for record in records]).values_list(
                "record_id", "threshold", "due_at"
            )
        )
        using = router.db_for_write(DeadlineAlert)
        for record in records:
            due_at = getattr(record, DUE)
            threshold = clock.threshold_reached(due_at, now)
            if threshold is None or (record.pk, threshold.name, due_at) in already:
                continue
            try:
                with transaction.atomic(using=using):
                    try:
                        # In a savepoint of its own: only the alert's row says another run sent it.
                        with transaction.atomic(using=using):
                            alert = DeadlineAlert.objects.create(
                                clock=clock.name,
                                record_id=record.pk,
                                threshold=threshold.name,
                                due_at=due_at,
                                sent_at=now,
                            )
                    except IntegrityError:
                        continue  # another run sent it
                    send_alert(clock, threshold, record, alert, now)
            except MailNotSent:
                continue
            except ReceiverFailed as failed:
                # Rolled back, for the next run; the other records' alerts still go.
                error = failed.__cause__ or failed
                logger.error(
                    "A receiver of the %s alert of %s #%s failed (%s).",
                    threshold.name,
                    clock.name,
                    record.pk,
                    type(error).__name__,
                )
                failures.append(error)
                continue
            sent.append(SentAlert(alert, record, due_at - now))
    if failures:
        raise failures[0]
    return sent

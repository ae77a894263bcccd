"""Record who opened whose personal data, and notice a staff user opening too many subjects' records."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.db import models
from django.http import HttpRequest
from django.utils import timezone

from ..conf import app_settings
from .events import client_ip, record_and_alert_hourly
from .models import AccessLog, SecurityEvent

BULK_ACCESS_WINDOW = datetime.timedelta(hours=1)


def record_access(
    request: HttpRequest, obj: models.Model, fields: Iterable[str], *, subject_id: Any = None
) -> AccessLog:
    """Write an AccessLog row for the request's user opening ``obj``, then check for bulk access."""
    entry = AccessLog.objects.create(
        actor_id=request.user.pk,
        subject_id=subject_id,
        model_label=obj._meta.label,
        object_id=str(obj.pk),
        fields=list(fields),
        ip=client_ip(request),
    )
    check_bulk_access(request, now=entry.created_at)
    return entry


def subjects_opened(actor_id: Any, since: datetime.datetime) -> int:
    """Return how many distinct subjects (or records without a subject) a staff user opened since then."""
    recent = AccessLog.objects.filter(actor_id=actor_id, created_at__gte=since)
    subjects = recent.filter(subject__isnull=False).values("subject_id").distinct().count()
    records = recent.filter(subject__isnull=True).values("model_label", "object_id").distinct().count()
    return subjects + records


def check_bulk_access(request: HttpRequest, now: datetime.datetime | None = None) -> SecurityEvent | None:
    """Record and alert on bulk access by the request's user, at most once an hour; return the new event."""
    since = (now or timezone.now()) - BULK_ACCESS_WINDOW
    actor_id = request.user.pk
    if subjects_opened(actor_id, since) <= app_settings.BULK_ACCESS_THRESHOLD:
        return None
    detail = f"more than {app_settings.BULK_ACCESS_THRESHOLD} subjects' records opened within an hour"
    return record_and_alert_hourly(
        SecurityEvent.Kind.BULK_ACCESS, user=request.user, request=request, detail=detail, now=now
    )

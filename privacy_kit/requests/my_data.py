"""What the my-data page shows of requests: the customer's own requests, their copies to download, and corrections."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils import timezone

from .corrections import correctable_rows, form_class
from .models import DataRequest

#: How long a copy that staff prepared stays on the customer's my-data page to download.
DOWNLOAD_DAYS = 30
#: The customer's latest requests that the page lists.
LISTED_REQUESTS = 20


def downloadable(data_request: DataRequest, now: datetime.datetime | None = None) -> bool:
    """Return whether the subject may download the copy a fulfilled access or copy request prepared."""
    return (
        data_request.kind in (DataRequest.Kind.ACCESS, DataRequest.Kind.COPY)
        and data_request.status == DataRequest.Status.FULFILLED
        and data_request.channel != DataRequest.Channel.MY_DATA
        and data_request.closed_at is not None
        and (now or timezone.now()) - data_request.closed_at <= datetime.timedelta(days=DOWNLOAD_DAYS)
    )


def requests_of(user: Any) -> list[dict[str, Any]]:
    """Return the user's latest requests, each with whether its copy can be downloaded."""
    latest = DataRequest.objects.filter(subject_id=user.pk).order_by("-received_at", "-pk")[:LISTED_REQUESTS]
    now = timezone.now()
    return [{"request": entry, "downloadable": downloadable(entry, now)} for entry in latest]


def correction_forms(user: Any, bound: tuple[str, Any, forms.ModelForm] | None = None) -> list[dict[str, Any]]:
    """Return, per correctable model, the user's rows each with its correction form (``bound`` in place of one)."""
    sections = []
    for registration, rows in correctable_rows(user):
        label = registration.name
        entries = []
        for row in rows:
            if bound is not None and bound[0] == label and str(bound[1]) == str(row.pk):
                form = bound[2]
            else:
                form = form_class(registration)(instance=row, auto_id=f"id_{label}_{row.pk}_%s".replace(".", "_"))
            entries.append({"row": row, "form": form})
        sections.append({"label": label, "name": registration.model._meta.verbose_name_plural, "rows": entries})
    return sections

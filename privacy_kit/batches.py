"""Walk a table in primary-key ranges, each small enough for a short transaction.

Range batches (``pk >= a AND pk < b``) do not re-scan the dead rows of earlier
batches the way ``LIMIT`` batches do; see docs/operations.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import models
from django.db.models import Max, Min, Q


def key_pages(rows: models.QuerySet, size: int) -> Iterator[list[Any]]:
    """Yield the rows of a ``values_list`` whose first column is the primary key, ``size`` at a time in key order.

    Each page is one query read whole, not a server-side cursor left open between
    pages: work done between pages (writing to the same connection, streaming to a
    slow client) holds no cursor, and an error in a page leaves none behind.
    """
    ordered = rows.order_by("pk")
    page = list(ordered[:size])
    while page:
        yield page
        page = list(ordered.filter(pk__gt=page[-1][0])[:size]) if len(page) == size else []


def delete_rows(queryset: models.QuerySet) -> dict[str, int]:
    """Delete the queryset's rows and what cascades from them; return how many rows per model label.

    When Django must load the rows (for cascades or signal receivers), it loads
    their primary keys only: deleting a value never decrypts it, so a value that no
    longer opens (altered, or sealed under a retired key) cannot stop its own deletion.
    """
    return queryset.only("pk").delete()[1]


def primary_key_batches(queryset: models.QuerySet, size: int) -> Iterator[Q]:
    """Yield filters that cover the queryset's rows in primary-key order, about ``size`` keys each.

    The walk covers the keys up to the largest one when it starts; rows added
    behind it are left for the next run.
    """
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    queryset = queryset.order_by()
    if isinstance(queryset.model._meta.pk, models.IntegerField):
        # The rows there are when the walk starts: one query when they fit in one batch.
        bounds = queryset.aggregate(start=Min("pk"), last=Max("pk"))
        start, last = bounds["start"], bounds["last"]
        while start is not None:
            yield Q(pk__gte=start, pk__lt=start + size)
            if start + size > last:
                return
            # Jump over gaps in the keys instead of walking empty ranges.
            start = queryset.filter(pk__gte=start + size).aggregate(start=Min("pk"))["start"]
        return
    for page in key_pages(queryset.values_list("pk"), size):
        yield Q(pk__gte=page[0][0], pk__lte=page[-1][0])

"""Walk a table in primary-key ranges, each small enough for a short transaction.

Range batches (``pk >= a AND pk < b``) do not re-scan the dead rows of earlier
batches the way ``LIMIT`` batches do; see docs/operations.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.db import connections, models, router
from django.db.models import Max, Min, Q, signals
from django.db.models.deletion import Collector
from django.db.models.sql import DeleteQuery


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
    queryset = queryset.order_by().only("pk")
    using = queryset._db or router.db_for_write(queryset.model)
    if Collector(using=using).can_fast_delete(queryset):
        # Nothing cascades and no receiver listens: one DELETE, as QuerySet.delete()
        # would send, without the transaction it opens around it (BEGIN and COMMIT,
        # two more round trips a batch). The statement is its own transaction.
        return {queryset.model._meta.label: queryset._raw_delete(using)}
    return queryset.delete()[1]


def heard(model: type[models.Model]) -> bool:
    """Say whether a receiver listens to the deletion of the model's rows now.

    Asked before each range a compiled delete (``range_delete()``) would take: a
    receiver may be connected at any time, by a module imported late, and the rows
    of the ranges after it must go through the collector that sends its signals.
    """
    return signals.pre_delete.has_listeners(model) or signals.post_delete.has_listeners(model)


def primary_key_batches(queryset: models.QuerySet, size: int) -> Iterator[Q]:
    """Yield filters that cover the queryset's rows in primary-key order, about ``size`` keys each.

    The walk covers the keys up to the largest one when it starts; rows added
    behind it are left for the next run.
    """
    return iter(KeyRanges(queryset, size))


class KeyRanges:
    """The primary-key ranges of ``primary_key_batches()``, for a caller that says what it found in each.

    Iterating yields the same filters. After a range in which the caller found
    rows (``found(count)`` with a count above zero), the next range simply
    follows it; after any other, the walk asks where the next key is and jumps
    over the gap. Where the rows are dense, that saves a query a range; a gap
    still costs at most one range that finds nothing.
    """

    def __init__(self, queryset: models.QuerySet, size: int) -> None:
        if size < 1:
            raise ValueError(f"batch size must be at least 1, not {size}")
        self.queryset = queryset.order_by()
        self.size = size
        #: The keys ``(start, end)``, end excluded, of the range yielded last (integer keys only).
        self.bounds: tuple[int, int] | None = None
        self._found = False

    def found(self, count: int) -> None:
        """Say how many rows the caller found in the range it was given last."""
        self._found = count > 0

    def __iter__(self) -> Iterator[Q]:
        queryset, size = self.queryset, self.size
        if isinstance(queryset.model._meta.pk, models.IntegerField):
            # The rows there are when the walk starts: one query when they fit in one batch.
            bounds = queryset.aggregate(start=Min("pk"), last=Max("pk"))
            start, last = bounds["start"], bounds["last"]
            while start is not None:
                self._found = False
                # The last range ends after the last key: rows added behind the walk stay out of it.
                self.bounds = (start, min(start + size, last + 1))
                yield Q(pk__gte=self.bounds[0], pk__lt=self.bounds[1])
                if start + size > last:
                    return
                if self._found:
                    start += size
                else:
                    # Jump over gaps in the keys instead of walking empty ranges.
                    start = queryset.filter(pk__gte=start + size).aggregate(start=Min("pk"))["start"]
            return
        for page in key_pages(queryset.values_list("pk"), size):
            yield Q(pk__gte=page[0][0], pk__lte=page[-1][0])


def range_delete(queryset: models.QuerySet) -> Callable[[int, int], int] | None:
    """Return a function that deletes the queryset's rows with ``start <= pk < end``; return how many went.

    The DELETE is compiled once, with the bounds as its only parameters that change,
    and sent for each range: a batch costs its statement and none of the ORM's work
    to build it again. None when one statement cannot do it: an integer key is
    needed, and nothing may cascade from the rows or listen to their deletion
    (``delete_rows()`` does those). A receiver connected after this call is the
    caller's to see: ask ``heard()`` before each range.
    """
    queryset = queryset.order_by().only("pk")
    model = queryset.model
    using = queryset._db or router.db_for_write(model)
    pk = model._meta.pk
    if not isinstance(pk, models.IntegerField) or not Collector(using=using).can_fast_delete(queryset):
        return None
    connection = connections[using]
    # Two keys the field accepts (a bound outside its range would be dropped from the SQL),
    # found again among the compiled statement's parameters.
    low = connection.ops.integer_field_range(pk.get_internal_type())[0]
    first, second = (-(2**31) + 7, -(2**31) + 9) if low is None else (low + 7, low + 9)
    query = queryset.filter(pk__gte=first, pk__lt=second).query.clone()
    query.__class__ = DeleteQuery
    statement, params = query.get_compiler(using).as_sql()
    params = list(params)
    if params.count(first) != 1 or params.count(second) != 1:
        return None
    slots = params.index(first), params.index(second)

    def delete(start: int, end: int) -> int:
        params[slots[0]], params[slots[1]] = start, end
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.rowcount

    return delete

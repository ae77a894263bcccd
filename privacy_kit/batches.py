"""Walk a table in primary-key ranges, each small enough for a short transaction.

Range batches (``pk >= a AND pk < b``) do not re-scan the dead rows of earlier
batches the way ``LIMIT`` batches do; see docs/operations.md.
"""

from __future__ import annotations

import re
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


# The next key of a range, not said by the caller.
_UNKNOWN: Any = object()


class KeyRanges:
    """The primary-key ranges of ``primary_key_batches()``, for a caller that says what it found in each.

    Iterating yields the same filters. After a range in which the caller found
    rows (``found(count)`` with a count above zero), the next range simply
    follows it; after any other, the walk asks where the next key is and jumps
    over the gap. Where the rows are dense, that saves a query a range; a gap
    still costs at most one range that finds nothing. A caller that learnt the
    next key with its batch says so (``found(count, next_key=...)``) and the walk
    asks nothing.
    """

    def __init__(self, queryset: models.QuerySet, size: int) -> None:
        if size < 1:
            raise ValueError(f"batch size must be at least 1, not {size}")
        self.queryset = queryset.order_by()
        self.size = size
        #: The keys ``(start, end)``, end excluded, of the range yielded last (integer keys only).
        self.bounds: tuple[int, int] | None = None
        self._found = False
        self._next: Any = _UNKNOWN
        pk = self.queryset.model._meta.pk
        self._connection = connections[self.queryset._db or router.db_for_read(self.queryset.model)]
        integer = isinstance(pk, models.IntegerField)
        high = self._connection.ops.integer_field_range(pk.get_internal_type())[1] if integer else None
        #: The largest key the column can hold (integer keys only).
        self.largest_key: float = float("inf") if high is None else high
        #: The query of the first key at or after a given one, compiled once (integer keys only).
        self.next_key = Bound.compile(
            self.queryset, lambda key: self.queryset.filter(pk__gte=key).order_by("pk").values_list("pk")[:1], 1
        )

    def found(self, count: int, *, next_key: Any = _UNKNOWN) -> None:
        """Say how many rows the caller found in the range it was given last, and the first key after it if known."""
        self._found, self._next = count > 0, next_key

    def _following(self, key: int) -> int | None:
        assert self.next_key is not None
        with self._connection.cursor() as cursor:
            cursor.execute(*self.next_key(key))
            row = cursor.fetchone()
        return None if row is None else row[0]

    def __iter__(self) -> Iterator[Q]:
        queryset, size = self.queryset, self.size
        if self.next_key is not None:
            # The rows there are when the walk starts: one query when they fit in one batch.
            bounds = queryset.aggregate(start=Min("pk"), last=Max("pk"))
            start, last = bounds["start"], bounds["last"]
            while start is not None and start <= last:
                self._found, self._next = False, _UNKNOWN
                end = min(start + size, last + 1)
                if end > self.largest_key:
                    # No bound past the largest key the column holds is sent (SQLite takes none
                    # above 2**63 - 1): the range ends at the last key, by the filter alone.
                    self.bounds = None
                    yield Q(pk__gte=start, pk__lte=last)
                    return
                # The last range ends after the last key: rows added behind the walk stay out of it.
                self.bounds = (start, end)
                yield Q(pk__gte=self.bounds[0], pk__lt=self.bounds[1])
                if end > last:
                    return
                if self._next is not _UNKNOWN:
                    start = None if self._next is None else max(self._next, start + size)
                elif self._found:
                    start += size
                else:
                    # Jump over gaps in the keys instead of walking empty ranges.
                    start = self._following(start + size)
            return
        for page in key_pages(queryset.values_list("pk"), size):
            yield Q(pk__gte=page[0][0], pk__lte=page[-1][0])


class Bound:
    """A query compiled once, with integer keys as its only parameters that change: ``bound(*keys)`` gives its SQL.

    Built with ``Bound.compile()``, which compiles ``build(*placeholders)`` with
    placeholder keys the field accepts (a bound outside its range would be dropped
    from the SQL) and finds them again among the compiled parameters.
    """

    def __init__(self, statement: str, params: list[Any], slots: list[int], placeholders: list[int]) -> None:
        self.statement, self.params, self.slots, self.placeholders = statement, params, slots, placeholders

    @classmethod
    def compile(
        cls, queryset: models.QuerySet, build: Callable[..., models.QuerySet], keys: int, *, delete: bool = False
    ) -> Bound | None:
        """Compile ``build(*keys)``, a queryset of ``queryset``'s model (a DELETE of its rows if ``delete``).

        None where the model's key is not an integer or the keys are not found again.
        """
        pk = queryset.model._meta.pk
        if not isinstance(pk, models.IntegerField):
            return None
        using = queryset._db or router.db_for_write(queryset.model)
        low = connections[using].ops.integer_field_range(pk.get_internal_type())[0]
        base = -(2**31) if low is None else low
        placeholders = [base + 7 + 2 * i for i in range(keys)]
        query = build(*placeholders).query.clone()
        if delete:
            query.__class__ = DeleteQuery
        statement, params = query.get_compiler(using).as_sql()
        params = list(params)
        if any(params.count(key) != 1 for key in placeholders):
            return None
        return cls(statement, params, [params.index(key) for key in placeholders], placeholders)

    def __call__(self, *keys: int) -> tuple[str, list[Any]]:
        params = list(self.params)
        for slot, key in zip(self.slots, keys, strict=True):
            params[slot] = key
        return self.statement, params

    def literal(self, connection: Any) -> Callable[..., str] | None:
        """Return a function that gives the statement with every value a literal the driver quoted, keys included.

        The quoting is done once: the placeholder keys are found again in the quoted
        text, each exactly once, and the keys of each call take their place. None if
        they are not found so.
        """
        text = connection.ops.compose_sql(self.statement, self.params)
        pieces = []
        for key in self.placeholders:
            # The key as a number of its own, not digits inside a longer one.
            found = re.split(rf"(?<![\w.]){key}(?![\w.])", text)
            if len(found) != 2:
                return None
            before, text = found
            pieces.append(before)
        pieces.append(text)

        def literal(*keys: int) -> str:
            return "".join(piece + str(int(key)) for piece, key in zip(pieces, keys, strict=False)) + pieces[-1]

        return literal


def range_delete_statement(queryset: models.QuerySet) -> Bound | None:
    """Return the DELETE of the queryset's rows with ``start <= pk < end``, compiled once: ``bound(start, end)``.

    A batch costs its statement and none of the ORM's work to build it again. None
    when one statement cannot do it: an integer key is needed, and nothing may
    cascade from the rows or listen to their deletion (``delete_rows()`` does those).
    A receiver connected after this call is the caller's to see: ask ``heard()``
    before each range.
    """
    queryset = queryset.order_by().only("pk")
    using = queryset._db or router.db_for_write(queryset.model)
    if not Collector(using=using).can_fast_delete(queryset):
        return None
    return Bound.compile(queryset, lambda start, end: queryset.filter(pk__gte=start, pk__lt=end), 2, delete=True)


def range_delete(queryset: models.QuerySet) -> Callable[[int, int], int] | None:
    """Return a function that deletes the queryset's rows with ``start <= pk < end``; return how many went.

    The statement of ``range_delete_statement()``, sent for each range; None where
    that gives none.
    """
    bound = range_delete_statement(queryset)
    if bound is None:
        return None
    connection = connections[queryset._db or router.db_for_write(queryset.model)]

    def delete(start: int, end: int) -> int:
        with connection.cursor() as cursor:
            cursor.execute(*bound(start, end))
            return cursor.rowcount

    return delete

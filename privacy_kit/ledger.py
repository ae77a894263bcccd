"""Append-only rows: the consent ledger, the access log and security events.

Such a row is evidence. It is written once and never changed or deleted through
the ORM; erasure of a subject anonymizes what points at them instead. The only
deletion is of rows past a retention period of their own (``delete_expired``),
such as the consent rows of a visitor whose consent id has long expired.
"""

from __future__ import annotations

from typing import Any

from django.db import models


class LedgerError(Exception):
    """An append-only row, or a policy version in effect, was about to be changed or deleted."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise LedgerError(f"{self.model._meta.verbose_name_plural} are append-only: add a new row instead.")

    def anonymize(self, **values: Any) -> int:
        """Overwrite what ties these rows to a subject: the one change the erasure of a subject makes to evidence."""
        return super().update(**values)

    def delete_expired(self) -> int:
        """Delete these rows, past their retention period: the one deletion of evidence, made by its purge.

        Only the primary keys are loaded when Django must load the rows (for what
        cascades from them): deleting evidence never reads, or decrypts, its values.
        """
        return models.QuerySet.delete(self.order_by().only("pk"))[1].get(self.model._meta.label, 0)

    def delete(self) -> Any:
        raise LedgerError(f"{self.model._meta.verbose_name_plural} are append-only and are never deleted.")


class AppendOnlyModel(models.Model):
    """A row written once, never changed or deleted through the ORM."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise LedgerError(f"{self._meta.verbose_name} #{self.pk} is append-only and cannot change.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise LedgerError(f"{self._meta.verbose_name} #{self.pk} is append-only and cannot be deleted.")

"""The alerts sent about records on the clock: one row per record, threshold and due time."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DeadlineAlert(models.Model):
    """An alert sent because a record neared or passed its due time.

    Written in the transaction that sends the alert, before it is sent: the unique
    constraint on (clock, record, threshold, due time) lets one process only send
    it, however many beat processes or redelivered tasks try. A record whose due
    time moves (an extension) gets its alerts again for the new time. The row names
    the record by its clock and primary key, with no personal data.
    """

    clock = models.CharField(_("clock"), max_length=20, editable=False)
    record_id = models.PositiveBigIntegerField(_("record"), editable=False)
    threshold = models.CharField(_("threshold"), max_length=20, editable=False)
    due_at = models.DateTimeField(_("due"), editable=False)
    sent_at = models.DateTimeField(_("sent"), default=timezone.now, db_index=True, editable=False)

    class Meta:
        app_label = "privacy_kit"
        ordering = ["-sent_at", "-pk"]
        verbose_name = _("deadline alert")
        verbose_name_plural = _("deadline alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["clock", "record_id", "threshold", "due_at"], name="privacy_kit_deadlinealert_once"
            ),
        ]
        # The admin index's privacy dashboard: the clocks, purges, security events and keys.
        permissions = [("view_privacy_dashboard", _("Can view the privacy dashboard"))]

    def __str__(self) -> str:
        return f"{self.clock} #{self.record_id}: {self.threshold}"

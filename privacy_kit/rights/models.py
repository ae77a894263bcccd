"""The erasure ledger: which subjects were erased, when, why, and how many rows it took."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ErasureRecord(models.Model):
    """One erasure of a subject, written before anything is destroyed and completed after.

    The subject is named only by a keyed hash of its primary key, so the record
    outlives the data without pointing at a person; ``replay_erasures`` finds the
    subject again in a restored database by the same hash.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("in progress")
        DONE = "done", _("done")

    class Source(models.TextChoices):
        ACCOUNT = "account", _("the customer, from the account page")
        ADMIN = "admin", _("staff, from the admin")
        API = "api", _("code or a management command")

    subject_ref = models.CharField(_("subject reference (keyed hash)"), max_length=32, db_index=True)
    reason = models.CharField(_("reason"), max_length=200)
    source = models.CharField(_("asked from"), max_length=10, choices=Source.choices, default=Source.API)
    # Staff who asked; empty when the customer asked, so that the record does not name them.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("asked by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    requested_at = models.DateTimeField(_("asked"), default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    counts = models.JSONField(_("rows per model"), default=dict, blank=True)
    # When the subject's key was destroyed: every copy of their values left anywhere reads as erased.
    key_destroyed_at = models.DateTimeField(_("key destroyed"), null=True, blank=True, editable=False)
    # The subject's primary key, kept only while the erasure is pending so that the
    # beat task privacy_kit.resume_erasures can finish it; emptied when it is done.
    subject_key = models.CharField(_("subject key while pending"), max_length=64, blank=True, editable=False)

    class Meta:
        app_label = "privacy_kit"
        ordering = ["-requested_at", "-pk"]
        verbose_name = _("erasure record")
        verbose_name_plural = _("erasure records")

    def __str__(self) -> str:
        return f"{_('erasure')} #{self.pk} ({self.get_status_display()})"

    def add_counts(self, counts: dict[str, dict[str, int]]) -> None:
        """Add rows erased per model and action to the record's counts (not saved)."""
        for label, actions in counts.items():
            entry: dict[str, Any] = self.counts.setdefault(label, {})
            for action, number in actions.items():
                entry[action] = entry.get(action, 0) + number

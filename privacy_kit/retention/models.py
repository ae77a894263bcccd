"""Legal holds and the log of purge runs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models, router, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LegalHoldQuerySet(models.QuerySet):
    def active(self) -> LegalHoldQuerySet:
        return self.filter(released_at__isnull=True)


class LegalHold(models.Model):
    """Keep every row of a subject: no purge and no erasure touches them until released."""

    subject = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("subject"), on_delete=models.PROTECT)
    reason = models.TextField(_("reason"))
    placed_at = models.DateTimeField(_("placed"), default=timezone.now)
    released_at = models.DateTimeField(_("released"), null=True, blank=True)

    objects = LegalHoldQuerySet.as_manager()

    class Meta:
        app_label = "privacy_kit"
        ordering = ["-placed_at"]
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")

    def __str__(self) -> str:
        return f"{_('legal hold')} #{self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save the hold once the purge and erasure batches in flight have committed (see ``lock_holds``)."""
        from privacy_kit.retention.purge import lock_holds

        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using):
            lock_holds(using, exclusive=True)
            super().save(*args, **kwargs)

    def release(self) -> None:
        self.released_at = timezone.now()
        self.save(update_fields=["released_at"])


class PurgeRun(models.Model):
    """One run of one retention policy (or of one chunk of it). It holds counts, never personal data."""

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped: already running")

    policy = models.CharField(_("policy"), max_length=200, db_index=True)
    chunk = models.CharField(_("primary-key range"), max_length=100, blank=True)
    dry_run = models.BooleanField(_("dry run"), default=False)
    started_at = models.DateTimeField(_("started"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    deleted = models.PositiveBigIntegerField(_("rows deleted"), default=0)
    anonymized = models.PositiveBigIntegerField(_("rows anonymized"), default=0)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RUNNING)
    error = models.CharField(_("error"), max_length=200, blank=True)

    class Meta:
        app_label = "privacy_kit"
        ordering = ["-started_at"]
        verbose_name = _("purge run")
        verbose_name_plural = _("purge runs")

    def __str__(self) -> str:
        return f"{self.policy} {self.chunk} {self.status}".strip()

    def finish(self, status: str, **fields: Any) -> None:
        """Write the run's end: its status and time, and ``fields``; the counts its batches added stay."""
        for name, value in fields.items():
            setattr(self, name, value)
        self.status = status
        self.finished_at = timezone.now()
        self.save(update_fields=["status", "finished_at", *fields])

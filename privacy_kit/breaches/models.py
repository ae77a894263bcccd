"""The breach register: each personal data breach with what PDPL IR Art. 24 asks the notice to say."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

#: The authority is told within 72 hours of the controller becoming aware (PDPL IR Art. 24).
NOTIFICATION_DEADLINE = datetime.timedelta(hours=72)


class BreachQuerySet(models.QuerySet):
    def open(self) -> BreachQuerySet:
        """Return the breaches not closed."""
        return self.exclude(status=Breach.Status.CLOSED)

    def awaiting_notification(self) -> BreachQuerySet:
        """Return the open breaches whose notice has not reached the authority: their clocks run."""
        return self.open().filter(notified_authority_at__isnull=True)

    def due_before(self, moment: datetime.datetime) -> BreachQuerySet:
        """Return the breaches whose 72 hours end before ``moment`` (``due_at`` is ``aware_at`` + 72 h)."""
        return self.filter(aware_at__lt=moment - NOTIFICATION_DEADLINE)


class Breach(models.Model):
    """A personal data breach: its facts, the 72-hour clock, and who was told when.

    The fields are those of the notice to the authority (PDPL Art. 20, IR Art. 24):
    the nature of the breach, when it happened, was detected and became known,
    the categories of data and the approximate numbers of subjects and records,
    the likely consequences, the measures taken and proposed, and whom to ask.
    ``affected_models`` and the ``affected_from``/``affected_until`` window say
    which rows were exposed, so that the subjects to tell are listed from the
    registry (``privacy_kit.breaches.subjects_concerned``).
    """

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        NOTIFIED = "notified", _("authority notified")
        CLOSED = "closed", _("closed")

    title = models.CharField(_("title"), max_length=200)
    nature = models.TextField(_("nature of the breach"), help_text=_("What happened, how, and in what circumstances."))
    occurred_at = models.DateTimeField(
        _("occurred"), null=True, blank=True, help_text=_("When the breach happened or began, if known.")
    )
    detected_at = models.DateTimeField(_("detected"), default=timezone.now)
    aware_at = models.DateTimeField(
        _("became aware"),
        default=timezone.now,
        db_index=True,
        help_text=_("When the shop knew that personal data was breached: the 72 hours to notify run from here."),
    )
    affected_models = models.JSONField(_("models affected"), default=list, blank=True)
    affected_from = models.DateTimeField(
        _("rows affected from"),
        null=True,
        blank=True,
        help_text=_("The earliest date of the rows exposed; empty for every row up to the end of the window."),
    )
    affected_until = models.DateTimeField(
        _("rows affected until"),
        null=True,
        blank=True,
        help_text=_("The latest date of the rows exposed; empty for every row since the start of the window."),
    )
    data_categories = models.TextField(_("categories of personal data"), blank=True)
    approximate_subjects = models.PositiveIntegerField(
        _("approximate number of data subjects"),
        null=True,
        blank=True,
        help_text=_("Empty: the notice gives the number found in the registry."),
    )
    approximate_records = models.PositiveIntegerField(
        _("approximate number of records"),
        null=True,
        blank=True,
        help_text=_("Empty: the notice gives the number found in the registry."),
    )
    consequences = models.TextField(_("likely consequences"), blank=True)
    measures_taken = models.TextField(_("measures taken"), blank=True)
    measures_proposed = models.TextField(_("measures proposed"), blank=True)
    advice_to_subjects = models.TextField(
        _("advice to the data subjects"),
        blank=True,
        help_text=_("What the people concerned can do to protect themselves."),
    )
    contact_name = models.CharField(_("contact name"), max_length=200, blank=True)
    contact_email = models.EmailField(_("contact email"), blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=50, blank=True)
    notified_authority_at = models.DateTimeField(_("authority notified"), null=True, blank=True)
    subjects_notified_at = models.DateTimeField(_("data subjects notified"), null=True, blank=True)
    delay_reason = models.TextField(
        _("reasons for a late notification"), blank=True, help_text=_("Why the authority was told after 72 hours.")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True, editable=False)
    events = models.ManyToManyField(
        "privacy_kit.SecurityEvent", verbose_name=_("security events"), related_name="breaches", blank=True
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("recorded"), default=timezone.now, editable=False)

    objects = BreachQuerySet.as_manager()

    class Meta:
        app_label = "privacy_kit"
        ordering = ["-aware_at", "-pk"]
        verbose_name = _("breach")
        verbose_name_plural = _("breaches")

    def __str__(self) -> str:
        return f"{_('breach')} #{self.pk}: {self.title}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save the breach; closing it stamps ``closed_at`` (the five years of its record run from there)."""
        if self.status == self.Status.CLOSED and self.closed_at is None:
            self.closed_at = timezone.now()
        elif self.status != self.Status.CLOSED:
            self.closed_at = None
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "status" in update_fields:
            kwargs["update_fields"] = {*update_fields, "closed_at"}
        super().save(*args, **kwargs)

    @property
    def due_at(self) -> datetime.datetime:
        """Return when the authority must have been told: 72 hours after the shop became aware.

        Derived, never stored, so it cannot drift from ``aware_at``; query with
        ``Breach.objects.due_before(moment)``.
        """
        return self.aware_at + NOTIFICATION_DEADLINE

    def time_left(self, now: datetime.datetime | None = None) -> datetime.timedelta:
        """Return the time until ``due_at`` (negative once it has passed)."""
        return self.due_at - (now or timezone.now())

    def is_overdue(self, now: datetime.datetime | None = None) -> bool:
        """Return whether the 72 hours have passed without the authority being told (an open breach only)."""
        if self.notified_authority_at is not None or self.status == self.Status.CLOSED:
            return False
        return (now or timezone.now()) > self.due_at

    @property
    def notified_late(self) -> bool:
        """Return whether the authority was told after the 72 hours."""
        return self.notified_authority_at is not None and self.notified_authority_at > self.due_at

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        if self.detected_at and self.aware_at and self.aware_at < self.detected_at:
            errors["aware_at"] = _("The shop cannot have become aware of the breach before it was detected.")
        if self.occurred_at and self.detected_at and self.detected_at < self.occurred_at:
            errors["detected_at"] = _("A breach cannot be detected before it happened.")
        if self.affected_from and self.affected_until and self.affected_until < self.affected_from:
            errors["affected_until"] = _("The end of the window is before its start.")
        if self.notified_authority_at and self.aware_at and self.notified_authority_at < self.aware_at:
            errors["notified_authority_at"] = _("The authority cannot have been told before the shop became aware.")
        if self.status == self.Status.NOTIFIED and self.notified_authority_at is None:
            errors["notified_authority_at"] = _("Say when the authority was notified.")
        if self.notified_late and not self.delay_reason.strip():
            errors["delay_reason"] = _("The authority was told after 72 hours: give the reasons for the delay.")
        from .subjects import unknown_models

        unknown = unknown_models(self.affected_models)
        if unknown:
            errors["affected_models"] = _("Not in the personal-data registry: %(labels)s.") % {
                "labels": ", ".join(unknown)
            }
        if errors:
            raise ValidationError(errors)

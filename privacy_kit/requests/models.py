"""The register of data-subject requests: each request, its 30-day clock, who verified and handled it, and why.

PDPL Implementing Regulation Art. 3: a request is answered within 30 days of its
receipt, extendable once by up to 30 more with notice and reasons to the subject;
the controller verifies the requester's identity and keeps a record of every
request, refusals and their reasons included.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

#: A request is answered within 30 days of its receipt (PDPL IR Art. 3).
ANSWER_WITHIN = datetime.timedelta(days=30)
#: One extension, of at most 30 more days.
LONGEST_EXTENSION = datetime.timedelta(days=30)


class DataRequestQuerySet(models.QuerySet):
    def open(self) -> DataRequestQuerySet:
        """Return the requests still to answer: received, verified or in progress."""
        return self.filter(status__in=DataRequest.OPEN_STATUSES)

    def closed(self) -> DataRequestQuerySet:
        """Return the requests answered: fulfilled or refused."""
        return self.exclude(status__in=DataRequest.OPEN_STATUSES)

    def with_due_by(self) -> DataRequestQuerySet:
        """Annotate ``due_by``: the extended date when there is one, else ``due_at``."""
        return self.annotate(due_by=Coalesce("extended_until", "due_at"))


class DataRequest(models.Model):
    """One request of a data subject about their data: what, by which channel, its clock, and its outcome.

    ``due_at`` is fixed when the request is saved first (``received_at`` + 30
    days); ``extended_until`` is the one extension. The workflow functions of
    ``privacy_kit.requests`` (``open_request``, ``verify``, ``begin``, ``extend``,
    ``refuse``, ``fulfil``) move it along; a closed request is not changed again.
    ``evidence`` says what was done, with counts and times, never a personal value.
    """

    class Kind(models.TextChoices):
        ACCESS = "access", _("access")
        COPY = "copy", _("copy (export)")
        CORRECTION = "correction", _("correction")
        ERASURE = "erasure", _("erasure")
        RESTRICTION = "restriction", _("restriction of processing")
        OBJECTION = "objection", _("objection to processing")
        WITHDRAWAL = "withdrawal", _("withdrawal of consent")

    class Channel(models.TextChoices):
        MY_DATA = "my_data", _("the my-data page")
        MAIL = "mail", _("mail or email")
        PHONE = "phone", _("phone")
        IN_PERSON = "in_person", _("in person")

    class Status(models.TextChoices):
        RECEIVED = "received", _("received")
        VERIFIED = "verified", _("identity verified")
        IN_PROGRESS = "in_progress", _("in progress")
        FULFILLED = "fulfilled", _("fulfilled")
        REFUSED = "refused", _("refused")

    class RefusalReason(models.TextChoices):
        REPETITIVE = "repetitive", _("repetitive")
        UNREASONABLE = "unreasonable", _("manifestly unfounded or unreasonable")
        IDENTITY_NOT_VERIFIED = "identity_not_verified", _("identity not verified")
        LEGAL_HOLD = "legal_hold", _("the data must be kept (legal hold)")
        OTHER = "other", _("other (see the note)")

    class IdentityMethod(models.TextChoices):
        SESSION_PASSWORD = "session_password", _("logged-in session and password")
        ACCOUNT_CONTACT = "account_contact", _("a reply from the account's email or phone")
        ID_DOCUMENT = "id_document", _("an identity document")
        IN_PERSON = "in_person", _("in person")
        OTHER = "other", _("other (see the note)")

    OPEN_STATUSES = (Status.RECEIVED, Status.VERIFIED, Status.IN_PROGRESS)
    #: Channels by which staff record a request in the admin.
    STAFF_CHANNELS = (Channel.MAIL, Channel.PHONE, Channel.IN_PERSON)

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    # SET_NULL: an erased account stays (closed and anonymized); a user deleted outright leaves the record.
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("data subject"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="data_requests",
    )
    received_at = models.DateTimeField(_("received"), default=timezone.now, db_index=True)
    due_at = models.DateTimeField(_("due"), db_index=True, editable=False)
    extended_until = models.DateTimeField(_("extended until"), null=True, blank=True, editable=False)
    extension_reason = models.TextField(_("reason for the extension"), blank=True, editable=False)
    extended_at = models.DateTimeField(_("extended"), null=True, blank=True, editable=False)
    identity_verified_at = models.DateTimeField(_("identity verified"), null=True, blank=True, editable=False)
    identity_method = models.CharField(
        _("how the identity was verified"), max_length=20, choices=IdentityMethod.choices, blank=True, editable=False
    )
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("verified by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.RECEIVED, editable=False
    )
    refusal_reason = models.CharField(
        _("reason for the refusal"), max_length=30, choices=RefusalReason.choices, blank=True, editable=False
    )
    refusal_note = models.TextField(_("refusal note"), blank=True, editable=False)
    note = models.TextField(
        _("note"), blank=True, help_text=_("How the request came and what it asks; do not copy personal data here.")
    )
    # An earlier request of the same kind by the same subject within PRIVACY_KIT["REQUEST_REPEAT_DAYS"].
    repeat_of = models.ForeignKey(
        "self",
        verbose_name=_("repeats"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handled by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True, editable=False)
    evidence = models.JSONField(_("evidence"), default=dict, blank=True, editable=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    objects = DataRequestQuerySet.as_manager()

    class Meta:
        app_label = "privacy_kit"
        ordering = ["-received_at", "-pk"]
        verbose_name = _("data-subject request")
        verbose_name_plural = _("data-subject requests")
        indexes = [models.Index(fields=["subject", "kind", "-received_at"], name="privacy_kit_request_subject")]
        constraints = [
            # A request is never fulfilled without the requester's identity verified.
            models.CheckConstraint(
                condition=~models.Q(status="fulfilled") | models.Q(identity_verified_at__isnull=False),
                name="privacy_kit_request_fulfilled_verified",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="refused") | ~models.Q(refusal_reason=""),
                name="privacy_kit_request_refused_with_reason",
            ),
            models.CheckConstraint(
                condition=models.Q(extended_until__isnull=True) | models.Q(extended_until__gt=models.F("due_at")),
                name="privacy_kit_request_extended_after_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{_('request')} #{self.pk} ({self.get_kind_display()}, {self.get_status_display()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save the request; the first save fixes ``due_at`` at 30 days after ``received_at``."""
        if self.due_at is None:
            self.due_at = self.received_at + ANSWER_WITHIN
        super().save(*args, **kwargs)

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def deadline(self) -> datetime.datetime:
        """Return when the request must be answered: the extended date when there is one, else ``due_at``.

        ``DataRequest.objects.with_due_by()`` annotates the same as ``due_by``, to sort and filter by.
        """
        return self.extended_until or self.due_at

    def days_left(self, now: datetime.datetime | None = None) -> int:
        """Return the whole days until ``deadline`` (negative once it has passed)."""
        return (self.deadline - (now or timezone.now())).days

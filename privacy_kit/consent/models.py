"""Purposes, policy versions and the append-only consent ledger."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from privacy_kit.ledger import AppendOnlyModel, AppendOnlyQuerySet, LedgerError


class Purpose(models.Model):
    """A reason to process data that the customer can agree to, such as ``analytics``."""

    slug = models.SlugField(_("slug"), unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    requires_consent = models.BooleanField(
        _("requires consent"), default=True, help_text=_("Off only for processing the shop cannot work without.")
    )

    class Meta:
        app_label = "privacy_kit"
        ordering = ["slug"]
        verbose_name = _("purpose")
        verbose_name_plural = _("purposes")

    def __str__(self) -> str:
        return str(self.name)


class PolicyVersionQuerySet(models.QuerySet):
    def effective(self, at: Any = None) -> PolicyVersionQuerySet:
        return self.filter(effective_at__lte=at or timezone.now())

    def current(self, language: str | None = None) -> PolicyVersion | None:
        """Return the policy in effect, in ``language`` if published in it, else in any language."""
        effective = self.effective().order_by("-effective_at", "-pk")
        latest = effective.first()
        if latest is None:
            return None
        same_version = effective.filter(version=latest.version)
        if language:
            in_language = same_version.filter(language=language.split("-")[0]).first()
            if in_language:
                return in_language
        return same_version.filter(language=settings.LANGUAGE_CODE.split("-")[0]).first() or latest


class PolicyVersion(models.Model):
    """One published text of the privacy policy in one language; immutable once in effect."""

    version = models.CharField(_("version"), max_length=40)
    language = models.CharField(_("language"), max_length=10, help_text=_("A code of LANGUAGES, such as en or ar."))
    text = models.TextField(_("text"))
    text_sha256 = models.CharField(_("SHA-256 of the text"), max_length=64, editable=False)
    effective_at = models.DateTimeField(_("effective from"))
    requires_reconsent = models.BooleanField(
        _("requires new consent"),
        default=False,
        help_text=_("Consents given under earlier versions lapse when this version takes effect."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = PolicyVersionQuerySet.as_manager()

    class Meta:
        app_label = "privacy_kit"
        ordering = ["-effective_at"]
        constraints = [
            models.UniqueConstraint(fields=["version", "language"], name="privacy_kit_policy_version_language")
        ]
        verbose_name = _("policy version")
        verbose_name_plural = _("policy versions")

    def __str__(self) -> str:
        return f"{self.version} ({self.language})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            stored = PolicyVersion.objects.filter(pk=self.pk, effective_at__lte=timezone.now()).exists()
            if stored:
                raise LedgerError(
                    f"Policy version {self} is in effect and cannot change; publish a new version instead."
                )
        self.text_sha256 = hashlib.sha256(self.text.encode()).hexdigest()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        if self.is_effective:
            raise LedgerError(f"Policy version {self} is in effect and cannot be deleted.")
        return super().delete(*args, **kwargs)

    @property
    def is_effective(self) -> bool:
        return self.effective_at <= timezone.now()


class ConsentRecordQuerySet(AppendOnlyQuerySet):
    def for_subject(self, user_id: Any = None, visitor: Any = None) -> ConsentRecordQuerySet:
        if user_id is not None:
            return self.filter(user_id=user_id)
        return self.filter(visitor=visitor, user__isnull=True)


class ConsentRecord(AppendOnlyModel):
    """Evidence that a subject granted or withdrew one purpose under one policy text."""

    class Action(models.TextChoices):
        GRANT = "grant", _("granted")
        WITHDRAW = "withdraw", _("withdrawn")

    class Source(models.TextChoices):
        BANNER = "banner", _("consent banner")
        PREFERENCES = "preferences", _("preferences page")
        CHECKOUT = "checkout", _("checkout")
        ACCOUNT = "account", _("account page")
        API = "api", _("API")
        LOGIN = "login", _("carried over at login")
        ERASURE = "erasure", _("erasure of the subject")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, blank=True, on_delete=models.SET_NULL
    )
    visitor = models.UUIDField(_("visitor consent id"), null=True, blank=True, db_index=True)
    purpose = models.ForeignKey(Purpose, verbose_name=_("purpose"), on_delete=models.PROTECT)
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    policy_version = models.ForeignKey(PolicyVersion, verbose_name=_("policy version"), on_delete=models.PROTECT)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    ip_hash = models.CharField(_("keyed hash of the IP address"), max_length=32, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)

    objects = ConsentRecordQuerySet.as_manager()

    class Meta:
        app_label = "privacy_kit"
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "purpose", "-created_at"], name="privacy_kit_consent_user")]
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.purpose_id} @ {self.created_at:%Y-%m-%d %H:%M}"

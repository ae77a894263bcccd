"""The append-only access log and security events."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..ledger import AppendOnlyModel


class LogEntry(AppendOnlyModel):
    """A log row: when, and from which address."""

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        abstract = True


class AccessLog(LogEntry):
    """One opening of a record with personal data by a staff user: who, whose, what, when, from where."""

    # PROTECT: the log of a staff user's looks outlives the account; deactivate it instead.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("staff user"), on_delete=models.PROTECT, related_name="+"
    )
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("subject"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    model_label = models.CharField(_("model"), max_length=200)
    object_id = models.CharField(_("object id"), max_length=255)
    fields = models.JSONField(_("fields"), default=list)

    class Meta:
        app_label = "privacy_kit"
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["actor", "-created_at"], name="privacy_kit_access_actor")]
        # An export is everything of a customer, across models: a right of its own, not "view".
        permissions = [("export_personal_data", _("Can export a customer's personal data"))]
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log")

    def __str__(self) -> str:
        return f"{self.model_label} #{self.object_id}"


class SecurityEvent(LogEntry):
    """Something that may be an intrusion or that changes who can get in. ``detail`` holds no personal data."""

    class Kind(models.TextChoices):
        FAILED_LOGIN = "failed_login", _("failed login")
        FAILED_OTP = "failed_otp", _("failed one-time code")
        LOCKOUT = "lockout", _("lockout")
        UNLOCK = "unlock", _("unlock")
        BULK_ACCESS = "bulk_access", _("bulk access")
        EXPORT = "export", _("export")
        ERASURE = "erasure", _("erasure")
        CORRECTION = "correction", _("correction of personal data")
        KEY_ROTATION = "key_rotation", _("key rotation")
        DEVICE_ADDED = "device_added", _("two-factor device added")
        DEVICE_REMOVED = "device_removed", _("two-factor device removed")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    detail = models.CharField(_("detail"), max_length=200, blank=True)

    class Meta:
        app_label = "privacy_kit"
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["kind", "user", "-created_at"], name="privacy_kit_security_kind")]
        verbose_name = _("security event")
        verbose_name_plural = _("security events")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

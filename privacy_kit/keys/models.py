"""The subject keys: one random data key per subject, stored wrapped by the key provider."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SubjectKey(models.Model):
    """The data key of one subject (a user), wrapped by a key-encryption key.

    The subject is named by its primary key as text, not by a foreign key: the key may
    live in another database (``KEY_DATABASE``), and it must outlive the user so that
    an erased subject reads as "key destroyed", not as "no key". Destroying a key
    empties ``wrapped_key`` and sets ``destroyed_at``; the row stays, and a destroyed
    subject never gets a new key.
    """

    subject = models.CharField(_("subject"), max_length=64, editable=False)
    wrapped_key = models.BinaryField(_("wrapped key"), null=True, editable=False)
    key_id = models.CharField(_("key-encryption key id"), max_length=255, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    destroyed_at = models.DateTimeField(_("destroyed"), null=True, blank=True, editable=False)

    class Meta:
        app_label = "privacy_kit"
        verbose_name = _("subject key")
        verbose_name_plural = _("subject keys")
        constraints = [
            models.UniqueConstraint(fields=["subject"], name="privacy_kit_subjectkey_one_per_subject"),
            # A key is either there or destroyed, never both, never neither.
            models.CheckConstraint(
                condition=models.Q(wrapped_key__isnull=True, destroyed_at__isnull=False)
                | models.Q(wrapped_key__isnull=False, destroyed_at__isnull=True),
                name="privacy_kit_subjectkey_wrapped_or_destroyed",
            ),
        ]

    def __str__(self) -> str:
        return f"{_('subject key')} #{self.pk}"

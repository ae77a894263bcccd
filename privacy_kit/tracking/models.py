"""Behavioral data: what a customer searched, viewed, carted, bought or preferred."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from privacy_kit.fields import EncryptedJSONField


class BehavioralEvent(models.Model):
    """One behavioral event, recorded only under the subject's consent to its purpose."""

    class Kind(models.TextChoices):
        SEARCH = "search", _("search")
        PRODUCT_VIEW = "product_view", _("product view")
        CART = "cart", _("cart")
        PURCHASE = "purchase", _("purchase")
        PREFERENCE = "preference", _("preference")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, blank=True, on_delete=models.CASCADE
    )
    visitor = models.UUIDField(_("visitor consent id"), null=True, blank=True, db_index=True)
    purpose = models.ForeignKey("privacy_kit.Purpose", verbose_name=_("purpose"), on_delete=models.PROTECT)
    kind = models.CharField(_("kind"), max_length=40)
    data = EncryptedJSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        app_label = "privacy_kit"
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "purpose"], name="privacy_kit_event_user")]
        verbose_name = _("behavioral event")
        verbose_name_plural = _("behavioral events")

    def __str__(self) -> str:
        return f"{self.kind} @ {self.created_at:%Y-%m-%d %H:%M}"

from django.db import models
from django.utils.translation import gettext_lazy as _

from privacy_kit.fields import EncryptedCharField, EncryptedEmailField, EncryptedTextField


class Customer(models.Model):
    """A shop customer: every piece of contact data is encrypted at rest."""

    name = EncryptedCharField(_("name"), max_length=200)
    email = EncryptedEmailField(_("email"), searchable=True)
    phone = EncryptedCharField(_("phone"), max_length=30, blank=True)
    address = EncryptedTextField(_("address"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} #{self.pk}"

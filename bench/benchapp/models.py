"""Plain and encrypted twins of the same tables; created and dropped by ``bench/fields.py``, no migrations."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from privacy_kit.fields import EncryptedEmailField, EncryptedTextField


class PlainRow(models.Model):
    name = models.TextField()
    phone = models.TextField()
    address = models.TextField()

    def __str__(self) -> str:
        return self.name


class EncryptedRow(models.Model):
    name = EncryptedTextField()
    phone = EncryptedTextField()
    address = EncryptedTextField()

    def __str__(self) -> str:
        return self.name


class PlainEmail(models.Model):
    email = models.EmailField(db_index=True)

    def __str__(self) -> str:
        return self.email


class SearchableEmail(models.Model):
    email = EncryptedEmailField(searchable=True)

    def __str__(self) -> str:
        return self.email


class PlainEvent(models.Model):
    """``privacy_kit.BehavioralEvent`` with a plain ``JSONField``: the encryption's share, for ``bench/consent.py``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    visitor = models.UUIDField(null=True, blank=True, db_index=True)
    purpose = models.ForeignKey("privacy_kit.Purpose", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=40)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["user", "purpose"], name="bench_plainevent_user")]

    def __str__(self) -> str:
        return self.kind


class Order(models.Model):
    """A shop's order with the customer's encrypted contact details, for ``bench/rights.py``.

    ``bench/rights.py`` registers it like the registry's example: subject ``customer``,
    anonymized on erasure, ``total`` and ``created_at`` kept for the books.
    """

    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    full_name = EncryptedTextField()
    phone = EncryptedTextField()
    address = EncryptedTextField()
    total = models.DecimalField(max_digits=10, decimal_places=2)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"order {self.pk}"


class PlainSubjectRow(models.Model):
    """``SubjectRow`` with plain fields: the baseline of subject keys (the foreign key costs a plain write too)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.TextField()
    phone = models.TextField()
    address = models.TextField()

    def __str__(self) -> str:
        return f"row {self.pk}"


class SubjectRow(models.Model):
    """``EncryptedRow`` with a subject: registered with ``subject="user"`` by ``PeersBenchConfig`` only.

    Its values are sealed under each user's subject key once the fields use subject keys (``bench/peers.py``).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = EncryptedTextField()
    phone = EncryptedTextField()
    address = EncryptedTextField()

    def __str__(self) -> str:
        return f"row {self.pk}"

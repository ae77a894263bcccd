"""Plain and encrypted twins of the same tables; created and dropped by ``bench/fields.py``, no migrations."""

from django.db import models

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

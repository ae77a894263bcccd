from django.conf import settings
from django.db import models

from privacy_kit.fields import (
    EncryptedCharField,
    EncryptedDateField,
    EncryptedDateTimeField,
    EncryptedDecimalField,
    EncryptedEmailField,
    EncryptedIntegerField,
    EncryptedJSONField,
    EncryptedTextField,
    encrypt,
)


class Record(models.Model):
    """One column of every encrypted type."""

    char = EncryptedCharField(max_length=50, null=True, blank=True)
    short = EncryptedCharField(max_length=5, null=True, blank=True)
    text = EncryptedTextField(null=True, blank=True)
    email = EncryptedEmailField(null=True, blank=True, searchable=True)
    integer = EncryptedIntegerField(null=True, blank=True, searchable=True)
    decimal = EncryptedDecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    date = EncryptedDateField(null=True, blank=True, searchable=True)
    moment = EncryptedDateTimeField(null=True, blank=True)
    data = EncryptedJSONField(null=True, blank=True)
    flag = encrypt(models.BooleanField(null=True, blank=True))
    code = encrypt(models.CharField(max_length=20, null=True, blank=True), searchable=True)
    uid = encrypt(models.UUIDField(null=True, blank=True))
    plain = models.CharField(max_length=50, blank=True, default="")
    # Whose record it is, when a test registers Record with subject="owner" (subject keys).
    owner = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.CASCADE, related_name="+")


class Contact(models.Model):
    """Another model with an email column, to copy ciphertext between models."""

    email = EncryptedEmailField(null=True, searchable=True)
    note = EncryptedTextField(null=True)


class Visit(models.Model):
    """A row that points at a contact, to filter across a relation."""

    contact = models.ForeignKey(Contact, null=True, on_delete=models.CASCADE)


class AbstractPerson(models.Model):
    name = EncryptedCharField(max_length=100, searchable=True)

    class Meta:
        abstract = True


class Member(AbstractPerson):
    """A concrete model that inherits a searchable field from an abstract one."""


class Supplier(AbstractPerson):
    """A second child of the same abstract model: its own binding and its own index."""


class Order(models.Model):
    """A shop order: personal fields to anonymize, accounting fields to keep."""

    customer = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL)
    full_name = EncryptedCharField(max_length=100)
    phone = EncryptedCharField(max_length=30, blank=True)
    address = EncryptedTextField(null=True, blank=True)
    note = models.CharField(max_length=100, blank=True)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    created_at = models.DateTimeField()


class Cart(models.Model):
    """Cart lines, deleted some days after they were made."""

    customer = models.ForeignKey("auth.User", null=True, on_delete=models.CASCADE)
    product = models.CharField(max_length=100)
    added_on = models.DateField()


class PurgeEvent(models.Model):
    """A behavioral row for the purge worker tests: a user, a kind and a date, nothing encrypted."""

    user = models.ForeignKey("auth.User", null=True, on_delete=models.CASCADE)
    kind = models.CharField(max_length=40)
    created_at = models.DateTimeField(db_index=True)


class Customer(models.Model):
    """README's ten-line customer profile, registered as README says (tests/test_readme_customer.py)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = EncryptedCharField(max_length=200)
    email = EncryptedEmailField(searchable=True)
    phone = encrypt(models.CharField(max_length=30, blank=True))
    created = models.DateTimeField(auto_now_add=True)


class Person(models.Model):
    """Multi-table inheritance, the subject on the parent: PersonSecret's encrypted column is the child's."""

    owner = models.ForeignKey("auth.User", null=True, on_delete=models.CASCADE, related_name="+")


class PersonSecret(Person):
    secret = EncryptedCharField(max_length=100, blank=True)


class Sealed(models.Model):
    """Multi-table inheritance, the encrypted column on the parent and the subject on the child."""

    secret = EncryptedCharField(max_length=100, blank=True)


class SealedOwned(Sealed):
    owner = models.ForeignKey("auth.User", null=True, on_delete=models.CASCADE, related_name="+")


class Subscriber(models.Model):
    """A newsletter subscriber: the email is unique, enforced on its blind index (tests/test_unique.py)."""

    email = EncryptedEmailField(searchable=True, unique=True, null=True, blank=True)
    # Whose subscription it is, when a test registers Subscriber with subject="owner" (subject keys).
    owner = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.CASCADE, related_name="+")

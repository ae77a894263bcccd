# Copied from django-cryptography's tests/fields/models.py
# (https://github.com/georgemarshall/django-cryptography, commit a5cde9b)
# to run its field tests against privacy_kit.
# Copyright (c) 2016, George Marshall. All rights reserved.
# BSD 3-Clause License: see LICENSE in this directory.
# Changed: the import (django_cryptography.fields -> privacy_kit.fields); the pickled-field
# models and EncryptedTTLIntegerModel dropped (features privacy_kit does not offer).

from django.db import models

from privacy_kit.fields import encrypt


class EncryptedIntegerModel(models.Model):
    field = encrypt(models.IntegerField())


class EncryptedNullableIntegerModel(models.Model):
    field = encrypt(models.IntegerField(blank=True, null=True))


class EncryptedCharModel(models.Model):
    field = encrypt(models.CharField(max_length=15))


class EncryptedDateTimeModel(models.Model):
    datetime = encrypt(models.DateTimeField())
    date = encrypt(models.DateField())
    time = encrypt(models.TimeField())
    auto_now = encrypt(models.DateTimeField(auto_now=True))


class OtherEncryptedTypesModel(models.Model):
    ip = encrypt(models.GenericIPAddressField())
    uuid = encrypt(models.UUIDField())
    decimal = encrypt(models.DecimalField(max_digits=5, decimal_places=2))


@encrypt
class EncryptedFieldSubclass(models.IntegerField):
    pass

# Copied from django-cryptography's tests/fields/test_migrations_normal_to_encrypted/0003_add_encrypted_fields.py
# (https://github.com/georgemarshall/django-cryptography, commit a5cde9b)
# to run its field tests against privacy_kit.
# Copyright (c) 2016, George Marshall. All rights reserved.
# BSD 3-Clause License: see LICENSE in this directory.
# Changed: the import (django_cryptography.fields -> privacy_kit.fields);
# the pickled-field models and EncryptedTTLIntegerModel dropped, as from models.py.

from django.db import migrations, models

import privacy_kit.fields


class Migration(migrations.Migration):
    dependencies = [
        ("fields", "0002_rename_fields"),
    ]

    operations = [
        migrations.AddField(
            model_name="encryptedcharmodel",
            name="field",
            field=privacy_kit.fields.encrypt(
                models.CharField(default=None, max_length=15)
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="encrypteddatetimemodel",
            name="auto_now",
            field=privacy_kit.fields.encrypt(
                models.DateTimeField(default=None, auto_now=True)
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="encrypteddatetimemodel",
            name="date",
            field=privacy_kit.fields.encrypt(models.DateField(default=None)),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="encrypteddatetimemodel",
            name="datetime",
            field=privacy_kit.fields.encrypt(
                models.DateTimeField(default=None)
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="encrypteddatetimemodel",
            name="time",
            field=privacy_kit.fields.encrypt(models.TimeField(default=None)),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="encryptedintegermodel",
            name="field",
            field=privacy_kit.fields.encrypt(models.IntegerField(default=None)),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="encryptednullableintegermodel",
            name="field",
            field=privacy_kit.fields.encrypt(
                models.IntegerField(default=None, blank=True, null=True)
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="otherencryptedtypesmodel",
            name="decimal",
            field=privacy_kit.fields.encrypt(
                models.DecimalField(default=None, decimal_places=2, max_digits=5)
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="otherencryptedtypesmodel",
            name="ip",
            field=privacy_kit.fields.encrypt(
                models.GenericIPAddressField(default=None)
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="otherencryptedtypesmodel",
            name="uuid",
            field=privacy_kit.fields.encrypt(models.UUIDField(default=None)),
            preserve_default=False,
        ),
    ]

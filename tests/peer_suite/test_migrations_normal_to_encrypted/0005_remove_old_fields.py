# Copied from django-cryptography's tests/fields/test_migrations_normal_to_encrypted/0005_remove_old_fields.py
# (https://github.com/georgemarshall/django-cryptography, commit a5cde9b)
# to run its field tests against privacy_kit.
# Copyright (c) 2016, George Marshall. All rights reserved.
# BSD 3-Clause License: see LICENSE in this directory.
# Changed: the import (django_cryptography.fields -> privacy_kit.fields);
# the pickled-field models and EncryptedTTLIntegerModel dropped, as from models.py.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("fields", "0004_migrate_data"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="encryptedcharmodel",
            name="old_field",
        ),
        migrations.RemoveField(
            model_name="encrypteddatetimemodel",
            name="old_auto_now",
        ),
        migrations.RemoveField(
            model_name="encrypteddatetimemodel",
            name="old_date",
        ),
        migrations.RemoveField(
            model_name="encrypteddatetimemodel",
            name="old_datetime",
        ),
        migrations.RemoveField(
            model_name="encrypteddatetimemodel",
            name="old_time",
        ),
        migrations.RemoveField(
            model_name="encryptedintegermodel",
            name="old_field",
        ),
        migrations.RemoveField(
            model_name="encryptednullableintegermodel",
            name="old_field",
        ),
        migrations.RemoveField(
            model_name="otherencryptedtypesmodel",
            name="old_decimal",
        ),
        migrations.RemoveField(
            model_name="otherencryptedtypesmodel",
            name="old_ip",
        ),
        migrations.RemoveField(
            model_name="otherencryptedtypesmodel",
            name="old_uuid",
        ),
    ]

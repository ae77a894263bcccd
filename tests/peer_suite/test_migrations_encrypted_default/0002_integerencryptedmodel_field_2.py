# Copied from django-cryptography's tests/fields/test_migrations_encrypted_default/0002_integerencryptedmodel_field_2.py
# (https://github.com/georgemarshall/django-cryptography, commit a5cde9b)
# to run its field tests against privacy_kit.
# Copyright (c) 2016, George Marshall. All rights reserved.
# BSD 3-Clause License: see LICENSE in this directory.
# Changed: the import (django_cryptography.fields -> privacy_kit.fields)

from django.db import migrations, models

import privacy_kit.fields


class Migration(migrations.Migration):
    dependencies = [
        ("fields", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="integerencrypteddefaultmodel",
            name="field_2",
            field=privacy_kit.fields.encrypt(
                models.IntegerField(max_length=50, blank=True)
            ),
            preserve_default=False,
        ),
    ]

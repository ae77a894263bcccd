# Copied from django-cryptography's tests/fields/test_migrations_encrypted_default/0001_initial.py
# (https://github.com/georgemarshall/django-cryptography, commit a5cde9b)
# to run its field tests against privacy_kit.
# Copyright (c) 2016, George Marshall. All rights reserved.
# BSD 3-Clause License: see LICENSE in this directory.
# Changed: the import (django_cryptography.fields -> privacy_kit.fields)

from django.db import migrations, models

import privacy_kit.fields


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="IntegerEncryptedDefaultModel",
            fields=[
                (
                    "id",
                    models.AutoField(
                        verbose_name="ID",
                        serialize=False,
                        auto_created=True,
                        primary_key=True,
                    ),
                ),
                ("field", privacy_kit.fields.encrypt(models.IntegerField())),
            ],
        ),
    ]

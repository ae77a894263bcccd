# Copied from django-cryptography's tests/fields/test_migrations_normal_to_encrypted/0001_initial.py
# (https://github.com/georgemarshall/django-cryptography, commit a5cde9b)
# to run its field tests against privacy_kit.
# Copyright (c) 2016, George Marshall. All rights reserved.
# BSD 3-Clause License: see LICENSE in this directory.
# Changed: the import (django_cryptography.fields -> privacy_kit.fields);
# the pickled-field models and EncryptedTTLIntegerModel dropped, as from models.py.

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="EncryptedCharModel",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                ("field", models.CharField(max_length=15)),
            ],
        ),
        migrations.CreateModel(
            name="EncryptedDateTimeModel",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                ("datetime", models.DateTimeField()),
                ("date", models.DateField()),
                ("time", models.TimeField()),
                ("auto_now", models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.CreateModel(
            name="EncryptedIntegerModel",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                ("field", models.IntegerField()),
            ],
        ),
        migrations.CreateModel(
            name="EncryptedNullableIntegerModel",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                ("field", models.IntegerField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name="OtherEncryptedTypesModel",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                ("ip", models.GenericIPAddressField()),
                ("uuid", models.UUIDField()),
                ("decimal", models.DecimalField(decimal_places=2, max_digits=5)),
            ],
        ),
    ]

"""Which of the four suite runs (SQLite and PostgreSQL, under Django 5.2 and 6.1) a slow test joins.

What is slow runs where it tells something: a test of settings in the SQLite runs, a browser
flow in the PostgreSQL runs (the shop's database), a walk through migrations once per database.
"""

import os

import django
import pytest

ON_POSTGRES = os.environ.get("TEST_DATABASE", "sqlite") == "postgres"

settings_only = pytest.mark.skipif(ON_POSTGRES, reason="about settings, not the database: run in the SQLite runs")
postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="a browser flow: run on PostgreSQL, once per Django version")
once_per_database = pytest.mark.skipif(
    ON_POSTGRES != (django.VERSION >= (6,)),
    reason="walked once per database: SQLite under Django 5.2, PostgreSQL under Django 6",
)

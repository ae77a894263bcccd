"""Django set-up shared by the benchmarks that run on a database of their own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import django
from django.conf import settings

from privacy_kit.crypto import generate_key

PG_SERVER = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
PG_ADMIN_DATABASE = "test"  # connected to while creating and dropping a benchmark's own database


def default_database(database: str, sqlite_path: Path, postgres_name: str) -> dict[str, Any]:
    """Return the DATABASES entry of the benchmarked database: an SQLite file, or a PostgreSQL database."""
    if database == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(sqlite_path)}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": PG_SERVER["host"],
        "PORT": PG_SERVER["port"],
        "USER": PG_SERVER["user"],
        "NAME": postgres_name,
    }


def admin_settings(*, apps: list[str], locale: bool = False) -> dict[str, Any]:
    """Return the settings of a project with privacy_kit's admin as README installs it, ``apps`` added."""
    middleware = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        *(["django.middleware.locale.LocaleMiddleware"] if locale else []),
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django_otp.middleware.OTPMiddleware",
        "privacy_kit.middleware.ConsentMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "axes.middleware.AxesMiddleware",
    ]
    return {
        "INSTALLED_APPS": [
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "privacy_kit.two_factor.apps.PrivacyAdminConfig",
            "django_otp",
            "django_otp.plugins.otp_totp",
            "django_otp.plugins.otp_static",
            "axes",
            "privacy_kit",
            *apps,
        ],
        "MIDDLEWARE": middleware,
        "AUTHENTICATION_BACKENDS": ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"],
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        "STATIC_URL": "static/",
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
    }


def postgres_admin(statement: str) -> None:
    """Run one statement outside any transaction (CREATE or DROP DATABASE) on the PostgreSQL server."""
    import psycopg

    with psycopg.connect(**PG_SERVER, dbname=PG_ADMIN_DATABASE, autocommit=True) as connection:
        connection.execute(statement)


@contextmanager
def fresh_postgres_database(name: str) -> Iterator[None]:
    """Create the PostgreSQL database ``name`` for a run (dropping one an interrupted run left), drop it after."""
    postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    postgres_admin(f"CREATE DATABASE {name}")
    try:
        yield
    finally:
        from django.db import connections

        connections.close_all()
        postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def configure(databases: dict[str, dict[str, Any]], *, privacy_kit: dict[str, Any] | None = None, **extra: Any) -> None:
    """Configure and set up Django on ``databases`` (the DATABASES setting), with fresh keys for this run."""
    # The environment would win over the settings: benchmark with this run's keys only.
    os.environ.pop("PRIVACY_KIT_ENCRYPTION_KEYS", None)
    os.environ.pop("PRIVACY_KIT_BLIND_INDEX_KEY", None)
    settings.configure(
        DEBUG=False,  # DEBUG would record every query
        SECRET_KEY="privacy_kit benchmark",
        USE_TZ=True,
        ALLOWED_HOSTS=["testserver"],
        DATABASES=databases,
        PRIVACY_KIT={"ENCRYPTION_KEYS": [generate_key()], "BLIND_INDEX_KEY": generate_key(), **(privacy_kit or {})},
        **extra,
    )
    django.setup()

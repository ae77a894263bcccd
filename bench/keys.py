"""Benchmark subject-key lookups: ``keys_for`` of 1,000 subjects, cold and warm, per key provider.

For each database (SQLite in a temporary file, PostgreSQL at 127.0.0.1 in a database of its own,
``bench_keys``, created and dropped here) and each provider (``SettingsKeyProvider``, and
``AwsKmsKeyProvider`` against moto's KMS-compatible server started in this process) it measures:

1. plain:   ``list(values_list(...))`` of the 1,000 ``SubjectKey`` rows by ``subject__in``:
            the one query ``keys_for`` makes, without unwrapping;
2. cold:    ``keys_for`` of the 1,000 subjects with the key cache empty (the provider kept, as in
            a running process: AwsKmsKeyProvider has its intermediate key in memory);
3. new:     the same in a "new process": cache and provider both new (KMS: one ``Decrypt``);
4. warm:    ``keys_for`` of the 1,000 subjects, all cached;
5. create:  ``keys_for(..., create=True)`` of 1,000 new subjects.

Figures are the best of ``REPEATS`` (garbage collector off while the clock runs), printed in
milliseconds and as ratios to the plain query of the same run. moto's server shares this
process's CPU (and GIL), so its figures include the server's own time.

Run from the repository root (moto and boto3: ``pip install -e '.[dev]'``)::

    .venv/bin/python bench/keys.py [--subjects 1000] [--database sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]  # privacy_kit

import django_setup  # noqa: E402
from django_setup import default_database, postgres_admin  # noqa: E402
from timing import best_alternating, clock  # noqa: E402

REPEATS = 7
POSTGRES_NAME = "bench_keys"


def start_kms() -> tuple[object, str, str]:
    """Start moto's server on a free port; return it, its URL and a new key's id."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "me-central-1",
    }.items():
        os.environ.setdefault(name, value)
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    key_id = boto3.client("kms", endpoint_url=url).create_key()["KeyMetadata"]["KeyId"]
    return server, url, key_id


def bench(alias: str, providers: dict[str, dict], count: int) -> None:
    from django.db import connections

    from privacy_kit.models import SubjectKey

    with connections[alias].schema_editor() as editor:
        editor.create_model(SubjectKey)
    try:
        for name, extra in providers.items():
            bench_provider(alias, name, extra, count)
    finally:
        with connections[alias].schema_editor() as editor:
            editor.delete_model(SubjectKey)


def bench_provider(alias: str, name: str, extra: dict, count: int) -> None:
    from django.test import override_settings

    from privacy_kit.keys import keys_for, store
    from privacy_kit.keys import providers as key_providers
    from privacy_kit.models import SubjectKey

    fresh = itertools.count()
    subjects = [f"{name}-{n}" for n in range(count)]
    rows = SubjectKey.objects.using(alias)

    def plain() -> float:
        return clock(
            lambda: list(rows.filter(subject__in=subjects).values_list("subject", "wrapped_key", "destroyed_at"))
        )

    def cold() -> float:
        store.cache.clear()
        return clock(lambda: keys_for(subjects))

    def new_process() -> float:
        store.reset()
        key_providers.key_provider()  # building the client is not a lookup's cost
        return clock(lambda: keys_for(subjects))

    def warm() -> float:
        keys_for(subjects)
        return clock(lambda: keys_for(subjects))

    def create() -> float:
        batch = [f"{name}-new{next(fresh)}-{n}" for n in range(count)]
        return clock(lambda: keys_for(batch, create=True))

    with override_settings(PRIVACY_KIT={**django_setup.settings.PRIVACY_KIT, "KEY_DATABASE": alias, **extra}):
        keys_for(subjects, create=True)
        cases: list[Callable[[], float]] = [plain, cold, new_process, warm, create]
        times = best_alternating(REPEATS, *cases)
    figures = "  ".join(
        f"{label} {seconds * 1000:7.2f} ms x{seconds / times[0]:5.2f}"
        for label, seconds in zip(["plain", "cold", "new", "warm", "create"], times, strict=True)
    )
    print(f"{alias:8} {name:8} {figures}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=1_000, help="subjects per lookup (default 1,000)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    arguments = parser.parse_args()
    aliases = ["sqlite", "postgres"] if arguments.database == "both" else [arguments.database]
    server, url, key_id = start_kms()
    with tempfile.TemporaryDirectory() as directory:
        if "postgres" in aliases:
            postgres_admin(f"DROP DATABASE IF EXISTS {POSTGRES_NAME}")
            postgres_admin(f"CREATE DATABASE {POSTGRES_NAME}")
        databases: dict[str, dict] = {"default": {}}  # unused: every query names its database
        for alias in aliases:
            databases[alias] = default_database(alias, Path(directory) / "keys.sqlite3", POSTGRES_NAME)
        django_setup.configure(
            databases, INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "privacy_kit"]
        )
        providers = {
            "settings": {},
            "kms": {
                "KEY_PROVIDER": "privacy_kit.keys.providers.AwsKmsKeyProvider",
                "KMS_KEY_ID": key_id,
                "KMS_ENDPOINT_URL": url,
            },
        }
        try:
            print(f"keys_for of {arguments.subjects:,} subjects, best of {REPEATS}; ratios to the plain query")
            for alias in aliases:
                bench(alias, providers, arguments.subjects)
        finally:
            from django.db import connections

            connections.close_all()
            if "postgres" in aliases:
                postgres_admin(f"DROP DATABASE IF EXISTS {POSTGRES_NAME}")
            server.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()

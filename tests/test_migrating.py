"""docs/migrating.md, walked as written: a project on django-cryptography and on
fernet-encrypted-fields, with data the peers wrote, moved to privacy_kit in one ``migrate``.

One project with an app per library, run in subprocesses (``manage.py makemigrations``,
``migrate``, ``shell``) on the database of the run: a SQLite file, or a fresh PostgreSQL
database. It then drops the peers from the old migrations and migrates a new database
with the peers made unimportable.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.db import connection

from tests.docs import block_for, fenced_blocks
from tests.runs import once_per_database
from tests.settings import BASE_DIR

pytest.importorskip("django_cryptography.fields", reason="the dev extra installs it")
pytest.importorskip("encrypted_fields.fields", reason="the dev extra installs it")

DOC = BASE_DIR / "docs" / "migrating.md"
WALK_DATABASE = "privacy_kit_migrating_walk"
APPS = {"From django-cryptography": "patients", "From fernet-encrypted-fields": "members"}
# What the peers stored, then read back: Arabic text, a date and a null, JSON.
ROWS = """
from datetime import date
from django.contrib.auth.models import User
from {app}.models import {model}
user = User.objects.create(username="{app}-owner")
{model}.objects.create(user=user, name="ليلى العتيبي", born=date(1990, 2, 28), {json}={{"size": 42, "tags": ["أ"]}})
{model}.objects.create(user=None, name="Reem", born=None, {json}={{}})
"""
READ = """
import json
from {app}.models import {model}
print(json.dumps([[r.user_id is not None, r.name, str(r.born), r.{json}] for r in {model}.objects.order_by("pk")],
                 ensure_ascii=False))
"""


def run(*args: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{output}"
    return result.stdout


def shell(code: str, *, cwd: Path, env: dict[str, str]) -> str:
    """What ``manage.py shell -c`` printed last (Django 5.2 says first what it imported)."""
    return run("-m", "django", "shell", "-c", code, cwd=cwd, env=env).strip().splitlines()[-1]


def database_settings(name: str) -> str:
    if connection.vendor == "sqlite":
        return f'{{"ENGINE": "django.db.backends.sqlite3", "NAME": "{name}.sqlite3"}}'
    return (
        f'{{"ENGINE": "django.db.backends.postgresql", "NAME": "{name}", "USER": "postgres", '
        f'"HOST": "{os.environ.get("PGHOST", "127.0.0.1")}"}}'
    )


def fresh_database(name: str, root: Path) -> None:
    if connection.vendor == "sqlite":
        (root / f"{name}.sqlite3").unlink(missing_ok=True)
        return
    import psycopg

    host = os.environ.get("PGHOST", "127.0.0.1")
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def project(root: Path, database: str) -> dict[str, str]:
    """The shop: the test suite's settings (keys, apps) with the two apps and a database of its own."""
    (root / "walk_settings.py").write_text(
        textwrap.dedent(
            f"""
            from tests.settings import *  # noqa: F403

            INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in ("tests.testapp", "example_shop.shop")]
            INSTALLED_APPS += {list(APPS.values())!r}
            DATABASES = {{"default": {database_settings(database)}}}
            DATABASE_ROUTERS = []
            ROOT_URLCONF = "walk_urls"
            PRIVACY_KIT = {{**PRIVACY_KIT, "BASE_TEMPLATE": "privacy_kit/base.html"}}
            SALT_KEY = "the shop's salt"  # fernet-encrypted-fields' setting, kept until the move is done
            """
        )
    )
    (root / "walk_urls.py").write_text("urlpatterns = []\n")
    for app in APPS.values():
        (root / app / "migrations").mkdir(parents=True, exist_ok=True)
        (root / app / "__init__.py").touch()
        (root / app / "migrations" / "__init__.py").touch()
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")},
        "DJANGO_SETTINGS_MODULE": "walk_settings",
        "PYTHONPATH": os.pathsep.join([str(root), str(BASE_DIR)]),
    }


def models_block(heading: str, when: str) -> str:
    return block_for(fenced_blocks(DOC, heading), f"# yourapp/models.py, {when}")


def old_migrations_without_the_peers(path: Path) -> None:
    """docs/migrating.md step 4: each of the peer's fields becomes the column it was."""

    def kept(arguments: str, names: tuple[str, ...]) -> str:
        return ", ".join(part.strip() for part in arguments.split(",") if part.strip().startswith(names))

    text = re.sub(
        r"django_cryptography\.fields\.encrypt\(models\.\w+\((?P<args>[^()]*)\)\)",
        lambda match: f"models.BinaryField({kept(match['args'], ('null=',))})",
        path.read_text(),
    )
    text = re.sub(
        r"encrypted_fields\.fields\.Encrypted(?P<kind>\w+)Field\((?P<args>[^()]*)\)",
        lambda match: (
            f"models.{'JSON' if match['kind'] == 'JSON' else 'Text'}Field({kept(match['args'], ('null=', 'default='))})"
        ),
        text,
    )
    path.write_text(re.sub(r"^import (django_cryptography|encrypted_fields)\.fields\n", "", text, flags=re.M))


@once_per_database  # half a minute of subprocesses
@pytest.mark.django_db
def test_the_moves_of_docs_migrating_md_keep_every_value_and_leave_no_peer_behind(tmp_path):
    root = tmp_path
    fresh_database(WALK_DATABASE, root)
    env = project(root, WALK_DATABASE)
    models = {"patients": "Patient", "members": "Member"}
    json_field = {"patients": "notes", "members": "prefs"}

    # Before: the shop on the peers, with data they wrote.
    for heading, app in APPS.items():
        before = models_block(heading, "before").splitlines()[1:]
        (root / app / "models.py").write_text("\n".join(before) + "\n")
    run("-m", "django", "makemigrations", *APPS.values(), cwd=root, env=env)
    run("-m", "django", "migrate", "--noinput", cwd=root, env=env)
    for app, model in models.items():
        shell(ROWS.format(app=app, model=model, json=json_field[app]) + "print()", cwd=root, env=env)
    written = {
        app: shell(READ.format(app=app, model=model, json=json_field[app]), cwd=root, env=env)
        for app, model in models.items()
    }
    assert '"ليلى العتيبي", "1990-02-28"' in written["patients"], written

    # After: one import switched, makemigrations, the operation added, migrate.
    for heading, app in APPS.items():
        (root / app / "models.py").write_text("\n".join(models_block(heading, "after").splitlines()[1:]) + "\n")
        run("-m", "django", "makemigrations", app, "--name", "privacy_kit", cwd=root, env=env)
        migration = root / app / "migrations" / "0002_privacy_kit.py"
        operation = block_for(fenced_blocks(DOC, heading), "# yourapp/migrations/0002").splitlines()[1]
        text = migration.read_text().replace(
            "import privacy_kit.fields", "import privacy_kit.fields\nimport privacy_kit.operations"
        )
        head, tail = text.rsplit("\n    ]\n", 1)  # the end of operations
        migration.write_text(head + "\n" + operation + "\n    ]\n" + tail)
    run("-m", "django", "migrate", "--noinput", cwd=root, env=env)

    for app, model in models.items():
        assert shell(READ.format(app=app, model=model, json=json_field[app]), cwd=root, env=env) == written[app], app
    # Stored as privacy_kit's: the owner's row under the owner's key (version 2), the other under the shared keys.
    stored = shell(
        (
            "import base64; from django.db import connection; c = connection.cursor();"
            "c.execute('SELECT name FROM patients_patient ORDER BY id');"
            "print([base64.b64decode(v)[0] for (v,) in c.fetchall()])"
        ),
        cwd=root,
        env=env,
    )
    assert stored == "[2, 1]", stored

    # Step 4: the old migrations without the peers; the state still matches the models.
    for app in APPS.values():
        old_migrations_without_the_peers(root / app / "migrations" / "0001_initial.py")
        assert not re.search(
            r"django_cryptography|encrypted_fields", (root / app / "migrations" / "0001_initial.py").read_text()
        )
    run("-m", "django", "makemigrations", "--check", "--dry-run", *APPS.values(), cwd=root, env=env)
    # A new database migrates with neither peer importable.
    fresh_database(WALK_DATABASE + "_new", root)
    env_new = project(root, WALK_DATABASE + "_new")
    blocked = "import sys; sys.modules['django_cryptography'] = sys.modules['encrypted_fields'] = None; "
    run(
        "-c",
        blocked + "from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'migrate', '--noinput'])",
        cwd=root,
        env=env_new,
    )

"""A new shop installs privacy_kit from the README alone, the first time.

The walk a new user takes: build the sdist and the wheel, install the wheel the way the
README says into a fresh virtual environment (Python 3.13 where there is one), start a
project with ``django-admin startproject``, apply the README's install blocks as they are
written (read from README.md, so the two cannot drift), add the README's customer model,
then check, check --deploy, migrate on PostgreSQL, serve, and run a real Celery worker
and beat wired as docs/operations.md says.

It takes a minute or two, so it runs once, from ``make test-install`` (which
``make test`` runs), not in each of the four suite runs.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import textwrap
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.docs import block_for, fenced_blocks
from tests.settings import BASE_DIR

pytestmark = pytest.mark.skipif(
    not os.environ.get("PRIVACY_KIT_INSTALL_TEST"), reason="run once by make test-install"
)

PROJECT = "myshop"
DATABASE = "privacy_kit_install_walk"
REDIS_DB = 14
VENV = BASE_DIR / ".venv-install"


def run(*args: object, cwd: Path, env: dict[str, str], timeout: int = 300) -> str:
    """Run a command; fail the test with its output when it fails."""
    result = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{output}"
    assert "Traceback" not in output, output
    return output


def install_python() -> str:
    """The interpreter of the walk: $INSTALL_PYTHON (make passes 3.13 when it is there)."""
    return os.environ.get("INSTALL_PYTHON") or sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_line(process: subprocess.Popen, log: Path, pattern: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text()
        if re.search(pattern, text):
            return text
        assert process.poll() is None, f"the process ended:\n{text}"
        time.sleep(0.3)
    raise AssertionError(f"{pattern!r} did not appear:\n{log.read_text()}")


def get(url: str) -> tuple[int, str, str]:
    """GET without following redirects: (status, Location, body)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, "", response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location", ""), error.read().decode()


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist and the wheel built from it, as a package index would get them."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, BASE_DIR, cwd=BASE_DIR, env=dict(os.environ), timeout=600)
    return out


def test_the_distribution_is_django_privacy_kit_with_license_and_links(dist):
    (wheel,) = dist.glob("*.whl")
    assert wheel.name.startswith("django_privacy_kit-"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
        names = archive.namelist()
    assert "Name: django-privacy-kit\n" in metadata
    assert re.search(r"^License-File: LICENSE$", metadata, flags=re.M)
    assert any(name.endswith(".dist-info/licenses/LICENSE") or name.endswith(".dist-info/LICENSE") for name in names)
    assert re.search(r"^Project-URL: Source, https://", metadata, flags=re.M)
    assert "privacy_kit/static/privacy_kit/consent.css" in names
    # The long description is README.md, whose links are absolute, so they work on the index.
    assert "](docs/" not in metadata


def test_the_sdist_holds_what_the_tests_and_the_docs_need_and_its_tests_run(dist, tmp_path):
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    (root,) = tmp_path.iterdir()
    for needed in [
        "LICENSE", "README.md", "Makefile", "docs/checks.md", "tests/settings.py", "tests/conftest.py",
        "tests/testapp/models.py", "tests/testapp/migrations/0001_initial.py", "example_shop/settings/base.py",
    ]:
        assert (root / needed).is_file(), f"{needed} is missing from the sdist"
    env = {**os.environ, "TEST_DATABASE": "sqlite"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    output = run(sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "tests/test_crypto.py", cwd=root, env=env)
    assert re.search(r"\d+ passed", output), output


@pytest.fixture(scope="module")
def venv(dist) -> Path:
    """A virtual environment where the README's pip line installed the wheel.

    The dependencies are kept between runs while setup.cfg and the interpreter stay the
    same; the wheel itself is installed again each time.
    """
    (wheel,) = dist.glob("*.whl")
    readme_install = fenced_blocks(BASE_DIR / "README.md", "Install into your shop")[0]
    assert 'pip install "django-privacy-kit[postgres]"' in readme_install
    stamp = hashlib.sha256((BASE_DIR / "setup.cfg").read_bytes() + install_python().encode()).hexdigest()
    pip = [VENV / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    env = dict(os.environ)
    if (VENV / ".stamp").is_file() and (VENV / ".stamp").read_text() == stamp:
        run(*pip, "--no-deps", "--force-reinstall", wheel, cwd=BASE_DIR, env=env)
    else:
        shutil.rmtree(VENV, ignore_errors=True)
        run(install_python(), "-m", "venv", VENV, cwd=BASE_DIR, env=env)
        run(*pip, f"{wheel}[postgres]", cwd=BASE_DIR, env=env, timeout=900)
        (VENV / ".stamp").write_text(stamp)
    return VENV


@pytest.fixture(scope="module")
def shop(venv, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A new project with the README's install blocks, its customer model and Celery wiring."""
    root = tmp_path_factory.mktemp("shop")
    env = {
        key: value for key, value in os.environ.items() if key not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH"}
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    python = venv / "bin" / "python"
    run(venv / "bin" / "django-admin", "startproject", PROJECT, root, cwd=root, env=env)
    run(python, "manage.py", "startapp", "customers", cwd=root, env=env)

    readme = BASE_DIR / "README.md"
    shell, settings_block, urls_block = fenced_blocks(readme, "Install into your shop")
    key_command = next(line for line in shell.splitlines() if line.startswith("python -c"))
    key_command = key_command.split("   #", 1)[0]
    keys = [run(*["python", "-c", key_command.split('"')[1]], cwd=root, env=env).strip() for _ in range(2)]
    settings_block = settings_block.replace("<the first key>", keys[0]).replace("<the second key>", keys[1])
    model_block = block_for(fenced_blocks(readme, "A customer, encrypted"), "# yourapp/models.py")

    wiring = fenced_blocks(BASE_DIR / "docs" / "operations.md", "Wiring")
    celery_module = block_for(wiring, "# yourshop/celery.py").replace("yourshop", PROJECT)
    package_init = block_for(wiring, "# yourshop/__init__.py")
    celery_settings = block_for(wiring, "# yourshop/settings.py").replace("/0", f"/{REDIS_DB}")

    package = root / PROJECT
    settings = package / "settings.py"
    settings.write_text(
        settings.read_text()
        + "\n"
        + settings_block
        + textwrap.dedent(
            f"""
            # The shop's own: its app, its database, its pages.
            import os
            INSTALLED_APPS += ["customers"]
            DATABASES = {{"default": {{"ENGINE": "django.db.backends.postgresql",
                                      "NAME": os.environ.get("WALK_DATABASE", "{DATABASE}"),
                                      "USER": "postgres", "HOST": "127.0.0.1", "PORT": "5432"}}}}
            TEMPLATES[0]["DIRS"] = [BASE_DIR / "templates"]
            """
        )
        + celery_settings
    )
    (package / "production.py").write_text(
        textwrap.dedent(
            """
            from .settings import *  # noqa: F403

            DEBUG = False
            SECRET_KEY = "a-production-secret-for-the-walk-" + "x" * 40
            ALLOWED_HOSTS = ["shop.example"]
            SECURE_SSL_REDIRECT = True
            SECURE_HSTS_SECONDS = 31536000
            SECURE_HSTS_INCLUDE_SUBDOMAINS = True
            SECURE_HSTS_PRELOAD = True
            SESSION_COOKIE_SECURE = True
            CSRF_COOKIE_SECURE = True
            MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend"}}
            """
        )
    )
    urls = package / "urls.py"
    urls.write_text(
        urls.read_text()
        + "\n"
        + urls_block
        + textwrap.dedent(
            """
            from django.views.generic import TemplateView

            urlpatterns += [path("", TemplateView.as_view(template_name="home.html")),
                            path("accounts/", include("django.contrib.auth.urls"))]
            """
        )
    )
    (root / "templates" / "registration").mkdir(parents=True)
    (root / "templates" / "home.html").write_text(
        "{% load static privacy_kit %}<!doctype html><html><head>"
        '<link rel="stylesheet" href="{% static \'privacy_kit/consent.css\' %}"></head>'
        "<body><h1>My shop</h1>{% consent_banner %}</body></html>"
    )
    (root / "templates" / "registration" / "login.html").write_text("<form method=post>{{ form }}</form>")
    (root / "customers" / "models.py").write_text(model_block)
    (package / "celery.py").write_text(celery_module)
    (package / "__init__.py").write_text(package_init)
    return root, env


def fresh_database(name: str) -> None:
    """An empty PostgreSQL database of that name, dropped first if a run left one."""
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


@pytest.fixture(scope="module")
def migrated(shop):
    """The shop's migrations made and applied on a fresh PostgreSQL database."""
    fresh_database(DATABASE)
    root, env = shop
    run("python", "manage.py", "makemigrations", "customers", cwd=root, env=env)
    run("python", "manage.py", "migrate", "--noinput", cwd=root, env=env)
    return shop


def test_check_is_clean_before_migrate(shop):
    """On a database of its own, created and not migrated, whatever order the tests run in.

    (Django 6.1 asks the database's version to check a GeneratedField, so it must exist.)
    """
    root, env = shop
    fresh_database(empty := f"{DATABASE}_empty")
    env = {**env, "WALK_DATABASE": empty}
    output = run("python", "manage.py", "check", "--fail-level", "WARNING", cwd=root, env=env)
    assert "System check identified no issues" in output, output


@pytest.fixture(scope="module")
def published(migrated):
    """A purpose and a policy in effect, as docs/consent.md asks before the banner shows."""
    root, env = migrated
    run(
        "python", "manage.py", "shell", "-c",
        "from django.utils import timezone; from privacy_kit.consent.models import Purpose, PolicyVersion;"
        "Purpose.objects.create(slug='analytics', name='Analytics');"
        "PolicyVersion.objects.create(version='1', language='en', text='Our policy.', effective_at=timezone.now())",
        cwd=root, env=env,
    )
    return migrated


def test_right_after_migrate_the_only_warning_is_that_the_banner_has_nothing_to_ask(migrated):
    """No purge was due yet (no W031); the banner's empty state is said (W037), nothing else."""
    root, env = migrated
    result = subprocess.run(
        ["python", "manage.py", "check", "--database", "default", "--fail-level", "WARNING"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )
    output = result.stdout + result.stderr
    assert "(privacy_kit.W037)" in output and "System check identified 1 issue" in output, output


def test_check_with_the_database_is_clean_once_a_policy_is_published(published):
    root, env = published
    output = run("python", "manage.py", "check", "--database", "default", "--fail-level", "WARNING", cwd=root, env=env)
    assert "System check identified no issues" in output, output


def test_check_deploy_is_clean_with_production_settings(migrated):
    root, env = migrated
    output = run(
        "python", "manage.py", "check", "--deploy", "--fail-level", "WARNING",
        "--settings", f"{PROJECT}.production", cwd=root, env=env,
    )
    assert "System check identified no issues" in output, output


def test_the_readme_customer_is_encrypted_searchable_and_registered(migrated):
    root, env = migrated
    create = block_for(fenced_blocks(BASE_DIR / "README.md", "A customer, encrypted"), "Customer.objects.create")
    script = textwrap.dedent(
        """
        from django.contrib.auth import get_user_model
        from django.db import connection
        from customers.models import Customer
        from privacy_kit import registry
        from privacy_kit.rights import export_subject

        user = get_user_model().objects.create_user("reem", password="a long walk password")
        """
    ) + create + textwrap.dedent(
        """
        print("name:", Customer.objects.get(email="reem@example.sa").name)
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, email FROM customers_customer")
            print("stored:", cursor.fetchone())
        print("registered:", registry.get("customers.Customer").subject)
        models = [record["model"] for record in export_subject(user)["records"]]
        print("exported:", "customers.customer" in [name.lower() for name in models])
        """
    )
    output = run("python", "manage.py", "shell", "-c", script, cwd=root, env=env)
    assert "name: Reem" in output
    stored = output.split("stored:", 1)[1].splitlines()[0]
    assert "Reem" not in stored and "example.sa" not in stored.lower()
    assert "registered: user" in output
    assert "exported: True" in output


def test_the_new_shop_serves_its_pages_behind_the_two_factor_admin(published):
    root, env = published
    port = free_port()
    log = root / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            ["python", "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        wait_for_line(server, log, "Quit the server with")
        base = f"http://127.0.0.1:{port}"
        status, _, home = get(f"{base}/")
        assert status == 200 and "My shop" in home
        assert 'class="privacy-banner"' in home, home
        status, _, css = get(f"{base}/static/privacy_kit/consent.css")
        assert status == 200 and "{" in css
        status, _, preferences = get(f"{base}/privacy/preferences/")
        assert status == 200 and "Analytics" in preferences
        status, location, _ = get(f"{base}/admin/")
        assert status == 302 and location.startswith("/admin/login/"), (status, location)
        status, _, login = get(f"{base}/admin/login/")
        assert status == 200 and 'name="otp_token"' in login, login
        status, location, _ = get(f"{base}/privacy/my-data/")
        assert status == 302 and location.startswith("/accounts/login/"), (status, location)
        assert get(f"{base}{location}")[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "Traceback" not in log.read_text(), log.read_text()


def test_a_real_worker_and_beat_run_as_docs_operations_wires_them(published):
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()
    root, env = published
    worker_log, beat_log = root / "worker.log", root / "beat.log"
    with worker_log.open("w") as out:
        worker = subprocess.Popen(
            ["celery", "-A", PROJECT, "worker", "--pool", "solo", "--loglevel", "INFO"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    with beat_log.open("w") as out:
        beat = subprocess.Popen(
            ["celery", "-A", PROJECT, "beat", "--loglevel", "INFO", "--schedule", str(root / "beat-schedule")],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        text = wait_for_line(worker, worker_log, r"celery@\S+ ready")
        assert "privacy_kit.purge_expired" in text  # the tasks were discovered
        run(
            "python", "manage.py", "shell", "-c",
            "from privacy_kit.tasks import purge_expired; purge_expired.delay()",
            cwd=root, env=env,
        )
        wait_for_line(worker, worker_log, r"Task privacy_kit\.purge_expired\[[^\]]+\] succeeded")
        wait_for_line(beat, beat_log, r"beat: Starting")
    finally:
        for process in (worker, beat):
            process.terminate()
            process.wait(timeout=20)
    for text in (worker_log.read_text(), beat_log.read_text()):
        assert "Traceback" not in text and "settings are not configured" not in text, text

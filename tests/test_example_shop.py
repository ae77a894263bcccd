"""The demo shop: its customers are encrypted, its admin shows them decrypted, and it starts from nothing."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from example_shop.shop.models import Customer

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def customer():
    return Customer.objects.create(
        name="Reem Al-Saud", email="Reem@Example.sa", phone="+966 55 000 1111", address="حي النخيل، الرياض"
    )


def test_customer_data_is_encrypted_at_rest(customer):
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, email, phone, address FROM shop_customer WHERE id = %s", [customer.pk])
        row = " ".join(cursor.fetchone())
    assert "Reem" not in row and "0001111" not in row and "النخيل" not in row


def test_admin_shows_the_customer_decrypted(verified_admin_client, customer):
    page = verified_admin_client.get(f"/admin/shop/customer/{customer.pk}/change/")
    assert page.status_code == 200
    assert "Reem Al-Saud" in page.content.decode() and "حي النخيل" in page.content.decode()


def test_admin_search_by_exact_email_uses_the_blind_index(verified_admin_client, customer):
    Customer.objects.create(name="Other", email="other@example.sa")
    page = verified_admin_client.get("/admin/shop/customer/", {"q": "reem@example.sa"})
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    assert list(page.context["cl"].result_list) == [customer]


def test_admin_edit_saves_encrypted(verified_admin_client, customer):
    data = {"name": "Reem S.", "email": "reem@example.sa", "phone": "", "address": ""}
    response = verified_admin_client.post(f"/admin/shop/customer/{customer.pk}/change/", data)
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "Reem S." and Customer.objects.get(email="REEM@example.sa") == customer


def test_admin_rejects_an_invalid_email_on_the_plaintext(verified_admin_client, customer):
    data = {"name": "X", "email": "not-an-email", "phone": "", "address": ""}
    response = verified_admin_client.post(f"/admin/shop/customer/{customer.pk}/change/", data)
    assert response.status_code == 200 and "email" in response.context["adminform"].form.errors


def demo_environment(database_url):
    """The environment of `make demo`: the demo's own settings, no Redis, a database of the test's own."""
    env = {**os.environ, "DATABASE_URL": database_url}
    for name in ("DJANGO_SETTINGS_MODULE", "REDIS_URL"):
        env.pop(name, None)
    return env


def run_demo_command(*args, database_url):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=demo_environment(database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_page(url, server, seconds=60):
    """Return the status of GET url once the server answers; fail if it exits or never answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()[1]
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status
        except OSError:
            time.sleep(0.25)
    raise AssertionError(f"{url} did not answer in {seconds} s")


def test_demo_starts_on_an_empty_database_with_no_warning(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    migrate = run_demo_command("migrate", "--noinput", database_url=database_url)
    assert migrate.returncode == 0, migrate.stderr
    check = run_demo_command("check", "--fail-level", "WARNING", database_url=database_url)
    assert check.returncode == 0 and "no issues" in check.stdout, check.stderr


def test_demo_start_up_path_serves_the_seeded_shop(tmp_path):
    """`make demo` on an empty SQLite database: migrate, seed, staff account, runserver, home page."""
    database_url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    for command in (["migrate", "--noinput"], ["seed_shop"], ["demo_staff"]):
        result = run_demo_command(*command, database_url=database_url)
        assert result.returncode == 0, result.stderr
    assert "TOTP secret" in result.stdout
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=demo_environment(database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for_page(f"http://127.0.0.1:{port}/", server) == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/search/?q=dates", timeout=5) as response:
            assert "Sukkari" in response.read().decode()
    finally:
        server.terminate()
        server.communicate(timeout=30)

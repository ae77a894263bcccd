"""Running the demo shop for real: production settings pass check --deploy; the demo's staff account."""

import base64
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.utils import get_random_secret_key
from django_otp.plugins.otp_totp.models import TOTPDevice

from example_shop.shop.demo import DEMO_PASSWORD, DEMO_USERNAME, demo_device

ROOT = Path(__file__).resolve().parent.parent


def random_key():
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def production_environment(tmp_path, **changes):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_shop.settings.production",
        "SECRET_KEY": get_random_secret_key(),
        "ALLOWED_HOSTS": "shop.example.sa,www.shop.example.sa",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "PRIVACY_KIT_ENCRYPTION_KEYS": random_key(),
        "PRIVACY_KIT_BLIND_INDEX_KEY": random_key(),
        **changes,
    }
    return {name: value for name, value in env.items() if value is not None}


def manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_check_deploy_with_no_warning(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_environment(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key(tmp_path):
    result = manage("check", env=production_environment(tmp_path, SECRET_KEY=None))
    assert result.returncode != 0 and "Set the SECRET_KEY environment variable" in result.stderr


def test_production_settings_without_encryption_keys_fail_the_check(tmp_path):
    env = production_environment(tmp_path, PRIVACY_KIT_ENCRYPTION_KEYS=None)
    result = manage("check", "--deploy", env=env)
    assert result.returncode != 0 and "privacy_kit.E001" in result.stderr


@pytest.mark.django_db
def test_demo_staff_is_a_superuser_with_a_confirmed_totp_device(settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("demo_staff", stdout=out)
    device = demo_device()
    assert device.confirmed and device.user.is_superuser and device.user.check_password(DEMO_PASSWORD)
    assert DEMO_USERNAME in out.getvalue() and DEMO_PASSWORD in out.getvalue()


@pytest.mark.django_db
def test_demo_staff_twice_keeps_one_device(settings):
    settings.DEBUG = True
    call_command("demo_staff", stdout=io.StringIO())
    call_command("demo_staff", stdout=io.StringIO())
    assert TOTPDevice.objects.filter(user__username=DEMO_USERNAME).count() == 1


@pytest.mark.django_db
def test_demo_totp_prints_a_code_the_device_accepts(settings):
    settings.DEBUG = True
    call_command("demo_staff", stdout=io.StringIO())
    out = io.StringIO()
    call_command("demo_totp", stdout=out)
    assert demo_device().verify_token(out.getvalue().split()[0])


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["demo_staff", "demo_totp"])
def test_demo_commands_refuse_to_run_without_debug(settings, command):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only with DEBUG"):
        call_command(command, stdout=io.StringIO())

"""Benchmark the admin login with a passkey against the login with an authenticator app's code (TOTP).

For each database (SQLite in a temporary file; PostgreSQL at 127.0.0.1, user postgres, in a database
``bench_admin_login`` created for the run and dropped at the end) a staff user with an authenticator
app and a passkey logs in through Django's test ``Client``, each time in a new session:

- TOTP:    one POST of ``/admin/login/`` with username, password and the app's current code;
- passkey: the POST that asks for a challenge (``/admin/two-factor/passkey-login/options/``), then the
           POST of ``/admin/login/`` with username, password and the passkey's answer. The answer is
           signed between the two (tests/passkeys.py, a P-256 key as a device holds one), off the clock:
           that is the device's work, not the server's.

Both are timed with the password hashed by MD5 (so that the second factor's cost shows) and by Django's
default PBKDF2 (what a shop's login costs). The queries per login are counted with
``CaptureQueriesContext``. Every figure is the best of several repetitions timed with
``time.perf_counter``, the garbage collector off while the clock runs, TOTP and passkey alternating so
drift hits both alike. Between TOTP logins the device forgets its last code (off the clock): django-otp
refuses a code twice. It prints figures, not verdicts.

Run from the repository root::

    .venv/bin/python bench/admin_login.py [--logins 20] [--database sqlite|postgres|both]
                                          [--hasher md5|pbkdf2_sha256|both]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import types
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import django

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]  # timing, privacy_kit, example_shop, tests

import django_setup  # noqa: E402
from django_setup import admin_settings, default_database, fresh_postgres_database  # noqa: E402
from timing import best_alternating, clock  # noqa: E402

REPEATS = 5
PG_DATABASE = "bench_admin_login"
URLCONF = "bench_admin_login_urls"  # a module made in configure(), not a file
PASSWORD = "bench-password"
ORIGIN = "https://localhost"
HASHERS = {
    "md5": "django.contrib.auth.hashers.MD5PasswordHasher",
    "pbkdf2_sha256": "django.contrib.auth.hashers.PBKDF2PasswordHasher",
}


def configure(database: str, hasher: str, sqlite_path: Path) -> None:
    """Configure and set up Django with the benchmarked database as the default one (the install block)."""
    django_setup.configure(
        {"default": default_database(database, sqlite_path, PG_DATABASE)},
        **admin_settings(apps=["django_otp_webauthn"]),
        AXES_RESET_ON_SUCCESS=False,
        ROOT_URLCONF=URLCONF,
        # One hasher a process: with another first, Django would re-hash the password at the first login.
        PASSWORD_HASHERS=[HASHERS[hasher]],
        OTP_WEBAUTHN_RP_ID="localhost",
        OTP_WEBAUTHN_RP_NAME="privacy_kit benchmark",
        OTP_WEBAUTHN_ALLOWED_ORIGINS=[ORIGIN],
        OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN=False,
        privacy_kit={"ADMIN_2FA_REQUIRED": True},
    )
    sys.modules[URLCONF] = make_urlconf()


def make_urlconf() -> types.ModuleType:
    from django.urls import path

    import privacy_kit.admin

    module = types.ModuleType(URLCONF)
    module.urlpatterns = [path("admin/", privacy_kit.admin.site.urls)]  # type: ignore[attr-defined]
    return module


def staff_user(hasher: str) -> tuple[Any, Any, Any]:
    """Return a staff user whose password is hashed by ``hasher``, their TOTP device and their passkey."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.passkeys import SoftAuthenticator

    user = get_user_model().objects.create_user(f"staff-{hasher}", is_staff=True)
    user.password = make_password(PASSWORD, hasher=hasher)
    user.save()
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    # Added as staff add one: from a session the app's code verified.
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options = client.post("/admin/two-factor/passkeys/options/").json()
    response = client.post("/admin/two-factor/passkeys/", {"name": "laptop", "response": authenticator.create(options)})
    assert response.status_code == 302, response.content
    return user, device, authenticator


def totp_login(user: Any, device: Any) -> tuple[float, int]:
    """Log in with password and code in a new session; return the seconds and the queries."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django_otp.oath import totp

    type(device).objects.filter(pk=device.pk).update(last_t=-1, throttling_failure_count=0)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    client = Client()
    form = {"username": user.username, "password": PASSWORD, "otp_token": code, "next": "/admin/"}
    with CaptureQueriesContext(connection) as queries:
        seconds = clock(lambda: check(client.post("/admin/login/", form)))
    return seconds, len(queries)


def passkey_login(user: Any, authenticator: Any) -> tuple[float, tuple[int, int]]:
    """Ask for a challenge and log in with password and passkey in a new session; return the seconds and queries."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    with CaptureQueriesContext(connection) as asking:
        options: dict[str, Any] = {}
        ask = clock(lambda: options.update(client.post("/admin/two-factor/passkey-login/options/").json()))
    answer = authenticator.get(options)  # the device's work
    form = {"username": user.username, "password": PASSWORD, "passkey": answer, "next": "/admin/"}
    with CaptureQueriesContext(connection) as logging_in:
        login = clock(lambda: check(client.post("/admin/login/", form)))
    return ask + login, (len(asking), len(logging_in))


def check(response: Any) -> None:
    assert response.status_code == 302 and response.url == "/admin/", response.status_code


def bench_hasher(alias: str, hasher: str, logins: int) -> None:
    user, device, authenticator = staff_user(hasher)
    queries: dict[str, Any] = {}

    def many(kind: str, login: Any, *args: Any) -> float:
        total = 0.0
        for _ in range(logins):
            seconds, queries[kind] = login(*args)
            total += seconds
        return total

    best_totp, best_passkey = best_alternating(
        REPEATS,
        lambda: many("totp", totp_login, user, device),
        lambda: many("passkey", passkey_login, user, authenticator),
    )
    per_totp, per_passkey = best_totp / logins * 1e3, best_passkey / logins * 1e3
    print(
        f"{alias:<9} password {hasher:<13}  TOTP {per_totp:7.2f} ms  passkey {per_passkey:7.2f} ms  "
        f"passkey/TOTP x{best_passkey / best_totp:.2f}  "
        f"queries per login TOTP {queries['totp']}, passkey {sum(queries['passkey'])} "
        f"(challenge {queries['passkey'][0]} + login {queries['passkey'][1]}; "
        f"x{sum(queries['passkey']) / queries['totp']:.2f})",
        flush=True,
    )


def bench_database(database: str, hasher: str, logins: int) -> None:
    database_of_its_own = fresh_postgres_database(PG_DATABASE) if database == "postgres" else nullcontext()
    with database_of_its_own, tempfile.TemporaryDirectory(prefix="privacy_kit_bench_") as tmp:
        configure(database, hasher, Path(tmp) / "bench.sqlite3")
        from django.core.management import call_command
        from django.db import connection

        connection.ensure_connection()
        version = ".".join(map(str, connection.get_database_version()))
        print(f"{database}: {connection.display_name} {version}", flush=True)
        call_command("migrate", interactive=False, verbosity=0)
        bench_hasher(database, hasher, logins)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=20, help="logins per timed repetition (default 20)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--hasher", choices=[*HASHERS, "both"], default="both", help="the password's hasher")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one database and hasher
    args = parser.parse_args()

    started = time.perf_counter()
    if not args.child:
        print(
            f"Python {sys.version.split()[0]}, Django {django.get_version()}; admin login through the test Client, "
            f"{args.logins} logins per repetition, best of {REPEATS}",
            flush=True,
        )
    if args.child:
        bench_database(args.database, args.hasher, args.logins)
    else:
        for database in ("sqlite", "postgres") if args.database == "both" else (args.database,):
            for hasher in HASHERS if args.hasher == "both" else (args.hasher,):
                command = [sys.executable, __file__, "--database", database, "--hasher", hasher, "--child"]
                subprocess.run([*command, "--logins", str(args.logins)], check=True)
    if not args.child:
        print(f"finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

"""Benchmark ``PersonalDataAdmin``'s masked change list against a plain ``ModelAdmin`` that decrypts.

For each database (SQLite in a temporary file; PostgreSQL at 127.0.0.1, user postgres, in a database
``bench_admin`` created for the run and dropped at the end) it creates ``--customers`` customers of the
demo shop (``example_shop.shop.Customer``: encrypted name, email, phone and address) and renders the
change list of customers through Django's test ``Client``, for a superuser whose session an OTP device
verified (as ``PRIVACY_KIT["ADMIN_2FA_REQUIRED"]`` asks), with:

- masked: the demo's ``CustomerAdmin`` (a ``PersonalDataAdmin``) on the default admin site, at
          ``/admin/shop/customer/``: name, email and phone shown as the mask, none of the personal
          fields loaded;
- plain:  a plain ``ModelAdmin`` with the same ``list_display`` on a second ``PrivacyAdminSite``, at
          ``/plain/shop/customer/``: the same columns decrypted and shown. The second site registers
          every other model of the first with the same admin class, so both pages have the same
          sidebar and differ only by the customer admin.

Each is measured with the demo's ``list_per_page`` of 100 (the first page) and with ``list_per_page``
1,000 (every row on one page). The queries per request are counted with ``CaptureQueriesContext``.

Every figure is the best of several repetitions timed with ``time.perf_counter``, with the garbage
collector off while the clock runs; masked and plain repetitions alternate so drift hits both alike.
Django is configured here (the install block of privacy_kit, as in ``tests/settings.py``), with random
keys for the run; the tables come from ``migrate`` on the fresh database. Settings are configured once
per process, so each database runs in a process of its own. It prints figures, not verdicts: the
targets are listed at the end for comparison.

Run from the repository root::

    .venv/bin/python bench/admin.py [--customers 1000] [--requests 10] [--database sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import django

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]  # timing, privacy_kit, example_shop

import django_setup  # noqa: E402
from django_setup import admin_settings, default_database, fresh_postgres_database  # noqa: E402
from timing import best_alternating, clock  # noqa: E402

REPEATS = 5
PG_DATABASE = "bench_admin"
URLCONF = "bench_admin_urls"  # a module made in configure(), not a file
PAGES = [100, 1000]  # list_per_page measured

TARGETS = """\
targets   masked change list: no extra query per row, at most x1.3 the plain one's time"""

FIRST = ["Layla", "Omar", "Sara", "Yusuf", "Noura", "Fahad", "Maryam", "Khalid", "Huda", "Tariq", "Lina", "Ali"]
LAST = ["Al-Harbi", "Haddad", "Nasser", "Qasim", "Saleh", "Mansour", "Khoury", "Farouk", "Rahman", "Aziz"]
STREETS = ["King Fahd Road", "Olaya Street", "Tahlia Street", "Prince Sultan Road", "Makkah Road"]


# -- setup -----------------------------------------------------------------


def configure(database: str, sqlite_path: Path) -> None:
    """Configure and set up Django with the benchmarked database as the default one."""
    django_setup.configure(
        {"default": default_database(database, sqlite_path, PG_DATABASE)},
        **admin_settings(apps=["example_shop.shop"], locale=True),
        ROOT_URLCONF=URLCONF,
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        privacy_kit={"ADMIN_2FA_REQUIRED": True},
    )
    sys.modules[URLCONF] = make_urlconf()


def make_urlconf() -> types.ModuleType:
    """Return the URLconf: the default admin site at admin/, a plain twin of it at plain/."""
    from django.contrib import admin
    from django.urls import path

    import privacy_kit.admin
    from example_shop.shop.admin import CustomerAdmin
    from example_shop.shop.models import Customer
    from privacy_kit.admin.sites import PrivacyAdminSite

    class PlainCustomerAdmin(admin.ModelAdmin):
        """The demo's columns, decrypted: what a shop without PersonalDataAdmin would show."""

        list_display = CustomerAdmin.list_display

    plain_site = PrivacyAdminSite(name="plain")
    for model, model_admin in admin.site._registry.items():
        plain_site.register(model, PlainCustomerAdmin if model is Customer else type(model_admin))
    module = types.ModuleType(URLCONF)
    module.urlpatterns = [  # type: ignore[attr-defined]
        path("admin/", privacy_kit.admin.site.urls),
        path("plain/", plain_site.urls),
    ]
    module.plain_site = plain_site  # type: ignore[attr-defined]
    return module


def create_customers(count: int) -> list[Any]:
    """Create ``count`` customers with encrypted contact data, one INSERT each, in one transaction."""
    from django.db import transaction

    from example_shop.shop.models import Customer

    rng = random.Random(2024)
    customers = []
    with transaction.atomic():
        for number in range(count):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            customers.append(
                Customer.objects.create(
                    name=f"{first} {last}",
                    email=f"{first.lower()}.{last.lower()}.{number}@example.com",
                    phone=f"+9665{rng.randrange(10**8):08d}",
                    address=f"{rng.randint(1, 9999)} {rng.choice(STREETS)}, Riyadh {rng.randint(10000, 99999)}",
                )
            )
    return customers


def verified_client() -> Any:
    """Return a test Client logged in as a superuser and verified in its session by a confirmed TOTP device."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = get_user_model().objects.create_superuser("bench-admin", "admin@example.com", "bench-password")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


# -- the measurements ------------------------------------------------------


def bench_changelist(alias: str, client: Any, customers: list[Any], requests: int) -> None:
    from django.contrib import admin
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from example_shop.shop.models import Customer
    from privacy_kit.admin.personal_data import MASK

    plain_site = sys.modules[URLCONF].plain_site
    admins = [admin.site._registry[Customer], plain_site._registry[Customer]]
    urls = ["/admin/shop/customer/", "/plain/shop/customer/"]
    newest_first = sorted(customers, key=lambda customer: customer.pk, reverse=True)

    for per_page in PAGES:
        for model_admin in admins:
            model_admin.list_per_page = per_page
        rows = min(per_page, len(customers))

        # Both pages must list the rows: the masked one with the mask (name, email, phone), the plain
        # one with the decrypted values, and neither with the other's.
        masked, plain = (client.get(url) for url in urls)
        for response in (masked, plain):
            if response.status_code != 200:
                raise RuntimeError(f"{response.request['PATH_INFO']}: status {response.status_code}, not 200")
        shown = newest_first[:rows]
        masked_html, plain_html = masked.content.decode(), plain.content.decode()
        if masked_html.count(MASK) < 3 * rows or any(customer.email in masked_html for customer in shown):
            raise RuntimeError("masked: the change list does not mask every row")
        if MASK in plain_html or not all(customer.email in plain_html for customer in shown):
            raise RuntimeError("plain: the change list does not show every row decrypted")

        queries = []
        for url in urls:
            with CaptureQueriesContext(connection) as captured:
                client.get(url)
            queries.append(len(captured))

        def timed(url: str) -> Callable[[], float]:
            def run() -> float:
                return clock(lambda: [client.get(url) for _ in range(requests)])

            return run

        best_masked, best_plain = best_alternating(REPEATS, timed(urls[0]), timed(urls[1]))
        per_masked, per_plain = best_masked / requests * 1e3, best_plain / requests * 1e3
        print(
            f"{alias:<9} list_per_page {per_page:<5} {rows:>5} rows  masked {per_masked:8.1f} ms  "
            f"plain {per_plain:8.1f} ms  masked/plain x{best_masked / best_plain:.2f}  "
            f"queries/request masked {queries[0]}, plain {queries[1]}  "
            f"page {len(masked.content) / 1024:.0f} / {len(plain.content) / 1024:.0f} KiB",
            flush=True,
        )


def bench_database(database: str, customers: int, requests: int) -> None:
    database_of_its_own = fresh_postgres_database(PG_DATABASE) if database == "postgres" else nullcontext()
    with database_of_its_own, tempfile.TemporaryDirectory(prefix="privacy_kit_bench_") as tmp:
        configure(database, Path(tmp) / "bench.sqlite3")
        from django.core.management import call_command
        from django.db import connection

        connection.ensure_connection()
        version = ".".join(map(str, connection.get_database_version()))
        print(f"{database}: {connection.display_name} {version}", flush=True)
        call_command("migrate", interactive=False, verbosity=0)
        created = create_customers(customers)
        bench_changelist(database, verified_client(), created, requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000, help="customers created (default 1,000)")
    parser.add_argument("--requests", type=int, default=10, help="requests per timed repetition (default 10)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one database of "both"
    args = parser.parse_args()

    started = time.perf_counter()
    if not args.child:
        print(
            f"Python {sys.version.split()[0]}, Django {django.get_version()}; {args.customers:,} customers; "
            f"change list GET through the test Client, {args.requests} requests per repetition, best of {REPEATS}",
            flush=True,
        )
    if args.database == "both":
        for database in ("sqlite", "postgres"):
            command = [sys.executable, __file__, "--database", database, "--child"]
            command += ["--customers", str(args.customers), "--requests", str(args.requests)]
            subprocess.run(command, check=True)
    else:
        bench_database(args.database, args.customers, args.requests)
    if not args.child:
        print(TARGETS)
        print(f"finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

"""Benchmark privacy_kit's consent check: ``tracking.record`` and ``ConsentMiddleware``.

For each database (SQLite in a temporary file; PostgreSQL at 127.0.0.1, user postgres, in a database
``bench_consent`` created for the run and dropped at the end) it measures:

1. events:  ``--events`` search events written one by one (one INSERT each) in one transaction, or with
            ``--autocommit`` each in its own (a commit per event, as in a view without ATOMIC_REQUESTS;
            the commit's flush to disk then dominates every case alike), as
            - ``PlainEvent.objects.create(...)``: the same row in ``bench/benchapp``'s twin of
              ``BehavioralEvent`` with a plain ``JSONField`` (the encryption's share);
            - ``BehavioralEvent.objects.create(user=..., purpose=..., kind=..., data=...)``: the baseline;
            - ``privacy_kit.tracking.record(request, "search", data, purpose="personalization")`` for a
              logged-in user (``request.user`` set on a RequestFactory request) who granted the purpose,
              always with the same request, so the first call loads the consent state and the others
              reuse it;
            - the same for an anonymous visitor known by its signed consent cookie;
2. request: ``--requests`` requests through SessionMiddleware + AuthenticationMiddleware, with and
            without ConsentMiddleware, called in-process with RequestFactory requests, for a visitor with
            a consent cookie and for a logged-in user with a session cookie. The view reads
            ``request.user.is_authenticated`` (as any page with a login link does) and, when the
            middleware is there, ``request.privacy.has("analytics")`` once; the queries per request
            are counted with ``CaptureQueriesContext``.
3. posts:   ``--posts`` banner answers ("accept all") posted to ``privacy_kit.consent.views.consent``
            through the same middleware chain, each from a new visitor (no cookie, so each makes a
            visitor id and two ledger rows), against the consent rate limit's own share: its check
            (``consent_rate_exceeded``, a keyed hash of the address and an ``add`` + ``incr`` in the
            local-memory cache) on the same requests, with limits high enough never to refuse one.

Every figure is the best of several repetitions timed with ``time.perf_counter``, with the garbage
collector off while the clock runs; the cases alternate so drift hits all alike, and each event case
starts from an empty table. Django is configured here, with random keys for the run; the tables come
from ``migrate`` on the fresh database, and ``PlainEvent``'s from the schema editor. ``record()`` and
the middleware use the default database and settings are configured once per process, so each
database runs in a process of its own. It prints figures, not verdicts: the targets are listed at
the end for comparison.

Run from the repository root::

    .venv/bin/python bench/consent.py [--events 20000] [--requests 5000] [--posts 2000]
                                      [--database sqlite|postgres|both] [--autocommit]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import django
from django.conf import settings

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]  # benchapp, privacy_kit

import django_setup  # noqa: E402
from django_setup import default_database, postgres_admin  # noqa: E402
from timing import best_alternating, clock  # noqa: E402

REPEATS = 5
CAPTURED = 100  # events or requests whose queries are counted
PG_DATABASE = "bench_consent"
PURPOSES = ["personalization", "analytics"]

TARGETS = """\
targets   events   record at most x1.5 the plain create of the same BehavioralEvent row
          request  ConsentMiddleware adds at most 1 query per request"""

WORDS = [
    "wool", "socks", "linen", "shirt", "blue", "green", "merino", "jumper", "leather", "boots", "size", "42",
    "rain", "jacket", "organic", "cotton", "kids", "summer", "dress", "waterproof", "trainers", "sale", "gift",
]  # fmt: skip


# -- setup -----------------------------------------------------------------


def configure(database: str, sqlite_path: Path) -> None:
    """Configure and set up Django with the benchmarked database as the default one."""
    django_setup.configure(
        {"default": default_database(database, sqlite_path, PG_DATABASE)},
        # Never refused here: the benchmark measures what counting costs, not what refusing saves.
        privacy_kit={"CONSENT_RATE_LIMIT": {"per_address": 10**9, "per_visitor": 10**9}},
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "privacy_kit",
            "benchapp",
        ],
    )


def chain(view: Callable[..., Any], *, consent: bool) -> Callable[..., Any]:
    """Return the middleware chain around ``view``: sessions, authentication [, consent]."""
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware

    from privacy_kit.middleware import ConsentMiddleware

    return SessionMiddleware(AuthenticationMiddleware(ConsentMiddleware(view) if consent else view))


def create_data(rf: Any) -> tuple[Any, Any, str, str]:
    """Create the purposes, a policy in effect and a user; return the user, the purpose and two cookies.

    The user grants both purposes directly; a visitor grants them through the middleware chain, which
    sends its signed consent cookie, and the user logs in through it to get a session cookie.
    """
    from django.contrib.auth import get_user_model, login
    from django.http import HttpResponse
    from django.utils import timezone

    from privacy_kit.conf import app_settings
    from privacy_kit.consent import grant
    from privacy_kit.models import PolicyVersion, Purpose

    for slug in PURPOSES:
        Purpose.objects.create(slug=slug, name=slug.title())
    PolicyVersion.objects.create(
        version="1", language="en", text="The benchmark's policy.", effective_at=timezone.now() - timedelta(minutes=1)
    )
    user = get_user_model().objects.create_user("bench-user")
    grant(user, PURPOSES, source="account")

    def consent_view(request: Any) -> HttpResponse:
        grant(request, PURPOSES, source="banner")
        return HttpResponse()

    def login_view(request: Any) -> HttpResponse:
        login(request, user)
        return HttpResponse()

    response = chain(consent_view, consent=True)(rf.post("/consent/"))
    consent_cookie = response.cookies[app_settings.CONSENT_COOKIE_NAME].value
    response = chain(login_view, consent=True)(rf.post("/login/"))
    session_cookie = response.cookies[settings.SESSION_COOKIE_NAME].value
    return user, Purpose.objects.get(slug="personalization"), consent_cookie, session_cookie


def empty_table(model: type) -> None:
    from django.db import connection

    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE TABLE {table} RESTART IDENTITY")
        else:
            cursor.execute(f"DELETE FROM {table}")


# -- timing ----------------------------------------------------------------


# -- the measurements ------------------------------------------------------


def bench_events(
    alias: str, rf: Any, user: Any, purpose: Any, consent_cookie: str, events: int, autocommit: bool
) -> None:
    from benchapp.models import PlainEvent
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from privacy_kit.conf import app_settings
    from privacy_kit.models import BehavioralEvent
    from privacy_kit.tracking import record

    rng = random.Random(2024)
    payloads = [{"q": " ".join(rng.choices(WORDS, k=rng.randint(1, 4)))} for _ in range(events)]
    cookie = f"{app_settings.CONSENT_COOKIE_NAME}={consent_cookie}"

    def user_request() -> Any:
        request = rf.get("/search/")
        request.user = user
        return request

    def visitor_request() -> Any:
        return rf.get("/search/", HTTP_COOKIE=cookie)

    def create_all(model: type, items: list[dict[str, str]] = payloads) -> Callable[[], None]:
        def run() -> None:
            create = model.objects.create
            for data in items:
                create(user=user, purpose=purpose, kind="search", data=data)

        return run

    def record_all(request: Any, items: list[dict[str, str]] = payloads) -> Callable[[], None]:
        def run() -> None:
            for data in items:
                record(request, "search", data, purpose="personalization")

        return run

    def case(model: type, make_run: Callable[[], Callable[[], None]], owner: dict[str, Any]) -> Callable[[], float]:
        def timed() -> float:
            empty_table(model)
            run = make_run()
            if autocommit:
                seconds = clock(run)
            else:
                with transaction.atomic():
                    seconds = clock(run)
            rows = model.objects.filter(**owner, purpose=purpose, kind="search")
            if rows.count() != events or rows.order_by("pk").first().data != payloads[0]:
                raise RuntimeError(f"{model.__name__}: the events were not all written as given")
            return seconds

        return timed

    # Both the visitor's and the user's requests must see the consent, or record() writes nothing.
    visitor = record(visitor_request(), "search", payloads[0], purpose="personalization")
    if visitor is None or record(user_request(), "search", payloads[0], purpose="personalization") is None:
        raise RuntimeError("record() found no consent to personalization")
    cases = [
        ("plain JSON", case(PlainEvent, lambda: create_all(PlainEvent), {"user": user})),
        ("create", case(BehavioralEvent, lambda: create_all(BehavioralEvent), {"user": user})),
        ("record user", case(BehavioralEvent, lambda: record_all(user_request()), {"user": user})),
        ("record visitor", case(BehavioralEvent, lambda: record_all(visitor_request()), {"visitor": visitor.visitor})),
    ]
    times = best_alternating(REPEATS, *[timed for _, timed in cases])
    baseline = times[1]
    for (label, _), seconds in zip(cases, times, strict=True):
        figures = f"{seconds * 1e3:9.1f} ms  {seconds / events * 1e6:7.1f} µs/event  x{seconds / baseline:.2f}"
        print(f"{alias:<9} events  {label:<15} {figures}", flush=True)

    # Queries: one INSERT per event, and for record() one more to load the consent state.
    empty_table(BehavioralEvent)
    with CaptureQueriesContext(connection) as created:
        create_all(BehavioralEvent, payloads[:CAPTURED])()
    with CaptureQueriesContext(connection) as recorded:
        record_all(user_request(), payloads[:CAPTURED])()
    print(f"{alias:<9} events  queries for {CAPTURED} events: create {len(created)}, record {len(recorded)}")


def bench_requests(alias: str, rf: Any, consent_cookie: str, session_cookie: str, count: int) -> None:
    from django.db import connection
    from django.http import HttpResponse
    from django.test.utils import CaptureQueriesContext

    from privacy_kit.conf import app_settings

    def view(request: Any) -> HttpResponse:
        authenticated = request.user.is_authenticated
        privacy = getattr(request, "privacy", None)
        granted = privacy.has("analytics") if privacy is not None else None
        return HttpResponse(f"{authenticated} {granted}")

    without, with_consent = chain(view, consent=False), chain(view, consent=True)
    subjects = [
        ("visitor", f"{app_settings.CONSENT_COOKIE_NAME}={consent_cookie}", b"False"),
        ("user", f"{settings.SESSION_COOKIE_NAME}={session_cookie}", b"True"),
    ]
    for label, cookie, authenticated in subjects:

        def requests(number: int, cookie: str = cookie) -> list[Any]:
            return [rf.get("/", HTTP_COOKIE=cookie) for _ in range(number)]

        def timed(handler: Callable[[Any], Any]) -> Callable[[], float]:
            def run() -> float:
                batch = requests(count)
                return clock(lambda: [handler(request) for request in batch])

            return run

        # The view must see who is asking, and with the middleware that they granted analytics.
        expected = {without: authenticated + b" None", with_consent: authenticated + b" True"}
        for handler, content in expected.items():
            if handler(requests(1)[0]).content != content:
                raise RuntimeError(f"{label}: the view did not see the subject's consent as granted")

        queries = []
        for handler in (without, with_consent):
            batch = requests(CAPTURED)
            with CaptureQueriesContext(connection) as captured:
                for request in batch:
                    handler(request)
            queries.append(len(captured) / CAPTURED)

        best_without, best_with = best_alternating(REPEATS, timed(without), timed(with_consent))
        first = f"without {best_without / count * 1e6:7.1f} µs"
        second = f"with {best_with / count * 1e6:7.1f} µs"
        print(
            f"{alias:<9} request {label:<8} {first}  {second}  x{best_with / best_without:.2f}  "
            f"queries/request {queries[0]:g} -> {queries[1]:g}",
            flush=True,
        )


def bench_posts(alias: str, rf: Any, count: int) -> None:
    from privacy_kit.consent.throttle import consent_rate_exceeded
    from privacy_kit.consent.views import consent
    from privacy_kit.models import ConsentRecord

    handler = chain(consent, consent=True)

    def posts(number: int) -> list[Any]:
        batch = [rf.post("/privacy/consent/", {"choice": "accept_all", "next": "/"}) for _ in range(number)]
        for request in batch:
            request._dont_enforce_csrf_checks = True  # a RequestFactory request carries no token
        return batch

    before = ConsentRecord.objects.count()
    if handler(posts(1)[0]).status_code != 303 or ConsentRecord.objects.count() != before + len(PURPOSES):
        raise RuntimeError("the banner post was not recorded")

    def timed_posts() -> float:
        batch = posts(count)
        return clock(lambda: [handler(request) for request in batch])

    def timed_check() -> float:
        batch = posts(count)
        return clock(lambda: [consent_rate_exceeded(request) for request in batch])

    best_post, best_check = best_alternating(REPEATS, timed_posts, timed_check)
    print(
        f"{alias:<9} posts   banner post {best_post / count * 1e6:8.1f} µs  "
        f"rate-limit check {best_check / count * 1e6:6.1f} µs  share {best_check / best_post:.1%}",
        flush=True,
    )


def bench_database(database: str, events: int, requests: int, autocommit: bool, posts: int = 2000) -> None:
    with tempfile.TemporaryDirectory(prefix="privacy_kit_bench_") as tmp:
        if database == "postgres":
            postgres_admin(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")  # left over by an interrupted run
            postgres_admin(f"CREATE DATABASE {PG_DATABASE}")
        try:
            configure(database, Path(tmp) / "bench.sqlite3")
            from benchapp.models import PlainEvent
            from django.core.management import call_command
            from django.db import connection
            from django.test import RequestFactory

            connection.ensure_connection()
            version = ".".join(map(str, connection.get_database_version()))
            print(f"{database}: {connection.display_name} {version}", flush=True)
            # Migrations for Django's and privacy_kit's tables; bench's own table (no migrations, and a
            # foreign key to auth) once they exist, which migrate --run-syncdb would do too early.
            call_command("migrate", interactive=False, verbosity=0)
            with connection.schema_editor() as editor:
                editor.create_model(PlainEvent)
            rf = RequestFactory()
            user, purpose, consent_cookie, session_cookie = create_data(rf)
            bench_events(database, rf, user, purpose, consent_cookie, events, autocommit)
            bench_requests(database, rf, consent_cookie, session_cookie, requests)
            bench_posts(database, rf, posts)
        finally:
            if database == "postgres":
                from django.db import connections

                connections.close_all()
                postgres_admin(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events written per case (default 20,000)")
    parser.add_argument("--requests", type=int, default=5_000, help="requests per case (default 5,000)")
    parser.add_argument("--posts", type=int, default=2_000, help="banner posts per case (default 2,000)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--autocommit", action="store_true", help="commit after every event (default: one transaction)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one database of "both"
    args = parser.parse_args()

    started = time.perf_counter()
    if not args.child:
        print(
            f"Python {sys.version.split()[0]}, Django {django.get_version()}; {args.events:,} events, "
            f"{args.requests:,} requests; {'a commit per event' if args.autocommit else 'events in one transaction'}; "
            f"best of {REPEATS}",
            flush=True,
        )
    if args.database == "both":
        for database in ("sqlite", "postgres"):
            command = [sys.executable, __file__, "--database", database, "--child"]
            command += ["--events", str(args.events), "--requests", str(args.requests), "--posts", str(args.posts)]
            command += ["--autocommit"] if args.autocommit else []
            subprocess.run(command, check=True)
    else:
        bench_database(args.database, args.events, args.requests, args.autocommit, args.posts)
    if not args.child:
        print(TARGETS)
        print(f"finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

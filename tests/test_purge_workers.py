"""Purges run at once, by several workers, killed midway, or cut off from Redis.

The policy under test is ``testapp.PurgeEvent`` (age basis, 30 days, delete;
tests/testapp/privacy.py), registered for each test by a fixture. The tests of
a purge check rows by id: the expired rows are gone and every row that must
stay (too young, or its user under a legal hold) is still there, unchanged.
Two tests pin that one policy never runs twice over the same rows: chunks stay
the same from one plan to the next, and a whole-policy run waits for its chunks.

The tests that start Celery workers in subprocesses run on PostgreSQL only
(they need a database that several processes share, and the advisory lock).
Their workers and the tests talk through a Redis server of this module's own,
on a free port, so that no other test run on the machine's Redis sees their
messages, and so that one test can restart that server without disturbing
anybody else. Each worker is started with ``--pidfile`` in a process group of
its own, and stopped by that pid and group only.
"""

from __future__ import annotations

import datetime
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection, connections
from django.utils import timezone

from privacy_kit import retention
from privacy_kit.models import LegalHold, PurgeRun
from tests.celery_processes import RedisServer, Worker, wait_until
from tests.testapp import privacy
from tests.testapp.models import PurgeEvent

ROOT = Path(__file__).resolve().parent.parent
ON_POSTGRES = os.environ.get("TEST_DATABASE", "sqlite") == "postgres"
needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES, reason="worker subprocesses share the test database: PostgreSQL only (TEST_DATABASE=postgres)"
)
needs_advisory_locks = pytest.mark.skipif(
    not ON_POSTGRES, reason="runs are locked against each other on PostgreSQL only (TEST_DATABASE=postgres)"
)
needs_redis_server = pytest.mark.skipif(
    not (shutil.which("redis-server") and shutil.which("redis-cli")),
    reason="redis-server and redis-cli start this module's own Redis",
)


# -- the policy and its rows -----------------------------------------------------


@pytest.fixture
def policy() -> Iterator[str]:
    privacy.register()
    yield privacy.POLICY
    privacy.unregister()


@pytest.fixture
def people(django_user_model):
    """A user, and a user under a legal hold, whose expired rows must stay."""
    user = django_user_model.objects.create_user("amal")
    held = django_user_model.objects.create_user("badr")
    LegalHold.objects.create(subject=held, reason="litigation")
    return user, held


def load_events(total: int, user, held, now: datetime.datetime) -> None:
    """Insert ``total`` events: every 4th too young to expire, every 10th of the held user, the rest expired.

    Expired rows are 40 days old or more, young ones 10 days: far from the 30-day cut-off.
    """
    young = now - datetime.timedelta(days=10)
    old = now - datetime.timedelta(days=40)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO testapp_purgeevent (user_id, kind, created_at) "
                "SELECT CASE WHEN i %% 10 = 0 THEN %s::bigint ELSE %s::bigint END, 'search ' || i, "
                "CASE WHEN i %% 4 = 0 THEN %s::timestamptz ELSE %s::timestamptz - i * interval '1 second' END "
                "FROM generate_series(1, %s) AS i",
                [held.pk, user.pk, young, old, total],
            )
        return
    PurgeEvent.objects.bulk_create(
        (
            PurgeEvent(
                user=held if i % 10 == 0 else user,
                kind=f"search {i}",
                created_at=young if i % 4 == 0 else old - datetime.timedelta(seconds=i),
            )
            for i in range(1, total + 1)
        ),
        batch_size=1000,
    )


def snapshot() -> dict[int, tuple]:
    return {pk: row for pk, *row in PurgeEvent.objects.values_list("pk", "user_id", "kind", "created_at")}


def split(rows: dict[int, tuple], held, now: datetime.datetime) -> tuple[dict[int, tuple], set[int]]:
    """Return the rows that must stay and the ids that are due, by the policy's rule, not by the engine."""
    cutoff = now - datetime.timedelta(days=privacy.AFTER_DAYS)
    stay = {pk: row for pk, row in rows.items() if row[2] >= cutoff or row[0] == held.pk}
    return stay, set(rows) - set(stay)


def runs(policy: str) -> list[PurgeRun]:
    return list(PurgeRun.objects.filter(policy=policy).order_by("pk"))


# -- a. concurrent purges of one policy, in threads (SQLite and PostgreSQL) --------


@pytest.mark.django_db(transaction=True)
def test_three_concurrent_purges_of_a_policy_delete_exactly_the_expired_rows_once(policy, people, monkeypatch):
    user, held = people
    now = timezone.now()
    load_events(3000, user, held, now)
    before = snapshot()
    stay, due = split(before, held, now)
    assert len(due) == 2100 and len(stay) == 900

    # Each run waits, after trying the lock and while the one that got it holds it,
    # until the three have tried: the three runs certainly overlap. The lock is
    # wrapped where purge_policy looks it up.
    engine = sys.modules[retention.purge_policy.__module__]
    real_lock = engine.policy_lock
    tried = threading.Barrier(3, timeout=30)

    @contextmanager
    def lock_then_wait(name, chunk, using):
        with real_lock(name, chunk, using) as acquired:
            tried.wait()
            yield acquired

    monkeypatch.setattr(engine, "policy_lock", lock_then_wait)
    results, errors = [], []

    def purge():
        try:
            results.append(retention.purge_policy(policy, batch_size=200))
        except Exception as error:  # reported below, with the thread's traceback
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=purge) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(results) == 3 and not tried.broken

    assert snapshot() == stay
    done = [run for run in runs(policy) if run.status == PurgeRun.Status.DONE]
    assert sum(run.deleted for run in done) == len(due)
    if connection.vendor == "postgresql":
        # One run did the work; the advisory lock turned the other two away.
        assert [r.skipped for r in results].count(True) == 2
        assert sorted(run.status for run in runs(policy)) == ["done", "skipped", "skipped"]
        assert [run.deleted for run in done] == [len(due)]
    else:
        # No lock elsewhere: all three ran, and between them deleted each row once.
        assert [run.status for run in runs(policy)] == ["done"] * 3


@pytest.mark.django_db
def test_chunks_planned_before_and_after_a_partial_purge_never_partly_overlap(policy, people):
    # A redelivered purge_expired, or the next beat, plans again while chunks of
    # the previous plan still run. The advisory lock keeps two runs of a chunk
    # apart only if both plans cut the same chunk the same way.
    user, held = people
    load_events(3000, user, held, timezone.now())
    before = retention.plan_purge([policy], batch_size=100)
    [_, start, end], *_ = before
    retention.purge_policy(policy, start=start, end=end, batch_size=100)
    after = retention.plan_purge([policy], batch_size=100)
    for _, a_start, a_end in after:
        for _, b_start, b_end in before:
            if a_start < b_end and b_start < a_end:
                assert (a_start, a_end) == (b_start, b_end)


@needs_advisory_locks
@pytest.mark.django_db(transaction=True)
def test_a_run_of_the_whole_policy_is_skipped_while_a_chunk_of_it_runs(policy, people):
    user, held = people
    load_events(3000, user, held, timezone.now())
    [_, start, end], *_ = retention.plan_purge([policy], batch_size=100)
    engine = sys.modules[retention.purge_policy.__module__]
    holding, release = threading.Event(), threading.Event()

    def run_a_chunk():
        # Holds the chunk's lock as a worker purging it does, on a connection of its own.
        try:
            with engine.policy_lock(policy, f"{start}:{end}", "default"):
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    chunk_run = threading.Thread(target=run_a_chunk)
    chunk_run.start()
    try:
        assert holding.wait(10)
        assert retention.purge_policy(policy).skipped
    finally:
        release.set()
        chunk_run.join(30)


# -- Celery workers in subprocesses, over a Redis server of this module's own --------


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.shutdown()


@pytest.fixture
def publisher(redis_server) -> Iterator[Celery]:
    """A Celery app of its own that only sends tasks to the workers.

    ``send_task`` always goes through the broker, whatever ``task_always_eager``
    says, so the eager test app of the other tests is left as it is.
    """
    app = Celery("privacy_kit_publisher", broker=redis_server.url, set_as_current=False)
    yield app
    app.close()


@pytest.fixture
def queue() -> str:
    return f"purge-tests-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def workers(redis_server, queue, tmp_path) -> Iterator[Callable[..., Worker]]:
    """Start workers on the test database and this test's queue; stop each of them at the end, whatever happens."""
    started: list[Worker] = []
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PRIVACY_KIT_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "REDIS_URL": redis_server.url,
        "PRIVACY_KIT_TEST_WORKER": "1",
        "PRIVACY_KIT_TEST_QUEUE": queue,
    }

    def start(*, batch_size: int, visibility_timeout: int | None = None, pool: str = "solo", concurrency: int = 1):
        extra = {"PRIVACY_KIT_TEST_BATCH_SIZE": str(batch_size)}
        if visibility_timeout is not None:
            extra["PRIVACY_KIT_TEST_VISIBILITY_TIMEOUT"] = str(visibility_timeout)
        worker = Worker(f"w{len(started) + 1}-{queue}", tmp_path, {**env, **extra}, pool, concurrency)
        started.append(worker)
        worker.wait_ready()
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


def send(publisher: Celery, queue: str, task: str, *args) -> None:
    publisher.send_task(task, args=args, queue=queue)


# -- a. (continued) three tasks in three worker processes at once ------------------


@needs_postgres
@needs_redis_server
@pytest.mark.django_db(transaction=True)
def test_three_purge_tasks_in_three_worker_processes_do_the_work_once(policy, people, workers, publisher, queue):
    user, held = people
    now = timezone.now()
    load_events(40_000, user, held, now)
    stay, due = split(snapshot(), held, now)
    workers(batch_size=200, pool="prefork", concurrency=3)
    for _ in range(3):
        send(publisher, queue, "privacy_kit.purge_policy", policy)
    assert wait_until(lambda: len(runs(policy)) == 3 and all(run.finished_at for run in runs(policy)))

    assert snapshot() == stay
    statuses = [run.status for run in runs(policy)]
    assert "failed" not in statuses and "running" not in statuses
    # One run deleted every expired row; any other either found the lock held
    # (skipped) or, started after it, found nothing left to delete.
    assert sorted(run.deleted for run in runs(policy)) == [0, 0, len(due)]
    assert "skipped" in statuses, statuses


# -- b. a worker killed in the middle of a large purge ------------------------------


@needs_postgres
@needs_redis_server
@pytest.mark.django_db(transaction=True)
def test_a_purge_killed_midway_is_delivered_again_and_completed_without_touching_other_rows(
    policy, people, workers, publisher, queue, redis_server
):
    """SIGKILL the worker in the middle of a purge; a new worker receives the task again and completes it.

    With the Redis broker, ``acks_late`` keeps the message in Redis's ``unacked``
    set while the task runs. A worker killed with SIGKILL cannot give it back (a
    warm shutdown would), and ``reject_on_worker_lost`` does not apply: it covers
    a pool child lost under a living worker, and with ``--pool=solo`` the
    worker is the child. A new worker restores only messages older than the
    visibility timeout (one hour by default; checked here: restarting the worker
    alone does not bring the message back), so these workers run with a
    visibility timeout of 3 s, swept every second.
    """
    user, held = people
    now = timezone.now()
    load_events(80_000, user, held, now)
    before = snapshot()
    stay, due = split(before, held, now)
    assert len(due) == 56_000 and len(stay) == 24_000

    def remaining() -> int:
        return PurgeEvent.objects.count() - len(stay)

    first = workers(batch_size=500, visibility_timeout=3)
    send(publisher, queue, "privacy_kit.purge_policy", policy)
    assert wait_until(lambda: remaining() <= len(due) - 5000, interval=0.01), first.log()
    first.kill()
    left = remaining()
    assert 0 < left < len(due), "the purge finished before the worker was killed"
    [killed] = runs(policy)
    assert killed.status == PurgeRun.Status.RUNNING and killed.finished_at is None
    # The message waits in Redis, unacknowledged; the batch in flight was rolled back with the connection.
    assert redis_server.cli("hlen", "unacked") == "1"
    time.sleep(0.5)
    assert remaining() == left

    second = workers(batch_size=500, visibility_timeout=3)
    assert wait_until(lambda: remaining() == 0 and len(runs(policy)) == 2 and runs(policy)[1].finished_at), second.log()
    assert snapshot() == stay
    killed, completed = runs(policy)
    assert completed.status == PurgeRun.Status.DONE
    assert completed.deleted == left
    assert second.succeeded("privacy_kit.purge_policy")
    assert redis_server.cli("hlen", "unacked") == "0"


# -- c. Redis restarted while a purge runs --------------------------------------


@needs_postgres
@needs_redis_server
@pytest.mark.django_db(transaction=True)
def test_a_purge_completes_when_redis_restarts_during_the_run(policy, people, workers, publisher, queue, redis_server):
    """Restart Redis (``shutdown nosave``, then a new server) while a worker purges.

    The task keeps running on the database, finishes, and the worker reconnects
    to the new server and takes the next task. (Without persistence, Redis
    loses the unacknowledged message; the task had finished its work by then.)
    """
    user, held = people
    now = timezone.now()
    load_events(80_000, user, held, now)
    stay, due = split(snapshot(), held, now)

    def remaining() -> int:
        return PurgeEvent.objects.count() - len(stay)

    worker = workers(batch_size=250)
    send(publisher, queue, "privacy_kit.purge_policy", policy)
    try:
        assert wait_until(lambda: remaining() < len(due), interval=0.01), worker.log()
        redis_server.shutdown()
        left_when_redis_stopped = remaining()
        time.sleep(1)
    finally:
        redis_server.start()
    assert left_when_redis_stopped > 0, "the purge finished before Redis went away"
    assert wait_until(lambda: remaining() == 0 and all(run.finished_at for run in runs(policy))), worker.log()
    [run] = runs(policy)
    assert run.status == PurgeRun.Status.DONE and run.deleted == len(due)
    assert snapshot() == stay

    # The worker came back to the new server: it takes a task sent after the restart.
    send(publisher, queue, "privacy_kit.purge_policy", policy)
    assert wait_until(lambda: len(runs(policy)) == 2 and runs(policy)[1].finished_at), worker.log()
    assert runs(policy)[1].status == PurgeRun.Status.DONE and runs(policy)[1].deleted == 0


# -- d. purge_expired fans chunks out to two workers -----------------------------


@needs_postgres
@needs_redis_server
@pytest.mark.django_db(transaction=True)
def test_purge_expired_fans_chunks_out_that_two_workers_share(policy, people, workers, publisher, queue):
    user, held = people
    now = timezone.now()
    load_events(12_000, user, held, now)
    stay, due = split(snapshot(), held, now)
    batch_size = 100
    chunks = [(start, end) for name, start, end in retention.plan_purge([policy], batch_size=batch_size)]
    # 1,000 keys a chunk (PURGE_BATCH_SIZE x BATCHES_PER_CHUNK), aligned on multiples of 1,000.
    assert len(chunks) >= 12 and all(start % 1000 == 0 and end - start == 1000 for start, end in chunks)

    first, second = workers(batch_size=batch_size), workers(batch_size=batch_size)
    send(publisher, queue, "privacy_kit.purge_expired")

    def finished() -> bool:
        return len(runs(policy)) == len(chunks) and all(run.finished_at for run in runs(policy))

    assert wait_until(finished), first.log() + second.log()
    assert snapshot() == stay
    assert sorted(run.chunk for run in runs(policy)) == sorted(f"{start}:{end}" for start, end in chunks)
    assert {run.status for run in runs(policy)} == {PurgeRun.Status.DONE}
    assert sum(run.deleted for run in runs(policy)) == len(due)
    # Both workers took chunks of this policy.
    shares = [
        [result for result in worker.succeeded("privacy_kit.purge_policy") if policy in result]
        for worker in (first, second)
    ]
    assert all(shares), shares
    assert sum(map(len, shares)) == len(chunks)

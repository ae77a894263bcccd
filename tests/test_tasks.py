"""Tasks through a real Celery worker over Redis."""

import datetime
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from privacy_kit.consent import grant, withdraw
from privacy_kit.models import BehavioralEvent, ErasureRecord, PolicyVersion, Purpose
from privacy_kit.tasks import erase_behavioral_for_purpose, erase_subject
from privacy_kit.tracking import record
from tests.celery_app import app


@pytest.fixture
def worker():
    """A real worker thread consuming from Redis, with tasks no longer run eagerly."""
    app.conf.task_always_eager = False
    app.control.purge()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield
    app.conf.task_always_eager = True


def wait_until(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def users(django_user_model):
    for slug in ["personalization", "analytics"]:
        Purpose.objects.create(slug=slug, name=slug)
    PolicyVersion.objects.create(
        version="1", language="en", text="t", effective_at=timezone.now() - datetime.timedelta(days=1)
    )
    return [django_user_model.objects.create_user(name) for name in ["hala", "majid"]]


SPEC_TASKS = [
    "privacy_kit.purge_expired",
    "privacy_kit.purge_policy",
    "privacy_kit.erase_subject",
    "privacy_kit.erase_behavioral_for_purpose",
    "privacy_kit.rotate_keys_chunk",
]


@pytest.mark.parametrize("name", SPEC_TASKS)
def test_tasks_are_registered_under_the_spec_names(name):
    task = app.tasks[name]
    assert task.acks_late and task.reject_on_worker_lost and task.time_limit < 3600


@pytest.mark.django_db(transaction=True)
def test_withdrawal_erases_events_through_a_real_worker(users, worker):
    hala, majid = users
    for user in users:
        grant(user, ["personalization", "analytics"], source="banner")
        for number in range(5):
            record(user, "search", {"n": number})
        record(user, "cart", {"sku": "A1"}, purpose="analytics")
    withdraw(hala, ["personalization"], source="preferences")
    assert wait_until(lambda: not BehavioralEvent.objects.filter(user=hala, purpose__slug="personalization").exists())
    assert BehavioralEvent.objects.filter(user=hala, purpose__slug="analytics").count() == 1
    assert BehavioralEvent.objects.filter(user=majid).count() == 6


@pytest.mark.django_db(transaction=True)
def test_the_erasure_task_twice_and_concurrently_changes_nothing_more(users, worker):
    hala = users[0]
    grant(hala, ["personalization"], source="banner")
    for number in range(20):
        record(hala, "search", {"n": number})
    results = [erase_behavioral_for_purpose.delay(purposes=["personalization"], user_id=hala.pk) for _ in range(3)]
    assert len(results) == 3
    assert wait_until(lambda: not BehavioralEvent.objects.filter(user=hala).exists())
    # A repeat after the fact finds nothing to erase and does not fail.
    assert erase_behavioral_for_purpose.apply(kwargs={"purposes": ["personalization"], "user_id": hala.pk}).get() == 0


@pytest.mark.django_db(transaction=True)
def test_erasing_a_subject_through_a_real_worker_twice_leaves_one_record(users, worker):
    hala, majid = users
    for user in users:
        grant(user, ["personalization"], source="banner")
        for number in range(5):
            record(user, "search", {"n": number})
    for _ in range(2):
        erase_subject.delay(hala.pk, reason="asked", source="api")
    # The solo worker runs tasks in order: once this last one is done, both erasures are.
    erase_behavioral_for_purpose.delay(purposes=["personalization"], user_id=majid.pk)
    assert wait_until(lambda: not BehavioralEvent.objects.filter(user=majid).exists())
    hala.refresh_from_db()
    assert not hala.is_active and hala.username == f"erased-{hala.pk}"
    assert not BehavioralEvent.objects.filter(user=hala).exists()
    erasure = ErasureRecord.objects.get()
    assert erasure.status == ErasureRecord.Status.DONE
    assert erasure.counts["privacy_kit.BehavioralEvent"] == {"deleted": 5}

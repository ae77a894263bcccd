"""Celery wiring for shops: the beat entries of the purge, the erasure resume and the deadline alerts."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

PURGE_TASK = "privacy_kit.purge_expired"
RESUME_ERASURES_TASK = "privacy_kit.resume_erasures"
DEADLINES_TASK = "privacy_kit.deadlines"


def beat_schedule(*, hour: int = 3, minute: int = 17) -> dict[str, dict[str, Any]]:
    """Return the beat entries of privacy_kit: ``CELERY_BEAT_SCHEDULE = beat_schedule()``.

    The purge runs every night; every ten minutes ``privacy_kit.resume_erasures``
    queues again the erasures whose task never reached a worker (the broker was
    down when the customer asked); every quarter of an hour ``privacy_kit.deadlines``
    alerts on the requests and breaches near or past their due time. Run one beat
    process; it only queues tasks, and the purge fans its work out to every worker.
    A second beat by mistake sends no alert twice.
    """
    return {
        PURGE_TASK: {
            "task": PURGE_TASK,
            "schedule": crontab(hour=hour, minute=minute),
            "options": {"expires": 6 * 3600},
        },
        RESUME_ERASURES_TASK: {
            "task": RESUME_ERASURES_TASK,
            "schedule": crontab(minute="*/10"),
            "options": {"expires": 600},
        },
        DEADLINES_TASK: {
            "task": DEADLINES_TASK,
            "schedule": crontab(minute="*/15"),
            "options": {"expires": 900},
        },
    }

"""Celery wiring for shops: the beat entry of the purge."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

PURGE_TASK = "privacy_kit.purge_expired"


def beat_schedule(*, hour: int = 3, minute: int = 17) -> dict[str, dict[str, Any]]:
    """Return the beat entry that runs the purge every night: ``CELERY_BEAT_SCHEDULE = beat_schedule()``.

    Run exactly one beat process; it only queues ``privacy_kit.purge_expired``,
    which fans the work out to every worker.
    """
    return {
        PURGE_TASK: {
            "task": PURGE_TASK,
            "schedule": crontab(hour=hour, minute=minute),
            "options": {"expires": 6 * 3600},
        }
    }

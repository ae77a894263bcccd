"""The retention policy of ``PurgeEvent``, for the purge worker tests only.

A test registers it in a fixture with ``register()`` and removes it with
``unregister()``, so no other test sees it. A Celery worker started by those
tests in a subprocess imports this module (``celery worker -I tests.testapp.privacy``)
with ``PRIVACY_KIT_TEST_WORKER=1`` in its environment; the module then, in that
process only:

- registers the policy, since the worker has no test fixture;
- turns off ``task_always_eager`` (tests/settings.py turns it on for the
  in-process tests), so that the chunks ``purge_expired`` queues go to the
  broker for every worker instead of running inside the task that plans them;
- sends those chunks to the test's own queue (``PRIVACY_KIT_TEST_QUEUE``), not
  to the default queue that other test runs on the same Redis consume;
- reads ``PRIVACY_KIT_TEST_BATCH_SIZE`` (PURGE_BATCH_SIZE) and
  ``PRIVACY_KIT_TEST_VISIBILITY_TIMEOUT`` (the Redis broker's visibility timeout,
  in seconds; see tests/test_purge_workers.py for why a test shortens it);
- writes its mail to files in ``PRIVACY_KIT_TEST_MAIL_DIR`` when it is set, with
  ``ADMINS`` from ``PRIVACY_KIT_TEST_ADMIN`` (tests/test_deadlines.py).
"""

from __future__ import annotations

import os

from privacy_kit import registry
from tests.testapp.models import PurgeEvent

POLICY = PurgeEvent._meta.label
AFTER_DAYS = 30


def register() -> registry.Registration:
    return registry.register(
        PurgeEvent,
        subject="user",
        category="behavioral",
        personal_fields=["kind"],
        retention=registry.Retention(basis="age", date_field="created_at", after_days=AFTER_DAYS),
    )


def unregister() -> None:
    registry.unregister(PurgeEvent)


def configure_worker() -> None:
    """Set up a worker subprocess of the tests from its environment (see the module's docstring)."""
    import django
    from celery import current_app
    from django.conf import settings
    from django.test import override_settings

    import privacy_kit.tasks  # noqa: F401 (registers the tasks with the worker's app)

    register()
    conf = current_app.conf
    conf.task_always_eager = False
    conf.task_default_queue = os.environ["PRIVACY_KIT_TEST_QUEUE"]
    if os.environ.get("PRIVACY_KIT_TEST_VISIBILITY_TIMEOUT"):
        timeout = int(os.environ["PRIVACY_KIT_TEST_VISIBILITY_TIMEOUT"])
        # Look for messages to restore every second, not every 100 s (10 x 10 s by default).
        conf.broker_transport_options = {
            "visibility_timeout": timeout,
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        }
    if os.environ.get("PRIVACY_KIT_TEST_BATCH_SIZE"):
        # For the life of the worker process; setting_changed drops privacy_kit's cached settings.
        batch_size = int(os.environ["PRIVACY_KIT_TEST_BATCH_SIZE"])
        override_settings(PRIVACY_KIT={**settings.PRIVACY_KIT, "PURGE_BATCH_SIZE": batch_size}).enable()
    if os.environ.get("PRIVACY_KIT_TEST_MAIL_DIR"):
        backend = "django.core.mail.backends.filebased.EmailBackend"
        folder = os.environ["PRIVACY_KIT_TEST_MAIL_DIR"]
        address = os.environ["PRIVACY_KIT_TEST_ADMIN"]
        mailers = {"default": {"BACKEND": backend, "OPTIONS": {"file_path": folder}}}
        override_settings(
            EMAIL_BACKEND=backend,
            EMAIL_FILE_PATH=folder,
            ADMINS=[address] if django.VERSION >= (6,) else [("Privacy", address)],
            **({"MAILERS": mailers} if hasattr(settings, "MAILERS") else {}),
        ).enable()


if os.environ.get("PRIVACY_KIT_TEST_WORKER") == "1":
    configure_worker()

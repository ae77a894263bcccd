"""A Celery app that only runs beat for tests/test_deadlines.py: ``privacy_kit.deadlines`` every second.

Configured from the environment the test gives it (the Redis URL and the test's
queue), without Django: beat only sends the task by its name.
"""

import os

from celery import Celery

from privacy_kit.celery import DEADLINES_TASK

app = Celery("privacy_kit_test_beat", broker=os.environ["REDIS_URL"], set_as_current=False)
app.conf.task_default_queue = os.environ["PRIVACY_KIT_TEST_QUEUE"]
app.conf.beat_schedule = {DEADLINES_TASK: {"task": DEADLINES_TASK, "schedule": 1.0}}

"""The Celery app of ``bench/rights.py``'s workers: ``celery -A rights_worker worker``, started by that script.

Django is configured as in the benchmark's process (``rights.configure``), from the run's settings that
it passes in the environment (``PRIVACY_KIT_BENCH_RIGHTS``, JSON: database, keys, broker). Celery's
Django fix-up is installed as ``DJANGO_SETTINGS_MODULE`` would install it in a shop's worker, so each task
runs as it would there: the database connection is closed around each task, or every
``CELERY_DB_REUSE_MAX`` tasks when the run sets it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]  # rights, benchapp, privacy_kit

import rights  # noqa: E402
from celery.fixups.django import DjangoFixup  # noqa: E402

rights.configure(json.loads(os.environ[rights.RUN_ENVIRONMENT]))
app = rights.celery_app()
DjangoFixup(app).install()

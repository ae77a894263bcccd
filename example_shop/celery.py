"""example_shop's Celery app: `celery -A example_shop worker` and `celery -A example_shop beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_shop.settings.dev")

app = Celery("example_shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

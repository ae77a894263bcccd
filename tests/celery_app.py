"""The Celery app of the test suite, configured from tests.settings (CELERY_*)."""

from celery import Celery

app = Celery("privacy_kit_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")

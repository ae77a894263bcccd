import pytest

from privacy_kit import crypto
from tests.celery_app import app as celery_app  # noqa: F401 (the current Celery app of the tests)


@pytest.fixture(autouse=True)
def _fresh_keyring():
    """Each test reads keys from the settings it runs with."""
    crypto.reset()
    yield
    crypto.reset()

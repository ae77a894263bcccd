import pytest

from privacy_kit import crypto


@pytest.fixture(autouse=True)
def _fresh_keyring():
    """Each test reads keys from the settings it runs with."""
    crypto.reset()
    yield
    crypto.reset()

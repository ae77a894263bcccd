import pytest

from privacy_kit import crypto
from tests.celery_app import app as celery_app  # noqa: F401 (the current Celery app of the tests)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Start every test from no purpose and no policy: the demo shop's data migration published some."""
    from privacy_kit.models import PolicyVersion, Purpose

    with django_db_blocker.unblock():
        PolicyVersion.objects.all().delete()
        Purpose.objects.all().delete()


@pytest.fixture(autouse=True)
def _registry_restored():
    """Undo what a test registered or unregistered, so that no registration leaks into the next test."""
    from privacy_kit import registry

    saved = registry.registrations()
    yield
    for entry in registry.registrations():
        registry.unregister(entry.model)
    for entry in saved:
        registry.register(
            entry.model,
            subject=entry.subject,
            category=entry.category,
            personal_fields=entry.personal_fields,
            retention=entry.retention,
            purposes=entry.purposes,
            recipients=entry.recipients,
            transfers=entry.transfers,
            correctable=entry.correctable,
        )


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: no consent change counted against a rate limit."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_keyring():
    """Each test reads keys from the settings it runs with, and starts with no subject key cached."""
    from privacy_kit.keys import store as key_store

    crypto.reset()
    key_store.reset()
    yield
    crypto.reset()
    key_store.reset()


@pytest.fixture
def orders_loaded_on_delete():
    """Make Django load the test app's orders to delete them, as any post_delete receiver does; yield their keys."""
    from django.db.models.signals import post_delete

    from tests.testapp.models import Order

    deleted = []

    def receiver(sender, instance, **kwargs):
        deleted.append(instance.pk)

    post_delete.connect(receiver, sender=Order, dispatch_uid="tests.orders_loaded_on_delete")
    yield deleted
    post_delete.disconnect(sender=Order, dispatch_uid="tests.orders_loaded_on_delete")


@pytest.fixture
def verified_admin_client(client, admin_user):
    """A client logged in as a superuser and verified in its session by a confirmed TOTP device."""
    from tests.two_factor import verify

    verify(client, admin_user)
    return client


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium driven through chromedriver, with a profile of its own; quit after the test."""
    # Imported here: only the browser tests need Selenium and tests/browser.py.
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    from tests.browser import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()

"""Subject keys: creation, batched lookup, destruction, the cache, re-wrapping, the key database."""

import os
import threading

import pytest
from django.db import connections, router
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from privacy_kit.crypto import DecryptionError, KeyDestroyed
from privacy_kit.keys import KeyServiceError, destroy, keys_for, providers, rewrap
from privacy_kit.keys import store as key_store
from privacy_kit.keys.providers import SettingsKeyProvider
from privacy_kit.keys.routers import KeyRouter
from privacy_kit.models import SubjectKey
from tests.key_providers import CountingProvider, FailingAfterProvider, RacingProvider
from tests.settings import TEST_BLIND_INDEX_KEY, TEST_KEY_OLD, TEST_KEY_PRIMARY

BOTH = ["default", "keys"]
pytestmark = pytest.mark.django_db(databases=BOTH, transaction=True)


def key_settings(**extra):
    return override_settings(
        PRIVACY_KIT={"ENCRYPTION_KEYS": [TEST_KEY_PRIMARY], "BLIND_INDEX_KEY": TEST_BLIND_INDEX_KEY, **extra}
    )


@pytest.fixture(params=BOTH)
def key_database(request):
    """Run the test with the keys in the default database, then in a database of their own."""
    CountingProvider.calls = []
    with key_settings(KEY_DATABASE=request.param, KEY_PROVIDER="tests.key_providers.CountingProvider"):
        yield request.param


def stored(alias):
    return SubjectKey.objects.using(alias)


def test_a_created_key_is_32_random_bytes_stored_wrapped_in_the_key_database(key_database):
    keys = keys_for([7, 8], create=True)
    assert set(keys) == {"7", "8"}
    assert all(len(key) == 32 for key in keys.values()) and keys["7"] != keys["8"]
    row = stored(key_database).get(subject="7")
    assert keys["7"] not in bytes(row.wrapped_key)
    assert row.key_id == SettingsKeyProvider().key_id and row.destroyed_at is None
    other = "keys" if key_database == "default" else "default"
    assert not stored(other).exists()


def test_the_same_key_comes_back_from_the_database_once_the_cache_is_gone(key_database):
    created = keys_for([7], create=True)
    key_store.cache.clear()
    assert keys_for([7]) == created


def test_a_subject_without_a_key_is_left_out_unless_asked_to_create(key_database):
    assert keys_for(["41"]) == {}
    assert not stored(key_database).exists()


def test_a_cold_lookup_of_many_subjects_is_one_query_and_one_provider_batch(key_database):
    keys_for(range(50), create=True)
    key_store.cache.clear()
    CountingProvider.calls = []
    with CaptureQueriesContext(connections[key_database]) as queries:
        keys = keys_for(range(50))
    assert len(keys) == 50
    assert len(queries) == 1
    assert CountingProvider.calls == [("unwrap", 50)]


def test_creating_many_keys_is_one_provider_batch_and_one_insert(key_database):
    with CaptureQueriesContext(connections[key_database]) as queries:
        keys_for(range(50), create=True)
    assert CountingProvider.calls == [("wrap", 50)]
    inserts = [query for query in queries if query["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    # The lookup, the insert and the read-back that settles a race: no query per subject.
    assert len(queries) <= 3 + 2  # (savepoint or transaction statements on some backends)


def test_a_warm_lookup_asks_neither_the_database_nor_the_provider(key_database):
    keys = keys_for(range(10), create=True)
    CountingProvider.calls = []
    with CaptureQueriesContext(connections[key_database]) as queries:
        assert keys_for(range(10)) == keys
    assert len(queries) == 0 and CountingProvider.calls == []


def test_a_destroyed_key_raises_key_destroyed_with_when(key_database):
    keys_for([5, 6], create=True)
    when = destroy(5)
    with pytest.raises(KeyDestroyed) as raised:
        keys_for([5, 6])
    assert isinstance(raised.value, DecryptionError)
    assert raised.value.destroyed_at == when
    assert "5" not in str(raised.value).replace(when.isoformat(timespec="seconds"), "")
    row = stored(key_database).get(subject="5")
    assert row.wrapped_key is None and row.destroyed_at == when
    assert keys_for([6]).keys() == {"6"}


def test_destroying_evicts_the_key_from_this_process_cache(key_database):
    keys_for([5], create=True)
    assert key_store.cache.get_many(["5"])
    destroy(5)
    with CaptureQueriesContext(connections[key_database]) as queries:
        with pytest.raises(KeyDestroyed):
            keys_for([5])
    assert len(queries) == 1  # read from the database, not from the cache


def test_a_destroyed_subject_never_gets_a_new_key(key_database):
    keys_for([5], create=True)
    destroy(5)
    with pytest.raises(KeyDestroyed):
        keys_for([5, 9], create=True)
    assert not stored(key_database).filter(subject="9").exists()


def test_destroying_a_subject_without_a_key_leaves_a_destroyed_row(key_database):
    when = destroy(12)
    with pytest.raises(KeyDestroyed):
        keys_for([12], create=True)
    assert stored(key_database).get(subject="12").destroyed_at == when


def test_destroying_twice_keeps_the_first_time(key_database):
    keys_for([5], create=True)
    first = destroy(5)
    assert destroy(5) == first


def test_a_wrapped_key_copied_into_another_subjects_row_does_not_open(key_database):
    keys_for([1, 2], create=True)
    rows = stored(key_database)
    rows.filter(subject="2").update(wrapped_key=rows.get(subject="1").wrapped_key)
    key_store.cache.clear()
    with pytest.raises(DecryptionError) as raised:
        keys_for([2])
    assert "privacy_kit.SubjectKey.wrapped_key" in str(raised.value)


def test_keys_wrapped_under_an_older_encryption_key_still_open(key_database):
    with key_settings(
        KEY_DATABASE=key_database, KEY_PROVIDER="tests.key_providers.CountingProvider", ENCRYPTION_KEYS=[TEST_KEY_OLD]
    ):
        created = keys_for([3], create=True)
    with key_settings(
        KEY_DATABASE=key_database,
        KEY_PROVIDER="tests.key_providers.CountingProvider",
        ENCRYPTION_KEYS=[TEST_KEY_PRIMARY, TEST_KEY_OLD],
    ):
        assert keys_for([3]) == created
    # Without the old key it does not open, and says which key it needs.
    key_store.cache.clear()
    with pytest.raises(DecryptionError) as raised:
        keys_for([3])
    assert SettingsKeyProvider.__name__ not in str(raised.value)
    assert "no configured encryption key has this id" in str(raised.value)


def test_rewrap_moves_every_live_key_to_the_current_key_id_in_batches_and_keeps_the_keys(key_database):
    with key_settings(KEY_DATABASE=key_database, ENCRYPTION_KEYS=[TEST_KEY_OLD]):
        created = keys_for(range(5), create=True)
        destroy(4)
    with key_settings(
        KEY_DATABASE=key_database,
        KEY_PROVIDER="tests.key_providers.CountingProvider",
        ENCRYPTION_KEYS=[TEST_KEY_PRIMARY, TEST_KEY_OLD],
    ):
        assert rewrap(batch_size=2) == 4
        assert CountingProvider.calls == [("unwrap", 2), ("wrap", 2), ("unwrap", 2), ("wrap", 2)]
        assert rewrap(batch_size=2) == 0
    with key_settings(KEY_DATABASE=key_database, ENCRYPTION_KEYS=[TEST_KEY_PRIMARY]):
        assert set(stored(key_database).filter(wrapped_key__isnull=False).values_list("key_id", flat=True)) == {
            SettingsKeyProvider().key_id
        }
        assert keys_for(range(4)) == {str(n): created[str(n)] for n in range(4)}


def test_rewrap_stopped_by_a_key_service_failure_resumes_where_it_stopped(key_database):
    with key_settings(KEY_DATABASE=key_database, ENCRYPTION_KEYS=[TEST_KEY_OLD]):
        created = keys_for(range(4), create=True)
    FailingAfterProvider.allowed = 1
    rotated = {"KEY_DATABASE": key_database, "ENCRYPTION_KEYS": [TEST_KEY_PRIMARY, TEST_KEY_OLD]}
    with key_settings(KEY_PROVIDER="tests.key_providers.FailingAfterProvider", **rotated):
        with pytest.raises(KeyServiceError):
            rewrap(batch_size=2)
    primary_id = SettingsKeyProvider().key_id
    assert stored(key_database).filter(key_id=primary_id).count() == 2
    with key_settings(**rotated):
        assert rewrap(batch_size=2) == 2
        key_store.cache.clear()
        assert keys_for(range(4)) == created


def test_rewrap_leaves_a_key_destroyed_while_it_ran_destroyed(key_database):
    with key_settings(KEY_DATABASE=key_database, ENCRYPTION_KEYS=[TEST_KEY_OLD]):
        keys_for([1, 2], create=True)

    class DestroyingDuringRewrap(SettingsKeyProvider):
        def unwrap(self, wrapped, contexts):
            keys = super().unwrap(wrapped, contexts)
            destroy(2)  # the erasure lands between rewrap's read and its write
            return keys

    with key_settings(KEY_DATABASE=key_database, ENCRYPTION_KEYS=[TEST_KEY_PRIMARY, TEST_KEY_OLD]):
        providers._provider = DestroyingDuringRewrap()
        assert rewrap() == 1
    row = stored(key_database).get(subject="2")
    assert row.wrapped_key is None and row.destroyed_at is not None


def test_a_key_service_that_fails_on_creation_writes_nothing(key_database):
    FailingAfterProvider.allowed = 0
    with key_settings(KEY_DATABASE=key_database, KEY_PROVIDER="tests.key_providers.FailingAfterProvider"):
        with pytest.raises(KeyServiceError):
            keys_for([1, 2], create=True)
    assert not stored(key_database).exists()


# The cache


def test_the_cache_keeps_at_most_its_size_and_drops_the_oldest():
    with key_settings(SUBJECT_KEY_CACHE_SIZE=3, KEY_PROVIDER="tests.key_providers.CountingProvider"):
        keys_for(range(5), create=True)
        assert len(key_store.cache) == 3
        assert set(key_store.cache.get_many([str(n) for n in range(5)])) == {"2", "3", "4"}
        CountingProvider.calls = []
        keys_for([0])
        assert CountingProvider.calls == [("unwrap", 1)]


def test_a_cached_key_older_than_the_age_bound_is_read_again():
    with key_settings(SUBJECT_KEY_CACHE_SECONDS=1, KEY_PROVIDER="tests.key_providers.CountingProvider"):
        keys_for([1], create=True)
        assert key_store.cache.get_many(["1"])
        threading.Event().wait(1.2)
        assert key_store.cache.get_many(["1"]) == {}
        CountingProvider.calls = []
        keys_for([1])
        assert CountingProvider.calls == [("unwrap", 1)]


def test_a_key_created_in_a_transaction_that_rolls_back_is_never_cached():
    from django.db import transaction

    with key_settings():
        with pytest.raises(RuntimeError), transaction.atomic():
            keys_for([1], create=True)
            raise RuntimeError("the order could not be saved")
        assert len(key_store.cache) == 0
        assert keys_for([1]) == {}


def test_the_cache_holds_its_bound_under_many_threads():
    cache = key_store.KeyCache()
    errors = []

    def churn(start):
        try:
            for n in range(2_000):
                cache.put_many({f"{start}-{n}": b"k" * 32})
                cache.get_many([f"{start}-{n - 1}", f"{start}-{n}"])
                if n % 7 == 0:
                    cache.evict(f"{start}-{n}")
        except Exception as error:  # pragma: no cover - only reached if the cache breaks
            errors.append(error)

    with key_settings(SUBJECT_KEY_CACHE_SIZE=100):
        threads = [threading.Thread(target=churn, args=(start,)) for start in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == [] and len(cache) <= 100


def test_a_forked_child_starts_with_an_empty_cache_and_its_own_provider():
    with key_settings():
        keys_for([1], create=True)
        assert len(key_store.cache) == 1
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            os.write(write, f"{len(key_store.cache)} {providers._provider is None}".encode())
            os._exit(0)
        os.close(write)
        seen = os.read(read, 32)
        os.waitpid(child, 0)
        assert seen == b"0 True"
        assert len(key_store.cache) == 1 and providers._provider is not None


# Two processes creating the same subject's key at once


def test_two_connections_creating_the_same_key_at_once_end_with_one_key():
    RacingProvider.barrier.reset()
    answers = {}

    def create(name):
        try:
            answers[name] = keys_for([77], create=True)["77"]
        finally:
            connections.close_all()

    with key_settings(KEY_DATABASE="keys", KEY_PROVIDER="tests.key_providers.RacingProvider"):
        threads = [threading.Thread(target=create, args=(name,)) for name in ("first", "second")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers["first"] == answers["second"]
        assert stored("keys").filter(subject="77").count() == 1
    with key_settings(KEY_DATABASE="keys"):
        assert keys_for([77]) == {"77": answers["first"]}


# The router


def test_the_router_sends_subject_keys_to_the_key_database_and_nothing_else():
    with key_settings(KEY_DATABASE="keys"), override_settings(DATABASE_ROUTERS=["privacy_kit.keys.routers.KeyRouter"]):
        assert router.db_for_read(SubjectKey) == "keys"
        assert router.db_for_write(SubjectKey) == "keys"
        from privacy_kit.models import ErasureRecord

        assert router.db_for_write(ErasureRecord) == "default"
        assert router.allow_migrate("keys", "privacy_kit", model_name="subjectkey")
        assert not router.allow_migrate("default", "privacy_kit", model_name="subjectkey")
        assert not router.allow_migrate("keys", "privacy_kit", model_name="erasurerecord")
        assert not router.allow_migrate("keys", "auth", model_name="user")
        assert router.allow_migrate("default", "auth", model_name="user")


def test_with_the_default_key_database_the_router_changes_nothing():
    key_router = KeyRouter()
    with key_settings():
        assert key_router.db_for_read(SubjectKey) == "default"
        assert key_router.allow_migrate("default", "privacy_kit", model_name="subjectkey")
        assert key_router.allow_migrate("default", "auth", model_name="user") is None


def test_migrate_with_the_router_puts_the_subject_keys_in_their_database_only(tmp_path):
    import sqlite3
    import subprocess
    import sys

    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings_key_router",
        "ROUTER_TEST_DEFAULT_DB": str(tmp_path / "data.sqlite3"),
        "ROUTER_TEST_KEYS_DB": str(tmp_path / "keys.sqlite3"),
    }

    def django(*arguments):
        done = subprocess.run(
            [sys.executable, "-m", "django", *arguments], env=environment, capture_output=True, text=True, check=True
        )
        return done.stdout + done.stderr

    django("migrate", "--verbosity", "0")
    django("migrate", "--database", "keys", "--verbosity", "0")
    assert "privacy_kit.W050" not in django("check", "--fail-level", "CRITICAL")
    created = django("shell", "-c", "from privacy_kit.keys import keys_for; print(len(keys_for([1], create=True)))")
    assert created.splitlines()[-1] == "1"

    def tables(name):
        with sqlite3.connect(tmp_path / name) as database:
            return {row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    assert tables("keys.sqlite3") - {"django_migrations", "sqlite_sequence"} == {"privacy_kit_subjectkey"}
    assert "privacy_kit_subjectkey" not in tables("data.sqlite3")
    assert "privacy_kit_erasurerecord" in tables("data.sqlite3")
    with sqlite3.connect(tmp_path / "keys.sqlite3") as database:
        assert database.execute("SELECT subject FROM privacy_kit_subjectkey").fetchall() == [("1",)]

"""Subject keys: create, look up (batched and cached), destroy and re-wrap.

Every function reads and writes ``PRIVACY_KIT["KEY_DATABASE"]`` with an explicit
``using=``, so the keys live where the setting says whether or not the shop has added
``KeyRouter`` to ``DATABASE_ROUTERS``.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import connections, transaction
from django.utils import timezone

from ..conf import app_settings
from ..crypto import DecryptionError, KeyDestroyed
from . import providers

if TYPE_CHECKING:
    from .models import SubjectKey

# Ids per lookup query: one query for any page a shop shows, within every backend's parameter limit.
IDS_PER_QUERY = 5_000


class Destroyed:
    """A cache entry that remembers a destroyed key (destruction is final)."""

    __slots__ = ("destroyed_at",)

    def __init__(self, destroyed_at: datetime | None) -> None:
        self.destroyed_at = destroyed_at


class KeyCache:
    """Unwrapped subject keys of this process, bounded in number and age, safe across threads.

    The oldest entry goes when ``SUBJECT_KEY_CACHE_SIZE`` is reached; an entry older
    than ``SUBJECT_KEY_CACHE_SECONDS`` is not returned.
    """

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes | Destroyed]] = OrderedDict()
        # The same live keys as ciphers, for the fields' hot path: a plain dict read, no lock.
        self.ciphers: dict[str, tuple[float, AESGCM]] = {}
        # When each subject was last evicted: an entry read before that is not taken in.
        self._evicted: dict[str, float] = {}
        self._lock = threading.Lock()

    def cipher(self, subject: str) -> AESGCM | None:
        """Return the cipher of a cached live key, or None (a miss, expired, or destroyed)."""
        entry = self.ciphers.get(subject)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def __len__(self) -> int:
        return len(self._entries)

    def get_many(self, subjects: Iterable[str]) -> dict[str, bytes | Destroyed]:
        """Return the fresh entries of ``subjects``; forget the expired ones met on the way."""
        deadline = time.monotonic() - app_settings.SUBJECT_KEY_CACHE_SECONDS
        found = {}
        with self._lock:
            for subject in subjects:
                entry = self._entries.get(subject)
                if entry is None:
                    continue
                if entry[0] < deadline:
                    del self._entries[subject]
                    continue
                found[subject] = entry[1]
        return found

    def put_many(self, entries: dict[str, bytes | Destroyed], read_at: float | None = None) -> None:
        """Remember ``entries`` as read at ``read_at`` (``time.monotonic()``, now if not given).

        An entry lasts ``SUBJECT_KEY_CACHE_SECONDS`` from when it was read, not from when
        it is put (a transaction's keys are put when it commits). A live key read before
        its subject was last evicted (a lookup that raced an erasure) is not taken in. The
        oldest entries go beyond the size bound.
        """
        size, period = app_settings.SUBJECT_KEY_CACHE_SIZE, app_settings.SUBJECT_KEY_CACHE_SECONDS
        now = time.monotonic()
        read_at = now if read_at is None else read_at
        expires = read_at + period
        with self._lock:
            if self._evicted:
                self._evicted = {subject: when for subject, when in self._evicted.items() if when > now - period}
            for subject, value in entries.items():
                if isinstance(value, bytes) and self._evicted.get(subject, -math.inf) >= read_at:
                    continue
                self._entries.pop(subject, None)
                self._entries[subject] = (read_at, value)
                if isinstance(value, bytes):
                    self.ciphers[subject] = (expires, AESGCM(value))
                else:
                    self.ciphers.pop(subject, None)
            while len(self._entries) > size:
                oldest, _ = self._entries.popitem(last=False)
                self.ciphers.pop(oldest, None)

    def evict(self, subject: str) -> None:
        """Forget one subject's entry, and refuse its live keys read until now."""
        with self._lock:
            self._entries.pop(subject, None)
            self.ciphers.pop(subject, None)
            self._evicted[subject] = time.monotonic()

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self.ciphers = {}

    def after_fork(self) -> None:
        """Start a forked child with no keys and a lock no other thread holds."""
        self._lock = threading.Lock()
        self._entries = OrderedDict()
        self.ciphers = {}
        self._evicted = {}


cache = KeyCache()
os.register_at_fork(after_in_child=cache.after_fork)


def key_database() -> str:
    """Return the database alias that holds the subject keys."""
    return app_settings.KEY_DATABASE


def subject_id(value: Any, *, column: Any = None, model: Any = None, instance: Any = None) -> str:
    """Return a subject's primary key as text, as the database's ``CAST(... AS TEXT)`` reports it.

    ``value`` is the user's primary key, or the value of ``column`` (a foreign key to
    the user) on a row of ``model``.
    """
    if type(value) is int:
        return str(value)  # what every backend's CAST of an integer key gives
    from django.contrib.auth import get_user_model
    from django.db import router

    if column is None:
        model = get_user_model()
        column = model._meta.pk
    using = router.db_for_write(model, instance=instance)
    return str(column.get_db_prep_value(value, connections[using]))


def destroyed_subjects() -> set[str]:
    """Return the subjects whose key was destroyed (erased subjects), by subject id."""
    rows = _model().objects.using(key_database()).filter(destroyed_at__isnull=False)
    return set(rows.values_list("subject", flat=True).iterator(chunk_size=5_000))


def context(subject: str) -> str:
    """Return the context a subject's key is wrapped with: it names the subject key."""
    return f"privacy_kit.SubjectKey:{subject}"


def _model() -> type[SubjectKey]:
    # Imported on use: privacy_kit.keys is importable before the app registry is ready.
    from .models import SubjectKey

    return SubjectKey


def _remember(entries: dict[str, bytes | Destroyed], read_at: float) -> None:
    """Cache ``entries``, read at ``read_at``, once the key database commits: a rolled-back key must never be used.

    Until then they serve the transaction that read or made them (``_in_transaction``),
    for as long as they would be cached.
    """
    if not entries:
        return
    alias = key_database()
    callback = partial(cache.put_many, entries, read_at)
    transaction.on_commit(callback, using=alias)
    connection = connections[alias]
    if connection.in_atomic_block:
        position = len(connection.run_on_commit) - 1
        pending = connection.__dict__.setdefault(PENDING, {})
        pending.update((subject, (callback, position, value, read_at)) for subject, value in entries.items())


PENDING = "_privacy_kit_subject_keys"


def _in_transaction(subjects: list[str]) -> dict[str, bytes | Destroyed]:
    """Return the entries this transaction of the key database read or made, while they stand.

    An entry stands while its commit hook is still where it was put: a rollback, of
    the transaction or of the savepoint it was made in, drops or moves the hooks, and
    then the entry is forgotten (and looked up again).
    """
    connection = connections[key_database()]
    pending = connection.__dict__.get(PENDING)
    if not pending:
        return {}
    if not connection.in_atomic_block:
        pending.clear()
        return {}
    hooks = connection.run_on_commit
    oldest = time.monotonic() - app_settings.SUBJECT_KEY_CACHE_SECONDS
    found: dict[str, bytes | Destroyed] = {}
    for subject in subjects:
        entry = pending.get(subject)
        if entry is None:
            continue
        callback, position, value, read_at = entry
        if position < len(hooks) and hooks[position][1] is callback and read_at >= oldest:
            found[subject] = value
        else:
            del pending[subject]  # rolled back, or read longer ago than a key is cached
    return found


def keys_for(subject_ids: Iterable[Any], *, create: bool = False) -> dict[str, bytes]:
    """Return the data key of each subject, by subject id as text; create missing ones if ``create``.

    Cached keys cost nothing. The others cost one query for all of them and one
    provider call for all their wrapped keys (plus, with ``create``, one provider call
    and one insert for the new ones). A subject without a key is left out of the answer
    unless ``create`` is given. Raise ``KeyDestroyed`` if any subject's key was
    destroyed (nothing is created then), and ``KeyServiceError`` if the provider is
    unreachable (nothing is written).
    """
    wanted = list(dict.fromkeys(str(subject) for subject in subject_ids))
    found = cache.get_many(wanted)
    misses = [subject for subject in wanted if subject not in found]
    if misses:
        found.update(_in_transaction(misses))
        misses = [subject for subject in misses if subject not in found]
    if misses:
        read_at = time.monotonic()  # before the read: what it finds is at least this fresh
        loaded = _load(misses)
        _remember(loaded, read_at)
        found.update(loaded)
    destroyed = [entry for entry in found.values() if isinstance(entry, Destroyed)]
    if destroyed:
        raise KeyDestroyed(destroyed[0].destroyed_at)
    keys: dict[str, bytes] = {subject: entry for subject, entry in found.items() if isinstance(entry, bytes)}
    missing = [subject for subject in wanted if subject not in found]
    if missing and create:
        read_at = time.monotonic()
        created = _create(missing)
        _remember(dict(created), read_at)
        keys.update(created)
    return keys


def _load(subjects: list[str]) -> dict[str, bytes | Destroyed]:
    """Read and unwrap the stored keys of ``subjects``: one query and one provider call per chunk."""
    entries: dict[str, bytes | Destroyed] = {}
    for start in range(0, len(subjects), IDS_PER_QUERY):
        entries.update(_read(subjects[start : start + IDS_PER_QUERY]))
    return entries


def _read(subjects: Any) -> dict[str, bytes | Destroyed]:
    """Read and unwrap the stored keys of ``subjects`` (a list, or a query of subject ids): one query, one call."""
    rows = _model().objects.using(key_database()).filter(subject__in=subjects)
    stored = list(rows.values_list("subject", "wrapped_key", "destroyed_at")[: app_settings.SUBJECT_KEY_CACHE_SIZE])
    entries: dict[str, bytes | Destroyed] = {s: Destroyed(when) for s, wrapped, when in stored if wrapped is None}
    entries.update(_unwrap([(s, bytes(wrapped)) for s, wrapped, _ in stored if wrapped is not None]))
    return entries


def _unwrap(live: list[tuple[str, bytes]]) -> dict[str, bytes]:
    if not live:
        return {}
    keys = providers.key_provider().unwrap([wrapped for _, wrapped in live], [context(s) for s, _ in live])
    return {subject: key for (subject, _), key in zip(live, keys, strict=True)}


def _create(subjects: list[str]) -> dict[str, bytes]:
    """Create keys for ``subjects``; where another process won the race, return its key instead."""
    provider = providers.key_provider()
    keys = [os.urandom(providers.SUBJECT_KEY_BYTES) for _ in subjects]
    # Wrapped before anything is written: a provider that is down leaves no row behind.
    wrapped = provider.wrap(keys, [context(subject) for subject in subjects])
    rows = _model().objects.using(key_database())
    # The unique constraint decides a race; a row that lost is skipped, not an error.
    rows.bulk_create(
        [
            _model()(subject=subject, wrapped_key=blob, key_id=provider.key_id)
            for subject, blob in zip(subjects, wrapped, strict=True)
        ],
        ignore_conflicts=True,
    )
    stored = {
        subject: (blob, when)
        for subject, blob, when in rows.filter(subject__in=subjects).values_list(
            "subject", "wrapped_key", "destroyed_at"
        )
    }
    created: dict[str, bytes] = {}
    theirs: list[tuple[str, bytes]] = []
    for subject, key, ours in zip(subjects, keys, wrapped, strict=True):
        blob, when = stored[subject]
        if blob is None:
            raise KeyDestroyed(when)
        if bytes(blob) == ours:
            created[subject] = key
        else:
            theirs.append((subject, bytes(blob)))
    created.update(_unwrap(theirs))
    return created


def destroy(subject_id: Any) -> datetime:
    """Destroy a subject's key and return when it was destroyed; a later copy of its values reads as erased.

    The row stays with an empty wrapped key and ``destroyed_at``, so "destroyed" is told
    apart from "never existed", and a destroyed subject never gets a new key. A subject
    that had no key gets a destroyed row all the same. Idempotent: destroying again
    returns the first time. Other processes forget a cached key within
    ``SUBJECT_KEY_CACHE_SECONDS``.
    """
    subject = str(subject_id)
    alias = key_database()
    rows = _model().objects.using(alias)
    now = timezone.now()
    _forget_ciphers(subject)
    with transaction.atomic(using=alias):
        rows.filter(subject=subject, destroyed_at__isnull=True).update(wrapped_key=None, destroyed_at=now)
        rows.bulk_create(
            [_model()(subject=subject, wrapped_key=None, key_id="", destroyed_at=now)], ignore_conflicts=True
        )
        destroyed_at = rows.values_list("destroyed_at", flat=True).get(subject=subject)
        # The rest of a transaction this runs in reads the subject as destroyed (not the key it
        # read before), and so does this process once it commits.
        _remember({subject: Destroyed(destroyed_at)}, time.monotonic())
    # A lookup in another thread may have read the key before the commit: evicting again
    # refuses what it would cache.
    transaction.on_commit(partial(_forget_ciphers, subject), using=alias)
    return destroyed_at


def stale_wraps() -> int:
    """Return how many live subject keys are wrapped under another key id than the provider's current one."""
    rows = _model().objects.using(key_database()).filter(wrapped_key__isnull=False)
    return rows.exclude(key_id=providers.key_provider().key_id).count()


def rewrap(batch_size: int | None = None) -> int:
    """Re-wrap every live key not under the provider's current key id; return how many were re-wrapped.

    Walks the table in primary-key order, ``batch_size`` rows (default
    ``PURGE_BATCH_SIZE``) per batch: one provider call to unwrap and one to wrap, and
    one short transaction whose updates each match only the wrapped value read (a key
    destroyed meanwhile stays destroyed). Stopped or killed, run it again: keys already
    under the current id are skipped.
    """
    provider = providers.key_provider()
    size = batch_size or app_settings.PURGE_BATCH_SIZE
    rows = _model().objects.using(key_database())
    pending = rows.filter(wrapped_key__isnull=False).exclude(key_id=provider.key_id).order_by("pk")
    last_pk: Any = None
    rewrapped = 0
    while True:
        batch = pending if last_pk is None else pending.filter(pk__gt=last_pk)
        read = [
            (pk, subject, bytes(blob)) for pk, subject, blob in batch.values_list("pk", "subject", "wrapped_key")[:size]
        ]
        if not read:
            return rewrapped
        contexts = [context(subject) for _, subject, _ in read]
        new = provider.wrap(provider.unwrap([blob for _, _, blob in read], contexts), contexts)
        with transaction.atomic(using=key_database()):
            for (pk, _, old), blob in zip(read, new, strict=True):
                rewrapped += rows.filter(pk=pk, wrapped_key=old).update(wrapped_key=blob, key_id=provider.key_id)
        last_pk = read[-1][0]


# -- the fields' path: a subject's AESGCM -------------------------------------------------
#
# Reading, the database reports each value's row subject (``privacy_kit.fields.SubjectCol``).
# The cipher comes from the cache of committed keys (a plain dict read); on a miss, the
# keys of every subject of the query's rows are loaded at once (``preload``), so a
# page of rows of many subjects costs one query for their keys, not one per subject.
# Writing goes through ``keys_for``, whose cache holds only committed keys.


def reading_cipher(subject: str, batch: Any, model: str, field: str) -> AESGCM:
    """Return the cipher that opens a value of ``subject``'s row; raise ``KeyDestroyed`` for an erased one.

    ``batch`` (with a ``load()``) loads, at the first miss, the keys of the other rows read with it.
    """
    cipher = cache.cipher(subject)
    if cipher is not None:
        return cipher
    if batch is not None:
        batch.load()
        cipher = cache.cipher(subject)
        if cipher is not None:
            return cipher
    try:
        # Inside a transaction the batch's keys serve only it (keys_for knows them); or one subject.
        return _cipher_of(keys_for([subject])[subject])
    except KeyDestroyed as destroyed:
        raise KeyDestroyed(destroyed.destroyed_at, model, field) from None
    except KeyError:
        raise DecryptionError(model, field, "subject", "the row's subject has no key") from None


def preload(subjects: Any, using: str) -> None:
    """Load the keys of every subject a query names (a query of their ids as text, on ``using``) at once.

    One query (the subjects' query inside the keys' one when they share a database) and
    one provider call; a destroyed key among them is remembered as such, and only its
    own rows fail. Cached as ``keys_for`` caches.
    """
    if using != key_database():
        subjects = list(subjects[: app_settings.SUBJECT_KEY_CACHE_SIZE])  # another database: subjects first
    read_at = time.monotonic()
    _remember(_read(subjects), read_at)


_ciphers_by_key: dict[bytes, AESGCM] = {}


def writing_cipher(subject: str) -> AESGCM:
    """Return the cipher that seals ``subject``'s values, creating the subject's key on first use.

    Raise ``KeyDestroyed`` for an erased subject: nothing is written for them again.
    """
    cipher = cache.cipher(subject)
    if cipher is not None:
        return cipher
    # Read or made by this transaction (a batch of rotate_keys or import_ciphertext): not
    # cached until it commits, and found here without a second lookup per value.
    entry = _in_transaction([subject]).get(subject)
    if isinstance(entry, bytes):
        return _cipher_of(entry)
    return _cipher_of(keys_for([subject], create=True)[subject])


def _cipher_of(key: bytes) -> AESGCM:
    """Return the ``AESGCM`` of a key from ``keys_for``, built once."""
    cipher = _ciphers_by_key.get(key)
    if cipher is None:
        if len(_ciphers_by_key) >= app_settings.SUBJECT_KEY_CACHE_SIZE:
            _ciphers_by_key.clear()
        cipher = _ciphers_by_key[key] = AESGCM(key)
    return cipher


def _forget_ciphers(subject: str) -> None:
    cache.evict(subject)
    _ciphers_by_key.clear()


os.register_at_fork(after_in_child=_ciphers_by_key.clear)


def reset() -> None:
    """Forget cached keys and the provider: the settings changed."""
    cache.clear()
    for connection in connections.all(initialized_only=True):
        connection.__dict__.pop(PENDING, None)
    _ciphers_by_key.clear()
    providers.reset()


def reset_on_setting_changed(*, setting: str, **kwargs: object) -> None:
    """Receive ``setting_changed``: the provider, its keys or the key database may have changed."""
    if setting in ("PRIVACY_KIT", "SECRET_KEY", "DEBUG", "DATABASES"):
        reset()

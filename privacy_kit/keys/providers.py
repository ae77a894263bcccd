"""Key-encryption-key providers: what wraps each subject's data key before it is stored.

A provider is a small class with a key id and two batched methods, ``wrap`` and
``unwrap``. privacy_kit calls it only when subject keys are created and when the
cache of unwrapped keys misses, once per batch, never once per value. Choose one with
``PRIVACY_KIT["KEY_PROVIDER"]`` (a dotted path); write your own for Vault, GCP KMS or
an HSM by subclassing ``KeyProvider``.
"""

from __future__ import annotations

import abc
import hmac
import os
import threading
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .. import crypto
from ..conf import app_settings

SUBJECT_KEY_BYTES = 32
# The model and field a wrapped key belongs to, as DecryptionError names them.
WRAPPED_MODEL = "privacy_kit.SubjectKey"
WRAPPED_FIELD = "wrapped_key"


class KeyServiceError(Exception):
    """The key service could not be reached, or refused: nothing was created or changed.

    The message names the provider and the operation, never a key or a credential.
    Try again once the service answers.
    """


class KeyProvider(abc.ABC):
    """Wrap and unwrap subject keys with a key-encryption key.

    ``key_id`` names the key-encryption key that new wraps use; privacy_kit stores it
    beside each wrapped key, so ``rewrap()`` finds the keys wrapped under an older one.

    Both methods take a batch and return a list in the same order. ``contexts[i]``
    names the subject key that ``keys[i]`` is: a wrapped key opens only with the
    context it was wrapped with, so a wrapped key copied into another subject's row
    does not open. ``unwrap`` raises ``privacy_kit.crypto.DecryptionError`` for a
    wrapped key that does not open (altered, moved, or under a key the provider does
    not have) and ``KeyServiceError`` when the service is unreachable or refuses.
    """

    key_id: str

    @abc.abstractmethod
    def wrap(self, keys: Sequence[bytes], contexts: Sequence[str]) -> list[bytes]:
        """Return each key encrypted under the current key-encryption key, bound to its context."""

    @abc.abstractmethod
    def unwrap(self, wrapped: Sequence[bytes], contexts: Sequence[str]) -> list[bytes]:
        """Return the keys ``wrap()`` wrapped, given the same contexts."""


def wrapping_data(context: str) -> bytes:
    """Return the associated data that binds a locally wrapped key to its context."""
    return b"privacy_kit subject key\0" + context.encode()


def refused(key_id: str | None, reason: str) -> crypto.DecryptionError:
    """Return the error for a wrapped subject key that does not open."""
    return crypto.DecryptionError(WRAPPED_MODEL, WRAPPED_FIELD, key_id, reason)


class SettingsKeyProvider(KeyProvider):
    """Wrap subject keys locally with AES-256-GCM under keys derived from ``ENCRYPTION_KEYS``.

    The primary encryption key wraps; every configured key unwraps, so subject keys
    stay readable while ``ENCRYPTION_KEYS`` is rotated and ``rewrap()`` catches up.
    A wrapped key is ``key id (4 bytes) | nonce (12) | ciphertext and tag``; the key
    id is the one ``privacy_keys ids`` prints.
    """

    def __init__(self) -> None:
        keys = [crypto.decode_key(text) for text in crypto.configured_encryption_keys()]
        if not keys:
            raise ImproperlyConfigured(
                "PRIVACY_KIT['ENCRYPTION_KEYS'] is empty: SettingsKeyProvider has no key to wrap subject keys with."
            )
        # A key of its own for wrapping, so field values and subject keys never share one.
        self._ciphers = {
            crypto.key_id(key): AESGCM(hmac.digest(key, b"privacy_kit subject key wrapping", "sha256")) for key in keys
        }
        self._primary_id = crypto.key_id(keys[0])
        self.key_id = self._primary_id.hex()

    def wrap(self, keys: Sequence[bytes], contexts: Sequence[str]) -> list[bytes]:
        cipher = self._ciphers[self._primary_id]
        wrapped = []
        for key, context in zip(keys, contexts, strict=True):
            nonce = os.urandom(crypto.NONCE_BYTES)
            wrapped.append(self._primary_id + nonce + cipher.encrypt(nonce, key, wrapping_data(context)))
        return wrapped

    def unwrap(self, wrapped: Sequence[bytes], contexts: Sequence[str]) -> list[bytes]:
        keys = []
        for blob, context in zip(wrapped, contexts, strict=True):
            blob = bytes(blob)
            identifier = blob[: crypto.KEY_ID_BYTES]
            cipher = self._ciphers.get(identifier)
            if cipher is None:
                raise refused(identifier.hex() or None, "no configured encryption key has this id")
            start = crypto.KEY_ID_BYTES + crypto.NONCE_BYTES
            try:
                keys.append(cipher.decrypt(blob[crypto.KEY_ID_BYTES : start], blob[start:], wrapping_data(context)))
            except (InvalidTag, ValueError):
                raise refused(identifier.hex(), "authentication failed: altered, or another subject's key") from None
        return keys


class AwsKmsKeyProvider(KeyProvider):
    """Wrap subject keys under an intermediate key that AWS KMS generates and protects.

    KMS ``Decrypt`` opens one ciphertext per request, so wrapping each subject key in
    KMS would cost one request per cache miss: a cold page of 1,000 customers would
    make 1,000. Instead the provider asks KMS once (``GenerateDataKey`` under
    ``KMS_KEY_ID``) for an intermediate key, wraps subject keys locally with it
    (AES-256-GCM, the subject key's context as associated data), and stores the
    intermediate key's KMS ciphertext in each wrapped key. Unwrapping a batch costs one
    ``Decrypt`` per distinct intermediate key not yet in memory: one per process that
    created keys, not one per subject. Disabling the KMS key, or taking the process's
    permission away, still stops every unwrap once the caches have expired.

    A wrapped key is ``1 | length (2 bytes) | KMS ciphertext | nonce (12) | ciphertext
    and tag``. ``Decrypt`` names ``KMS_KEY_ID``, so a ciphertext of any other KMS key
    (one an attacker with write access to the table made) is refused.
    """

    VERSION = 1
    ENCRYPTION_CONTEXT = {"privacy_kit": "privacy_kit.SubjectKey intermediate key"}
    # Unwrapped intermediate keys kept per process; there are few of them.
    MAX_INTERMEDIATE_KEYS = 256

    def __init__(self) -> None:
        if not app_settings.KMS_KEY_ID:
            raise ImproperlyConfigured("AwsKmsKeyProvider needs PRIVACY_KIT['KMS_KEY_ID'].")
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ImproperlyConfigured(
                "AwsKmsKeyProvider needs boto3: pip install 'django-privacy-kit[kms]'."
            ) from None
        self.key_id = app_settings.KMS_KEY_ID
        # Fail fast when KMS is down: a request waits seconds, not minutes, and is retried once.
        config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 2})
        try:
            self._client = boto3.client("kms", endpoint_url=app_settings.KMS_ENDPOINT_URL, config=config)
        except Exception as error:  # botocore's NoRegionError and kin: configuration, not data
            raise KeyServiceError(f"AWS KMS client could not be created: {type(error).__name__}.") from None
        self._lock = threading.Lock()
        self._current: tuple[bytes, AESGCM] | None = None
        self._intermediates: dict[bytes, AESGCM] = {}

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, operation)(KeyId=self.key_id, **arguments)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "unknown")
            if code == "InvalidCiphertextException":
                raise refused(self.key_id, "AWS KMS refused the ciphertext or its encryption context") from None
            raise KeyServiceError(f"AWS KMS refused {operation} with key {self.key_id}: {code}.") from None
        except BotoCoreError as error:
            raise KeyServiceError(f"AWS KMS could not be reached for {operation}: {type(error).__name__}.") from None

    def _current_intermediate(self) -> tuple[bytes, AESGCM]:
        with self._lock:
            if self._current is None:
                answer = self._call("generate_data_key", KeySpec="AES_256", EncryptionContext=self.ENCRYPTION_CONTEXT)
                blob, cipher = answer["CiphertextBlob"], AESGCM(answer["Plaintext"])
                self._current = (blob, cipher)
                self._remember(blob, cipher)
            return self._current

    def _remember(self, blob: bytes, cipher: AESGCM) -> None:
        if len(self._intermediates) >= self.MAX_INTERMEDIATE_KEYS:
            self._intermediates.pop(next(iter(self._intermediates)))
        self._intermediates[blob] = cipher

    def wrap(self, keys: Sequence[bytes], contexts: Sequence[str]) -> list[bytes]:
        blob, cipher = self._current_intermediate()
        head = bytes([self.VERSION]) + len(blob).to_bytes(2, "big") + blob
        wrapped = []
        for key, context in zip(keys, contexts, strict=True):
            nonce = os.urandom(crypto.NONCE_BYTES)
            wrapped.append(head + nonce + cipher.encrypt(nonce, key, wrapping_data(context)))
        return wrapped

    def unwrap(self, wrapped: Sequence[bytes], contexts: Sequence[str]) -> list[bytes]:
        parts = [self._split(bytes(blob)) for blob in wrapped]
        ciphers: dict[bytes, AESGCM] = {}
        for blob, _, _ in parts:
            if blob not in ciphers:
                ciphers[blob] = self._intermediates.get(blob) or self._open_intermediate(blob)
        keys = []
        for (blob, nonce, sealed), context in zip(parts, contexts, strict=True):
            try:
                keys.append(ciphers[blob].decrypt(nonce, sealed, wrapping_data(context)))
            except InvalidTag:
                raise refused(self.key_id, "authentication failed: altered, or another subject's key") from None
        return keys

    def _open_intermediate(self, blob: bytes) -> AESGCM:
        answer = self._call("decrypt", CiphertextBlob=blob, EncryptionContext=self.ENCRYPTION_CONTEXT)
        cipher = AESGCM(answer["Plaintext"])
        with self._lock:
            self._remember(blob, cipher)
        return cipher

    def _split(self, wrapped: bytes) -> tuple[bytes, bytes, bytes]:
        length = int.from_bytes(wrapped[1:3], "big")
        blob = wrapped[3 : 3 + length]
        nonce = wrapped[3 + length : 3 + length + crypto.NONCE_BYTES]
        if wrapped[:1] != bytes([self.VERSION]) or not blob or len(nonce) != crypto.NONCE_BYTES:
            raise refused(self.key_id, "not a wrapped key of AwsKmsKeyProvider")
        return blob, nonce, wrapped[3 + length + crypto.NONCE_BYTES :]


_provider: KeyProvider | None = None
_provider_lock = threading.Lock()


def key_provider() -> KeyProvider:
    """Return the provider ``KEY_PROVIDER`` names, built once until the settings change."""
    global _provider
    with _provider_lock:
        if _provider is None:
            try:
                provider_class = import_string(app_settings.KEY_PROVIDER)
            except ImportError:
                raise ImproperlyConfigured(
                    f"PRIVACY_KIT['KEY_PROVIDER'] = {app_settings.KEY_PROVIDER!r} cannot be imported."
                ) from None
            _provider = provider_class()
        return _provider


def reset() -> None:
    """Forget the provider, so the next use builds it from the current settings."""
    global _provider
    with _provider_lock:
        _provider = None


def _after_fork() -> None:
    # A forked child builds its own provider: a boto3 client's connections must not be shared
    # across processes, and the lock may have been held by a thread of the parent.
    global _provider, _provider_lock
    _provider_lock = threading.Lock()
    _provider = None


os.register_at_fork(after_in_child=_after_fork)

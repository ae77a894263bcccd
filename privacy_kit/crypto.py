"""Authenticated encryption and blind indexes for privacy_kit's fields.

A sealed value is the text form (standard base64) of one of two envelopes, both
AES-256-GCM::

    1 | key id (4 bytes) | nonce (12 bytes) | ciphertext and tag    under a shared key
    2 | nonce (12 bytes) | ciphertext and tag                       under a subject's key

The associated data binds the envelope to its header and to the column it belongs
to, so a value copied into another column or model does not decrypt. A shared key
is picked by the key id in the envelope, never by trying every key. A subject's key
is picked by the subject of the row as the database reports it (see
``privacy_kit.keys``), never by anything inside the value, and the subject is bound
in the associated data too: a value copied into another subject's row does not
decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .conf import app_settings

VERSION = 1
SUBJECT_VERSION = 2
SUBJECT_HEADER = bytes([SUBJECT_VERSION])
KEY_BYTES = 32
KEY_ID_BYTES = 4
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = 1 + KEY_ID_BYTES
MIN_ENVELOPE_BYTES = HEADER_BYTES + NONCE_BYTES + TAG_BYTES
MIN_SUBJECT_ENVELOPE_BYTES = 1 + NONCE_BYTES + TAG_BYTES
# Base64 of the first six envelope bytes: enough to read version and key id.
HEADER_CHARS = 8
# A blind index is 128 bits of HMAC-SHA256, base64 without padding.
BLIND_INDEX_CHARS = 22


# The key id a DecryptionError names for a value sealed under a subject's key.
SUBJECT_KEY = "subject"


class DecryptionError(Exception):
    """A stored value could not be decrypted: tampered, truncated, copied or under an unknown key.

    The message names the model, the field and the key id; it never holds the value.
    """

    def __init__(self, model: str, field: str, key_id: str | None, reason: str) -> None:
        self.model = model
        self.field = field
        self.key_id = key_id
        self.reason = reason
        key = "the subject's key" if key_id == SUBJECT_KEY else f"key id {key_id}" if key_id else "no readable key id"
        super().__init__(f"Cannot decrypt {model}.{field} ({key}): {reason}.")


class KeyDestroyed(DecryptionError):
    """A value belongs to a subject whose key was destroyed when the subject was erased.

    Raised for any surviving copy of an erased subject's values (a restored backup, a
    replica, a dump): the data is gone, not damaged. The message holds no subject id.
    """

    def __init__(self, destroyed_at: Any, model: str = "privacy_kit.SubjectKey", field: str = "wrapped_key") -> None:
        self.destroyed_at = destroyed_at
        when = destroyed_at.isoformat(timespec="seconds") if destroyed_at else "an unknown time"
        super().__init__(model, field, None, f"the subject's key was destroyed at {when}, when the subject was erased")


class _Nonces(threading.local):
    """Random nonces drawn from ``os.urandom`` in blocks, one block per thread.

    One call to ``os.urandom`` costs as much as sealing a short value; drawing 256 nonces
    at a time makes that cost vanish. Each nonce is used once. A forked child starts
    with an empty block: it never reuses its parent's nonces.
    """

    def __init__(self) -> None:
        self.block = b""
        self.position = 0


_nonces = _Nonces()
NONCES_PER_BLOCK = 256


def new_nonce() -> bytes:
    """Return a fresh random 12-byte nonce."""
    nonces = _nonces
    position = nonces.position
    if position >= len(nonces.block):
        nonces.block = os.urandom(NONCE_BYTES * NONCES_PER_BLOCK)
        position = 0
    nonces.position = position + NONCE_BYTES
    return nonces.block[position : position + NONCE_BYTES]


def _forget_nonces() -> None:
    _nonces.block = b""
    _nonces.position = 0


os.register_at_fork(after_in_child=_forget_nonces)


def generate_key() -> str:
    """Return a fresh random key in the form ``ENCRYPTION_KEYS`` expects."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def decode_key(text: str) -> bytes:
    """Return the 32 bytes of a url-safe base64 key, or raise ``ValueError`` without echoing it."""
    try:
        raw = base64.b64decode(text, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ValueError("not url-safe base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"decodes to {len(raw)} bytes, not {KEY_BYTES}")
    return raw


def key_id(key: bytes) -> bytes:
    """Return the public identifier of a key: four bytes that reveal nothing useful of it."""
    return hmac.digest(key, b"privacy_kit key id", "sha256")[:KEY_ID_BYTES]


def derived_debug_key(purpose: str) -> str:
    """Return a key derived from ``SECRET_KEY``: acceptable only while ``DEBUG`` is on."""
    secret = settings.SECRET_KEY.encode()
    raw = hashlib.sha256(b"privacy_kit debug key " + purpose.encode() + b"\0" + secret).digest()
    return base64.urlsafe_b64encode(raw).decode("ascii")


class Binding:
    """The column a value belongs to: its model label and field name, as associated data."""

    __slots__ = ("associated_data", "field", "model")

    def __init__(self, model: str, field: str) -> None:
        self.model = model
        self.field = field
        self.associated_data = f"privacy_kit:{model}.{field}".encode()


class Keyring:
    """The configured keys, each ``AESGCM`` built once, and the blind-index key."""

    def __init__(
        self, encryption_keys: list[bytes], blind_index_key: bytes | None, blind_index_fallbacks: Sequence[bytes] = ()
    ) -> None:
        if not encryption_keys:
            raise ImproperlyConfigured(
                "PRIVACY_KIT['ENCRYPTION_KEYS'] is empty: generate a key with 'python manage.py privacy_keys generate'."
            )
        self.primary_id = key_id(encryption_keys[0])
        self.ciphers = {key_id(key): AESGCM(key) for key in encryption_keys}
        self._primary = self.ciphers[self.primary_id]
        self._header = bytes([VERSION]) + self.primary_id
        # Keyed by the whole header, so one slice both picks the key and checks the version.
        self.ciphers_by_header = {bytes([VERSION]) + identifier: cipher for identifier, cipher in self.ciphers.items()}
        self._blind_index_key = blind_index_key
        self._index_hashes: dict[bytes, tuple[Any, Any]] = {}
        # Earlier blind-index keys, only for lookups while a rotation moves the indexes.
        self._fallback_index_keys = list(dict.fromkeys(key for key in blind_index_fallbacks if key != blind_index_key))
        self._fallback_index_hashes: dict[tuple[int, bytes], tuple[Any, Any]] = {}

    def seal(self, plaintext: bytes, associated_data: bytes) -> str:
        """Encrypt ``plaintext`` under the primary key and return the envelope as text."""
        # new_nonce(), inline: this runs for every value written.
        nonces = _nonces
        position, block = nonces.position, nonces.block
        if position >= len(block):
            block = nonces.block = os.urandom(NONCE_BYTES * NONCES_PER_BLOCK)
            position = 0
        nonces.position = position + NONCE_BYTES
        nonce = block[position : position + NONCE_BYTES]
        header = self._header
        sealed = self._primary.encrypt(nonce, plaintext, header + associated_data)
        return binascii.b2a_base64(header + nonce + sealed, newline=False).decode("ascii")

    def open(self, token: str, associated_data: bytes, binding: Binding) -> bytes:
        """Decrypt an envelope made by ``seal()`` or raise ``DecryptionError``."""
        try:
            raw = binascii.a2b_base64(token, strict_mode=True)
        except (binascii.Error, ValueError):
            raise DecryptionError(binding.model, binding.field, None, "not a privacy_kit envelope") from None
        return self.open_raw(raw, associated_data, binding)

    def open_raw(self, raw: bytes, associated_data: bytes, binding: Binding) -> bytes:
        """Decrypt the bytes of an envelope made by ``seal()`` or raise ``DecryptionError``."""
        try:
            header = raw[:HEADER_BYTES]
            return self.ciphers_by_header[header].decrypt(
                raw[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES],
                raw[HEADER_BYTES + NONCE_BYTES :],
                header + associated_data,
            )
        except (ValueError, KeyError, InvalidTag):
            pass
        raise self._failure(raw, binding)

    def _failure(self, raw: bytes, binding: Binding) -> DecryptionError:
        """Return the error that says why an envelope did not open (the slow path, off the hot one)."""
        if raw[:1] == SUBJECT_HEADER:
            return DecryptionError(binding.model, binding.field, None, "sealed under a subject's key")
        if len(raw) < MIN_ENVELOPE_BYTES or raw[0] != VERSION:
            return DecryptionError(binding.model, binding.field, None, "truncated or unknown envelope version")
        identifier = raw[1:HEADER_BYTES].hex()
        if raw[1:HEADER_BYTES] not in self.ciphers:
            return DecryptionError(binding.model, binding.field, identifier, "no configured key has this id")
        return DecryptionError(
            binding.model,
            binding.field,
            identifier,
            "authentication failed: the value was altered or belongs to another column",
        )

    def blind_index(self, binding: Binding, normalized: str) -> str:
        """Return the blind index of a normalized plaintext for its column: HMAC-SHA256, 128 bits."""
        hashes = self._index_hashes.get(binding.associated_data) or self._index_hashes_for(binding)
        return _keyed_index(hashes, normalized)

    @property
    def blind_index_fallbacks(self) -> int:
        """How many earlier blind-index keys lookups also match (0 outside a blind-index rotation)."""
        return len(self._fallback_index_keys)

    def fallback_blind_indexes(self, binding: Binding, normalized: str) -> list[str]:
        """Return the blind indexes of a normalized plaintext under each fallback key, in their order."""
        indexes = []
        for position, key in enumerate(self._fallback_index_keys):
            hashes = self._fallback_index_hashes.get((position, binding.associated_data))
            if hashes is None:
                hashes = self._fallback_index_hashes[position, binding.associated_data] = _column_hashes(key, binding)
            indexes.append(_keyed_index(hashes, normalized))
        return indexes

    def _index_hashes_for(self, binding: Binding) -> tuple[Any, Any]:
        if self._blind_index_key is None:
            raise ImproperlyConfigured(
                f"{binding.model}.{binding.field} is searchable but PRIVACY_KIT['BLIND_INDEX_KEY'] "
                "is not set: generate one with 'python manage.py privacy_keys generate'."
            )
        hashes = self._index_hashes[binding.associated_data] = _column_hashes(self._blind_index_key, binding)
        return hashes


def seal_with(cipher: AESGCM, plaintext: bytes, associated_data: bytes) -> str:
    """Encrypt ``plaintext`` under a subject's key (its ``AESGCM``) and return the envelope as text.

    ``associated_data`` must name the column and the subject (see ``privacy_kit.keys``).
    """
    nonce = new_nonce()
    sealed = cipher.encrypt(nonce, plaintext, SUBJECT_HEADER + associated_data)
    return binascii.b2a_base64(SUBJECT_HEADER + nonce + sealed, newline=False).decode("ascii")


def open_with(cipher: AESGCM, raw: bytes, associated_data: bytes) -> bytes:
    """Decrypt the bytes of a subject envelope; raise ``InvalidTag`` or ``ValueError`` if it does not open."""
    return cipher.decrypt(raw[1 : 1 + NONCE_BYTES], raw[1 + NONCE_BYTES :], SUBJECT_HEADER + associated_data)


def is_subject_envelope(token: str) -> bool:
    """Return whether a token is a well-formed envelope sealed under a subject's key."""
    try:
        raw = binascii.a2b_base64(token, strict_mode=True)
    except (binascii.Error, ValueError):
        return False
    return raw[:1] == SUBJECT_HEADER and len(raw) >= MIN_SUBJECT_ENVELOPE_BYTES


def _column_hashes(blind_index_key: bytes, binding: Binding) -> tuple[Any, Any]:
    """Return the keyed inner and outer SHA-256 states of a column's blind-index HMAC."""
    # One key per column, so equal values in two columns do not link up.
    column_key = hmac.digest(blind_index_key, binding.associated_data, "sha256")
    # HMAC with its keyed inner and outer SHA-256 states computed once per
    # column: OpenSSL 3 spends more on setting up an HMAC key than on
    # hashing a short value, and this path runs for every value written.
    return (
        hashlib.sha256(bytes(byte ^ 0x36 for byte in column_key.ljust(64, b"\0"))),
        hashlib.sha256(bytes(byte ^ 0x5C for byte in column_key.ljust(64, b"\0"))),
    )


def _keyed_index(hashes: tuple[Any, Any], normalized: str) -> str:
    """Return the blind index (HMAC-SHA256, 128 bits, base64) of a normalized plaintext from a column's states."""
    inner, outer = hashes[0].copy(), hashes[1].copy()
    inner.update(normalized.encode())
    outer.update(inner.digest())
    return binascii.b2a_base64(outer.digest()[:16], newline=False)[:BLIND_INDEX_CHARS].decode("ascii")


def envelope_key_id(token: str) -> bytes | None:
    """Return the key id in an envelope's header, or ``None`` if it is not an envelope."""
    try:
        head = binascii.a2b_base64(token[:HEADER_CHARS], strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    if len(head) < HEADER_BYTES or head[0] != VERSION:
        return None
    return head[1:HEADER_BYTES]


def configured_encryption_keys() -> list[str]:
    """Return the encryption keys in use: the configured ones, or in DEBUG one derived from SECRET_KEY."""
    keys = app_settings.ENCRYPTION_KEYS
    if not keys and settings.DEBUG:
        return [derived_debug_key("encryption")]
    return keys


def configured_blind_index_key() -> str | None:
    """Return the blind-index key in use: the configured one, or in DEBUG one derived from SECRET_KEY."""
    key = app_settings.BLIND_INDEX_KEY
    if not key and settings.DEBUG:
        return derived_debug_key("blind index")
    return key


_keyring: Keyring | None = None


def keyring() -> Keyring:
    """Return the keyring built from the settings, once until the settings change."""
    return _keyring or _build_keyring()


def _build_keyring() -> Keyring:
    global _keyring
    encryption_keys = []
    for position, text in enumerate(configured_encryption_keys()):
        try:
            encryption_keys.append(decode_key(text))
        except ValueError as error:
            raise ImproperlyConfigured(f"PRIVACY_KIT['ENCRYPTION_KEYS'][{position}] is malformed: {error}.") from None
    blind_text = configured_blind_index_key()
    blind_index_key = None
    if blind_text:
        try:
            blind_index_key = decode_key(blind_text)
        except ValueError as error:
            raise ImproperlyConfigured(f"PRIVACY_KIT['BLIND_INDEX_KEY'] is malformed: {error}.") from None
    fallbacks = []
    for position, text in enumerate(app_settings.BLIND_INDEX_KEY_FALLBACKS):
        try:
            fallbacks.append(decode_key(text))
        except ValueError as error:
            raise ImproperlyConfigured(
                f"PRIVACY_KIT['BLIND_INDEX_KEY_FALLBACKS'][{position}] is malformed: {error}."
            ) from None
    _keyring = Keyring(encryption_keys, blind_index_key, fallbacks)
    return _keyring


def reset() -> None:
    """Drop cached settings and keys so the next use reads the settings again."""
    app_settings.reload()
    global _keyring
    _keyring = None


def reset_on_setting_changed(*, setting: str, **kwargs: object) -> None:
    """Receive ``setting_changed``: keys may have changed."""
    if setting in ("PRIVACY_KIT", "SECRET_KEY", "DEBUG"):
        reset()

"""What other encryption libraries store, read without importing them: so their users can move in.

**django-cryptography** (and its forks, such as django-cryptography-5) pickles the value and
seals the pickle with its own Fernet variant, stored as raw bytes in a binary column::

    0x80 | timestamp (8 bytes) | IV (16) | AES-256-CBC ciphertext | HMAC-SHA256 (32)

The AES key is PBKDF2-SHA256 (30,000 iterations, salt ``CRYPTOGRAPHY_SALT``, default
``"django-cryptography"``) over ``CRYPTOGRAPHY_KEY``, or over ``SECRET_KEY`` when that is
not set; the HMAC key is ``SECRET_KEY`` itself.

**django-fernet-encrypted-fields** stores ``str(value)`` as a standard Fernet token (text),
under keys from PBKDF2-SHA256 (100,000 iterations) over each of ``SECRET_KEY`` and
``SECRET_KEY_FALLBACKS`` with each salt of ``SALT_KEY`` (a string or a list). Its JSON
field stores the JSON document with each leaf a token.

Every MAC is verified before anything is decrypted, and a pickle is read by an unpickler
that builds only plain values: one that names anything else is refused, never run.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import functools
import hashlib
import hmac
import io
import json
import pickle
import pickletools
import uuid
import zoneinfo
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings

DJANGO_CRYPTOGRAPHY = "django-cryptography"
FERNET_FIELDS = "fernet-encrypted-fields"
SOURCES = (DJANGO_CRYPTOGRAPHY, FERNET_FIELDS)

FERNET_VERSION = 0x80
SIGNED_HEADER_BYTES = 1 + 8  # version, timestamp
IV_BYTES = 16
MAC_BYTES = 32
# Version, timestamp, IV, one AES block, HMAC-SHA256: the shortest token of either format.
FERNET_MIN_BYTES = SIGNED_HEADER_BYTES + IV_BYTES + 16 + MAC_BYTES


class Unreadable(Exception):
    """A stored value that is not this library's, or whose MAC no configured key verifies."""


class Refused(Exception):
    """A value that opened but is not a plain value of the field (a pickle of anything else)."""


def stored_bytes(stored: Any) -> bytes | None:
    """Return the bytes of a binary value as a column holds it: bytes, or PostgreSQL's ``\\x`` hex text.

    Hex text counts from 16 bytes up: no authenticated ciphertext is shorter than its tag,
    and a plaintext that happens to read ``\\x41`` stays a plaintext.
    """
    if isinstance(stored, (bytes, bytearray, memoryview)):
        return bytes(stored)
    if isinstance(stored, str) and stored.startswith("\\x") and len(stored) >= 2 + 32:
        try:
            return bytes.fromhex(stored[2:])
        except ValueError:
            return None
    return None


def is_fernet_token(stored: str) -> bool:
    """Return whether a text is shaped like a Fernet token (version 0x80, whole AES blocks)."""
    # 0x80 then a timestamp whose first byte is 0 (until the year 36812): base64 "gA".
    if not stored.startswith("gA"):
        return False
    try:
        token = base64.urlsafe_b64decode(stored.encode("ascii"))
    except (binascii.Error, ValueError):
        return False
    return len(token) >= FERNET_MIN_BYTES and (len(token) - FERNET_MIN_BYTES) % 16 == 0


def foreign_ciphertext(stored: Any) -> str | None:
    """Say what a stored value is when it cannot be a plaintext of a field: bytes, a Fernet token.

    A column that held another library's ciphertext (django-cryptography's binary values,
    fernet-encrypted-fields' tokens) still holds it after the field is switched: encrypting
    that text again would keep the ciphertext and lose the value.
    """
    if isinstance(stored, (bytes, bytearray, memoryview)):
        return "binary data (another library's ciphertext, such as django-cryptography's)"
    if stored_bytes(stored) is not None:
        return "binary data shown as hex text (a bytea column converted to text)"
    if is_fernet_token(stored):
        return "a Fernet token (fernet-encrypted-fields, django-cryptography)"
    return None


# -- keys, derived as each library derives them ------------------------------------


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _secrets() -> list[str | bytes]:
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


@functools.lru_cache(maxsize=8)
def _pbkdf2(secret: bytes, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret, salt, iterations, 32)


def django_cryptography_keys() -> tuple[list[bytes], list[bytes]]:
    """Return the HMAC keys and the AES keys to try, the current ``SECRET_KEY``'s first."""
    secrets = list(dict.fromkeys(map(_bytes, _secrets())))
    salts = [_bytes(salt) for salt in _as_list(getattr(settings, "CRYPTOGRAPHY_SALT", DJANGO_CRYPTOGRAPHY))]
    configured = [_bytes(key) for key in _as_list(getattr(settings, "CRYPTOGRAPHY_KEY", None)) if key]
    # While django-cryptography is installed, importing it replaces CRYPTOGRAPHY_KEY in the
    # settings by the key it derived: a 32-byte key is tried as it is, too.
    derived = [key for key in configured if len(key) == 32]
    sources = configured + secrets
    aes_keys = derived + [_pbkdf2(source, salt, 30_000) for source in sources for salt in salts]
    return secrets, list(dict.fromkeys(aes_keys))


def fernet_fields_keys() -> MultiFernet:
    """Return the keys of fernet-encrypted-fields, in its own order (secret, then salt)."""
    salts = [_bytes(salt) for salt in _as_list(getattr(settings, "SALT_KEY", ""))]
    keys = [_pbkdf2(_bytes(secret), salt, 100_000) for secret in _secrets() for salt in salts]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(key)) for key in dict.fromkeys(keys)])


@functools.lru_cache(maxsize=8)
def _aes(key: bytes) -> algorithms.AES:
    return algorithms.AES(key)


# -- opening --------------------------------------------------------------------------


def open_django_cryptography(raw: bytes, keys: tuple[Sequence[bytes], Sequence[bytes]]) -> Any:
    """Verify and decrypt one django-cryptography value and return the plain value it pickled."""
    mac_keys, aes_keys = keys
    body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if raw[:1] != bytes([FERNET_VERSION]) or len(raw) < FERNET_MIN_BYTES or (len(raw) - FERNET_MIN_BYTES) % 16:
        raise Unreadable("not a django-cryptography value")
    if not any(hmac.compare_digest(hmac.digest(key, body, "sha256"), mac) for key in mac_keys):
        raise Unreadable("its MAC does not verify under SECRET_KEY or SECRET_KEY_FALLBACKS")
    iv, ciphertext = body[SIGNED_HEADER_BYTES : SIGNED_HEADER_BYTES + IV_BYTES], body[SIGNED_HEADER_BYTES + IV_BYTES :]
    refused: Refused | None = None
    # The MAC names no AES key: a wrong one fails its padding, or, once in 256, its pickle.
    for aes in map(_aes, aes_keys):
        decryptor = Cipher(aes, modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        size = padded[-1]  # PKCS#7; the MAC verified, so no padding oracle to fear
        if not 1 <= size <= 16 or padded[-size:] != bytes([size]) * size:
            continue
        try:
            return plain_unpickle(padded[:-size])
        except Refused as error:
            refused = refused or error
    raise refused or Unreadable("its MAC verified, but it does not decrypt under CRYPTOGRAPHY_KEY or SECRET_KEY")


def open_fernet_fields(stored: str, keys: MultiFernet, *, json_leaves: bool = False) -> Any:
    """Verify and decrypt one fernet-encrypted-fields value: its text, or a JSON document of tokens."""
    if not json_leaves:
        return _open_token(stored, keys)
    try:
        document = json.loads(stored)
    except (ValueError, RecursionError):  # the document is not authenticated: anyone can nest it
        raise Unreadable("not a JSON document of Fernet tokens") from None
    return _open_leaves(document, keys)


def _open_token(token: Any, keys: MultiFernet) -> str:
    if not isinstance(token, str) or not is_fernet_token(token):
        raise Unreadable("not a Fernet token")
    try:
        return keys.decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise Unreadable("its MAC does not verify under SECRET_KEY, SECRET_KEY_FALLBACKS and SALT_KEY") from None
    except UnicodeDecodeError:
        raise Refused("its plaintext is not text") from None


def _open_leaves(document: Any, keys: MultiFernet, depth: int = 0) -> Any:
    if isinstance(document, (dict, list)) and depth >= MAX_DEPTH:
        raise Unreadable(f"a JSON document nested more than {MAX_DEPTH} deep")
    if isinstance(document, dict):
        return {name: _open_leaves(leaf, keys, depth + 1) for name, leaf in document.items()}
    if isinstance(document, list):
        return [_open_leaves(leaf, keys, depth + 1) for leaf in document]
    return _open_token(document, keys)


# -- pickles that can only build plain values ------------------------------------------


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """What pickle protocol 2 names to rebuild bytes (a datetime's state): latin-1 only, no other codec."""
    if encoding not in ("latin1", "latin-1"):
        raise Refused(f"the pickle asks for the {encoding} codec")
    return text.encode("latin1")


def _zone_getattr(owner: Any, name: str) -> Any:
    """What a pickled zone names to rebuild itself, ``getattr(ZoneInfo, "_unpickle")``, and nothing else."""
    if owner is not zoneinfo.ZoneInfo or name != "_unpickle":
        raise Refused("the pickle asks for an attribute")
    return zoneinfo.ZoneInfo._unpickle  # type: ignore[attr-defined]


_PLAIN_CLASSES: dict[tuple[str, str], Any] = {
    ("decimal", "Decimal"): decimal.Decimal,
    ("datetime", "date"): datetime.date,
    ("datetime", "time"): datetime.time,
    ("datetime", "datetime"): datetime.datetime,
    ("datetime", "timedelta"): datetime.timedelta,
    ("datetime", "timezone"): datetime.timezone,
    ("uuid", "UUID"): uuid.UUID,
    # An aware datetime in a named zone: the zone is loaded by its key from the zone database.
    ("zoneinfo", "ZoneInfo"): zoneinfo.ZoneInfo,
    ("builtins", "getattr"): _zone_getattr,
    ("__builtin__", "getattr"): _zone_getattr,
    ("_codecs", "encode"): _latin1_bytes,
}
_PLAIN_TYPES = (
    str,
    int,
    float,
    bool,
    type(None),
    decimal.Decimal,
    datetime.date,
    datetime.time,
    datetime.datetime,
    datetime.timedelta,
    uuid.UUID,
)


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _PLAIN_CLASSES[module, name]
        except KeyError:
            raise Refused(f"the pickle names {module}.{name}, which is not a plain value") from None

    def persistent_load(self, pid: Any) -> Any:
        raise Refused("the pickle refers to a persistent object")


# What a plain value may cost to walk, per byte of its pickle: a pickle refers to what it has
# built already (its memo), so a few bytes can stand for a structure without end (a list
# that holds itself) or of any size (a list of two references to a list of two references
# to ...). Each string counts its length, each other value one.
EXPANSION_PER_BYTE = 8
# Deeper than this, a value is no field's: each layer of a list costs a recursion of its own
# wherever the value goes next (``json.dumps``, the field's checks).
MAX_DEPTH = 100
# The largest Decimal exponent kept: ``int()`` of ``Decimal("1e999999999")`` takes minutes and
# hundreds of megabytes; Python's int-to-text limit is 4,300 digits.
MAX_DECIMAL_EXPONENT = 4300
_MEMO_OPCODES = {"PUT", "BINPUT", "LONG_BINPUT"}


def _check_opcodes(data: bytes) -> None:
    """Refuse a pickle whose opcodes ask for more than its size: a memo slot far out, a length past its end.

    The C unpickler allocates a memo slot's index up front (``LONG_BINPUT`` of 2**28 makes
    gigabytes of it) and a counted object's length before reading it. ``pickletools`` reads
    the opcodes without building anything and checks every length against the bytes left.
    """
    try:
        for opcode, argument, _ in pickletools.genops(data):
            if opcode.name in _MEMO_OPCODES and isinstance(argument, int) and argument > len(data):
                raise Refused("the pickle asks for a memo slot beyond its size")
            if opcode.name == "FRAME" and isinstance(argument, int) and argument > len(data):
                raise Refused("the pickle announces a frame beyond its size")
    except (ValueError, TypeError):
        raise Refused("not a readable pickle") from None


def plain_unpickle(data: bytes) -> Any:
    """Load a pickle that holds only plain values, or raise ``Refused`` without running anything else.

    Plain: str, int, float, bool, None, Decimal, date, time, datetime (with a fixed offset or
    a named zone), timedelta, UUID, and lists, tuples and dicts of them, nested at most
    ``MAX_DEPTH`` deep and of a size in proportion to the pickle's.
    """
    _check_opcodes(data)
    try:
        value = _PlainUnpickler(io.BytesIO(data)).load()
    except Refused:
        raise
    except Exception:  # a malformed pickle raises anything from its opcodes
        raise Refused("not a readable pickle") from None
    _check_plain(value, budget=EXPANSION_PER_BYTE * len(data))
    return value


def _check_plain(value: Any, *, budget: int) -> None:
    """Walk the value without recursion: plain types only, bounded in depth and in size."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        budget -= 1 + (len(item) if isinstance(item, str) else 0)
        if budget < 0:
            raise Refused("the pickle refers to its own values over and over: more than a value of its size holds")
        if isinstance(item, (list, tuple, dict)):
            if depth >= MAX_DEPTH:
                raise Refused(f"the pickle nests lists or dicts more than {MAX_DEPTH} deep")
            children = [part for pair in item.items() for part in pair] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif type(item) not in _PLAIN_TYPES:
            raise Refused(f"the pickle holds a {type(item).__name__}, which is not a plain value")
        elif type(item) is decimal.Decimal and item.is_finite() and abs(item.adjusted()) > MAX_DECIMAL_EXPONENT:
            raise Refused(f"the pickle holds a Decimal beyond 10**{MAX_DECIMAL_EXPONENT}, which no field holds")

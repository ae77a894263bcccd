import base64
import binascii

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from privacy_kit import crypto
from privacy_kit.crypto import Binding, DecryptionError, Keyring

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))
BINDING = Binding("shop.customer", "phone")
SECRET = "+966 50 123 4567"


def sealed(ring=None, plaintext=SECRET):
    ring = ring or Keyring([KEY_A], None)
    return ring.seal(plaintext.encode(), BINDING.associated_data)


def test_seal_then_open_returns_the_plaintext():
    ring = Keyring([KEY_A], None)
    assert ring.open(sealed(ring), BINDING.associated_data, BINDING).decode() == SECRET


def test_same_plaintext_seals_differently_each_time():
    ring = Keyring([KEY_A], None)
    assert len({sealed(ring) for _ in range(50)}) == 50


def test_envelope_names_version_and_primary_key_id():
    raw = base64.b64decode(sealed())
    assert raw[0] == crypto.VERSION
    assert raw[1:5] == crypto.key_id(KEY_A)
    assert crypto.envelope_key_id(sealed()) == crypto.key_id(KEY_A)


def test_a_secondary_key_still_opens_what_it_sealed():
    old = sealed(Keyring([KEY_B], None))
    ring = Keyring([KEY_A, KEY_B], None)
    assert ring.open(old, BINDING.associated_data, BINDING).decode() == SECRET


def test_the_key_is_chosen_by_its_id_not_by_trying_every_key():
    # A value sealed by KEY_B but labelled with KEY_A's id must fail: the
    # keyring does not fall back to trying KEY_B.
    raw = bytearray(base64.b64decode(sealed(Keyring([KEY_B], None))))
    raw[1:5] = crypto.key_id(KEY_A)
    forged = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(DecryptionError, match="authentication failed"):
        Keyring([KEY_A, KEY_B], None).open(forged, BINDING.associated_data, BINDING)


def test_flipping_any_bit_of_the_envelope_is_detected():
    ring = Keyring([KEY_A], None)
    raw = base64.b64decode(sealed(ring))
    for position in range(len(raw)):
        for bit in (0x01, 0x80):
            tampered = bytearray(raw)
            tampered[position] ^= bit
            token = base64.b64encode(bytes(tampered)).decode()
            with pytest.raises(DecryptionError) as caught:
                ring.open(token, BINDING.associated_data, BINDING)
            assert SECRET not in str(caught.value)


@pytest.mark.parametrize("length", [0, 1, 4, 8, 20, 43, 44, 48, 60])
def test_truncated_envelopes_are_refused(length):
    ring = Keyring([KEY_A], None)
    token = sealed(ring)[:length]
    with pytest.raises(DecryptionError):
        ring.open(token, BINDING.associated_data, BINDING)


def test_a_value_sealed_for_another_column_does_not_open():
    ring = Keyring([KEY_A], None)
    other = Binding("shop.customer", "address")
    with pytest.raises(DecryptionError, match="another column"):
        ring.open(sealed(ring), other.associated_data, other)


def test_unknown_key_id_is_named_in_the_error():
    token = sealed(Keyring([KEY_B], None))
    with pytest.raises(DecryptionError) as caught:
        Keyring([KEY_A], None).open(token, BINDING.associated_data, BINDING)
    error = caught.value
    assert error.key_id == crypto.key_id(KEY_B).hex()
    assert (error.model, error.field) == ("shop.customer", "phone")
    assert "shop.customer.phone" in str(error)
    assert token not in str(error) and SECRET not in str(error)


def test_garbage_that_is_not_base64_is_refused():
    with pytest.raises(DecryptionError, match="not a privacy_kit envelope"):
        Keyring([KEY_A], None).open("plain text, not sealed", BINDING.associated_data, BINDING)


def test_envelope_matches_a_bare_aes_gcm_call():
    # The envelope is plain AES-256-GCM: any AEAD implementation can open it.
    raw = base64.b64decode(sealed())
    header, nonce, body = raw[:5], raw[5:17], raw[17:]
    assert AESGCM(KEY_A).decrypt(nonce, body, header + BINDING.associated_data).decode() == SECRET


def test_blind_index_is_keyed_per_column_and_deterministic():
    ring = Keyring([KEY_A], KEY_B)
    other = Binding("shop.order", "phone")
    assert ring.blind_index(BINDING, "x") == ring.blind_index(BINDING, "x")
    assert ring.blind_index(BINDING, "x") != ring.blind_index(other, "x")
    assert ring.blind_index(BINDING, "x") != Keyring([KEY_A], KEY_A).blind_index(BINDING, "x")
    assert len(ring.blind_index(BINDING, "x")) == crypto.BLIND_INDEX_CHARS


def test_blind_index_without_its_key_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="BLIND_INDEX_KEY"):
        Keyring([KEY_A], None).blind_index(BINDING, "x")


def test_keyring_without_keys_refuses_to_start():
    with pytest.raises(ImproperlyConfigured, match="privacy_keys generate"):
        Keyring([], None)


def test_generated_keys_are_32_random_bytes():
    keys = {crypto.generate_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(crypto.decode_key(key)) == 32 for key in keys)


@pytest.mark.parametrize(
    "text, reason",
    [("not base64 !!", "not url-safe base64"), (base64.urlsafe_b64encode(b"short").decode(), "decodes to 5 bytes")],
)
def test_decode_key_rejects_bad_keys_without_echoing_them(text, reason):
    with pytest.raises(ValueError, match=reason) as caught:
        crypto.decode_key(text)
    assert text not in str(caught.value)


def test_malformed_configured_key_is_reported_by_position_not_value():
    bad = "x" * 43
    with override_settings(PRIVACY_KIT={"ENCRYPTION_KEYS": [crypto.generate_key(), bad]}):
        with pytest.raises(ImproperlyConfigured, match=r"\[1\] is malformed") as caught:
            crypto.keyring()
    assert bad not in str(caught.value)


def test_envelope_key_id_of_plain_text_is_none():
    assert crypto.envelope_key_id("Riyadh, King Fahd Road") is None
    assert crypto.envelope_key_id(binascii.b2a_base64(b"\x02abcdefgh", newline=False).decode()) is None


def test_nonces_are_never_repeated_in_a_thread_across_threads_or_after_a_fork():
    """Nonces come from os.urandom in blocks: a block must never serve twice, nor a forked child."""
    import os
    import threading

    mine = [crypto.new_nonce() for _ in range(3 * crypto.NONCES_PER_BLOCK + 10)]  # the fork comes mid-block
    others: list[bytes] = []
    thread = threading.Thread(target=lambda: others.extend(crypto.new_nonce() for _ in range(300)))
    thread.start()
    thread.join()
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the child: the same block position as the parent at the fork
        os.close(reader)
        os.write(writer, b"".join(crypto.new_nonce() for _ in range(50)))
        os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    with os.fdopen(reader, "rb") as pipe:
        data = pipe.read()
    forked = [data[start : start + crypto.NONCE_BYTES] for start in range(0, len(data), crypto.NONCE_BYTES)]
    after_fork = [crypto.new_nonce() for _ in range(50)]
    every = mine + others + forked + after_fork
    assert len(forked) == 50 and all(len(nonce) == crypto.NONCE_BYTES for nonce in every)
    assert len(set(every)) == len(every)

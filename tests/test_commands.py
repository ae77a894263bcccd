from django.core.management import call_command

from privacy_kit import crypto
from tests.settings import TEST_KEY_OLD, TEST_KEY_PRIMARY


def test_privacy_keys_generate_prints_a_usable_key(capsys):
    call_command("privacy_keys", "generate")
    key = capsys.readouterr().out.strip()
    assert len(crypto.decode_key(key)) == 32


def test_privacy_keys_ids_lists_ids_not_keys(capsys, settings):
    settings.PRIVACY_KIT = {"ENCRYPTION_KEYS": [TEST_KEY_PRIMARY, TEST_KEY_OLD]}
    call_command("privacy_keys", "ids")
    out = capsys.readouterr().out
    primary = crypto.key_id(crypto.decode_key(TEST_KEY_PRIMARY)).hex()
    old = crypto.key_id(crypto.decode_key(TEST_KEY_OLD)).hex()
    assert f"{primary}  primary (encrypts)" in out and f"{old}  decrypts only" in out
    assert TEST_KEY_PRIMARY not in out and TEST_KEY_OLD not in out

from django.core.management import ManagementUtility, call_command

from privacy_kit import crypto
from tests.settings import TEST_KEY_OLD, TEST_KEY_PRIMARY


def test_privacy_keys_generate_prints_a_usable_key(capsys):
    call_command("privacy_keys", "generate")
    key = capsys.readouterr().out.strip()
    assert len(crypto.decode_key(key)) == 32


def test_privacy_keys_generate_runs_in_a_shop_that_has_no_key_yet(capsys, settings, monkeypatch):
    """A new shop makes its first key with it: the missing-key check error must not stop it."""
    monkeypatch.delenv("PRIVACY_KIT_ENCRYPTION_KEYS", raising=False)
    monkeypatch.delenv("PRIVACY_KIT_BLIND_INDEX_KEY", raising=False)
    settings.PRIVACY_KIT = {}
    settings.DEBUG = False
    ManagementUtility(["manage.py", "privacy_keys", "generate"]).execute()  # as from the shell: checks run
    assert len(crypto.decode_key(capsys.readouterr().out.strip())) == 32


def test_privacy_keys_ids_lists_ids_not_keys(capsys, settings):
    settings.PRIVACY_KIT = {"ENCRYPTION_KEYS": [TEST_KEY_PRIMARY, TEST_KEY_OLD]}
    call_command("privacy_keys", "ids")
    out = capsys.readouterr().out
    primary = crypto.key_id(crypto.decode_key(TEST_KEY_PRIMARY)).hex()
    old = crypto.key_id(crypto.decode_key(TEST_KEY_OLD)).hex()
    assert f"{primary}  primary (encrypts)" in out and f"{old}  decrypts only" in out
    assert TEST_KEY_PRIMARY not in out and TEST_KEY_OLD not in out

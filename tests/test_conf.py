from django.test import override_settings

from privacy_kit import crypto
from privacy_kit.conf import DEFAULTS, app_settings
from tests.settings import TEST_KEY_OLD, TEST_KEY_PRIMARY


def test_defaults_apply_when_a_setting_is_absent():
    with override_settings(PRIVACY_KIT={}):
        assert app_settings.ENCRYPTION_KEYS == []
        assert app_settings.ADMIN_2FA_REQUIRED is True
        assert app_settings.PURGE_BATCH_SIZE == DEFAULTS["PURGE_BATCH_SIZE"] == 10_000
        assert app_settings.RETENTION == DEFAULTS["RETENTION"]
        assert (app_settings.RETENTION["behavioral"], app_settings.RETENTION["personal"]) == (365, 730)


def test_override_settings_is_seen_at_once():
    assert app_settings.PURGE_BATCH_SIZE == 10_000
    with override_settings(PRIVACY_KIT={"PURGE_BATCH_SIZE": 50}):
        assert app_settings.PURGE_BATCH_SIZE == 50
    assert app_settings.PURGE_BATCH_SIZE == 10_000


def test_environment_wins_over_settings_for_keys(monkeypatch):
    monkeypatch.setenv("PRIVACY_KIT_ENCRYPTION_KEYS", f" {TEST_KEY_OLD} , {TEST_KEY_PRIMARY} ")
    monkeypatch.setenv("PRIVACY_KIT_BLIND_INDEX_KEY", TEST_KEY_OLD)
    crypto.reset()
    assert app_settings.ENCRYPTION_KEYS == [TEST_KEY_OLD, TEST_KEY_PRIMARY]
    assert app_settings.BLIND_INDEX_KEY == TEST_KEY_OLD
    assert crypto.keyring().primary_id == crypto.key_id(crypto.decode_key(TEST_KEY_OLD))


def test_keyring_follows_changed_keys():
    first = crypto.keyring().primary_id
    with override_settings(PRIVACY_KIT={"ENCRYPTION_KEYS": [TEST_KEY_OLD]}):
        assert crypto.keyring().primary_id != first
    assert crypto.keyring().primary_id == first


def test_a_single_key_string_is_accepted():
    with override_settings(PRIVACY_KIT={"ENCRYPTION_KEYS": TEST_KEY_OLD}):
        assert app_settings.ENCRYPTION_KEYS == [TEST_KEY_OLD]


def test_retention_periods_add_to_the_defaults():
    with override_settings(PRIVACY_KIT={"RETENTION": {"behavioral": 90, "carts": 30}}):
        assert app_settings.RETENTION == {**DEFAULTS["RETENTION"], "behavioral": 90, "carts": 30}

"""Settings of privacy_kit: one typed, cached view of ``settings.PRIVACY_KIT``.

Every setting has a documented default. Environment variables win over the
settings file for secrets, so keys never need to live in a settings file.
The cache is cleared on ``setting_changed`` so ``override_settings`` works.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Url-safe base64 32-byte keys; the first encrypts, all decrypt.
    "ENCRYPTION_KEYS": [],
    # Url-safe base64 32-byte key for blind indexes of searchable fields.
    "BLIND_INDEX_KEY": None,
    # Earlier blind-index keys: lookups also match values indexed under them until
    # ``rotate_keys --blind-index`` has moved every value to BLIND_INDEX_KEY.
    "BLIND_INDEX_KEY_FALLBACKS": [],
    # The admin needs a one-time password on top of the password.
    "ADMIN_2FA_REQUIRED": True,
    # How long an admin login (and its one-time-password verification) lasts, in hours.
    "ADMIN_SESSION_HOURS": 8,
    # Retention periods per category, in days; a shop's dict adds to and overrides these.
    # The last six are privacy_kit's own records (see privacy_kit.retention.records).
    "RETENTION": {
        "behavioral": 365,
        "personal": 730,
        # Who opened whose record in the admin, and security events: a year of them to investigate with.
        "access_log": 365,
        "security_events": 365,
        # Purge runs hold counts only; a year of them shows the purges ran.
        "purge_runs": 365,
        # django-axes's failed logins (attempts and failure logs) and its log of logins and logouts.
        "axes_attempts": 30,
        "axes_logs": 90,
        # Records of breaches (and requests) from the day they close: five years (PDPL IR Art. 33).
        "closed_records": 5 * 365 + 2,
    },
    # Rows (or primary-key span) per batch in purges and key rotation.
    "PURGE_BATCH_SIZE": 10_000,
    # The signed cookie that carries an anonymous visitor's consent id.
    "CONSENT_COOKIE_NAME": "privacy_consent",
    # How long a visitor's consent id lives, in days.
    "CONSENT_COOKIE_DAYS": 365,
    # Consent changes (banner, preferences, API posts) allowed per hour from one client address and
    # from one visitor or user; the cache counts them.
    "CONSENT_RATE_LIMIT": {"per_address": 300, "per_visitor": 30},
    # How long a visitor's ledger rows are kept as evidence after their consent id has expired, in days.
    "CONSENT_EVIDENCE_DAYS": 3 * 365,
    # Consent sources a shop records beyond privacy_kit's own (a mobile app, a call centre...).
    "CONSENT_SOURCES": [],
    # The largest behavioral event ``data`` accepted, in bytes of JSON.
    "TRACKING_DATA_MAX_BYTES": 16_384,
    # A staff user who opens more subjects' records than this within an hour raises a security event.
    "BULK_ACCESS_THRESHOLD": 50,
    # Downloads of their own data a customer may make in an hour.
    "EXPORTS_PER_HOUR": 5,
    # A request of the same kind by the same subject within this many days of another is flagged as a repeat.
    "REQUEST_REPEAT_DAYS": 30,
    # The template that privacy_kit's pages (preferences, policy, my data...) extend: the shop's own base.
    "BASE_TEMPLATE": "privacy_kit/base.html",
    # The class (dotted path) that wraps and unwraps subject keys with a key-encryption key.
    "KEY_PROVIDER": "privacy_kit.keys.providers.SettingsKeyProvider",
    # The database alias that holds the subject keys (backed up separately, kept a short time).
    "KEY_DATABASE": "default",
    # The AWS KMS key (id, ARN or alias) of AwsKmsKeyProvider, and an endpoint other than AWS's.
    "KMS_KEY_ID": None,
    "KMS_ENDPOINT_URL": None,
    # Unwrapped subject keys kept in memory per process: how many, and for how long in seconds.
    "SUBJECT_KEY_CACHE_SIZE": 10_000,
    "SUBJECT_KEY_CACHE_SECONDS": 300,
}

ENV_ENCRYPTION_KEYS = "PRIVACY_KIT_ENCRYPTION_KEYS"
ENV_BLIND_INDEX_KEY = "PRIVACY_KIT_BLIND_INDEX_KEY"
ENV_BLIND_INDEX_KEY_FALLBACKS = "PRIVACY_KIT_BLIND_INDEX_KEY_FALLBACKS"


def _key_list(from_env: str, configured: Any) -> list[str]:
    """Return a list of keys: comma-separated from the environment if set, else the setting (one key or a list)."""
    if from_env.strip():
        return [key.strip() for key in from_env.split(",") if key.strip()]
    if isinstance(configured, str):
        configured = [configured]
    return list(configured or [])


class PrivacyKitSettings:
    """Read privacy_kit's settings with their defaults and environment overrides."""

    @property
    def user_settings(self) -> dict[str, Any]:
        return getattr(settings, "PRIVACY_KIT", None) or {}

    def _get(self, name: str) -> Any:
        return self.user_settings.get(name, DEFAULTS[name])

    @cached_property
    def ENCRYPTION_KEYS(self) -> list[str]:
        return _key_list(os.environ.get(ENV_ENCRYPTION_KEYS, ""), self._get("ENCRYPTION_KEYS"))

    @cached_property
    def BLIND_INDEX_KEY(self) -> str | None:
        return os.environ.get(ENV_BLIND_INDEX_KEY, "").strip() or self._get("BLIND_INDEX_KEY")

    @cached_property
    def BLIND_INDEX_KEY_FALLBACKS(self) -> list[str]:
        return _key_list(os.environ.get(ENV_BLIND_INDEX_KEY_FALLBACKS, ""), self._get("BLIND_INDEX_KEY_FALLBACKS"))

    @cached_property
    def ADMIN_2FA_REQUIRED(self) -> bool:
        return bool(self._get("ADMIN_2FA_REQUIRED"))

    @cached_property
    def ADMIN_SESSION_HOURS(self) -> float:
        return float(self._get("ADMIN_SESSION_HOURS"))

    @cached_property
    def RETENTION(self) -> dict[str, int]:
        return {**DEFAULTS["RETENTION"], **self.user_settings.get("RETENTION", {})}

    @cached_property
    def PURGE_BATCH_SIZE(self) -> int:
        return int(self._get("PURGE_BATCH_SIZE"))

    @cached_property
    def CONSENT_COOKIE_NAME(self) -> str:
        return str(self._get("CONSENT_COOKIE_NAME"))

    @cached_property
    def CONSENT_COOKIE_DAYS(self) -> int:
        return int(self._get("CONSENT_COOKIE_DAYS"))

    @cached_property
    def CONSENT_RATE_LIMIT(self) -> dict[str, int]:
        limits = {**DEFAULTS["CONSENT_RATE_LIMIT"], **self.user_settings.get("CONSENT_RATE_LIMIT", {})}
        return {name: int(value) for name, value in limits.items()}

    @cached_property
    def CONSENT_EVIDENCE_DAYS(self) -> int:
        return int(self._get("CONSENT_EVIDENCE_DAYS"))

    @cached_property
    def CONSENT_SOURCES(self) -> list[str]:
        return [str(source) for source in self._get("CONSENT_SOURCES")]

    @cached_property
    def TRACKING_DATA_MAX_BYTES(self) -> int:
        return int(self._get("TRACKING_DATA_MAX_BYTES"))

    @cached_property
    def BULK_ACCESS_THRESHOLD(self) -> int:
        return int(self._get("BULK_ACCESS_THRESHOLD"))

    @cached_property
    def EXPORTS_PER_HOUR(self) -> int:
        return int(self._get("EXPORTS_PER_HOUR"))

    @cached_property
    def REQUEST_REPEAT_DAYS(self) -> int:
        return int(self._get("REQUEST_REPEAT_DAYS"))

    @cached_property
    def BASE_TEMPLATE(self) -> str:
        return str(self._get("BASE_TEMPLATE"))

    @cached_property
    def KEY_PROVIDER(self) -> str:
        return str(self._get("KEY_PROVIDER"))

    @cached_property
    def KEY_DATABASE(self) -> str:
        return str(self._get("KEY_DATABASE"))

    @cached_property
    def KMS_KEY_ID(self) -> str | None:
        return self._get("KMS_KEY_ID") or None

    @cached_property
    def KMS_ENDPOINT_URL(self) -> str | None:
        return self._get("KMS_ENDPOINT_URL") or None

    @cached_property
    def SUBJECT_KEY_CACHE_SIZE(self) -> int:
        return int(self._get("SUBJECT_KEY_CACHE_SIZE"))

    @cached_property
    def SUBJECT_KEY_CACHE_SECONDS(self) -> float:
        return float(self._get("SUBJECT_KEY_CACHE_SECONDS"))

    def reload(self) -> None:
        """Forget cached values; the next read sees the current settings and environment."""
        for name in DEFAULTS:
            self.__dict__.pop(name, None)


app_settings = PrivacyKitSettings()

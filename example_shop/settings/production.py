"""Settings for running the shop for real: everything secret comes from the environment.

Required: SECRET_KEY, ALLOWED_HOSTS (comma-separated), DATABASE_URL, REDIS_URL,
PRIVACY_KIT_ENCRYPTION_KEYS (comma-separated, the first encrypts) and
PRIVACY_KIT_BLIND_INDEX_KEY (``manage.py privacy_keys generate`` makes keys).
Optional: CSRF_TRUSTED_ORIGINS (comma-separated), DJANGO_BEHIND_TLS_PROXY=1 when a
proxy that terminates TLS sets X-Forwarded-Proto, ADMINS_EMAIL for security alerts.

``manage.py check --deploy`` passes with no warning.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import database_from_url


def required(name: str) -> str:
    """Return an environment variable that must be set."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"Set the {name} environment variable (see example_shop/settings/production.py).")
    return value


def listed(value: str) -> list[str]:
    """Return the items of a comma-separated list."""
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = False
SECRET_KEY = required("SECRET_KEY")
ALLOWED_HOSTS = listed(required("ALLOWED_HOSTS"))
CSRF_TRUSTED_ORIGINS = listed(os.environ.get("CSRF_TRUSTED_ORIGINS", ""))
# Passkeys belong to the shop's domain (PASSKEY_RP_ID, by default the first of ALLOWED_HOSTS)
# and are made on its hosts over HTTPS.
OTP_WEBAUTHN_RP_ID = os.environ.get("PASSKEY_RP_ID") or (ALLOWED_HOSTS or [""])[0].lstrip(".")
OTP_WEBAUTHN_ALLOWED_ORIGINS = [f"https://{host}" for host in ALLOWED_HOSTS if "*" not in host and host[:1] != "."]
DATABASES = {"default": {**database_from_url(required("DATABASE_URL")), "CONN_MAX_AGE": 60}}

REDIS_URL = required("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = False

# privacy_kit reads PRIVACY_KIT_ENCRYPTION_KEYS and PRIVACY_KIT_BLIND_INDEX_KEY from
# the environment itself; without them `manage.py check` fails (privacy_kit.E001, E004).
# PRIVACY_KIT (from base.py) holds no key.

# HTTPS only, for a year, for every subdomain, and on the browsers' preload list.
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 365 * 24 * 3600
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
if os.environ.get("DJANGO_BEHIND_TLS_PROXY") == "1":
    # Only behind a proxy that always sets this header: a client could send it otherwise.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

# Security alerts (lockouts, bulk access to personal data) are mailed to ADMINS.
ADMINS = [("Shop security", email) for email in listed(os.environ.get("ADMINS_EMAIL", ""))]

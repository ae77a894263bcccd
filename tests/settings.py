"""Settings for the test suite: fixed test keys, SQLite or PostgreSQL by TEST_DATABASE."""

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "Asia/Riyadh"
LANGUAGES = [("en", "English"), ("ar", "العربية")]
# The demo shop's translations, as example_shop's settings list them.
LOCALE_PATHS = [BASE_DIR / "example_shop" / "locale"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # The live server of the browser tests serves the admin's and the shop's CSS through it.
    "django.contrib.staticfiles",
    "privacy_kit.two_factor.apps.PrivacyAdminConfig",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",  # passkeys (the "passkeys" extra)
    "axes",
    "privacy_kit",
    "tests.testapp",
    # django-cryptography's field tests (tests/peer_suite), under their app label "fields".
    "tests.peer_suite",
    "example_shop.shop",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "privacy_kit.middleware.ConsentMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "axes.middleware.AxesMiddleware",
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed logins (a wrong password, or a wrong code after the right one) lock out
# the username and the IP address after five, for an hour.
AXES_FAILURE_LIMIT = 5
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = 1
AXES_RESET_ON_SUCCESS = False  # privacy_kit.E048: a shop login must not forget wrong admin codes
AXES_SENSITIVE_PARAMETERS = ["otp_token"]
# Log a failed login by its path, not by username, address and browser (privacy_kit.W034).
AXES_CLIENT_STR_CALLABLE = "privacy_kit.security.lockouts.client_description"
OTP_TOTP_ISSUER = "privacy_kit tests"
# Passkeys: the browser tests serve on localhost (a port each; they set the origin they get).
ALLOWED_HOSTS = ["localhost"]
OTP_WEBAUTHN_RP_ID = "localhost"
OTP_WEBAUTHN_RP_NAME = "privacy_kit tests"
OTP_WEBAUTHN_ALLOWED_ORIGINS = ["https://localhost"]
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
ROOT_URLCONF = "tests.urls"
# The live server of the browser tests serves static files under it, found by staticfiles' finders.
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if os.environ.get("TEST_DATABASE", "sqlite") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "USER": os.environ.get("PGUSER", "postgres"),
            # A subprocess started by a test connects to the test database by this name.
            "NAME": os.environ.get("PRIVACY_KIT_TEST_DB_NAME", "test"),
            "TEST": {"NAME": os.environ.get("TEST_DATABASE_NAME", "test_privacy_kit")},
        }
    }
    # A second database for the subject keys: created only for the tests that ask for it.
    DATABASES["keys"] = {
        **DATABASES["default"],
        "NAME": os.environ.get("PRIVACY_KIT_TEST_KEYS_DB_NAME", "test_keys"),
        "TEST": {"NAME": DATABASES["default"]["TEST"]["NAME"] + "_keys"},
    }
else:
    # A file, not memory, so that a command run in a subprocess sees the same data.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("PRIVACY_KIT_TEST_DB_NAME", str(BASE_DIR / "tests.sqlite3")),
            "TEST": {"NAME": os.environ.get("TEST_DATABASE_NAME", str(BASE_DIR / "test_privacy_kit.sqlite3"))},
        }
    }
    # A second file for the subject keys: created only for the tests that ask for it.
    DATABASES["keys"] = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(Path(DATABASES["default"]["NAME"]).with_suffix(".keys.sqlite3")),
        "TEST": {"NAME": str(Path(DATABASES["default"]["TEST"]["NAME"]).with_suffix(".keys.sqlite3"))},
    }

DATABASE_ROUTERS = ["tests.routers.KeysDatabaseRouter"]

# Fixed keys for the tests only; never use them anywhere else.
TEST_KEY_PRIMARY = "0dWgSGNu0Vh6Jg9P7iakxPNaBkCr4ewd3Ho5UQ6nb3w="
TEST_KEY_OLD = "M0YP9mA2Jsbkr38n-xZ6RQyvpA9m1-g6aBkBQEmQ5jU="
TEST_BLIND_INDEX_KEY = "Ty3AJYkHGoLLBqAVjXP9brx1LwF30b2S5ml3vmhJjaE="
PRIVACY_KIT = {
    "ENCRYPTION_KEYS": [TEST_KEY_PRIMARY],
    "BLIND_INDEX_KEY": TEST_BLIND_INDEX_KEY,
    # privacy_kit's pages in the demo shop's layout, as example_shop's settings put them.
    "BASE_TEMPLATE": "shop/base.html",
}

# Celery runs tasks in-process, except in the tests that start a real worker.
CELERY_BROKER_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True

# Django 6.1 sends email through MAILERS (the test runner swaps in its in-memory backend);
# without them it warns on every mail, such as the security alerts to ADMINS.
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend"}}

# Fast password hashing: the tests create many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

from privacy_kit.celery import beat_schedule  # noqa: E402

CELERY_BEAT_SCHEDULE = beat_schedule()

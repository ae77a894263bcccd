"""Settings shared by every way of running example_shop."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent

INSTALLED_APPS = [
    # Django's admin whose default site needs two-factor authentication.
    "privacy_kit.two_factor.apps.PrivacyAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",  # passkeys for staff: the "passkeys" extra
    "axes",
    "privacy_kit",
    "example_shop.shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "privacy_kit.middleware.ConsentMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Five failed logins (a wrong password, or a wrong code after the right one) lock
# out the username and the IP address for an hour; a superuser can unlock sooner
# (python manage.py axes_reset_username NAME).
AXES_FAILURE_LIMIT = 5
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = 1
AXES_RESET_ON_SUCCESS = False  # privacy_kit.E048: a shop login must not forget wrong admin codes
AXES_SENSITIVE_PARAMETERS = ["otp_token"]
# Log a failed login by its path, not by username, address and browser (privacy_kit.W034).
AXES_CLIENT_STR_CALLABLE = "privacy_kit.security.lockouts.client_description"
# The name staff see for this shop in their authenticator app.
OTP_TOTP_ISSUER = "example_shop"
# Passkeys: the name staff see when their device makes one. The relying party id (the shop's
# domain) and the origins the admin is served at are in dev.py and production.py.
OTP_WEBAUTHN_RP_NAME = "example_shop"
# The admin's passkey login comes after the password (privacy_kit.W044).
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False

# privacy_kit's pages (consent preferences, policy, my data) extend the shop's base template,
# so they have its header, navigation and footer. The keys come in dev.py and the environment.
PRIVACY_KIT = {"BASE_TEMPLATE": "shop/base.html"}

ROOT_URLCONF = "example_shop.urls"
WSGI_APPLICATION = "example_shop.wsgi.application"

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


def database_from_url(url: str) -> dict:
    """Return a DATABASES entry for postgres://user@host:port/name or sqlite:///path."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme.startswith("postgres"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parts.path.lstrip("/"),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
        }
    if parts.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": parts.path}
    raise ValueError(f"DATABASE_URL scheme {parts.scheme!r} is not supported")


DATABASES = {
    "default": database_from_url(os.environ["DATABASE_URL"])
    if os.environ.get("DATABASE_URL")
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "example_shop.sqlite3"}
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ar", "العربية")]
TIME_ZONE = "Asia/Riyadh"
USE_I18N = True
# The shop's own translations (manage.py makemessages -l ar, run in example_shop/).
LOCALE_PATHS = [BASE_DIR / "example_shop" / "locale"]
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# With REDIS_URL, tasks go to real workers (make worker, make beat); without it
# the demo runs them in-process so it needs no external service.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True

# One beat process queues the nightly purge; every worker helps to run it.
from privacy_kit.celery import beat_schedule  # noqa: E402

CELERY_BEAT_SCHEDULE = beat_schedule()
# A purge that is running goes on through a broker outage (Celery 6 changes the default).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False

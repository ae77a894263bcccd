"""System checks of privacy_kit's configuration (``python manage.py check``).

Every id is listed in docs/checks.md. Messages never contain a key.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db import models

from . import crypto
from .conf import DEFAULTS, ENV_BLIND_INDEX_KEY, ENV_BLIND_INDEX_KEY_FALLBACKS, ENV_ENCRYPTION_KEYS, app_settings

GENERATE_HINT = "Generate a key with 'python manage.py privacy_keys generate'."

E001 = "privacy_kit.E001"
E001_MSG = "PRIVACY_KIT['ENCRYPTION_KEYS'] is empty: personal data cannot be encrypted."
E001_HINT = f"{GENERATE_HINT} Set it in PRIVACY_KIT or in the {ENV_ENCRYPTION_KEYS} environment variable."
E002 = "privacy_kit.E002"
E002_MSG = "PRIVACY_KIT['ENCRYPTION_KEYS'][{position}] is malformed: {reason}."
E002_HINT = f"Each key is 32 random bytes in url-safe base64. {GENERATE_HINT}"
E003 = "privacy_kit.E003"
E003_MSG = "PRIVACY_KIT['ENCRYPTION_KEYS'][{position}] repeats key id {key_id} of an earlier key."
E003_HINT = "List each key once; remove the duplicate."
E004 = "privacy_kit.E004"
E004_MSG = "PRIVACY_KIT['BLIND_INDEX_KEY'] is not set: consent records{fields} need it."
E004_HINT = f"{GENERATE_HINT} Set it in PRIVACY_KIT or in the {ENV_BLIND_INDEX_KEY} environment variable."
E005 = "privacy_kit.E005"
E005_MSG = "PRIVACY_KIT['BLIND_INDEX_KEY'] is malformed: {reason}."
E005_HINT = f"The key is 32 random bytes in url-safe base64. {GENERATE_HINT}"
E006 = "privacy_kit.E006"
E006_MSG = "{setting} is derived from SECRET_KEY while DEBUG is off."
E006_HINT = (
    f"A key derived from SECRET_KEY is for development only. {GENERATE_HINT} "
    "Keep it out of the settings file, for example in the environment."
)
E007 = "privacy_kit.E007"
E007_MSG = "PRIVACY_KIT['BLIND_INDEX_KEY'] is also an encryption key."
E007_HINT = f"Use a separate key for blind indexes. {GENERATE_HINT}"
E056 = "privacy_kit.E056"
E056_MSG = "PRIVACY_KIT['BLIND_INDEX_KEY_FALLBACKS'][{position}] is malformed: {reason}."
E056_HINT = (
    "Each fallback is an earlier BLIND_INDEX_KEY: 32 bytes in url-safe base64, in PRIVACY_KIT or comma-separated "
    f"in the {ENV_BLIND_INDEX_KEY_FALLBACKS} environment variable."
)
W053 = "privacy_kit.W053"
W053_MSG = "PRIVACY_KIT['BLIND_INDEX_KEY_FALLBACKS'][{position}] is the current BLIND_INDEX_KEY."
W053_HINT = (
    "A fallback is the key used before the current one: with only the current key there, "
    "'rotate_keys --blind-index' has nothing to move. Set BLIND_INDEX_KEY to the new key, "
    "or remove the fallback once the rotation is done."
)
W001 = "privacy_kit.W001"
W001_MSG = "{setting} is not set: privacy_kit derives it from SECRET_KEY because DEBUG is on."
W001_HINT = f"Fine for development; set real keys before DEBUG goes off. {GENERATE_HINT}"
W002 = "privacy_kit.W002"
W002_MSG = "PRIVACY_KIT has an unknown setting {name!r}."
W002_HINT = "Known settings: " + ", ".join(DEFAULTS) + "."


def searchable_fields() -> list[Any]:
    """Return every searchable encrypted field of the installed models."""
    from .fields import EncryptedField

    return [
        field
        for model in apps.get_models()
        for field in model._meta.local_fields
        if isinstance(field, EncryptedField) and field.searchable
    ]


def _secret_key_derivations(purpose: str) -> set[bytes]:
    """Return the keys someone could have derived from SECRET_KEY."""
    secret = settings.SECRET_KEY.encode()
    return {
        crypto.decode_key(crypto.derived_debug_key(purpose)),
        hashlib.sha256(secret).digest(),
        secret[: crypto.KEY_BYTES],
        base64.urlsafe_b64encode(secret)[: crypto.KEY_BYTES],
    }


def check_keys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check the encryption and blind-index keys."""
    errors: list[checks.CheckMessage] = []
    configured = app_settings.ENCRYPTION_KEYS
    derived = _secret_key_derivations("encryption") | _secret_key_derivations("blind index")
    if not configured:
        if settings.DEBUG:
            errors.append(checks.Warning(W001_MSG.format(setting="ENCRYPTION_KEYS"), hint=W001_HINT, id=W001))
        else:
            errors.append(checks.Error(E001_MSG, hint=E001_HINT, id=E001))
    seen: dict[bytes, int] = {}
    encryption_keys: set[bytes] = set()
    for position, text in enumerate(configured):
        try:
            key = crypto.decode_key(text)
        except ValueError as error:
            errors.append(checks.Error(E002_MSG.format(position=position, reason=error), hint=E002_HINT, id=E002))
            continue
        identifier = crypto.key_id(key)
        if identifier in seen:
            errors.append(
                checks.Error(E003_MSG.format(position=position, key_id=identifier.hex()), hint=E003_HINT, id=E003)
            )
        seen[identifier] = position
        encryption_keys.add(key)
        if key in derived and not settings.DEBUG:
            setting = f"PRIVACY_KIT['ENCRYPTION_KEYS'][{position}]"
            errors.append(checks.Error(E006_MSG.format(setting=setting), hint=E006_HINT, id=E006))

    blind_text = app_settings.BLIND_INDEX_KEY
    if blind_text:
        try:
            blind_key = crypto.decode_key(blind_text)
        except ValueError as error:
            errors.append(checks.Error(E005_MSG.format(reason=error), hint=E005_HINT, id=E005))
        else:
            if blind_key in encryption_keys:
                errors.append(checks.Error(E007_MSG, hint=E007_HINT, id=E007))
            if blind_key in derived and not settings.DEBUG:
                errors.append(
                    checks.Error(E006_MSG.format(setting="PRIVACY_KIT['BLIND_INDEX_KEY']"), hint=E006_HINT, id=E006)
                )
    elif settings.DEBUG:
        errors.append(checks.Warning(W001_MSG.format(setting="BLIND_INDEX_KEY"), hint=W001_HINT, id=W001))
    else:
        names = ", ".join(f"{field.model._meta.label}.{field.name}" for field in searchable_fields())
        errors.append(checks.Error(E004_MSG.format(fields=f" and {names}" if names else ""), hint=E004_HINT, id=E004))
    return errors + _check_blind_index_fallbacks()


def _check_blind_index_fallbacks() -> list[checks.CheckMessage]:
    """Check the earlier blind-index keys that lookups still match during a rotation.

    A fallback that is weak (derived from SECRET_KEY, or also an encryption key) is
    the very reason to rotate: it is not an error, or ``rotate_keys`` could not run.
    """
    errors: list[checks.CheckMessage] = []
    current_text = crypto.configured_blind_index_key()
    try:
        current = crypto.decode_key(current_text) if current_text else None
    except ValueError:
        current = None  # E005 says so
    for position, text in enumerate(app_settings.BLIND_INDEX_KEY_FALLBACKS):
        try:
            key = crypto.decode_key(text)
        except ValueError as error:
            errors.append(checks.Error(E056_MSG.format(position=position, reason=error), hint=E056_HINT, id=E056))
            continue
        if key == current:
            errors.append(checks.Warning(W053_MSG.format(position=position), hint=W053_HINT, id=W053))
    return errors


E020 = "privacy_kit.E020"
E020_MSG = "privacy_kit.middleware.ConsentMiddleware is not in MIDDLEWARE."
E020_HINT = (
    'Add "privacy_kit.middleware.ConsentMiddleware" to MIDDLEWARE, after '
    '"django.contrib.auth.middleware.AuthenticationMiddleware".'
)
E021 = "privacy_kit.E021"
E021_MSG = "ConsentMiddleware comes before AuthenticationMiddleware: it cannot see the logged-in user."
E021_HINT = 'Move "privacy_kit.middleware.ConsentMiddleware" after AuthenticationMiddleware in MIDDLEWARE.'
CONSENT_MIDDLEWARE = "privacy_kit.middleware.ConsentMiddleware"
AUTHENTICATION_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"


def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check that ConsentMiddleware is installed where it can see the user."""
    middleware = list(settings.MIDDLEWARE)
    if CONSENT_MIDDLEWARE not in middleware:
        return [checks.Error(E020_MSG, hint=E020_HINT, id=E020)]
    if AUTHENTICATION_MIDDLEWARE in middleware and middleware.index(CONSENT_MIDDLEWARE) < middleware.index(
        AUTHENTICATION_MIDDLEWARE
    ):
        return [checks.Error(E021_MSG, hint=E021_HINT, id=E021)]
    return []


E022 = "privacy_kit.E022"
E022_MSG = "PRIVACY_KIT['CONSENT_SOURCES'] has {source!r}: a source is a slug of at most {length} characters."
E022_HINT = "Name each source of your own with letters, digits, _ and -, such as 'mobile_app' or 'call_centre'."
E023 = "privacy_kit.E023"
E023_MSG = "PRIVACY_KIT['CONSENT_RATE_LIMIT'] must map 'per_address' and 'per_visitor' to whole numbers of at least 1."
E023_HINT = "For example: 'CONSENT_RATE_LIMIT': {'per_address': 300, 'per_visitor': 30} (consent changes per hour)."


def check_consent_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse consent sources the ledger cannot store and rate limits that are not positive counts."""
    import re

    from .models import ConsentRecord

    length = ConsentRecord._meta.get_field("source").max_length or 0
    errors: list[checks.CheckMessage] = [
        checks.Error(E022_MSG.format(source=source, length=length), hint=E022_HINT, id=E022)
        for source in app_settings.user_settings.get("CONSENT_SOURCES", [])
        if not isinstance(source, str) or len(source) > length or not re.fullmatch(r"[a-z0-9_-]+", source)
    ]
    limits = app_settings.user_settings.get("CONSENT_RATE_LIMIT", {})
    valid = isinstance(limits, dict) and all(
        name in DEFAULTS["CONSENT_RATE_LIMIT"] and isinstance(value, int) and value >= 1
        for name, value in limits.items()
    )
    if not valid:
        errors.append(checks.Error(E023_MSG, hint=E023_HINT, id=E023))
    return errors


E065 = "privacy_kit.E065"
E065_MSG = "PRIVACY_KIT['REQUEST_REPEAT_DAYS'] is {value!r}: it must be a whole number of days, at least 1."
E065_HINT = (
    "Set the days within which a second request of the same kind by the same customer is flagged as a repeat "
    "(default 30), or leave it out."
)


def check_request_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse a repeat window for data-subject requests that is not a positive whole number of days."""
    value = app_settings.user_settings.get("REQUEST_REPEAT_DAYS", DEFAULTS["REQUEST_REPEAT_DAYS"])
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return [checks.Error(E065_MSG.format(value=value), hint=E065_HINT, id=E065)]
    return []


def check_settings_names(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn about PRIVACY_KIT names that privacy_kit does not know (a typo loses a setting)."""
    return [
        checks.Warning(W002_MSG.format(name=name), hint=W002_HINT, id=W002)
        for name in app_settings.user_settings
        if name not in DEFAULTS
    ]


E036 = "privacy_kit.E036"
E036_MSG = (
    "PRIVACY_KIT['BASE_TEMPLATE'] is {name!r}, which no template loader finds: privacy_kit's pages cannot render."
)
E036_HINT = (
    "Name your shop's base template (such as 'shop/base.html'; it needs the blocks title and content), "
    "or leave the setting out to use 'privacy_kit/base.html'."
)


def check_base_template(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check that the template privacy_kit's pages extend exists."""
    from django.template import TemplateDoesNotExist, TemplateSyntaxError
    from django.template.loader import get_template

    name = app_settings.BASE_TEMPLATE
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return [checks.Error(E036_MSG.format(name=name), hint=E036_HINT, id=E036)]
    except TemplateSyntaxError:
        return []  # the template exists; rendering it names the line that is wrong
    return []


E030 = "privacy_kit.E030"
E030_HINT = "Fix the registry.register(...) call of that model."
W030 = "privacy_kit.W030"
W030_MSG = "The purge task privacy_kit.purge_expired is not in CELERY_BEAT_SCHEDULE: data will not expire on its own."
W030_HINT = (
    "Add it: CELERY_BEAT_SCHEDULE = {**privacy_kit.celery.beat_schedule(), ...}, and run one 'celery beat' process."
)
W033 = "privacy_kit.W033"
W033_MSG = (
    "The task privacy_kit.resume_erasures is not in CELERY_BEAT_SCHEDULE: an erasure asked while the broker "
    "was down would stay pending."
)
W033_HINT = "Add it: CELERY_BEAT_SCHEDULE = {**privacy_kit.celery.beat_schedule(), ...}."
W039 = "privacy_kit.W039"
W039_MSG = (
    "The task privacy_kit.deadlines is not in CELERY_BEAT_SCHEDULE: nobody is alerted when a data-subject "
    "request or a breach nears or passes its due time."
)
W039_HINT = "Add it: CELERY_BEAT_SCHEDULE = {**privacy_kit.celery.beat_schedule(), ...}."
W034 = "privacy_kit.W034"
W034_MSG = (
    "django-axes writes the username, IP address and browser of every failed login to the log "
    "(AXES_CLIENT_STR_CALLABLE is not set): no erasure reaches them there."
)
W034_HINT = 'Set AXES_CLIENT_STR_CALLABLE = "privacy_kit.security.lockouts.client_description".'
W031 = "privacy_kit.W031"
W031_MSG = "No purge has finished successfully in the last {days} days."
W031_HINT = "Check that a Celery beat and a worker run, and read the failed PurgeRun rows in the admin."
W032 = "privacy_kit.W032"
W032_MSG = (
    "{model} has encrypted fields ({fields}) but is not in the personal-data registry: "
    "no retention, export or erasure reaches its rows."
)
W032_HINT = (
    "Describe it in the registry, for example from your app's ready(): {call}; or, if its rows belong to "
    "no customer account, {no_account_call} (retention by age only; export and erasure leave them out). "
    "Add retention=registry.Retention(...) to say how long it is kept."
)
STALE_PURGE_DAYS = 2


E055 = "privacy_kit.E055"
E055_MSG = (
    "{model} has encrypted fields and the subject {path!r}, which the database cannot report with the rows "
    "that hold them: its values could not be sealed under their subject's key."
)
E055_HINT = (
    "Subject keys need the subject in the row itself: give the table that holds the encrypted fields of {model} "
    "(a parent's, with multi-table inheritance) a foreign key to the user's primary key and register "
    'subject="<that field>" for that model, or register subject=None if its rows belong to no account.'
)


def check_registry(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check every registration of the personal-data registry."""
    from .fields import EncryptedField
    from .registry import registration_errors, registrations, subject_column

    messages: list[checks.CheckMessage] = []
    for entry in registrations():
        errors = registration_errors(entry)
        messages += [checks.Error(message, hint=E030_HINT, obj=entry.model, id=E030) for message in errors]
        # Each encrypted column is sealed by the subject of its own table's row (a parent's, with inheritance).
        unbound = any(
            isinstance(field, EncryptedField) and subject_column(field.model) is None
            for field in entry.model._meta.concrete_fields
        )
        if unbound and entry.subject_path and not errors:
            label = entry.model._meta.label
            messages.append(
                checks.Error(
                    E055_MSG.format(model=label, path=entry.subject_path),
                    hint=E055_HINT.format(model=label),
                    obj=entry.model,
                    id=E055,
                )
            )
    return messages


def _register_call(model: type[models.Model], fields: list[str], subject: str | None) -> str:
    """Return the ``registry.register(...)`` call that describes a model, for a hint."""
    names = ", ".join(f'"{name}"' for name in fields)
    subject_text = "None" if subject is None else f'"{subject}"'
    return (
        f'registry.register({model.__name__}, subject={subject_text}, category="personal", personal_fields=[{names}])'
    )


def _subject_path_hint(model: type[models.Model]) -> str:
    """Return the model's one relation to the user model, or a placeholder for the path to it."""
    user_relations = [
        field.name
        for field in model._meta.fields
        if field.is_relation
        and field.related_model is not None
        and field.related_model._meta.label == settings.AUTH_USER_MODEL
    ]
    return user_relations[0] if len(user_relations) == 1 else "<path to the user>"


def check_unregistered_encrypted_models(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn about models with encrypted fields that the registry does not describe."""
    from .rights.inventory import encrypted_fields, unregistered_models

    warnings: list[checks.CheckMessage] = []
    for model in unregistered_models(app_configs):
        names = [field.name for field in encrypted_fields(model)]
        message = W032_MSG.format(model=model._meta.label, fields=", ".join(names))
        hint = W032_HINT.format(
            call=_register_call(model, names, _subject_path_hint(model)),
            no_account_call=_register_call(model, names, None),
        )
        warnings.append(checks.Warning(message, hint=hint, obj=model, id=W032))
    return warnings


def check_axes_log(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when django-axes would log personal data of every failed login."""
    if not apps.is_installed("axes") or getattr(settings, "AXES_CLIENT_STR_CALLABLE", None):
        return []
    return [checks.Warning(W034_MSG, hint=W034_HINT, id=W034)]


def check_beat_schedule(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when beat would never start the purge, resume an erasure the broker lost, or alert on a deadline."""
    from .celery import DEADLINES_TASK, PURGE_TASK, RESUME_ERASURES_TASK

    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None) or {}
    tasks = {entry.get("task") for entry in schedule.values()}
    warnings = []
    if PURGE_TASK not in tasks:
        warnings.append(checks.Warning(W030_MSG, hint=W030_HINT, id=W030))
    if RESUME_ERASURES_TASK not in tasks:
        warnings.append(checks.Warning(W033_MSG, hint=W033_HINT, id=W033))
    if DEADLINES_TASK not in tasks:
        warnings.append(checks.Warning(W039_MSG, hint=W039_HINT, id=W039))
    return warnings


def _installed_at() -> Any:
    """Return when privacy_kit was installed in the database (its first migration, or its oldest purge run)."""
    from django.db.migrations.recorder import MigrationRecorder
    from django.db.models import Min

    from .models import PurgeRun

    migrated = MigrationRecorder.Migration.objects.filter(app="privacy_kit").aggregate(first=Min("applied"))["first"]
    first_run = PurgeRun.objects.aggregate(first=Min("started_at"))["first"]
    return min((when for when in (migrated, first_run) if when is not None), default=None)


def check_recent_purge(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when a purge was due but none succeeded lately (``manage.py check --database default``)."""
    import datetime

    from django.db import DatabaseError
    from django.utils import timezone

    from .models import PurgeRun

    if not databases:
        return []
    since = timezone.now() - datetime.timedelta(days=STALE_PURGE_DAYS)
    try:
        installed = _installed_at()
        # Installed within the period, the first purges may not have been due yet.
        if installed is None or installed >= since:
            return []
        recent = PurgeRun.objects.filter(status=PurgeRun.Status.DONE, dry_run=False, finished_at__gte=since).exists()
    except DatabaseError:
        return []  # not migrated yet
    if recent:
        return []
    return [checks.Warning(W031_MSG.format(days=STALE_PURGE_DAYS), hint=W031_HINT, id=W031)]


W054 = "privacy_kit.W054"
W054_MSG = (
    "{count} values of {label} are sealed under the shared keys in rows that have a subject: they open in any "
    "row and an erasure does not reach their copies in backups."
)
W054_HINT = (
    "Run 'python manage.py rotate_keys {model}' to move them onto their subjects' keys. update() and bulk_update() "
    "write such values; save() does not."
)
# The second base64 character of a shared-key envelope (version 1): its first byte is 0x01.
SHARED_ENVELOPE_CHARS = list("QRSTUVWXYZabcdef")


def check_shared_values_of_subjects(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Warn of values under the shared keys in rows with a subject (``manage.py check --database default``).

    The envelope's version is read from its text, so nothing is decrypted.
    """
    from django.apps import apps
    from django.db import DatabaseError, models
    from django.db.models import ExpressionWrapper, F
    from django.db.models.functions import Substr

    from .crypto import BLIND_INDEX_CHARS
    from .fields import EncryptedField
    from .registry import subject_column

    if not databases:
        return []
    warnings = []
    for model in apps.get_models():
        for field in model._meta.local_concrete_fields:
            column = subject_column(model) if isinstance(field, EncryptedField) else None
            if column is None:
                continue
            # Searchable values start with their blind index and ":".
            start = BLIND_INDEX_CHARS + 3 if field.searchable else 2  # 1-based: the 2nd character of the envelope
            text = ExpressionWrapper(F(field.attname), output_field=models.TextField())
            rows = model._base_manager.filter(**{f"{column.attname}__isnull": False})
            try:
                count = (
                    rows.annotate(privacy_kit_version=Substr(text, start, 1))
                    .filter(privacy_kit_version__in=SHARED_ENVELOPE_CHARS)
                    .count()
                )
            except DatabaseError:
                return []  # not migrated yet
            if count:
                label = f"{model._meta.label}.{field.name}"
                warnings.append(
                    checks.Warning(
                        W054_MSG.format(count=count, label=label),
                        hint=W054_HINT.format(model=model._meta.label),
                        obj=model,
                        id=W054,
                    )
                )
    return warnings


W038 = "privacy_kit.W038"
W038_MSG = (
    "LOGIN_URL is {login_url!r}, which no URL pattern matches: the my-data page sends visitors who are "
    "not logged in to a page that does not exist."
)
W038_HINT = (
    "Set LOGIN_URL to your shop's login page, as a path ('/account/login/') or a URL name ('shop:login'). "
    "Django's default is '/accounts/login/'."
)


def _login_url_resolves(login_url: str) -> bool:
    """Return whether LOGIN_URL is a URL name that reverses or a path that resolves; full URLs are not checked."""
    from urllib.parse import urlsplit

    from django.urls import NoReverseMatch, Resolver404, get_script_prefix, resolve, reverse

    if "/" not in login_url:
        # What django.shortcuts.resolve_url does first: a URL name ("shop:login").
        try:
            reverse(login_url)
            return True
        except NoReverseMatch:
            if "." not in login_url:
                return False
    parts = urlsplit(login_url)
    if parts.scheme or parts.netloc:
        return True  # another site's login (single sign-on): nothing here to resolve
    path = parts.path
    prefix = get_script_prefix()
    if prefix != "/" and path.startswith(prefix):
        path = "/" + path[len(prefix) :]
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def check_login_url(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when the my-data page is mounted and LOGIN_URL, where it sends anonymous visitors, leads nowhere."""
    from django.urls import NoReverseMatch, reverse

    login_url = str(settings.LOGIN_URL)
    try:
        reverse("privacy_kit:my_data")
        resolves = _login_url_resolves(login_url)
    except NoReverseMatch:
        return []  # privacy_kit's pages are not mounted: nothing sends visitors to LOGIN_URL
    except Exception:  # a broken URLconf is reported by Django's own check (urls.E...)
        return []
    if resolves:
        return []
    return [checks.Warning(W038_MSG.format(login_url=login_url), hint=W038_HINT, id=W038)]


W037 = "privacy_kit.W037"
W037_MSG = "{{% consent_banner %}} renders nothing: {missing}."
W037_HINT = (
    "Create a Purpose with requires_consent and publish a PolicyVersion, in the admin or in a data migration "
    "(docs/consent.md). If the shop asks consent for nothing, add privacy_kit.W037 to SILENCED_SYSTEM_CHECKS."
)


def check_consent_banner(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when the banner has nothing to ask: no purpose needs consent, or no policy is in effect."""
    from django.db import DatabaseError

    from .models import PolicyVersion, Purpose

    if not databases:
        return []
    try:
        missing = [
            reason
            for reason, present in [
                ("no Purpose requires consent", Purpose.objects.filter(requires_consent=True).exists()),
                ("no PolicyVersion is in effect", PolicyVersion.objects.effective().exists()),
            ]
            if not present
        ]
    except DatabaseError:
        return []  # not migrated yet
    if not missing:
        return []
    return [checks.Warning(W037_MSG.format(missing=" and ".join(missing)), hint=W037_HINT, id=W037)]


ADMIN_APP = "django.contrib.admin"
PRIVACY_ADMIN_APP = "privacy_kit.two_factor.apps.PrivacyAdminConfig"
OTP_MIDDLEWARE = "django_otp.middleware.OTPMiddleware"
AXES_MIDDLEWARE = "axes.middleware.AxesMiddleware"
AXES_BACKEND = "axes.backends.AxesStandaloneBackend"
TWO_FACTOR_APPS = {
    "django_otp": "the admin cannot verify one-time passwords",
    "django_otp.plugins.otp_totp": "staff cannot log in with an authenticator app",
    "django_otp.plugins.otp_static": "staff cannot have backup codes",
}
LOGIN_LIMIT_APPS = {"axes": "failed logins are not counted nor limited"}

E040 = "privacy_kit.E040"
E040_MSG = f'django.contrib.admin.site is not behind two-factor authentication: INSTALLED_APPS has "{ADMIN_APP}".'
E040_HINT = f'In INSTALLED_APPS, replace "{ADMIN_APP}" with "{PRIVACY_ADMIN_APP}".'
E041 = "privacy_kit.E041"
E041_MSG = "The admin site {site} mounted at '{route}' does not require two-factor authentication."
E041_HINT = 'Mount privacy_kit\'s site instead: path("{route}", privacy_kit.admin.site.urls).'
E042 = "privacy_kit.E042"
E042_MSG = '"{app}" is not in INSTALLED_APPS: {consequence}.'
E042_HINT = 'Add "{app}" to INSTALLED_APPS.'
E043 = "privacy_kit.E043"
E043_MSG = f"{OTP_MIDDLEWARE} is not in MIDDLEWARE: no admin user can be verified."
E043_HINT = f'Add "{OTP_MIDDLEWARE}" to MIDDLEWARE, after "{AUTHENTICATION_MIDDLEWARE}".'
E044 = "privacy_kit.E044"
E044_MSG = "OTPMiddleware comes before AuthenticationMiddleware: it cannot see the logged-in user."
E044_HINT = f'Move "{OTP_MIDDLEWARE}" after "{AUTHENTICATION_MIDDLEWARE}" in MIDDLEWARE.'
E045 = "privacy_kit.E045"
E045_MSG = f"{AXES_MIDDLEWARE} is not in MIDDLEWARE: a locked-out login gets no lockout response."
E045_HINT = f'Add "{AXES_MIDDLEWARE}" to MIDDLEWARE, as its last entry.'
E046 = "privacy_kit.E046"
E046_MSG = "AUTHENTICATION_BACKENDS does not start with django-axes' backend: locked-out users can still log in."
E046_HINT = (
    f'Put "{AXES_BACKEND}" first: AUTHENTICATION_BACKENDS = ["{AXES_BACKEND}", '
    '"django.contrib.auth.backends.ModelBackend"].'
)

E048 = "privacy_kit.E048"
E048_MSG = (
    "AXES_RESET_ON_SUCCESS is True: a password-only login anywhere forgets the wrong admin codes before a lockout."
)
E048_HINT = "Set AXES_RESET_ON_SUCCESS = False: failures then end only by AXES_COOLOFF_TIME or an unlock."


def _missing_apps(required: dict[str, str]) -> list[checks.CheckMessage]:
    return [
        checks.Error(E042_MSG.format(app=app, consequence=consequence), hint=E042_HINT.format(app=app), id=E042)
        for app, consequence in required.items()
        if not apps.is_installed(app)
    ]


def missing_app_message(app: str) -> str:
    """Return check E042 for an app left out of INSTALLED_APPS as one line, for an error at start-up."""
    consequence = {**TWO_FACTOR_APPS, **LOGIN_LIMIT_APPS}[app]
    return f"{E042} {E042_MSG.format(app=app, consequence=consequence)} {E042_HINT.format(app=app)}"


def _mounted_admin_sites(resolver: Any = None, prefix: str = "") -> list[tuple[str, Any]]:
    """Return (route, site) for every admin site in the URLconf."""
    from django.urls import URLResolver, get_resolver

    resolver = resolver or get_resolver()
    found = []
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            route = prefix + str(pattern.pattern)
            sites = (getattr(getattr(p, "callback", None), "admin_site", None) for p in pattern.url_patterns)
            site = next((site for site in sites if site is not None), None)
            if site is not None:
                found.append((route, site))
            else:
                found.extend(_mounted_admin_sites(pattern, route))
    return found


def check_admin_two_factor(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check that, with ADMIN_2FA_REQUIRED, no admin site is reachable without two-factor authentication."""
    from django.utils.module_loading import import_string

    from .two_factor.sites import PrivacyAdminSite

    if not app_settings.ADMIN_2FA_REQUIRED:
        return []
    errors = _missing_apps(TWO_FACTOR_APPS)
    if apps.is_installed(ADMIN_APP):
        default_site = import_string(apps.get_app_config("admin").default_site)
        if not issubclass(default_site, PrivacyAdminSite):
            errors.append(checks.Error(E040_MSG, hint=E040_HINT, id=E040))
    try:
        mounted = _mounted_admin_sites()
    except Exception:  # a broken URLconf is reported by Django's own check (urls.E...)
        mounted = []
    for route, site in mounted:
        if not isinstance(site, PrivacyAdminSite):
            message = E041_MSG.format(site=f"{type(site).__module__}.{type(site).__qualname__}", route=route)
            errors.append(checks.Error(message, hint=E041_HINT.format(route=route), id=E041))
    middleware = list(settings.MIDDLEWARE)
    if OTP_MIDDLEWARE not in middleware:
        errors.append(checks.Error(E043_MSG, hint=E043_HINT, id=E043))
    elif AUTHENTICATION_MIDDLEWARE in middleware and middleware.index(OTP_MIDDLEWARE) < middleware.index(
        AUTHENTICATION_MIDDLEWARE
    ):
        errors.append(checks.Error(E044_MSG, hint=E044_HINT, id=E044))
    return errors


W040 = "privacy_kit.W040"
W040_MSG = (
    "{admin} is the admin of {model}, which has personal fields in the registry, but is not a "
    "PersonalDataAdmin: its list shows them unmasked and opening a record is not logged."
)
W040_HINT = "Subclass privacy_kit.admin.PersonalDataAdmin in {admin} (put it first among the bases)."


def _checked_admin_sites() -> list[Any]:
    """Return privacy_kit's admin site, then Django's default site when it is another one."""
    from django.contrib import admin

    from .admin import site

    sites: list[Any] = []
    for candidate in [site, admin.site]:
        candidate._registry  # noqa: B018 (loads a lazy site)
        instance = getattr(candidate, "_wrapped", candidate)
        if all(instance is not other for other in sites):
            sites.append(instance)
    return sites


def check_personal_data_admins(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check that each admin of a model with registry personal fields is a PersonalDataAdmin."""
    # Without the admin there is nothing to check; without django_otp the admin cannot load (E042).
    if not apps.is_installed(ADMIN_APP) or not apps.is_installed("django_otp"):
        return []
    from . import registry
    from .admin.personal_data import PersonalDataAdmin
    from .retention.records import own_record_labels

    warnings = []
    for site in _checked_admin_sites():
        for model, model_admin in site._registry.items():
            if model._meta.label in own_record_labels:
                continue  # privacy_kit's own logs and records: their pages are read only, or for superusers
            try:
                personal = registry.get(model._meta.label).personal_fields
            except LookupError:
                continue
            if personal and not isinstance(model_admin, PersonalDataAdmin):
                name = f"{type(model_admin).__module__}.{type(model_admin).__qualname__}"
                warnings.append(
                    checks.Warning(
                        W040_MSG.format(admin=name, model=model._meta.label),
                        hint=W040_HINT.format(admin=name),
                        obj=type(model_admin),
                        id=W040,
                    )
                )
    return warnings


def _is_axes_backend(path: str) -> bool:
    from django.utils.module_loading import import_string

    if not apps.is_installed("axes"):
        # axes' backend cannot be imported without its app (its models would not load);
        # check E042 asks for the app, so judge the setting by its name alone.
        return path.startswith("axes.backends.")
    try:
        from axes.backends import AxesStandaloneBackend

        return issubclass(import_string(path), AxesStandaloneBackend)
    except ImportError:
        return False


def check_login_limits(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check that django-axes counts and limits failed logins (passwords and one-time codes)."""
    errors = _missing_apps(LOGIN_LIMIT_APPS)
    if AXES_MIDDLEWARE not in settings.MIDDLEWARE:
        errors.append(checks.Error(E045_MSG, hint=E045_HINT, id=E045))
    backends = list(settings.AUTHENTICATION_BACKENDS)
    if not backends or not _is_axes_backend(backends[0]):
        errors.append(checks.Error(E046_MSG, hint=E046_HINT, id=E046))
    # axes resets a username's failures on any login (the shop's, with the password alone):
    # wrong codes at the admin would never reach the limit.
    if app_settings.ADMIN_2FA_REQUIRED and getattr(settings, "AXES_RESET_ON_SUCCESS", False):
        errors.append(checks.Error(E048_MSG, hint=E048_HINT, id=E048))
    return errors


E050 = "privacy_kit.E050"
E050_MSG = "PRIVACY_KIT['KEY_PROVIDER'] = {path!r} {reason}."
E050_HINT = (
    "Set PRIVACY_KIT['KEY_PROVIDER'] to \"privacy_kit.keys.providers.SettingsKeyProvider\" (the default), "
    '"privacy_kit.keys.providers.AwsKmsKeyProvider", or the dotted path of your KeyProvider subclass.'
)
E051 = "privacy_kit.E051"
E051_MSG = "AwsKmsKeyProvider is the key provider but PRIVACY_KIT['KMS_KEY_ID'] is not set."
E051_HINT = 'Add "KMS_KEY_ID": "alias/your-key" (a KMS key id, key ARN or alias) to PRIVACY_KIT.'
E052 = "privacy_kit.E052"
E052_MSG = "AwsKmsKeyProvider is the key provider but boto3 is not installed."
E052_HINT = "Install it with the kms extra: pip install 'django-privacy-kit[kms]'."
E053 = "privacy_kit.E053"
E053_MSG = "PRIVACY_KIT['KEY_DATABASE'] = {alias!r} is not in DATABASES."
E053_HINT = (
    'Add DATABASES["{alias}"] = {{...}} for the key database, or set PRIVACY_KIT["KEY_DATABASE"] '
    'to an alias you have (default "default").'
)
E054 = "privacy_kit.E054"
E054_MSG = "PRIVACY_KIT['{name}'] must be a number of at least 1, not {value!r}."
E054_HINT = "Leave it out for the default ({default}), or give a positive number."
W050 = "privacy_kit.W050"
W050_MSG = (
    "PRIVACY_KIT['KEY_DATABASE'] is {alias!r} but privacy_kit.keys.routers.KeyRouter is not in DATABASE_ROUTERS: "
    "migrate puts the subject-key table in every database and every table in the key database."
)
W050_HINT = 'Add "privacy_kit.keys.routers.KeyRouter" to DATABASE_ROUTERS.'
AWS_KMS_PROVIDER = "privacy_kit.keys.providers.AwsKmsKeyProvider"
KEY_ROUTER = "privacy_kit.keys.routers.KeyRouter"


def check_key_provider(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check the subject keys' provider, its settings and the key database (without calling the provider)."""
    from django.utils.module_loading import import_string

    from .keys.providers import AwsKmsKeyProvider

    errors: list[checks.CheckMessage] = []
    path = app_settings.KEY_PROVIDER
    try:
        provider_class = import_string(path)
    except ImportError:
        errors.append(checks.Error(E050_MSG.format(path=path, reason="cannot be imported"), hint=E050_HINT, id=E050))
    else:
        if not all(callable(getattr(provider_class, name, None)) for name in ("wrap", "unwrap")):
            reason = "is not a key provider (it has no wrap and unwrap)"
            errors.append(checks.Error(E050_MSG.format(path=path, reason=reason), hint=E050_HINT, id=E050))
        elif isinstance(provider_class, type) and issubclass(provider_class, AwsKmsKeyProvider):
            if not app_settings.KMS_KEY_ID:
                errors.append(checks.Error(E051_MSG, hint=E051_HINT, id=E051))
            try:
                import boto3  # noqa: F401
            except ImportError:
                errors.append(checks.Error(E052_MSG, hint=E052_HINT, id=E052))
    alias = app_settings.KEY_DATABASE
    if alias not in settings.DATABASES:
        errors.append(checks.Error(E053_MSG.format(alias=alias), hint=E053_HINT.format(alias=alias), id=E053))
    elif alias != "default" and not any(
        router == KEY_ROUTER or type(router).__module__ + "." + type(router).__qualname__ == KEY_ROUTER
        for router in settings.DATABASE_ROUTERS
    ):
        errors.append(checks.Warning(W050_MSG.format(alias=alias), hint=W050_HINT, id=W050))
    for name in ("SUBJECT_KEY_CACHE_SIZE", "SUBJECT_KEY_CACHE_SECONDS"):
        value = app_settings.user_settings.get(name, DEFAULTS[name])
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
            errors.append(
                checks.Error(
                    E054_MSG.format(name=name, value=value), hint=E054_HINT.format(default=DEFAULTS[name]), id=E054
                )
            )
    return errors


W060 = "privacy_kit.W060"
W060_MSG = (
    "PRIVACY_KIT['RETENTION']['closed_records'] is {days} days: records of breaches (and requests) would go "
    "before the five years after they close that PDPL IR Art. 33 asks for."
)
W060_HINT = "Set it to at least {minimum} days, or leave it out for the default."
W061 = "privacy_kit.W061"
W061_MSG = (
    "PRIVACY_KIT['RETENTION']['axes_attempts'] is {days} days but a django-axes lockout lasts {lockout}: "
    "the purge of old attempts would end lockouts early."
)
W061_HINT = "Set AXES_COOLOFF_TIME (hours) below that period, or make the period longer than a lockout."


#: What ``_lockout_length`` returns for an ``AXES_COOLOFF_TIME`` that axes computes per request.
UNKNOWN_LOCKOUT = "unknown"


def _lockout_length(value: Any) -> datetime.timedelta | str | None:
    """Return AXES_COOLOFF_TIME as a span, None for lockouts that never end, UNKNOWN_LOCKOUT when computed later."""
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.timedelta(hours=value)
    return UNKNOWN_LOCKOUT  # a callable or a dotted path: axes computes it per request


def check_own_record_periods(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check the periods of privacy_kit's own records against the law and against django-axes's lockouts."""
    from .retention.records import AXES_ATTEMPTS, CLOSED_RECORDS, CLOSED_RECORDS_MINIMUM_DAYS

    messages: list[checks.CheckMessage] = []
    periods = app_settings.RETENTION
    try:
        closed, attempts = int(periods[CLOSED_RECORDS]), int(periods[AXES_ATTEMPTS])
    except (TypeError, ValueError):
        return messages  # not a number of days: the registry check (E030) reports the period
    if closed < CLOSED_RECORDS_MINIMUM_DAYS:
        messages.append(
            checks.Warning(
                W060_MSG.format(days=closed), hint=W060_HINT.format(minimum=CLOSED_RECORDS_MINIMUM_DAYS), id=W060
            )
        )
    if apps.is_installed("axes"):
        lockout = _lockout_length(getattr(settings, "AXES_COOLOFF_TIME", None))
        if lockout is None or (
            isinstance(lockout, datetime.timedelta) and lockout >= datetime.timedelta(days=attempts)
        ):
            text = "until a superuser unlocks it (AXES_COOLOFF_TIME is None)" if lockout is None else str(lockout)
            messages.append(checks.Warning(W061_MSG.format(days=attempts, lockout=text), hint=W061_HINT, id=W061))
    return messages


PASSKEY_APP = "django_otp_webauthn"
E049 = "privacy_kit.E049"
E049_MSG = (
    "OTP_WEBAUTHN_ALLOWED_ORIGINS has '{origin}', plain HTTP outside DEBUG: "
    "passkeys would be made and used on an unencrypted page."
)
E049_HINT = "Serve the admin over HTTPS and list its origin as 'https://{host}'."
W041 = "privacy_kit.W041"
W041_MSG = (
    "OTP_WEBAUTHN_RP_ID '{rp_id}' is no host of ALLOWED_HOSTS nor a parent domain of one: no passkey can be used."
)
W041_HINT = "Set OTP_WEBAUTHN_RP_ID to the admin's host name (or a parent domain of it), as ALLOWED_HOSTS has it."
W042 = "privacy_kit.W042"
W042_MSG = "OTP_WEBAUTHN_ALLOWED_ORIGINS has '{origin}', whose host is not in ALLOWED_HOSTS."
W042_HINT = "List the origins the admin is served at, with the hosts of ALLOWED_HOSTS."
W043 = "privacy_kit.W043"
W043_MSG = (
    "OTP_WEBAUTHN_ALLOWED_ORIGINS has '{origin}', which is not on OTP_WEBAUTHN_RP_ID '{rp_id}' or a subdomain of it."
)
W043_HINT = "Browsers make passkeys for the relying party id and its subdomains only: list origins on '{rp_id}'."
W044 = "privacy_kit.W044"
W044_MSG = (
    "django-otp-webauthn's URLs are mounted with OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN on: "
    "a passkey alone logs a staff user in, verified, without the password."
)
W044_HINT = (
    "Set OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False, or unmount django_otp_webauthn.urls: "
    "the admin's own passkey login asks for the password first."
)
W044_MOUNTED_MSG = (
    "django-otp-webauthn's URLs are mounted: there a staff user with only a password adds a passkey as a first "
    "factor with no device_added event or alert, and a password-only session is verified by a passkey without "
    "user verification and without django-axes counting a refused one."
)
W044_MOUNTED_HINT = (
    "Unmount django_otp_webauthn.urls: the admin's passkey pages (admin:two_factor_passkeys) add passkeys "
    "after an existing factor, recorded, and its login checks the password and the passkey, counted."
)
W045 = "privacy_kit.W045"
W045_MSG = "OTP_WEBAUTHN_RP_ID '{rp_id}' is an IP address: browsers make no passkey for one."
W045_HINT = "Use a domain name: the shop's, or 'localhost' on a developer's machine."


def _host_allowed(host: str, allowed: list[str]) -> bool:
    from django.http.request import validate_host

    return validate_host(host, allowed)


def _allowed_hosts() -> list[str]:
    # Django's own rule: with DEBUG and no ALLOWED_HOSTS, the local names are allowed.
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]
    return list(settings.ALLOWED_HOSTS)


def _on_domain(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def check_passkeys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check that the passkeys' relying party id and origins are where the admin is served, over HTTPS."""
    import ipaddress
    from urllib.parse import urlsplit

    if not apps.is_installed(PASSKEY_APP):
        return []
    from django_otp_webauthn.settings import app_settings as webauthn_settings

    messages: list[checks.CheckMessage] = []
    allowed = _allowed_hosts()
    # A callable relying party id is judged per request, by whoever wrote it.
    rp_id = "" if webauthn_settings.OTP_WEBAUTHN_RP_ID_CALLABLE else str(webauthn_settings.OTP_WEBAUTHN_RP_ID or "")
    if rp_id:  # none at all is django-otp-webauthn's own otp_webauthn.E010
        try:
            ipaddress.ip_address(rp_id.strip("[]"))
        except ValueError:
            parents = (pattern.lstrip(".") for pattern in allowed if pattern != "*")
            if not _host_allowed(rp_id, allowed) and not any(_on_domain(host, rp_id) for host in parents):
                messages.append(checks.Warning(W041_MSG.format(rp_id=rp_id), hint=W041_HINT, id=W041))
        else:
            messages.append(checks.Warning(W045_MSG.format(rp_id=rp_id), hint=W045_HINT, id=W045))
    for origin in webauthn_settings.OTP_WEBAUTHN_ALLOWED_ORIGINS:
        parts = urlsplit(str(origin))
        host = parts.hostname or ""
        if parts.scheme == "http" and not settings.DEBUG:
            hint = E049_HINT.format(host=parts.netloc)
            messages.append(checks.Error(E049_MSG.format(origin=origin), hint=hint, id=E049))
        if host and not _host_allowed(host, allowed):
            messages.append(checks.Warning(W042_MSG.format(origin=origin), hint=W042_HINT, id=W042))
        if host and rp_id and not _on_domain(host, rp_id):
            hint = W043_HINT.format(rp_id=rp_id)
            messages.append(checks.Warning(W043_MSG.format(origin=origin, rp_id=rp_id), hint=hint, id=W043))
    if _webauthn_urls_mounted():
        if webauthn_settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN:
            messages.append(checks.Warning(W044_MSG, hint=W044_HINT, id=W044))
        else:
            messages.append(checks.Warning(W044_MOUNTED_MSG, hint=W044_MOUNTED_HINT, id=W044))
    return messages


def _webauthn_urls_mounted() -> bool:
    """Return whether django-otp-webauthn's own ceremony views (login or registration) are mounted."""
    from django.urls import NoReverseMatch, reverse

    for name in ("credential-authentication-complete", "credential-registration-complete"):
        try:
            reverse(f"otp_webauthn:{name}")
        except NoReverseMatch:
            continue
        except Exception:  # a broken URLconf is reported by Django's own check (urls.E...)
            return False
        return True
    return False

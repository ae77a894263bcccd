import base64
import hashlib
import os
import sys

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.core import checks
from django.db import models
from django.db.models.functions import Lower
from django.test import override_settings
from django.test.utils import isolate_apps
from django.urls import path

from privacy_kit import crypto
from privacy_kit.admin import PersonalDataAdmin
from privacy_kit.fields import EncryptedCharField, EncryptedDecimalField, EncryptedEmailField, EncryptedTextField
from tests.runs import settings_only
from tests.settings import BASE_DIR, TEST_BLIND_INDEX_KEY, TEST_KEY_OLD, TEST_KEY_PRIMARY

# Django 6.1 checks JSON and generated fields against the database's features: every check run needs it.
pytestmark = pytest.mark.django_db


def privacy_messages(**privacy_kit):
    with override_settings(PRIVACY_KIT=privacy_kit):
        return [m for m in checks.run_checks() if m.id.startswith("privacy_kit.")]


def ids(messages):
    return sorted(m.id for m in messages)


def test_good_configuration_passes():
    assert (
        privacy_messages(ENCRYPTION_KEYS=[TEST_KEY_PRIMARY, TEST_KEY_OLD], BLIND_INDEX_KEY=TEST_BLIND_INDEX_KEY) == []
    )


def test_no_keys_is_an_error():
    assert ids(privacy_messages(BLIND_INDEX_KEY=TEST_BLIND_INDEX_KEY)) == ["privacy_kit.E001"]


def test_no_keys_in_debug_is_a_warning_about_the_derived_key():
    with override_settings(DEBUG=True):
        messages = privacy_messages(BLIND_INDEX_KEY=TEST_BLIND_INDEX_KEY)
    assert ids(messages) == ["privacy_kit.W001"]
    assert "SECRET_KEY" in messages[0].msg


@pytest.mark.parametrize("bad", ["!!not base64!!", base64.urlsafe_b64encode(b"sixteen bytes...").decode()])
def test_malformed_key_is_an_error_that_does_not_echo_it(bad):
    messages = privacy_messages(ENCRYPTION_KEYS=[TEST_KEY_PRIMARY, bad], BLIND_INDEX_KEY=TEST_BLIND_INDEX_KEY)
    assert ids(messages) == ["privacy_kit.E002"]
    assert "[1]" in messages[0].msg and bad not in messages[0].msg and bad not in (messages[0].hint or "")


def test_duplicate_keys_are_an_error():
    messages = privacy_messages(
        ENCRYPTION_KEYS=[TEST_KEY_PRIMARY, TEST_KEY_PRIMARY], BLIND_INDEX_KEY=TEST_BLIND_INDEX_KEY
    )
    assert ids(messages) == ["privacy_kit.E003"]


def test_missing_blind_index_key_is_an_error_naming_who_needs_it():
    messages = privacy_messages(ENCRYPTION_KEYS=[TEST_KEY_PRIMARY])
    assert ids(messages) == ["privacy_kit.E004"]
    assert "consent records" in messages[0].msg
    assert "testapp.Record.email" in messages[0].msg and "shop.Customer.email" in messages[0].msg


def middleware_messages(middleware):
    with override_settings(MIDDLEWARE=middleware):
        return [m for m in checks.run_checks() if m.id in ("privacy_kit.E020", "privacy_kit.E021")]


def test_missing_consent_middleware_names_the_line_to_add():
    [message] = middleware_messages(["django.contrib.auth.middleware.AuthenticationMiddleware"])
    assert message.id == "privacy_kit.E020" and '"privacy_kit.middleware.ConsentMiddleware"' in message.hint


def test_consent_middleware_before_authentication_is_an_error():
    [message] = middleware_messages(
        ["privacy_kit.middleware.ConsentMiddleware", "django.contrib.auth.middleware.AuthenticationMiddleware"]
    )
    assert message.id == "privacy_kit.E021"


def test_consent_middleware_after_authentication_passes():
    assert (
        middleware_messages(
            ["django.contrib.auth.middleware.AuthenticationMiddleware", "privacy_kit.middleware.ConsentMiddleware"]
        )
        == []
    )


def test_malformed_blind_index_key_is_an_error():
    assert ids(privacy_messages(ENCRYPTION_KEYS=[TEST_KEY_PRIMARY], BLIND_INDEX_KEY="short")) == ["privacy_kit.E005"]


@pytest.mark.parametrize(
    "derive",
    [
        lambda: crypto.derived_debug_key("encryption"),
        lambda: base64.urlsafe_b64encode(hashlib.sha256(b"tests-only-not-secret").digest()).decode(),
    ],
)
def test_keys_derived_from_secret_key_are_an_error_outside_debug(derive):
    messages = privacy_messages(ENCRYPTION_KEYS=[derive()], BLIND_INDEX_KEY=TEST_BLIND_INDEX_KEY)
    assert ids(messages) == ["privacy_kit.E006"]


def test_derived_blind_index_key_is_an_error_outside_debug():
    derived = crypto.derived_debug_key("blind index")
    assert ids(privacy_messages(ENCRYPTION_KEYS=[TEST_KEY_PRIMARY], BLIND_INDEX_KEY=derived)) == ["privacy_kit.E006"]


def test_derived_keys_are_allowed_in_debug():
    with override_settings(DEBUG=True):
        derived = crypto.derived_debug_key("encryption")
        assert privacy_messages(ENCRYPTION_KEYS=[derived], BLIND_INDEX_KEY=TEST_BLIND_INDEX_KEY) == []


def test_blind_index_key_reused_as_encryption_key_is_an_error():
    assert ids(privacy_messages(ENCRYPTION_KEYS=[TEST_KEY_PRIMARY], BLIND_INDEX_KEY=TEST_KEY_PRIMARY)) == [
        "privacy_kit.E007"
    ]


def test_blind_index_fallbacks_pass_the_checks():
    messages = privacy_messages(
        ENCRYPTION_KEYS=[TEST_KEY_PRIMARY],
        BLIND_INDEX_KEY=crypto.generate_key(),
        BLIND_INDEX_KEY_FALLBACKS=[TEST_BLIND_INDEX_KEY, TEST_KEY_OLD],
    )
    assert messages == []


def test_malformed_blind_index_fallback_is_an_error_that_names_its_position_not_the_key():
    messages = privacy_messages(
        ENCRYPTION_KEYS=[TEST_KEY_PRIMARY],
        BLIND_INDEX_KEY=TEST_BLIND_INDEX_KEY,
        BLIND_INDEX_KEY_FALLBACKS=[TEST_KEY_OLD, "short-and-secret"],
    )
    assert ids(messages) == ["privacy_kit.E056"]
    assert "[1] is malformed" in messages[0].msg and "short-and-secret" not in messages[0].msg


def test_malformed_blind_index_fallback_from_the_environment_is_an_error(monkeypatch):
    monkeypatch.setenv("PRIVACY_KIT_BLIND_INDEX_KEY_FALLBACKS", f"{TEST_KEY_OLD},nope")
    messages = privacy_messages(ENCRYPTION_KEYS=[TEST_KEY_PRIMARY], BLIND_INDEX_KEY=TEST_BLIND_INDEX_KEY)
    assert ids(messages) == ["privacy_kit.E056"] and "[1]" in messages[0].msg


def test_blind_index_fallback_equal_to_the_current_key_is_a_warning():
    messages = privacy_messages(
        ENCRYPTION_KEYS=[TEST_KEY_PRIMARY],
        BLIND_INDEX_KEY=TEST_BLIND_INDEX_KEY,
        BLIND_INDEX_KEY_FALLBACKS=[TEST_BLIND_INDEX_KEY],
    )
    assert ids(messages) == ["privacy_kit.W053"]
    assert "rotate_keys --blind-index' has nothing to move" in messages[0].hint


def test_unknown_setting_name_is_a_warning():
    messages = privacy_messages(
        ENCRYPTION_KEYS=[TEST_KEY_PRIMARY], BLIND_INDEX_KEY=TEST_BLIND_INDEX_KEY, PURGE_BATCHSIZE=5
    )
    assert ids(messages) == ["privacy_kit.W002"] and "PURGE_BATCHSIZE" in messages[0].msg


def test_environment_keys_satisfy_the_checks(monkeypatch):
    monkeypatch.setenv("PRIVACY_KIT_ENCRYPTION_KEYS", f"{TEST_KEY_PRIMARY},{TEST_KEY_OLD}")
    monkeypatch.setenv("PRIVACY_KIT_BLIND_INDEX_KEY", TEST_BLIND_INDEX_KEY)
    assert privacy_messages() == []


@isolate_apps("tests.testapp")
def test_field_options_that_cannot_work_on_ciphertext_are_errors():
    class Bad(models.Model):
        unique_name = EncryptedCharField(max_length=10, unique=True)
        indexed = EncryptedTextField(db_index=True)
        amount = EncryptedDecimalField(max_digits=5, decimal_places=2, searchable=True)
        # The database would write this into every row saved without a value, unencrypted.
        note = EncryptedTextField(db_default="none given")
        sealed_default = EncryptedTextField(default="none given")

        class Meta:
            app_label = "testapp"

    found = {(m.obj.name, m.id) for m in Bad.check() if m.id.startswith("privacy_kit.")}
    assert found == {
        ("unique_name", "privacy_kit.E010"),
        ("indexed", "privacy_kit.E011"),
        ("amount", "privacy_kit.E012"),
        ("note", "privacy_kit.E014"),
    }


@isolate_apps("tests.testapp")
def test_unique_on_an_encrypted_field_is_an_error_unless_searchable_and_a_primary_key_always():
    class Keys(models.Model):
        code = EncryptedCharField(max_length=10, primary_key=True)
        name = EncryptedCharField(max_length=10, unique=True)
        email = EncryptedEmailField(unique=True, searchable=True)

        class Meta:
            app_label = "testapp"

    messages = {m.obj.name: m for m in Keys.check() if m.id.startswith("privacy_kit.")}
    assert set(messages) == {"code", "name"} and {m.id for m in messages.values()} == {"privacy_kit.E010"}
    assert messages["code"].msg == "testapp.Keys.code is encrypted and cannot be a primary key."
    assert messages["name"].msg == "testapp.Keys.name is encrypted and not searchable, so it cannot be unique."
    assert "searchable=True" in messages["name"].hint


@isolate_apps("tests.testapp")
def test_unique_together_or_a_unique_constraint_over_an_encrypted_field_is_an_error_naming_it():
    class Shared(models.Model):
        shop = models.CharField(max_length=10)
        email = EncryptedEmailField(searchable=True)
        name = EncryptedCharField(max_length=10)

        class Meta:
            app_label = "testapp"
            unique_together = [("shop", "email")]
            constraints = [
                models.UniqueConstraint("shop", Lower("name"), name="one_name_per_shop"),
                models.UniqueConstraint(fields=["shop"], name="plain_columns_only"),
            ]

    messages = [m for m in Shared.check() if m.id.startswith("privacy_kit.")]
    assert sorted((m.obj.name, m.id) for m in messages) == [("email", "privacy_kit.E013"), ("name", "privacy_kit.E013")]
    by_field = {m.obj.name: m.msg for m in messages}
    assert by_field["email"].startswith("testapp.Shared.email is encrypted and in unique_together ['shop', 'email']")
    assert by_field["name"].startswith("testapp.Shared.name is encrypted and in the constraint 'one_name_per_shop'")


# The admin behind two-factor authentication and the login limits (E040-E046)

unprotected_site = AdminSite(name="unprotected")
urlpatterns = [path("staff/", unprotected_site.urls)]
GOOD_KEYS = {"ENCRYPTION_KEYS": [TEST_KEY_PRIMARY], "BLIND_INDEX_KEY": TEST_BLIND_INDEX_KEY}


def admin_messages(**settings):
    with override_settings(**settings):
        return privacy_messages(**GOOD_KEYS)


def without(setting, name):
    return [entry for entry in getattr(django_settings, setting) if entry != name]


def test_plain_django_admin_app_is_an_error_naming_the_replacement(monkeypatch):
    monkeypatch.setattr(apps.get_app_config("admin"), "default_site", "django.contrib.admin.sites.AdminSite")
    [message] = privacy_messages(**GOOD_KEYS)
    assert message.id == "privacy_kit.E040"
    assert '"privacy_kit.two_factor.apps.PrivacyAdminConfig"' in message.hint


def test_plain_django_admin_app_is_fine_without_admin_2fa_required(monkeypatch):
    monkeypatch.setattr(apps.get_app_config("admin"), "default_site", "django.contrib.admin.sites.AdminSite")
    assert privacy_messages(**GOOD_KEYS, ADMIN_2FA_REQUIRED=False) == []


def test_a_mounted_admin_site_without_two_factor_is_an_error_naming_its_route():
    [message] = admin_messages(ROOT_URLCONF=__name__)
    assert message.id == "privacy_kit.E041" and "'staff/'" in message.msg
    assert 'path("staff/", privacy_kit.admin.site.urls)' in message.hint


@pytest.mark.parametrize("app", ["django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static", "axes"])
def test_a_missing_app_is_an_error_naming_it(monkeypatch, app):
    is_installed = apps.is_installed
    monkeypatch.setattr(apps, "is_installed", lambda name: name != app and is_installed(name))
    [message] = privacy_messages(**GOOD_KEYS)
    assert message.id == "privacy_kit.E042" and message.hint == f'Add "{app}" to INSTALLED_APPS.'


def test_missing_otp_middleware_is_an_error_naming_the_line():
    [message] = admin_messages(MIDDLEWARE=without("MIDDLEWARE", "django_otp.middleware.OTPMiddleware"))
    assert message.id == "privacy_kit.E043" and '"django_otp.middleware.OTPMiddleware"' in message.hint


def test_otp_middleware_before_authentication_middleware_is_an_error():
    middleware = ["django_otp.middleware.OTPMiddleware", *without("MIDDLEWARE", "django_otp.middleware.OTPMiddleware")]
    assert ids(admin_messages(MIDDLEWARE=middleware)) == ["privacy_kit.E044"]


def test_missing_axes_middleware_is_an_error_naming_the_line():
    [message] = admin_messages(MIDDLEWARE=without("MIDDLEWARE", "axes.middleware.AxesMiddleware"))
    assert message.id == "privacy_kit.E045" and '"axes.middleware.AxesMiddleware"' in message.hint


@pytest.mark.parametrize(
    "backends",
    [
        ["django.contrib.auth.backends.ModelBackend"],
        ["django.contrib.auth.backends.ModelBackend", "axes.backends.AxesStandaloneBackend"],
        [],
    ],
)
def test_axes_backend_not_first_is_an_error_naming_the_setting(backends):
    [message] = admin_messages(AUTHENTICATION_BACKENDS=backends)
    assert message.id == "privacy_kit.E046" and '"axes.backends.AxesStandaloneBackend"' in message.hint


def test_two_factor_checks_are_off_without_admin_2fa_required():
    with override_settings(MIDDLEWARE=without("MIDDLEWARE", "django_otp.middleware.OTPMiddleware")):
        assert privacy_messages(**GOOD_KEYS, ADMIN_2FA_REQUIRED=False) == []


OTP_APPS = ["django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static"]
OTP_MIDDLEWARE = ["django_otp.middleware.OTPMiddleware"]
AXES_MIDDLEWARE = ["axes.middleware.AxesMiddleware"]
AXES_BACKENDS = ["axes.backends.AxesStandaloneBackend"]


def check_in_subprocess(tmp_path, apps, middleware=(), backends=()):
    """Run ``manage.py check`` with tests/settings.py less these apps, middleware and backends."""
    import subprocess
    import sys

    (tmp_path / "missing_settings.py").write_text(
        "from tests.settings import *\n"
        f"INSTALLED_APPS = [name for name in INSTALLED_APPS if name not in {list(apps)!r}]\n"
        f"MIDDLEWARE = [name for name in MIDDLEWARE if name not in {list(middleware)!r}]\n"
        f"AUTHENTICATION_BACKENDS = [name for name in AUTHENTICATION_BACKENDS if name not in {list(backends)!r}]\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "missing_settings", "PYTHONPATH": f"{tmp_path}:{BASE_DIR}"}
    return subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=120, cwd=BASE_DIR
    )


@settings_only
@pytest.mark.parametrize("with_middleware", [True, False], ids=["middleware-kept", "middleware-removed"])
@pytest.mark.parametrize(
    "missing",
    [[app] for app in OTP_APPS] + [OTP_APPS],
    ids=[*OTP_APPS, "all-of-django-otp"],
)
def test_checks_without_a_django_otp_app_name_the_line_to_add(tmp_path, missing, with_middleware):
    run = check_in_subprocess(tmp_path, missing, middleware=() if with_middleware else OTP_MIDDLEWARE)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and "RuntimeError" not in run.stderr
    for app in missing:
        assert f'"{app}" is not in INSTALLED_APPS' in run.stderr
        assert f'HINT: Add "{app}" to INSTALLED_APPS.' in run.stderr
    assert "privacy_kit.E042" in run.stderr
    assert ("privacy_kit.E043" in run.stderr) is not with_middleware


@settings_only
@pytest.mark.parametrize("with_backend", [True, False], ids=["backend-kept", "backend-removed"])
def test_checks_without_axes_name_the_line_to_add(tmp_path, with_backend):
    run = check_in_subprocess(tmp_path, ["axes"], AXES_MIDDLEWARE, backends=() if with_backend else AXES_BACKENDS)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert "privacy_kit.E042" in run.stderr and 'HINT: Add "axes" to INSTALLED_APPS.' in run.stderr
    assert "privacy_kit.E045" in run.stderr and 'Add "axes.middleware.AxesMiddleware" to MIDDLEWARE' in run.stderr
    assert ("privacy_kit.E046" in run.stderr) is not with_backend


@settings_only
def test_axes_middleware_without_axes_installed_names_the_line_to_add(tmp_path):
    # Django's own check (auth.E013's) imports every middleware, and axes' cannot load without its
    # app: privacy_kit stops at start-up with the line to add, not with axes' RuntimeError.
    run = check_in_subprocess(tmp_path, ["axes"])
    assert run.returncode == 1
    assert "RuntimeError" not in run.stderr
    last_line = run.stderr.strip().splitlines()[-1]
    assert "privacy_kit.E042" in last_line and 'Add "axes" to INSTALLED_APPS.' in last_line


class PlainOrderAdmin(admin.ModelAdmin):
    list_display = ["full_name", "phone"]


class MaskedOrderAdmin(PersonalDataAdmin):
    list_display = ["full_name", "phone"]


def messages_with_order_admin(model_admin, **registration):
    from privacy_kit.admin import site
    from tests.testapp.models import Order
    from tests.testapp.policies import register_orders

    register_orders(**registration)
    site.register(Order, model_admin)
    try:
        return [m for m in checks.run_checks() if m.id == "privacy_kit.W040"]
    finally:
        site.unregister(Order)


def test_a_plain_model_admin_of_a_model_with_personal_fields_is_a_warning_naming_both():
    [message] = messages_with_order_admin(PlainOrderAdmin)
    assert message.msg == (
        "tests.test_checks.PlainOrderAdmin is the admin of testapp.Order, which has personal fields in the "
        "registry, but is not a PersonalDataAdmin: its list shows them unmasked and opening a record is not logged."
    )
    assert message.hint == (
        "Subclass privacy_kit.admin.PersonalDataAdmin in tests.test_checks.PlainOrderAdmin "
        "(put it first among the bases)."
    )
    assert message.obj is PlainOrderAdmin


def test_a_personal_data_admin_of_a_model_with_personal_fields_passes():
    assert messages_with_order_admin(MaskedOrderAdmin) == []


def test_a_plain_model_admin_of_a_registered_model_without_personal_fields_passes():
    assert messages_with_order_admin(PlainOrderAdmin, personal_fields=()) == []


def test_privacy_kits_own_admins_pass_the_personal_data_admin_check():
    assert [m for m in checks.run_checks() if m.id == "privacy_kit.W040"] == []


def test_a_plain_model_admin_on_djangos_own_site_when_it_is_another_site_is_a_warning(monkeypatch):
    from tests.testapp.models import Order
    from tests.testapp.policies import register_orders

    register_orders()
    django_site = AdminSite(name="plain")
    django_site.register(Order, PlainOrderAdmin)
    monkeypatch.setattr(admin, "site", django_site)
    [message] = [m for m in checks.run_checks() if m.id == "privacy_kit.W040"]
    assert message.obj is PlainOrderAdmin and "testapp.Order" in message.msg


# -- privacy_kit.W038: where the my-data page sends visitors who are not logged in ---


def login_url_warnings():
    return [m for m in checks.run_checks(tags=[checks.Tags.urls]) if m.id == "privacy_kit.W038"]


def test_the_test_settings_login_url_resolves():
    assert django_settings.LOGIN_URL == "/accounts/login/"
    assert login_url_warnings() == []


@pytest.mark.parametrize("login_url", ["shop:login", "https://sso.example.com/login/", "//sso.example.com/login/"])
def test_a_url_name_that_reverses_or_a_full_url_passes(settings, login_url):
    settings.LOGIN_URL = login_url
    assert login_url_warnings() == []


@pytest.mark.parametrize("login_url", ["/account/sign-in/", "shop:sign_in", "sign_in"])
def test_a_login_url_that_leads_nowhere_is_a_warning_naming_it(settings, login_url):
    settings.LOGIN_URL = login_url
    [warning] = login_url_warnings()
    assert warning.level == checks.WARNING
    assert warning.msg.startswith(f"LOGIN_URL is {login_url!r}, which no URL pattern matches")
    assert "Set LOGIN_URL to your shop's login page" in warning.hint


def test_without_privacy_kits_pages_mounted_the_login_url_is_not_checked(settings):
    settings.ROOT_URLCONF = __name__  # this module's urlpatterns: an admin site, no privacy/ pages
    settings.LOGIN_URL = "/account/sign-in/"
    assert login_url_warnings() == []


# The subject keys' provider and database

GOOD_KEYS = {"ENCRYPTION_KEYS": [TEST_KEY_PRIMARY], "BLIND_INDEX_KEY": TEST_BLIND_INDEX_KEY}
KMS_PROVIDER = "privacy_kit.keys.providers.AwsKmsKeyProvider"


def test_a_key_provider_that_does_not_import_is_an_error_naming_the_setting():
    messages = privacy_messages(**GOOD_KEYS, KEY_PROVIDER="shop.keys.VaultProvider")
    assert ids(messages) == ["privacy_kit.E050"]
    assert "shop.keys.VaultProvider" in messages[0].msg
    assert '"privacy_kit.keys.providers.SettingsKeyProvider"' in messages[0].hint


def test_a_key_provider_without_wrap_and_unwrap_is_an_error():
    messages = privacy_messages(**GOOD_KEYS, KEY_PROVIDER="privacy_kit.crypto.Binding")
    assert ids(messages) == ["privacy_kit.E050"]


def test_the_kms_provider_without_a_key_id_is_an_error_naming_the_line_to_add():
    messages = privacy_messages(**GOOD_KEYS, KEY_PROVIDER=KMS_PROVIDER)
    assert ids(messages) == ["privacy_kit.E051"]
    assert '"KMS_KEY_ID":' in messages[0].hint


def test_the_kms_provider_without_boto3_is_an_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # what "import boto3" meets when it is not installed
    messages = privacy_messages(**GOOD_KEYS, KEY_PROVIDER=KMS_PROVIDER, KMS_KEY_ID="alias/shop")
    assert ids(messages) == ["privacy_kit.E052"]
    assert "django-privacy-kit[kms]" in messages[0].hint


def test_the_kms_provider_configured_passes():
    pytest.importorskip("boto3")
    assert privacy_messages(**GOOD_KEYS, KEY_PROVIDER=KMS_PROVIDER, KMS_KEY_ID="alias/shop") == []


def test_a_key_database_not_in_databases_is_an_error():
    messages = privacy_messages(**GOOD_KEYS, KEY_DATABASE="vault")
    assert ids(messages) == ["privacy_kit.E053"]
    assert 'DATABASES["vault"]' in messages[0].hint


def test_a_separate_key_database_without_the_router_is_a_warning():
    messages = privacy_messages(**GOOD_KEYS, KEY_DATABASE="keys")
    assert ids(messages) == ["privacy_kit.W050"]
    assert '"privacy_kit.keys.routers.KeyRouter"' in messages[0].hint
    with override_settings(DATABASE_ROUTERS=["privacy_kit.keys.routers.KeyRouter"]):
        assert privacy_messages(**GOOD_KEYS, KEY_DATABASE="keys") == []


@pytest.mark.parametrize("name", ["SUBJECT_KEY_CACHE_SIZE", "SUBJECT_KEY_CACHE_SECONDS"])
@pytest.mark.parametrize("value", [0, -5, "many", None])
def test_a_cache_bound_that_is_not_a_positive_number_is_an_error(name, value):
    messages = privacy_messages(**GOOD_KEYS, **{name: value})
    assert ids(messages) == ["privacy_kit.E054"]
    assert name in messages[0].msg

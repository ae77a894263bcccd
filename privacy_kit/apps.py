from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test.signals import setting_changed
from django.utils.translation import gettext_lazy as _


class PrivacyKitConfig(AppConfig):
    name = "privacy_kit"
    verbose_name = _("Privacy")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.apps import apps
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from . import checks as privacy_checks
        from .consent.subjects import carry_over_on_login, forget_visitor_on_logout
        from .crypto import reset_on_setting_changed
        from .keys import store as key_store
        from .security.events import record_failed_login, record_lockout

        checks.register(privacy_checks.check_keys, checks.Tags.security)
        checks.register(privacy_checks.check_key_provider, checks.Tags.security)
        checks.register(privacy_checks.check_settings_names)
        checks.register(privacy_checks.check_middleware)
        checks.register(privacy_checks.check_consent_settings)
        checks.register(privacy_checks.check_request_settings)
        checks.register(privacy_checks.check_base_template, checks.Tags.templates)
        checks.register(privacy_checks.check_login_url, checks.Tags.urls)
        checks.register(privacy_checks.check_registry)
        checks.register(privacy_checks.check_own_record_periods)
        checks.register(privacy_checks.check_unregistered_encrypted_models, checks.Tags.models)
        checks.register(privacy_checks.check_beat_schedule)
        checks.register(privacy_checks.check_axes_log)
        checks.register(privacy_checks.check_recent_purge, checks.Tags.database)
        checks.register(privacy_checks.check_shared_values_of_subjects, checks.Tags.database)
        checks.register(privacy_checks.check_consent_banner, checks.Tags.database)
        checks.register(privacy_checks.check_admin_two_factor, checks.Tags.security)
        checks.register(privacy_checks.check_login_limits, checks.Tags.security)
        checks.register(privacy_checks.check_passkeys, checks.Tags.security)
        checks.register(privacy_checks.check_personal_data_admins, checks.Tags.admin)
        self.register_personal_data()
        user_logged_in.connect(carry_over_on_login, dispatch_uid="privacy_kit.carry_over_on_login")
        user_logged_out.connect(forget_visitor_on_logout, dispatch_uid="privacy_kit.forget_visitor_on_logout")
        setting_changed.connect(reset_on_setting_changed, dispatch_uid="privacy_kit.reset_on_setting_changed")
        setting_changed.connect(
            key_store.reset_on_setting_changed, dispatch_uid="privacy_kit.keys.reset_on_setting_changed"
        )
        user_login_failed.connect(record_failed_login, dispatch_uid="privacy_kit.record_failed_login")
        # Importing axes.signals connects django-axes's own receivers: only when it is installed.
        if apps.is_installed("axes"):
            from axes.signals import user_locked_out

            user_locked_out.connect(record_lockout, dispatch_uid="privacy_kit.record_lockout")
        elif privacy_checks.AXES_MIDDLEWARE in settings.MIDDLEWARE:
            # Django's own checks import every middleware, and axes' cannot load without its app:
            # stop with check E042's line to add, not with axes' RuntimeError about a model.
            raise ImproperlyConfigured(privacy_checks.missing_app_message("axes"))

    def register_personal_data(self) -> None:
        from . import registry
        from .models import BehavioralEvent
        from .retention.records import register_own_records

        registry.register(
            BehavioralEvent,
            subject="user",
            category="behavioral",
            personal_fields=["data"],
            retention=registry.Retention(basis="age", date_field="created_at", after_days="behavioral"),
        )
        # The access log, security events, purge runs, breaches and django-axes's logins expire too.
        register_own_records()

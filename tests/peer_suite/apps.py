from django.apps import AppConfig


class PeerSuiteConfig(AppConfig):
    """django-cryptography's test models (models.py), under the label its tests use."""

    name = "tests.peer_suite"
    label = "fields"
    # Upstream's test settings: its migration modules create AutoField keys.
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        # Registered with no subject, as a shop must (check privacy_kit.W032): their values
        # are sealed under the shared keys, as django-cryptography's are under its one key.
        from privacy_kit import registry

        from .models import (
            EncryptedCharModel,
            EncryptedDateTimeModel,
            EncryptedIntegerModel,
            EncryptedNullableIntegerModel,
            OtherEncryptedTypesModel,
        )

        for model in (EncryptedCharModel, EncryptedIntegerModel, EncryptedNullableIntegerModel):
            registry.register(model, subject=None, category="personal", personal_fields=["field"])
        registry.register(
            EncryptedDateTimeModel,
            subject=None,
            category="personal",
            personal_fields=["datetime", "date", "time", "auto_now"],
        )
        registry.register(
            OtherEncryptedTypesModel, subject=None, category="personal", personal_fields=["ip", "uuid", "decimal"]
        )

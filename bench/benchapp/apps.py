from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "benchapp"
    label = "bench"
    default_auto_field = "django.db.models.BigAutoField"


class PeersBenchConfig(BenchConfig):
    """The bench app as ``bench/peers.py`` installs it: ``SubjectRow`` registered as a shop registers its models."""

    def ready(self) -> None:
        from privacy_kit import registry

        from .models import SubjectRow

        registry.register(SubjectRow, subject="user", category="personal", personal_fields=["name", "phone", "address"])

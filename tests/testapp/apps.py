from django.apps import AppConfig


class TestAppConfig(AppConfig):
    name = "tests.testapp"
    label = "testapp"

    def ready(self) -> None:
        register_personal_data()


def register_personal_data() -> None:
    """Register every test model with encrypted fields, as a shop must (check privacy_kit.W032).

    None has a retention policy, so no purge touches them. A test that needs a
    policy (tests/test_retention.py, tests/test_rights.py) registers its own, and
    tests/conftest.py puts these entries back after each test.
    """
    from privacy_kit import registry

    from .models import (
        Contact,
        Customer,
        Member,
        Order,
        PersonSecret,
        Record,
        Sealed,
        SealedOwned,
        Subscriber,
        Supplier,
    )

    record_fields = ["char", "short", "text", "email", "integer", "decimal", "date", "moment", "data", "flag", "code"]
    registry.register(Record, subject=None, category="personal", personal_fields=record_fields)
    registry.register(Contact, subject=None, category="personal", personal_fields=["email", "note"])
    registry.register(Subscriber, subject=None, category="personal", personal_fields=["email"])
    registry.register(Member, subject=None, category="personal", personal_fields=["name"])
    registry.register(Supplier, subject=None, category="personal", personal_fields=["name"])
    registry.register(Order, subject="customer", category="personal", personal_fields=["full_name", "phone", "address"])
    registry.register(Customer, subject="user", category="personal", personal_fields=["name", "email", "phone"])
    for model in (PersonSecret, Sealed, SealedOwned):  # inheritance (tests/test_subject_keys.py)
        registry.register(model, subject=None, category="personal", personal_fields=["secret"])

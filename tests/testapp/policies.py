"""The retention policies the tests give the test app's orders and carts."""

from collections.abc import Iterable

from privacy_kit import registry

from .models import Cart, Order

ORDER_PERSONAL_FIELDS = ("full_name", "phone", "address", "note")


def register_orders(
    *,
    personal_fields: Iterable[str] = ORDER_PERSONAL_FIELDS,
    after_days: int | str = 730,
    keep_fields: Iterable[str] = ("total", "created_at"),
    purposes: Iterable[str] = (),
) -> registry.Registration:
    """Register orders: anonymized once the relationship ends, keeping the accounting fields."""
    retention = registry.Retention(
        basis="relationship",
        date_field="created_at",
        after_days=after_days,
        action="anonymize",
        keep_fields=keep_fields,
    )
    return registry.register(
        Order,
        subject="customer",
        category="personal",
        personal_fields=personal_fields,
        purposes=purposes,
        retention=retention,
    )


def register_carts(*, after_days: int | str = 30) -> registry.Registration:
    """Register carts: deleted once they are older than the period."""
    retention = registry.Retention(basis="age", date_field="added_on", after_days=after_days)
    return registry.register(
        Cart, subject="customer", category="behavioral", personal_fields=["product"], retention=retention
    )

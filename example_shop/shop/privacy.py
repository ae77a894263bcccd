"""Where the shop keeps personal data, whose it is and how long it stays: its privacy_kit registry entries.

One file a shop can copy. ``ShopConfig.ready()`` imports it; ``manage.py check``
validates every entry (fields, subject paths, periods). The entries drive the
nightly purge (``privacy_kit.purge_expired``), the customer's data export and
the erasure of an account. ``python manage.py privacy_inventory`` lists them.

Periods named by a string ("personal") are read from ``PRIVACY_KIT["RETENTION"]``
(in days; privacy_kit's defaults are 730 for "personal", 365 for "behavioral").
Behavioral events (searches, product views, cart additions, purchases) are
registered by privacy_kit itself.
"""

from privacy_kit import registry

from .models import Cart, Customer, Order, OrderItem, SavedAddress

# The purposes published by migration 0002. The shop's own records serve the first,
# which needs no consent; tracking asks for the others.
NECESSARY = "necessary"  # carts, orders, delivery details: running the shop
PERSONALIZATION = "personalization"  # searches, product views and cart additions, for "recommended for you"
ANALYTICS = "analytics"  # purchases, to learn how the shop is used

# Orders: once the customer has not dealt with the shop for the "personal" period
# (no login, no order, no saved details), the contact details and the link to the
# account go; the amounts and the date stay for the accounts.
registry.register(
    Order,
    subject="user",
    category="personal",
    purposes=[NECESSARY],
    personal_fields=["user", "full_name", "address", "city", "phone", "email"],
    # Who else gets the delivery details; a shop that sends data abroad lists it in transfers=[...].
    recipients=["the courier that delivers the order"],
    retention=registry.Retention(
        basis="relationship",
        date_field="created_at",
        after_days="personal",
        action="anonymize",
        keep_fields=["subtotal", "shipping", "total", "created_at"],
    ),
)

# Order lines: what was bought, at what price. Nothing personal of their own, but
# the customer's through the order, so the export of their data lists them. With
# no personal fields and no retention policy, neither the purge nor an erasure
# touches them: they stay with the anonymized orders for the accounts.
registry.register(OrderItem, subject="order__user", category="financial", purposes=[NECESSARY])

# Delivery details saved at checkout: deleted when the relationship ends.
registry.register(
    SavedAddress,
    subject="user",
    category="personal",
    purposes=[NECESSARY],
    personal_fields=["full_name", "address", "city", "phone", "email"],
    # The customer corrects these on the my-data page (each correction is a data-subject request).
    correctable=["full_name", "address", "city", "phone", "email"],
    retention=registry.Retention(basis="relationship", date_field="updated_at", after_days="personal", action="delete"),
)

# Customer records that staff keep in the admin, with no account of their own:
# deleted once they are older than the "personal" period.
registry.register(
    Customer,
    subject=None,
    category="personal",
    purposes=[NECESSARY],
    personal_fields=["name", "email", "phone", "address"],
    retention=registry.Retention(basis="age", date_field="created_at", after_days="personal", action="delete"),
)

# Carts, a visitor's or a customer's: deleted 30 days after they last changed.
registry.register(
    Cart,
    subject="user",
    category="behavioral",
    purposes=[NECESSARY],
    personal_fields=["user"],
    retention=registry.Retention(basis="age", date_field="updated_at", after_days=30, action="delete"),
)

"""Turn a cart into an order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from .models import Cart, Order, OrderItem

SHIPPING_FEE = Decimal("25.00")
FREE_SHIPPING_FROM = Decimal("200.00")
CONTACT_FIELDS = ("full_name", "address", "city", "phone", "email")


class EmptyCartError(ValueError):
    """An order needs at least one item."""


def shipping_for(subtotal: Decimal) -> Decimal:
    """Return the shipping fee of an order worth ``subtotal``: free from ``FREE_SHIPPING_FROM``."""
    return Decimal("0.00") if subtotal >= FREE_SHIPPING_FROM else SHIPPING_FEE


def cart_totals(cart: Cart | None) -> dict[str, Any]:
    """Return the lines of a cart with its subtotal, shipping and total."""
    lines = cart.lines() if cart is not None else []
    subtotal = sum((line.line_total for line in lines), Decimal("0.00"))
    shipping = shipping_for(subtotal) if lines else Decimal("0.00")
    return {"lines": lines, "subtotal": subtotal, "shipping": shipping, "total": subtotal + shipping}


@transaction.atomic
def place_order(cart: Cart, *, user: Any, contact: dict[str, str]) -> Order:
    """Create the order of ``cart`` for ``user`` with the contact details, at today's prices; empty the cart."""
    totals = cart_totals(cart)
    if not totals["lines"]:
        raise EmptyCartError("The cart is empty.")
    order = Order.objects.create(
        user=user,
        **{name: contact[name] for name in CONTACT_FIELDS},
        subtotal=totals["subtotal"],
        shipping=totals["shipping"],
        total=totals["total"],
    )
    OrderItem.objects.bulk_create(
        OrderItem(
            order=order,
            product=line.product,
            name_en=line.product.name_en,
            name_ar=line.product.name_ar,
            unit_price=line.product.price,
            quantity=line.quantity,
        )
        for line in totals["lines"]
    )
    cart.delete()
    return order

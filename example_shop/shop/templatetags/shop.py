"""Template tags of the demo shop: ``{% load shop %}``."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.http import HttpRequest
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from ..carts import cart_quantity as quantity_in_cart

register = template.Library()


@register.filter
def riyals(amount: Decimal | int | None) -> str:
    """Format an amount in Saudi riyals the way the active language writes numbers and the currency."""
    if amount is None:
        return ""
    return _("%(amount)s SAR") % {"amount": number_format(amount, 2, use_l10n=True, force_grouping=True)}


@register.simple_tag
def cart_quantity(request: HttpRequest) -> int:
    """Return how many items the request's cart holds."""
    return quantity_in_cart(request)

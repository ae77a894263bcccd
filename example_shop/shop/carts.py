"""Find the cart of a request: a visitor's through the session, a signed-in customer's own."""

from __future__ import annotations

from django.http import HttpRequest

from .models import Cart

SESSION_KEY = "shop_cart_id"


def cart_for(request: HttpRequest, *, create: bool = False) -> Cart | None:
    """Return the request's cart (None if it has none, unless ``create``).

    A visitor's cart is named by its id in the (signed) session; once the visitor
    signs in, it becomes, or is merged into, the customer's own cart.
    """
    visitor_cart = None
    if SESSION_KEY in request.session:
        visitor_cart = Cart.objects.filter(pk=request.session[SESSION_KEY], user__isnull=True).first()
    user = request.user
    if not user.is_authenticated:
        if visitor_cart is None and create:
            visitor_cart = Cart.objects.create()
            request.session[SESSION_KEY] = visitor_cart.pk
        return visitor_cart
    cart = Cart.objects.filter(user=user).first()
    if visitor_cart is not None:
        if cart is None:
            visitor_cart.user = user
            visitor_cart.save(update_fields=["user", "updated_at"])
            cart = visitor_cart
        else:
            cart.merge(visitor_cart)
    request.session.pop(SESSION_KEY, None)
    if cart is None and create:
        cart, _created = Cart.objects.get_or_create(user=user)
    return cart


def cart_quantity(request: HttpRequest) -> int:
    """Return how many items the request's cart holds, without making a cart."""
    if not request.user.is_authenticated and SESSION_KEY not in request.session:
        return 0
    cart = cart_for(request)
    return sum(cart.items.values_list("quantity", flat=True)) if cart is not None else 0

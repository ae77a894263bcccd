"""What the home page suggests: best-sellers for everyone, and products picked from a customer's own activity.

The picks read only the customer's own behavioral events, which exist only if
they consented to personalization; the home page asks for them only while that
consent stands.
"""

from __future__ import annotations

from collections import Counter

from django.db.models import QuerySet
from django.http import HttpRequest

from privacy_kit.models import BehavioralEvent

from .models import Product
from .privacy import PERSONALIZATION

# How much each kind of event says about what a customer likes.
WEIGHTS = {"search": 3, "product_view": 1, "cart": 2}
# The most recent events read: enough to see a pattern, few enough to stay quick.
EVENTS_READ = 50


def best_sellers(limit: int = 4) -> list[Product]:
    """Return the products in the most orders."""
    return list(Product.objects.best_selling().select_related("category")[:limit])


def own_events(request: HttpRequest) -> QuerySet:
    """Return the personalization events of the request's subject (its user, or the visitor of its cookie)."""
    subject = request.privacy.subject  # type: ignore[attr-defined]
    events = BehavioralEvent.objects.filter(purpose__slug=PERSONALIZATION, kind__in=WEIGHTS)
    if subject.user_id is not None:
        return events.filter(user_id=subject.user_id)
    if subject.visitor is not None:
        return events.filter(visitor=subject.visitor, user__isnull=True)
    return events.none()


def recommended_for(request: HttpRequest, limit: int = 4) -> list[Product]:
    """Return products for the request's subject, scored from its recent searches, views and cart additions.

    A product scores for each search it matches and for each look at, or cart
    addition of, a product of its category; products already put in the cart are left out.
    """
    scores: Counter[int] = Counter()
    category_scores: Counter[int] = Counter()
    touched: Counter[str] = Counter()
    in_cart: set[str] = set()
    for event in own_events(request)[:EVENTS_READ]:
        data = event.data if isinstance(event.data, dict) else {}
        if event.kind == "search" and data.get("q"):
            matches = Product.objects.matching(str(data["q"])).values_list("pk", flat=True)[:20]
            scores.update({pk: WEIGHTS["search"] for pk in matches})
        elif data.get("product"):
            touched[str(data["product"])] += WEIGHTS[event.kind]
            if event.kind == "cart":
                in_cart.add(str(data["product"]))
    for slug, category_id in Product.objects.filter(slug__in=touched).values_list("slug", "category_id"):
        category_scores[category_id] += touched[slug]
    candidates = (
        Product.objects.filter(pk__in=list(scores)) | Product.objects.filter(category_id__in=list(category_scores))
    ).exclude(slug__in=in_cart)
    ranked = sorted(candidates, key=lambda p: (-(scores[p.pk] + category_scores[p.category_id]), p.pk))
    return ranked[:limit]

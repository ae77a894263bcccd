"""Pages of the demo shop."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from privacy_kit import tracking

# A stand-in catalog until the shop has product models of its own.
PRODUCTS = [
    _("Arabic coffee, cardamom blend"),
    _("Dates, Sukkari, 1 kg box"),
    _("Coffee pot (dallah), brass"),
    _("Oud incense, 50 g"),
    _("Prayer mat, wool"),
    _("Tea glasses, set of six"),
]


def home(request: HttpRequest) -> HttpResponse:
    """Show the shop's front page; with ``q``, search the catalog and remember it under consent."""
    query = request.GET.get("q", "").strip()
    context = {"query": query}
    if query:
        remembered = tracking.record(request, "search", {"q": query}, purpose="personalization")
        needle = query.casefold()
        context["results"] = [str(name) for name in PRODUCTS if needle in str(name).casefold()]
        context["remembered"] = remembered is not None
    return render(request, "shop/home.html", context)

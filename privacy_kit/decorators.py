"""View decorators."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse

from .consent import has_consent
from .pages import PageResponse


def consent_required(purpose: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Let the view run only for a subject who consents to ``purpose``; others get a 403 page that says why."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if has_consent(request, purpose):
                return view(request, *args, **kwargs)
            from .models import Purpose

            name = Purpose.objects.filter(slug=purpose).values_list("name", flat=True).first()
            context = {"purpose": purpose, "purpose_name": name or purpose}
            return PageResponse(request, "privacy_kit/consent_required.html", context, status=403)

        return wrapped

    return decorator

"""Template tags of privacy_kit: ``{% load privacy_kit %}{% consent_banner %}``."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

register = template.Library()

NO_REQUEST_MSG = (
    "{% consent_banner %} needs the request in the template context: add "
    "'django.template.context_processors.request' to TEMPLATES['OPTIONS']['context_processors']."
)
NO_MIDDLEWARE_MSG = (
    "{% consent_banner %} needs ConsentMiddleware: add 'privacy_kit.middleware.ConsentMiddleware' "
    "to MIDDLEWARE, after 'django.contrib.auth.middleware.AuthenticationMiddleware'."
)


def setup_hint(has_purpose: bool) -> dict[str, bool]:
    """Return what the banner waits for: a purpose that needs consent, a policy version in effect."""
    from privacy_kit.models import PolicyVersion

    return {"needs_purpose": not has_purpose, "needs_policy": not PolicyVersion.objects.effective().exists()}


@register.inclusion_tag("privacy_kit/banner.html", takes_context=True)
def consent_banner(context: template.Context) -> dict[str, Any]:
    """Render the consent banner for a subject who has not decided yet, under a published policy."""
    from privacy_kit.models import PolicyVersion, Purpose

    request = context.get("request")
    if request is None:
        raise ImproperlyConfigured(NO_REQUEST_MSG)
    privacy = getattr(request, "privacy", None)
    if privacy is None:
        raise ImproperlyConfigured(NO_MIDDLEWARE_MSG)
    hidden = {"show_banner": False}
    if privacy.decided:
        return hidden
    purposes = list(Purpose.objects.filter(requires_consent=True))
    if not purposes or not PolicyVersion.objects.effective().exists():
        # Nothing to ask consent for yet. A developer who placed the tag would see nothing
        # and wonder why: with DEBUG on, say what is missing instead.
        if settings.DEBUG:
            return {"show_banner": False, "setup_hint": setup_hint(bool(purposes))}
        return hidden
    return {
        "show_banner": True,
        "request": request,
        # Back to the page without its query: reloading, say, a search after the
        # visitor accepts would record what was typed before they consented.
        "next": request.path,
        "purposes": [{"purpose": purpose, "granted": privacy.has(purpose.slug)} for purpose in purposes],
    }

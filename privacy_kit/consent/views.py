"""Views of consent: the banner's submit, the preferences page, the policy page and a JSON API.

Each view is a thin wrapper over ``grant`` and ``withdraw``. The subject is
always the request (its user, or the visitor of the signed cookie): a
``user_id`` or ``visitor`` sent in a form or a JSON body is never read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect, ensure_csrf_cookie
from django.views.decorators.http import require_http_methods, require_POST

from privacy_kit.consent import NoPolicyError, UnknownPurposeError, grant, state_of, withdraw
from privacy_kit.consent.throttle import consent_rate_exceeded, seconds_to_next_window
from privacy_kit.models import ConsentRecord, PolicyVersion, Purpose
from privacy_kit.pages import PageResponse

# str() gives each source's value (mypy without django-stubs takes TextChoices members for tuples).
SOURCE_BANNER = str(ConsentRecord.Source.BANNER)
SOURCE_PREFERENCES = str(ConsentRecord.Source.PREFERENCES)
SOURCE_API = str(ConsentRecord.Source.API)

BANNER_CHOICES = ("accept_all", "reject_all", "save")
PREFERENCE_ACTIONS = ("grant", "withdraw")

NO_POLICY_MSG = _("No privacy policy is in effect yet, so consent cannot be recorded. Please try again later.")
UNKNOWN_PURPOSE_MSG = _("Unknown purpose: %(slugs)s.")
UNKNOWN_CHOICE_MSG = _("Unknown choice: use accept_all, reject_all or save.")
UNKNOWN_ACTION_MSG = _("Unknown action: use grant or withdraw.")
BAD_JSON_MSG = _('Send a JSON object such as {"grant": ["analytics"], "withdraw": ["marketing"]}.')
BOTH_WAYS_MSG = _("A purpose cannot be granted and withdrawn at once: %(slugs)s.")
BODY_TOO_LARGE_MSG = _("The request body is larger than %(limit)s bytes: send only the purposes to change.")
TOO_MANY_MSG = _("Too many consent changes from this browser or network. Please try again later.")
MORE_SLUGS_MSG = _("%(slugs)s (and %(more)s more)")

# A consent decision names a handful of purposes: far below this.
API_BODY_MAX_BYTES = 16_384
# Unknown slugs named back in an error, at most: the rest are counted.
ECHOED_SLUGS = 5
ECHOED_SLUG_LENGTH = 50  # a Purpose slug's max_length


@require_POST
@csrf_protect
def consent(request: HttpRequest) -> HttpResponse:
    """Record the banner's choice (accept all, reject all, or the ticked purposes) and go back."""
    if consent_rate_exceeded(request):
        return _too_many(_plain_error(TOO_MANY_MSG, 429))
    choice = request.POST.get("choice")
    if choice not in BANNER_CHOICES:
        return _plain_error(UNKNOWN_CHOICE_MSG, 400)
    asking = list(Purpose.objects.filter(requires_consent=True).values_list("slug", flat=True))
    if choice == "accept_all":
        granted, withdrawn = asking, []
    elif choice == "reject_all":
        granted, withdrawn = [], asking
    else:
        granted = list(dict.fromkeys(request.POST.getlist("purposes")))
        withdrawn = [slug for slug in asking if slug not in granted]
    try:
        _decide(request, granted, withdrawn, SOURCE_BANNER)
    except UnknownPurposeError:
        return _plain_error(UNKNOWN_PURPOSE_MSG % {"slugs": _named(_unknown(granted))}, 400)
    except NoPolicyError:
        return _plain_error(NO_POLICY_MSG, 409)
    return _see_other(_next_url(request))


@require_http_methods(["GET", "POST"])
@csrf_protect
@never_cache
def preferences(request: HttpRequest) -> HttpResponse:
    """Show every purpose with one button to allow or withdraw it; record a click and come back."""
    if request.method == "POST":
        if consent_rate_exceeded(request):
            return _too_many(_plain_error(TOO_MANY_MSG, 429))
        slug = request.POST.get("purpose", "")
        action = request.POST.get("action")
        if action not in PREFERENCE_ACTIONS:
            return _plain_error(UNKNOWN_ACTION_MSG, 400)
        record = grant if action == "grant" else withdraw
        try:
            record(request, [slug], source=SOURCE_PREFERENCES)
        except UnknownPurposeError:
            return _plain_error(UNKNOWN_PURPOSE_MSG % {"slugs": _named([slug])}, 400)
        except NoPolicyError:
            return _plain_error(NO_POLICY_MSG, 409)
        # The my-data page withdraws from its own list and comes back to it.
        return _see_other(_next_url(request) if "next" in request.POST else reverse("privacy_kit:preferences"))
    state = state_of(request)
    rows = [{"purpose": purpose, "state": _state_name(state.get(purpose.slug))} for purpose in Purpose.objects.all()]
    context = {"purposes": rows, "policy": PolicyVersion.objects.current(translation.get_language())}
    return PageResponse(request, "privacy_kit/preferences.html", context)


def policy(request: HttpRequest) -> HttpResponse:
    """Show the privacy policy in effect, in the visitor's language where it is published in it."""
    current = PolicyVersion.objects.current(translation.get_language())
    status = 200 if current is not None else 404
    return PageResponse(request, "privacy_kit/policy.html", {"policy": current}, status=status)


# ensure_csrf_cookie gives a front end that starts with a GET the cookie it then
# sends back as X-CSRFToken; it checks no token itself, csrf_protect does.
@require_http_methods(["GET", "POST"])
@csrf_protect
@ensure_csrf_cookie
@never_cache
def api(request: HttpRequest) -> JsonResponse:
    """Return the subject's consent as JSON; on POST, first record ``{"grant": [...], "withdraw": [...]}``."""
    if request.method == "POST":
        if consent_rate_exceeded(request):
            return _too_many(JsonResponse({"error": str(TOO_MANY_MSG)}, status=429))
        try:
            granted, withdrawn = _parse_api_body(_limited_body(request))
        except ValueError as error:
            return JsonResponse({"error": str(error)}, status=400)
        try:
            _decide(request, granted, withdrawn, SOURCE_API)
        except UnknownPurposeError:
            message = UNKNOWN_PURPOSE_MSG % {"slugs": _named(_unknown(granted + withdrawn))}
            return JsonResponse({"error": str(message)}, status=400)
        except NoPolicyError:
            return JsonResponse({"error": str(NO_POLICY_MSG)}, status=409)
    return JsonResponse(_api_state(request))


def _decide(request: HttpRequest, granted: list[str], withdrawn: list[str], source: str) -> None:
    """Record both halves of one decision, or neither."""
    with transaction.atomic():
        if granted:
            grant(request, granted, source=source)
        if withdrawn:
            withdraw(request, withdrawn, source=source)


def _limited_body(request: HttpRequest) -> bytes:
    """Return the request body; raise ValueError, before reading it where the length is declared, if too large."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    too_large = ValueError(str(BODY_TOO_LARGE_MSG % {"limit": API_BODY_MAX_BYTES}))
    if not declared.isdigit() or int(declared) > API_BODY_MAX_BYTES:
        raise too_large
    body = request.body
    if len(body) > API_BODY_MAX_BYTES:
        raise too_large
    return body


def _parse_api_body(body: bytes) -> tuple[list[str], list[str]]:
    """Return the slugs to grant and to withdraw from a JSON body; raise ValueError if malformed."""
    try:
        data: Any = json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        # RecursionError: arrays nested deeper than the parser's stack, sent to make a 500.
        data = None
    if not isinstance(data, dict):
        raise ValueError(str(BAD_JSON_MSG))
    granted, withdrawn = data.get("grant", []), data.get("withdraw", [])
    for slugs in (granted, withdrawn):
        if not isinstance(slugs, list) or not all(isinstance(slug, str) for slug in slugs):
            raise ValueError(str(BAD_JSON_MSG))
    both = sorted(set(granted) & set(withdrawn))
    if both:
        raise ValueError(str(BOTH_WAYS_MSG % {"slugs": ", ".join(both)}))
    return list(dict.fromkeys(granted)), list(dict.fromkeys(withdrawn))


def _api_state(request: HttpRequest) -> dict[str, Any]:
    current = PolicyVersion.objects.current(translation.get_language())
    state = state_of(request)
    purposes = []
    for purpose in Purpose.objects.all():
        entry = state.get(purpose.slug)
        purposes.append(
            {
                "slug": purpose.slug,
                # Shown to people: translated when the shop's catalog has the name (docs/consent.md).
                "name": gettext(purpose.name),
                "requires_consent": purpose.requires_consent,
                "decided": entry is not None and entry.decided,
                # As has_consent() and tracking.record() decide, so a front end never tracks more than they allow.
                "granted": entry is not None and entry.granted,
            }
        )
    return {
        "policy": {"version": current.version, "language": current.language} if current else None,
        "purposes": purposes,
    }


def _state_name(entry: Any) -> str:
    if entry is not None and entry.granted:
        return "granted"
    if entry is not None and entry.decided:
        return "withdrawn"
    return "undecided"


def _unknown(slugs: Iterable[str]) -> list[str]:
    slugs = list(slugs)
    known = set(Purpose.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    return [slug for slug in slugs if slug not in known]


def _named(slugs: list[str]) -> str:
    """Name the first few slugs and count the rest, so an error never echoes a whole flood back."""
    first = slugs[:ECHOED_SLUGS]
    named = ", ".join(slug if len(slug) <= ECHOED_SLUG_LENGTH else f"{slug[:ECHOED_SLUG_LENGTH]}…" for slug in first)
    if len(slugs) <= ECHOED_SLUGS:
        return named
    return str(MORE_SLUGS_MSG % {"slugs": named, "more": len(slugs) - ECHOED_SLUGS})


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe else "/"


def _see_other(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _too_many(response: Any) -> Any:
    response["Retry-After"] = str(seconds_to_next_window())
    return response


def _plain_error(message: Any, status: int) -> HttpResponse:
    return HttpResponse(str(message), status=status, content_type="text/plain; charset=utf-8")

"""``ConsentMiddleware``: ``request.privacy.has("analytics")`` in every view and template."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from . import crypto
from .consent import state_of
from .consent.subjects import set_visitor_cookie, subject_of


class PrivacyContext:
    """The consent of the request's subject, read lazily and at most once per request."""

    def __init__(self, request: HttpRequest) -> None:
        self._request = request

    def has(self, purpose: str) -> bool:
        """Tell whether the subject currently consents to ``purpose``."""
        entry = state_of(self._request).get(purpose)
        return entry is not None and entry.granted

    @property
    def decided(self) -> bool:
        """Tell whether the subject has decided on every purpose that needs consent."""
        state = state_of(self._request)
        return bool(state) and all(entry.decided for entry in state.values() if entry.requires_consent)

    @property
    def subject(self) -> Any:
        return subject_of(self._request)


class ConsentMiddleware:
    """Attach ``request.privacy`` and send the cookie of a visitor who just gave consent."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        # The WSGI and ASGI handlers build their middleware when the process starts:
        # building the keyring here makes a server without usable keys (no key with
        # DEBUG off, a malformed key) refuse to start with ImproperlyConfigured,
        # instead of serving pages until the first encrypting request fails.
        # Management commands never load it, so `manage.py check` still reports E001.
        crypto.keyring()
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.privacy = PrivacyContext(request)  # type: ignore[attr-defined]
        response = self.get_response(request)
        set_visitor_cookie(request, response)
        return response

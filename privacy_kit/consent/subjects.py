"""Who a consent belongs to: a logged-in user, or a visitor known by a signed cookie."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import router, transaction
from django.http import HttpRequest, HttpResponse

from privacy_kit.conf import app_settings

COOKIE_SALT = "privacy_kit.consent"


@dataclass(frozen=True)
class Subject:
    """A user id, or else an anonymous visitor's consent id (both may be None: nobody known yet)."""

    user_id: Any = None
    visitor: uuid.UUID | None = None

    @property
    def is_known(self) -> bool:
        return self.user_id is not None or self.visitor is not None

    def owner_fields(self) -> dict[str, Any]:
        """Return the fields that attach a new row to this subject."""
        if self.user_id is not None:
            return {"user_id": self.user_id, "visitor": None}
        return {"user_id": None, "visitor": self.visitor}

    def rows(self, queryset: Any) -> Any:
        """Filter a queryset of consent records or events to this subject's rows."""
        if self.user_id is not None:
            return queryset.filter(user_id=self.user_id)
        return queryset.filter(visitor=self.visitor, user__isnull=True)


def visitor_id(request: HttpRequest, *, create: bool = False) -> uuid.UUID | None:
    """Return the visitor's consent id from its signed cookie; with ``create``, make one if absent.

    A forged, tampered or expired cookie counts as no cookie: never as someone else's id.
    """
    if not hasattr(request, "_privacy_visitor"):
        request._privacy_visitor = _read_cookie(request)  # type: ignore[attr-defined]
    visitor: uuid.UUID | None = request._privacy_visitor  # type: ignore[attr-defined]
    if visitor is None and create:
        visitor = uuid.uuid4()
        request._privacy_visitor = visitor  # type: ignore[attr-defined]
        request._privacy_visitor_is_new = True  # type: ignore[attr-defined]
    return visitor


def _read_cookie(request: HttpRequest) -> uuid.UUID | None:
    value = request.get_signed_cookie(
        app_settings.CONSENT_COOKIE_NAME,
        default=None,
        salt=COOKIE_SALT,
        max_age=app_settings.CONSENT_COOKIE_DAYS * 86400,
    )
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def forget_visitor(request: HttpRequest) -> None:
    """Drop the request's visitor id: the response deletes its cookie, and the next decision makes a new one."""
    request._privacy_visitor = None  # type: ignore[attr-defined]
    request._privacy_visitor_is_new = False  # type: ignore[attr-defined]
    request._privacy_visitor_forgotten = True  # type: ignore[attr-defined]
    request._privacy_state = None  # type: ignore[attr-defined]


def set_visitor_cookie(request: HttpRequest, response: HttpResponse) -> None:
    """Send the cookie of a visitor id made during this request, or delete the cookie of one forgotten."""
    if getattr(request, "_privacy_visitor_forgotten", False) and not getattr(request, "_privacy_visitor_is_new", False):
        response.delete_cookie(app_settings.CONSENT_COOKIE_NAME, samesite="Lax")
        return
    if getattr(request, "_privacy_visitor_is_new", False):
        from django.conf import settings

        response.set_signed_cookie(
            app_settings.CONSENT_COOKIE_NAME,
            str(request._privacy_visitor),  # type: ignore[attr-defined]
            salt=COOKIE_SALT,
            max_age=app_settings.CONSENT_COOKIE_DAYS * 86400,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure() or settings.SESSION_COOKIE_SECURE,
        )


def subject_of(subject: Any, *, create: bool = False) -> Subject:
    """Return the subject of a user or a request (for a visitor, its consent id, made with ``create``)."""
    if isinstance(subject, HttpRequest):
        user = getattr(subject, "user", None)
        if user is not None and user.is_authenticated:
            return Subject(user_id=user.pk)
        return Subject(visitor=visitor_id(subject, create=create))
    if getattr(subject, "is_authenticated", False) and getattr(subject, "pk", None) is not None:
        return Subject(user_id=subject.pk)
    raise TypeError("A consent subject is a saved, authenticated user or an HttpRequest.")


def carry_over_on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """Receive ``user_logged_in``: give the visitor's consents and behavioral events to the user.

    A visitor decision is carried over only where it is newer than the user's
    own latest decision on that purpose; the ledger gets new rows (source
    ``login``), the visitor's rows stay as they were. The visitor id is then
    forgotten (its cookie deleted), so nothing decided or done in this browser
    after the login reaches this user or the next one who logs in on it.
    """
    from privacy_kit.models import BehavioralEvent, ConsentRecord

    if request is None:
        return
    visitor = visitor_id(request)
    # The browser may be shared: whoever uses it after this user starts as a new visitor.
    forget_visitor(request)
    if visitor is None:
        return
    visitor_latest: dict[int, Any] = {}
    for record in ConsentRecord.objects.filter(visitor=visitor, user__isnull=True).order_by("created_at", "pk"):
        visitor_latest[record.purpose_id] = record
    user_latest: dict[int, Any] = {}
    for record in ConsentRecord.objects.filter(user=user).order_by("created_at", "pk"):
        user_latest[record.purpose_id] = record
    carried = [
        ConsentRecord(
            user=user,
            visitor=visitor,
            purpose_id=purpose_id,
            action=record.action,
            policy_version_id=record.policy_version_id,
            created_at=record.created_at,
            source=ConsentRecord.Source.LOGIN,
            ip_hash=record.ip_hash,
            user_agent=record.user_agent,
        )
        for purpose_id, record in visitor_latest.items()
        if purpose_id not in user_latest or user_latest[purpose_id].created_at < record.created_at
    ]
    ConsentRecord.objects.bulk_create(carried)
    # A visitor's events are sealed under the shared keys (they have no subject yet);
    # saved as the user's, each is sealed again under the user's own key.
    with transaction.atomic(using=router.db_for_write(BehavioralEvent)):
        for event in list(BehavioralEvent.objects.filter(visitor=visitor, user__isnull=True)):
            event.user, event.visitor = user, None
            event.save(update_fields=["user", "visitor", "data"])
    request._privacy_state = None  # type: ignore[attr-defined]


def forget_visitor_on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """Receive ``user_logged_out``: forget the visitor id, so the next person on this browser starts undecided."""
    if request is not None:
        forget_visitor(request)

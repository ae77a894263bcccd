"""Consent: grant, withdraw and check a subject's consent to each purpose.

A subject is a logged-in user, or a request (its user, or else the anonymous
visitor named by the signed consent cookie).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.http import HttpRequest
from django.utils import timezone, translation

from privacy_kit import crypto
from privacy_kit.consent.subjects import Subject, subject_of

IP_BINDING = crypto.Binding("privacy_kit.consentrecord", "ip_hash")


class ConsentError(ValueError):
    """Consent cannot be recorded as asked."""


class NoPolicyError(ConsentError):
    """No privacy policy is in effect: consent to an unpublished policy is not consent."""


class UnknownPurposeError(ConsentError):
    """A purpose slug that no ``Purpose`` has."""


@dataclass(frozen=True)
class PurposeState:
    """What a subject decided about one purpose."""

    purpose_id: int
    requires_consent: bool
    decided: bool
    granted: bool


def consent_state(subject: Subject) -> dict[str, PurposeState]:
    """Return the subject's state for every purpose, in one query (none for an unknown visitor)."""
    from privacy_kit.models import ConsentRecord

    if not subject.is_known:
        return {}
    alias = router.db_for_read(ConsentRecord)
    connection = connections[alias]
    records = ConsentRecord._meta
    if subject.user_id is not None:
        sql, owner = _state_sql(alias, by_user=True), subject.user_id
    else:
        sql = _state_sql(alias, by_user=False)
        owner = records.get_field("visitor").get_db_prep_value(subject.visitor, connection)
    now = records.get_field("created_at").get_db_prep_value(timezone.now(), connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, owner])
        rows = cursor.fetchall()
    state = {}
    for slug, pk, requires_consent, action, in_force in rows:
        current = action == ConsentRecord.Action.GRANT and bool(in_force)
        # A grant that lapsed under a newer policy is a question to ask again.
        decided = current or action == ConsentRecord.Action.WITHDRAW
        state[slug] = PurposeState(pk, bool(requires_consent), decided, current or not requires_consent)
    return state


@lru_cache(maxsize=8)
def _state_sql(alias: str, *, by_user: bool) -> str:
    """Return the SQL of ``consent_state``, built once per database.

    Written out rather than built by the ORM on every request: building and
    compiling the equivalent queryset (three correlated subqueries) cost about
    twenty times what the database spends answering it. It reads, for each
    purpose, the subject's latest record and whether the policy it was given
    under is at least as recent as the last policy that required new consent.
    """
    from privacy_kit.models import ConsentRecord, PolicyVersion, Purpose

    quote = connections[alias].ops.quote_name
    purposes, records, policies = (quote(m._meta.db_table) for m in (Purpose, ConsentRecord, PolicyVersion))
    owner = "r2.user_id = %s" if by_user else "r2.visitor = %s AND r2.user_id IS NULL"
    return f"""
        SELECT p.slug, p.id, p.requires_consent, r.action,
               CASE WHEN l.lapse IS NULL OR v.effective_at >= l.lapse THEN 1 ELSE 0 END
        FROM {purposes} p
        CROSS JOIN (
            SELECT MAX(effective_at) AS lapse FROM {policies}
            WHERE requires_reconsent AND effective_at <= %s
        ) l
        LEFT JOIN {records} r ON r.id = (
            SELECT r2.id FROM {records} r2
            WHERE r2.purpose_id = p.id AND {owner}
            ORDER BY r2.created_at DESC, r2.id DESC LIMIT 1
        )
        LEFT JOIN {policies} v ON v.id = r.policy_version_id
    """  # noqa: S608 (table names from the models' meta, quoted; values are parameters)


def _request_state(request: HttpRequest) -> dict[str, PurposeState]:
    """Return the consent state of a request's subject, computed once per request."""
    cached = getattr(request, "_privacy_state", None)
    if cached is None:
        cached = consent_state(subject_of(request))
        request._privacy_state = cached  # type: ignore[attr-defined]
    return cached


def state_of(subject: Any) -> dict[str, PurposeState]:
    """Return the consent state of a user or request (a request's is cached for the request)."""
    if isinstance(subject, HttpRequest):
        return _request_state(subject)
    return consent_state(subject_of(subject))


def has_consent(subject: Any, purpose: str) -> bool:
    """Tell whether the subject's latest decision grants ``purpose`` under a policy still in force."""
    entry = state_of(subject).get(purpose)
    return entry is not None and entry.granted


def grant(subject: Any, purposes: Iterable[str], *, source: str, request: HttpRequest | None = None) -> list[Any]:
    """Record that the subject grants each purpose under the policy in effect; return the records."""
    from privacy_kit.models import ConsentRecord

    return _record(subject, purposes, ConsentRecord.Action.GRANT, source, request)


def withdraw(subject: Any, purposes: Iterable[str], *, source: str, request: HttpRequest | None = None) -> list[Any]:
    """Record that the subject withdraws each purpose, and erase the behavioral data kept under them."""
    from privacy_kit.models import ConsentRecord

    records = _record(subject, purposes, ConsentRecord.Action.WITHDRAW, source, request)
    if records:
        who = subject_of(subject)
        slugs = sorted({record.purpose.slug for record in records})
        transaction.on_commit(partial(queue_behavioral_erasure, who, slugs))
    return records


def queue_behavioral_erasure(who: Subject, purposes: list[str]) -> None:
    """Queue the erasure of the subject's behavioral events kept under ``purposes``, if there are any."""
    from privacy_kit.models import BehavioralEvent
    from privacy_kit.tasks import erase_behavioral_for_purpose

    # Most withdrawals (an anonymous "reject all") have nothing to erase: one indexed
    # look-up instead of a task each. Events are recorded only under consent, which
    # this withdrawal has ended by the time this runs (on commit).
    if not who.rows(BehavioralEvent.objects.filter(purpose__slug__in=purposes)).exists():
        return

    erase_behavioral_for_purpose.delay(
        purposes=purposes, user_id=who.user_id, visitor=str(who.visitor) if who.visitor else None
    )


def visitor_record_retention_days() -> int:
    """Return how long a visitor's own consent rows are kept: the cookie's lifetime, then the evidence period."""
    from privacy_kit.conf import app_settings

    return app_settings.CONSENT_COOKIE_DAYS + app_settings.CONSENT_EVIDENCE_DAYS


def purge_visitor_records(now: Any = None, *, batch_size: int | None = None) -> int:
    """Delete, in batches, the visitor-only consent rows older than their retention period; return how many.

    A row that old belongs to a consent id whose cookie expired at least
    ``CONSENT_EVIDENCE_DAYS`` ago: nobody can act under it any more. Rows of
    users, including those carried over at login, are kept.
    """
    from privacy_kit.batches import primary_key_batches
    from privacy_kit.conf import app_settings
    from privacy_kit.models import ConsentRecord

    limit = (now or timezone.now()) - datetime.timedelta(days=visitor_record_retention_days())
    expired = ConsentRecord.objects.filter(user__isnull=True, visitor__isnull=False, created_at__lt=limit)
    deleted = 0
    for batch in primary_key_batches(expired, batch_size or app_settings.PURGE_BATCH_SIZE):
        with transaction.atomic(using=router.db_for_write(ConsentRecord)):
            deleted += expired.filter(batch).delete_expired()
    return deleted


def _record(subject: Any, purposes: Iterable[str], action: Any, source: str, request: HttpRequest | None) -> list[Any]:
    from privacy_kit.models import ConsentRecord, PolicyVersion, Purpose

    if isinstance(purposes, str):
        raise TypeError("purposes is a list of purpose slugs, not one string.")
    slugs = list(dict.fromkeys(purposes))
    sources = consent_sources()
    if source not in sources:
        raise ConsentError(
            f"Unknown consent source {source!r}; use one of {', '.join(sources)}, "
            "or declare it in PRIVACY_KIT['CONSENT_SOURCES']."
        )
    found = {purpose.slug: purpose for purpose in Purpose.objects.filter(slug__in=slugs)}
    unknown = [slug for slug in slugs if slug not in found]
    if unknown:
        raise UnknownPurposeError(f"Unknown purpose {', '.join(map(repr, unknown))}: create a Purpose first.")
    request = request or (subject if isinstance(subject, HttpRequest) else None)
    language = translation.get_language() or settings.LANGUAGE_CODE
    policy = PolicyVersion.objects.current(language)
    if policy is None:
        raise NoPolicyError("No privacy policy is in effect: publish a PolicyVersion before recording consent.")
    who = subject_of(subject, create=True)
    now = timezone.now()
    evidence = _evidence(request)
    records = ConsentRecord.objects.bulk_create(
        ConsentRecord(
            **who.owner_fields(),
            purpose=found[slug],
            action=action,
            policy_version=policy,
            created_at=now,
            source=source,
            **evidence,
        )
        for slug in slugs
    )
    if request is not None:
        request._privacy_state = None  # type: ignore[attr-defined]
    return records


def consent_sources() -> list[str]:
    """Return the sources a consent may be recorded from: privacy_kit's own, then the shop's declared ones."""
    from privacy_kit.conf import app_settings
    from privacy_kit.models import ConsentRecord

    own = list(ConsentRecord.Source.values)
    return own + [source for source in app_settings.CONSENT_SOURCES if source not in own]


def _evidence(request: HttpRequest | None) -> dict[str, str]:
    """Return the request's keyed IP hash and user agent (never the IP itself)."""
    from privacy_kit.security.events import client_ip  # its models load after this package

    if request is None:
        return {}
    # The address the security events and the access log name: behind proxies, the configured one.
    address = client_ip(request) or ""
    return {
        "ip_hash": crypto.keyring().blind_index(IP_BINDING, address) if address else "",
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
    }


__all__ = [
    "ConsentError",
    "NoPolicyError",
    "UnknownPurposeError",
    "consent_sources",
    "consent_state",
    "grant",
    "has_consent",
    "purge_visitor_records",
    "state_of",
    "withdraw",
]

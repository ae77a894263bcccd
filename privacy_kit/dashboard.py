"""The privacy dashboard of the admin index: the clocks, the purges, the security events and the keys.

Shown to superusers and to staff with ``privacy_kit.view_privacy_dashboard``.
Each section is one query (two for the purges, plus one for the subject keys on
their own database), whatever the number of rows: lists stop at ``ROWS`` and say
how many there are in all.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q, Window
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import crypto, registry
from .crypto import keyring
from .deadlines.clock import DUE, Clock, breach_clock, request_clock, time_left
from .keys import providers
from .keys.models import SubjectKey
from .keys.store import key_database
from .retention.models import PurgeRun
from .security.models import SecurityEvent

PERMISSION = "privacy_kit.view_privacy_dashboard"
#: How many rows a list of the dashboard shows; the rest is counted.
ROWS = 20
#: How far back the security events and purge failures go.
RECENT = datetime.timedelta(days=7)


def can_view_dashboard(user: Any) -> bool:
    """Return whether the user may see the privacy dashboard: superusers and staff with its permission."""
    if not (user.is_active and user.is_staff):
        return False
    return bool(user.is_superuser or user.has_perm(PERMISSION))


@dataclass
class ClockRow:
    """A record on the clock: when it is due, the time left (or overdue) in the clock's unit."""

    record: Any
    due_at: datetime.datetime
    overdue: bool
    time_left: str
    url: str | None


@dataclass
class ClockSection:
    rows: list[ClockRow]
    total: int
    changelist_url: str | None

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


@dataclass
class PolicyRow:
    """A retention policy, its last run (None if it never ran) and its failed runs of the last days."""

    policy: str
    last_run: PurgeRun | None
    failures: int


@dataclass
class KeySection:
    primary: str
    older: list[str]
    blind_index: str | None
    blind_index_fallbacks: int
    provider: str
    wrapping_key: str
    subject_keys: list[dict[str, Any]] = field(default_factory=list)
    last_rotation: dict[str, Any] | None = None


def _admin_url(name: str, *args: Any) -> str | None:
    try:
        return reverse(f"admin:{name}", args=args)
    except NoReverseMatch:
        return None


def clock_section(clock: Clock, now: datetime.datetime) -> ClockSection:
    """Return the records of a clock by due date, the soonest first: one query."""
    meta = clock.model._meta
    change = f"{meta.app_label}_{meta.model_name}_change"
    records = clock.records().annotate(total=Window(Count("pk"))).order_by(DUE, "pk")[:ROWS]
    rows = []
    total = 0
    for record in records:
        due_at = getattr(record, DUE)
        total = record.total
        url = _admin_url(change, record.pk)
        rows.append(ClockRow(record, due_at, due_at <= now, time_left(clock, due_at, now), url))
    return ClockSection(rows, total, _admin_url(f"{meta.app_label}_{meta.model_name}_changelist"))


def purge_section(now: datetime.datetime) -> list[PolicyRow]:
    """Return each retention policy with its last run and its recent failures: two queries."""
    since = now - RECENT
    runs = (
        PurgeRun.objects.values("policy")
        .annotate(last=Max("pk"), failures=Count("pk", filter=Q(status=PurgeRun.Status.FAILED, started_at__gte=since)))
        .order_by()
    )
    summary = {entry["policy"]: entry for entry in runs}
    last_runs = {run.policy: run for run in PurgeRun.objects.filter(pk__in=[s["last"] for s in summary.values()])}
    policies = {entry.name for entry in registry.registrations() if entry.retention is not None} | set(summary)
    return [PolicyRow(name, last_runs.get(name), summary.get(name, {}).get("failures", 0)) for name in sorted(policies)]


def recent_failures(now: datetime.datetime) -> list[PurgeRun]:
    """Return the purge runs that failed in the last days, the latest first: one query."""
    return list(PurgeRun.objects.filter(status=PurgeRun.Status.FAILED, started_at__gte=now - RECENT)[:ROWS])


def security_section(now: datetime.datetime) -> list[dict[str, Any]]:
    """Return the security events of the last days by kind, the most frequent first: one query."""
    labels = dict(SecurityEvent.Kind.choices)
    counts = (
        SecurityEvent.objects.filter(created_at__gte=now - RECENT)
        .values("kind")
        .annotate(count=Count("pk"), last=Max("created_at"))
        .order_by("-count", "kind")
    )
    return [{**entry, "label": labels.get(entry["kind"], entry["kind"])} for entry in counts]


def key_section() -> KeySection:
    """Return the keys in use, by their public ids, and the last rotation: two queries.

    A key id is four bytes of an HMAC of the key: it names the key and reveals
    nothing of it (``manage.py privacy_keys`` lists the same ids).
    """
    ring = keyring()
    blind_key = crypto.configured_blind_index_key()
    provider = providers.key_provider()
    subject_keys = (
        SubjectKey.objects.using(key_database())
        .values("key_id")
        .annotate(live=Count("pk", filter=Q(wrapped_key__isnull=False)), destroyed=Count("destroyed_at"))
        .order_by("key_id")
    )
    last_rotation = (
        SecurityEvent.objects.filter(kind=SecurityEvent.Kind.KEY_ROTATION)
        .order_by("-created_at", "-pk")
        .values("created_at", "detail")
        .first()
    )
    return KeySection(
        primary=ring.primary_id.hex(),
        older=[identifier.hex() for identifier in ring.ciphers if identifier != ring.primary_id],
        blind_index=crypto.key_id(crypto.decode_key(blind_key)).hex() if blind_key else None,
        blind_index_fallbacks=ring.blind_index_fallbacks,
        provider=type(provider).__name__,
        wrapping_key=provider.key_id,
        subject_keys=[{**entry, "current": entry["key_id"] == provider.key_id} for entry in subject_keys],
        last_rotation=last_rotation,
    )


def dashboard_context(now: datetime.datetime | None = None) -> dict[str, Any]:
    """Return what the dashboard shows at ``now``: a fixed number of queries whatever the data size."""
    now = now or timezone.now()
    return {
        "now": now,
        "requests": clock_section(request_clock(), now),
        "breaches": clock_section(breach_clock(), now),
        "policies": purge_section(now),
        "failures": recent_failures(now),
        "security_events": security_section(now),
        "keys": key_section(),
        "recent_days": RECENT.days,
        "url": _admin_url("privacy_dashboard"),
    }


def dashboard_view(request: HttpRequest, site: Any) -> HttpResponse:
    """Show the privacy dashboard on a page of its own; refuse staff without its permission."""
    if not can_view_dashboard(request.user):
        raise PermissionDenied
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    context = {
        **site.each_context(request),
        "title": _("Privacy dashboard"),
        "privacy_dashboard": dashboard_context(),
    }
    request.current_app = site.name
    return TemplateResponse(request, "privacy_kit/admin/dashboard.html", context)

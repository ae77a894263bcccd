"""privacy_kit's own records, kept under the same retention rules as the shop's data.

The access log, the security events and django-axes's login records name people
(a staff user, a customer, an IP address); purge runs and breach records grow
without end. Each is registered here like a shop's model, by age, with a period
of its own in ``PRIVACY_KIT["RETENTION"]``, so the nightly purge expires them
with the same engine, batches and ``PurgeRun`` log as everything else.

They are registered with ``subject=None``: they are evidence about people, not
the people's own data, so a customer's export and erasure do not go through the
registry to them (erasure clears the addresses of the subject's security events and
deletes their axes rows itself). A legal hold on a customer still keeps the access
log rows and security events about them (``legal_hold_paths``), and an event
escalated into a breach stays as long as the breach (``keep_while_linked``). The
append-only ledgers among them are deleted only by the purge, through
``AppendOnlyQuerySet.delete_expired()``.

Records of breaches, and of data-subject requests, are kept for five years after
they close (PDPL Implementing Regulation Art. 33): ``keep_after_closing(Model)``
puts a model under that rule.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.apps import apps
from django.db import models

from .. import registry

ACCESS_LOG = "access_log"
SECURITY_EVENTS = "security_events"
PURGE_RUNS = "purge_runs"
AXES_ATTEMPTS = "axes_attempts"
AXES_LOGS = "axes_logs"
#: The period of records that close (breaches, requests), counted from the day they close.
CLOSED_RECORDS = "closed_records"
#: The names in ``PRIVACY_KIT["RETENTION"]`` of the periods of privacy_kit's own records.
OWN_RECORD_PERIODS = (ACCESS_LOG, SECURITY_EVENTS, PURGE_RUNS, AXES_ATTEMPTS, AXES_LOGS, CLOSED_RECORDS)
#: The shortest period PDPL IR Art. 33 allows for records of processing: five years, in days
#: (five years can hold two 29 Februaries), the default of ``closed_records``.
CLOSED_RECORDS_MINIMUM_DAYS = 5 * 365 + 2

SECURITY = "security"
RECORDS = "records"
# What django-axes keeps of each login: the username as typed, the address, the browser.
AXES_PERSONAL_FIELDS = ["username", "ip_address", "user_agent", "http_accept", "path_info"]
AXES_MODELS = {
    "axes.AccessAttempt": (AXES_ATTEMPTS, [*AXES_PERSONAL_FIELDS, "get_data", "post_data"]),
    "axes.AccessFailureLog": (AXES_ATTEMPTS, AXES_PERSONAL_FIELDS),
    "axes.AccessLog": (AXES_LOGS, [*AXES_PERSONAL_FIELDS, "session_hash"]),
}

#: The labels of the models registered here: their admins are privacy_kit's (or axes') read-only pages.
own_record_labels: set[str] = set()


def register_own_record(
    model: type[models.Model],
    *,
    date_field: str,
    period: str,
    category: str,
    personal_fields: Iterable[str] = (),
    keep_while_linked: Iterable[str] = (),
    legal_hold_paths: Iterable[str] = (),
    purposes: Iterable[str] = (),
) -> registry.Registration:
    """Register one of privacy_kit's own records: deleted ``period`` days after its ``date_field``."""
    registration = registry.register(
        model,
        subject=None,
        category=category,
        personal_fields=personal_fields,
        purposes=purposes,
        retention=registry.Retention(
            basis=registry.AGE,
            date_field=date_field,
            after_days=period,
            action=registry.DELETE,
            keep_while_linked=keep_while_linked,
            legal_hold_paths=legal_hold_paths,
        ),
    )
    own_record_labels.add(registration.name)
    return registration


def keep_after_closing(
    model: type[models.Model], *, date_field: str = "closed_at", personal_fields: Iterable[str] = ()
) -> registry.Registration:
    """Keep the records of a model five years after they close (``CLOSED_RECORDS``), then delete them.

    ``date_field`` is the time a record closed, NULL while it is open: an open
    record never expires.
    """
    return register_own_record(
        model,
        date_field=date_field,
        period=CLOSED_RECORDS,
        category=RECORDS,
        personal_fields=personal_fields,
        purposes=["legal obligation"],
    )


def register_own_records() -> None:
    """Register privacy_kit's logs, ledgers and records, and django-axes's when it is installed."""
    from ..models import AccessLog, Breach, DataRequest, DeadlineAlert, PurgeRun, SecurityEvent

    register_own_record(
        AccessLog,
        date_field="created_at",
        period=ACCESS_LOG,
        category=SECURITY,
        personal_fields=["actor", "subject", "ip"],
        legal_hold_paths=["subject"],
        purposes=[SECURITY],
    )
    # An event escalated into a breach is kept as long as the breach record.
    register_own_record(
        SecurityEvent,
        date_field="created_at",
        period=SECURITY_EVENTS,
        category=SECURITY,
        personal_fields=["user", "ip"],
        keep_while_linked=["breaches"],
        legal_hold_paths=["user"],
        purposes=[SECURITY],
    )
    register_own_record(PurgeRun, date_field="started_at", period=PURGE_RUNS, category=RECORDS, purposes=["retention"])
    keep_after_closing(Breach, personal_fields=["contact_name", "contact_email", "contact_phone"])
    # The register of requests, refusals and their reasons included (PDPL IR Art. 3 and 33).
    keep_after_closing(DataRequest, personal_fields=["subject", "note", "refusal_note", "extension_reason"])
    # The evidence that the shop was warned of a deadline: kept as long as the records of processing.
    register_own_record(
        DeadlineAlert, date_field="sent_at", period=CLOSED_RECORDS, category=RECORDS, purposes=["legal obligation"]
    )
    if apps.is_installed("axes"):
        for label, (period, fields) in AXES_MODELS.items():
            register_own_record(
                apps.get_model(label),
                date_field="attempt_time",
                period=period,
                category=SECURITY,
                personal_fields=fields,
                purposes=[SECURITY],
            )

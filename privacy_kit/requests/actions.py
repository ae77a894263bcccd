"""What fulfilling each kind of request does, through ``privacy_kit.rights`` and ``privacy_kit.consent``.

Each action returns the request's evidence: what was done and counts, never a
personal value. ``fulfil`` (``workflow.py``) calls ``run_action`` under the
request's row lock and closes the request with what it returns.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _

from ..consent import consent_state, withdraw
from ..consent.subjects import Subject
from ..models import ConsentRecord, ErasureRecord
from ..rights.erasure import queue_erasure, request_erasure
from ..rights.export import sections
from .corrections import correct
from .models import DataRequest

Kind = DataRequest.Kind
#: The reason an erasure asked on the my-data page is recorded with.
ACCOUNT_ERASURE_REASON = "The customer deleted their account."


def run_action(
    data_request: DataRequest,
    *,
    by: Any,
    request: HttpRequest | None,
    correction: tuple[Any, Any] | None,
    note: str,
) -> dict[str, Any]:
    """Do what ``data_request`` asks and return its evidence; raise what refuses it, before anything changes."""
    from .workflow import RequestError

    subject = data_request.subject
    if subject is None:
        raise RequestError(
            _("Request #%(number)s: its subject's account no longer exists.") % {"number": data_request.pk}
        )
    own = data_request.channel == DataRequest.Channel.MY_DATA
    if data_request.kind in (Kind.ACCESS, Kind.COPY):
        return export_evidence(subject, delivered=request is not None and own)
    if data_request.kind == Kind.ERASURE:
        return erase(data_request, subject, by=by, request=request)
    if data_request.kind == Kind.CORRECTION:
        if correction is None:
            raise RequestError(
                _("Request #%(number)s is a correction: give the entry and the corrected values.")
                % {"number": data_request.pk}
            )
        row, data = correction
        changed = correct(row, data, subject=subject, by=by, request=request)
        return {"action": "corrected", "model": row._meta.label, "row": row.pk, "fields": changed}
    if data_request.kind == Kind.WITHDRAWAL:
        state = consent_state(Subject(user_id=subject.pk))
        granted = sorted(slug for slug, entry in state.items() if entry.requires_consent and entry.granted)
        source = ConsentRecord.Source.ACCOUNT if own else ConsentRecord.Source.API
        if granted:
            withdraw(subject, granted, source=str(source), request=request)
        return {"action": "consent_withdrawn", "purposes": granted}
    # Restriction and objection: privacy_kit cannot stop a shop's processing; staff say what they did.
    if not note.strip():
        raise RequestError(
            _("Request #%(number)s (%(kind)s): say in the note what was done to fulfil it.")
            % {"number": data_request.pk, "kind": data_request.get_kind_display()}
        )
    return {"action": "recorded", "note": note.strip()}


def export_evidence(subject: Any, *, delivered: bool) -> dict[str, Any]:
    """Return the counts of the subject's export, per model; ``delivered``: downloaded at once, else offered."""
    records = {section.model._meta.label: section.rows.count() for section in sections(subject)}
    return {"action": "export", "delivery": "download" if delivered else "my_data_page", "records": records}


def erase(data_request: DataRequest, subject: Any, *, by: Any, request: HttpRequest | None) -> dict[str, Any]:
    """Close the subject's account and queue its erasure; raise ``ErasureRefused`` under a legal hold."""
    if data_request.channel == DataRequest.Channel.MY_DATA:
        reason, source = ACCOUNT_ERASURE_REASON, str(ErasureRecord.Source.ACCOUNT)
    else:
        reason, source = f"Data-subject request #{data_request.pk}.", str(ErasureRecord.Source.ADMIN)
    if request is not None:
        record = queue_erasure(request, subject, reason=reason, source=source)
    else:
        record = request_erasure(subject, reason=reason, source=source, requested_by=by)
    return {"action": "erasure_queued", "erasure_record": record.pk}

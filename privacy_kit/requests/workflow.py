"""The workflow of a data-subject request: open, verify the identity, begin, extend, refuse, fulfil.

Each step is a plain function that takes the request and who acts, checks that
the request may move that way, and saves it under a row lock, so two staff (or
a double click) acting on one request at once cannot both move it: the second
gets ``RequestError``. A closed request (fulfilled or refused) never changes again.
"""

from __future__ import annotations

import datetime
import logging
from functools import partial
from typing import Any

from django.core.mail import send_mail
from django.db import connections, router, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from ..conf import app_settings
from .models import LONGEST_EXTENSION, DataRequest

logger = logging.getLogger(__name__)

EXTENDED_SUBJECT_TEMPLATE = "privacy_kit/email/request_extended_subject.txt"
EXTENDED_BODY_TEMPLATE = "privacy_kit/email/request_extended_body.txt"
Status = DataRequest.Status


class RequestError(ValueError):
    """A request cannot move as asked (a wrong transition, a second extension...). Nothing was changed."""

    def __init__(self, message: str, *, data_request: DataRequest | None = None) -> None:
        super().__init__(message)
        self.data_request = data_request


def _name(data_request: DataRequest) -> str:
    return _("Request #%(number)s (%(kind)s)") % {"number": data_request.pk, "kind": data_request.get_kind_display()}


def _date(moment: datetime.datetime) -> str:
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def _refuse_move(data_request: DataRequest, action: Any, allowed: tuple[Any, ...]) -> RequestError:
    states = pgettext("list of states", " or ").join(str(DataRequest.Status(status).label) for status in allowed)
    return RequestError(
        _("%(request)s is %(status)s; it cannot be %(action)s: only a request that is %(allowed)s can.")
        % {
            "request": _name(data_request),
            "status": data_request.get_status_display(),
            "action": action,
            "allowed": states,
        },
        data_request=data_request,
    )


def _pk(user: Any) -> Any:
    return getattr(user, "pk", user)


def find_repeat(subject: Any, kind: str, received_at: datetime.datetime, *, exclude: Any = None) -> DataRequest | None:
    """Return the latest request of ``kind`` by ``subject`` within ``REQUEST_REPEAT_DAYS`` before ``received_at``.

    Refused requests do not count: a request refused because the identity could
    not be checked, asked again, is no repeat.
    """
    since = received_at - datetime.timedelta(days=app_settings.REQUEST_REPEAT_DAYS)
    earlier = DataRequest.objects.filter(
        subject_id=_pk(subject), kind=kind, received_at__gte=since, received_at__lte=received_at
    ).exclude(status=Status.REFUSED)
    if exclude is not None:
        earlier = earlier.exclude(pk=exclude)
    return earlier.order_by("-received_at", "-pk").first()


def open_request(
    subject: Any,
    *,
    kind: str,
    channel: str,
    received_at: datetime.datetime | None = None,
    by: Any = None,
    note: str = "",
) -> DataRequest:
    """Record a request of ``subject`` received by ``channel`` and return it; its 30 days run from ``received_at``.

    ``by`` is the staff user who recorded it (None when the subject asked on the
    my-data page). A request of the same kind by the same subject within
    ``PRIVACY_KIT["REQUEST_REPEAT_DAYS"]`` is flagged in ``repeat_of``.
    """
    if kind not in DataRequest.Kind.values:
        raise RequestError(
            _("'%(kind)s' is not a kind of request; use one of %(kinds)s.")
            % {"kind": kind, "kinds": ", ".join(DataRequest.Kind.values)}
        )
    if channel not in DataRequest.Channel.values:
        raise RequestError(
            _("'%(channel)s' is not a channel of requests; use one of %(channels)s.")
            % {"channel": channel, "channels": ", ".join(DataRequest.Channel.values)}
        )
    if subject is None or _pk(subject) is None:
        raise RequestError(_("A request needs the account of its data subject."))
    received = received_at or timezone.now()
    if received > timezone.now() + datetime.timedelta(minutes=5):
        raise RequestError(_("A request cannot be received in the future; give when it arrived."))
    return DataRequest.objects.create(
        subject_id=_pk(subject),
        kind=kind,
        channel=channel,
        received_at=received,
        note=note,
        recorded_by_id=_pk(by),
        repeat_of=find_repeat(subject, kind, received),
    )


def _locked(data_request: DataRequest) -> DataRequest:
    """Return the request read again under a row lock (inside the caller's transaction).

    FOR NO KEY UPDATE where the database has it: a request being recorded as this one's
    repeat holds a key share on it until it commits, and must not wait for it (nor it for
    that insert, which waits for the account's lock: a deadlock).
    """
    no_key = connections[_using()].features.has_select_for_no_key_update
    return DataRequest.objects.select_for_update(no_key=no_key).get(pk=data_request.pk)


def _refresh(target: DataRequest, source: DataRequest) -> DataRequest:
    """Copy the saved state of ``source`` onto the caller's instance, so that it sees the change."""
    for field in DataRequest._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    return target


def _using() -> str:
    return router.db_for_write(DataRequest)


def verify(
    data_request: DataRequest, *, method: str, by: Any = None, at: datetime.datetime | None = None
) -> DataRequest:
    """Record that the requester is the data subject: how (an ``IdentityMethod``), by whom, and when."""
    if method not in DataRequest.IdentityMethod.values:
        raise RequestError(
            _("'%(method)s' is not a way of verifying identity; use one of %(methods)s.")
            % {"method": method, "methods": ", ".join(DataRequest.IdentityMethod.values)}
        )
    with transaction.atomic(using=_using()):
        current = _locked(data_request)
        if current.status != Status.RECEIVED:
            raise _refuse_move(current, pgettext("it cannot be ...", "verified"), (Status.RECEIVED,))
        current.status = Status.VERIFIED
        current.identity_verified_at = at or timezone.now()
        current.identity_method = method
        current.verified_by_id = _pk(by)
        current.save(update_fields=["status", "identity_verified_at", "identity_method", "verified_by"])
    return _refresh(data_request, current)


def begin(data_request: DataRequest, *, by: Any = None) -> DataRequest:
    """Mark a verified request as being worked on by ``by``."""
    with transaction.atomic(using=_using()):
        current = _locked(data_request)
        if current.status != Status.VERIFIED:
            if current.status == Status.RECEIVED:
                raise RequestError(
                    _("%(request)s: the identity of the requester is not verified yet; verify it first.")
                    % {"request": _name(current)},
                    data_request=current,
                )
            raise _refuse_move(current, pgettext("it cannot be ...", "begun"), (Status.VERIFIED,))
        current.status = Status.IN_PROGRESS
        current.handled_by_id = _pk(by) or current.handled_by_id
        current.save(update_fields=["status", "handled_by"])
    return _refresh(data_request, current)


def extend(data_request: DataRequest, *, until: datetime.datetime, reason: str, by: Any = None) -> DataRequest:
    """Extend an open request once, to ``until`` (at most 30 days past ``due_at``), and tell the subject why.

    The subject reads the new date and the reason on their my-data page, and in a
    mail when their account has an email address.
    """
    if not reason or not reason.strip():
        raise RequestError(_("Give the reason for the extension: the data subject is told it."))
    with transaction.atomic(using=_using()):
        current = _locked(data_request)
        if not current.is_open:
            raise _refuse_move(current, pgettext("it cannot be ...", "extended"), DataRequest.OPEN_STATUSES)
        if current.extended_until is not None:
            raise RequestError(
                _("%(request)s was already extended once, to %(date)s; a request can be extended only once.")
                % {"request": _name(current), "date": _date(current.extended_until)},
                data_request=current,
            )
        if until <= current.due_at:
            raise RequestError(
                _("%(request)s is due %(date)s: an extension must end after that.")
                % {"request": _name(current), "date": _date(current.due_at)},
                data_request=current,
            )
        if until > current.due_at + LONGEST_EXTENSION:
            latest = current.due_at + LONGEST_EXTENSION
            raise RequestError(
                _("%(request)s can be extended by at most %(days)s days, to %(date)s at the latest.")
                % {"request": _name(current), "days": LONGEST_EXTENSION.days, "date": _date(latest)},
                data_request=current,
            )
        current.extended_until = until
        current.extension_reason = reason.strip()
        current.extended_at = timezone.now()
        current.handled_by_id = _pk(by) or current.handled_by_id
        current.save(update_fields=["extended_until", "extension_reason", "extended_at", "handled_by"])
        transaction.on_commit(partial(notify_extension, current), using=_using())
    return _refresh(data_request, current)


def notify_extension(data_request: DataRequest) -> bool:
    """Mail the subject the new date of their request and the reason; return whether a mail was sent.

    A failure to send is logged and does not undo the extension: the my-data page says it too.
    """
    subject = data_request.subject
    address = getattr(subject, "email", "") if subject is not None else ""
    if not address:
        return False
    context = {"data_request": data_request, "deadline": data_request.deadline}
    # In the language active where the extension was made: the account keeps no language of its own.
    title = " ".join(render_to_string(EXTENDED_SUBJECT_TEMPLATE, context).split())
    body = render_to_string(EXTENDED_BODY_TEMPLATE, context)
    try:
        send_mail(title, body, None, [address])
    except Exception as error:
        logger.warning("The extension of request #%s could not be mailed (%s).", data_request.pk, type(error).__name__)
        return False
    return True


def refuse(data_request: DataRequest, *, reason: str, note: str = "", by: Any = None) -> DataRequest:
    """Close an open request as refused, for a ``RefusalReason`` (``other`` needs a note)."""
    if reason not in DataRequest.RefusalReason.values:
        raise RequestError(
            _("'%(reason)s' is not a reason for a refusal; use one of %(reasons)s.")
            % {"reason": reason, "reasons": ", ".join(DataRequest.RefusalReason.values)}
        )
    if reason == DataRequest.RefusalReason.OTHER and not note.strip():
        raise RequestError(_("A refusal for another reason needs a note that says which."))
    with transaction.atomic(using=_using()):
        current = _locked(data_request)
        if not current.is_open:
            raise _refuse_move(current, pgettext("it cannot be ...", "refused"), DataRequest.OPEN_STATUSES)
        now = timezone.now()
        current.status = Status.REFUSED
        current.refusal_reason = reason
        current.refusal_note = note.strip()
        current.handled_by_id = _pk(by) or current.handled_by_id
        current.closed_at = now
        current.evidence = {**current.evidence, "action": "refused", "reason": reason, "at": now.isoformat()}
        current.save(update_fields=["status", "refusal_reason", "refusal_note", "handled_by", "closed_at", "evidence"])
    return _refresh(data_request, current)


def fulfil(
    data_request: DataRequest,
    *,
    by: Any = None,
    request: HttpRequest | None = None,
    correction: tuple[Any, dict[str, Any]] | None = None,
    note: str = "",
) -> DataRequest:
    """Do what the request asks through ``privacy_kit.rights`` and close it as fulfilled, with its evidence.

    - access, copy: the subject's export is counted and offered to them as a download
      on the my-data page;
    - erasure: the account is closed and its erasure queued (``queue_erasure`` with the
      HTTP ``request``, else ``request_erasure``); raise ``ErasureRefused`` under a legal hold;
    - correction: ``correction`` is ``(row, data)``, applied through the row's correction
      form; raise ``CorrectionRefused`` when it does not validate;
    - withdrawal: every consent the subject granted is withdrawn;
    - restriction, objection: staff record in ``note`` what they did.

    A request whose identity is not verified is refused with ``RequestError``.
    Whatever is raised, nothing was changed.
    """
    from .actions import run_action

    with transaction.atomic(using=_using()):
        current = _locked(data_request)
        if not current.is_open:
            raise _refuse_move(
                current, pgettext("it cannot be ...", "fulfilled"), (Status.VERIFIED, Status.IN_PROGRESS)
            )
        if current.status == Status.RECEIVED or current.identity_verified_at is None:
            raise RequestError(
                _(
                    "%(request)s: the identity of the requester is not verified; "
                    "it cannot be fulfilled (verify it, or refuse the request)."
                )
                % {"request": _name(current)},
                data_request=current,
            )
        if current.status not in (Status.VERIFIED, Status.IN_PROGRESS):
            raise _refuse_move(
                current, pgettext("it cannot be ...", "fulfilled"), (Status.VERIFIED, Status.IN_PROGRESS)
            )
        evidence = run_action(current, by=by, request=request, correction=correction, note=note)
        now = timezone.now()
        current.status = Status.FULFILLED
        current.handled_by_id = _pk(by) or current.handled_by_id
        current.closed_at = now
        current.evidence = {**evidence, "at": now.isoformat()}
        current.save(update_fields=["status", "handled_by", "closed_at", "evidence"])
    return _refresh(data_request, current)

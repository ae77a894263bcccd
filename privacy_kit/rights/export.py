"""Export: everything the registry knows about a subject, decrypted, as one JSON document.

The document is the same whether it is built in memory (``export_subject``) or
streamed (``stream_export``): rows are read a page at a time in key order and
written as they come, so a subject with a long history never sits in memory.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.http import FileResponse, HttpRequest
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from .. import registry
from ..batches import key_pages
from ..fields import BlindIndexField
from ..models import ConsentRecord, SecurityEvent
from ..security.events import record_subject_event

#: The version of the export document's layout; raised when it changes.
SCHEMA_VERSION = 1

ACCOUNT_CATEGORY = "account"
CONSENT_CATEGORY = "consent"
# Never exported: a password hash is not data about the person.
NOT_EXPORTED = {"password"}
ROWS_PER_CHUNK = 500  # rows per piece of streamed text
ROWS_PER_PAGE = 2000  # rows per query
# A download is written out whole before it is sent; past this size it waits on disk, not in memory.
SPOOL_BYTES = 1024 * 1024

_encoder = DjangoJSONEncoder()
# One encoder for every chunk: json.dumps() with a non-default option builds a new one per call.
_json = json.JSONEncoder(ensure_ascii=False)
# Values of these fields are not JSON as they come from the database: they go through _plain().
CONVERTED_FIELDS = (models.DateField, models.TimeField, models.DecimalField, models.UUIDField, models.DurationField)


@dataclass
class Section:
    """The rows of one model that belong to the subject, with what describes them."""

    model: type[models.Model]
    category: str
    rows: models.QuerySet

    def describe(self) -> dict[str, Any]:
        meta = self.model._meta
        return {
            "model": meta.label,
            "name": str(meta.verbose_name_plural),
            "category": self.category,
            "fields": [column.name for column in _columns(self.model)],
        }

    def iter_rows(self) -> Iterator[dict[str, Any]]:
        columns = _columns(self.model)
        names = [column.name for column in columns]
        converted = [index for index, column in enumerate(columns) if column.converted]
        # Pages, not a cursor held open while a download streams to a slow client.
        rows = self.rows.values_list("pk", *(column.lookup for column in columns))
        for page in key_pages(rows, ROWS_PER_PAGE):
            for _key, *values in page:
                row = dict(zip(names, values, strict=True))
                for index in converted:
                    row[names[index]] = _plain(values[index])
                yield row


@dataclass(frozen=True)
class Column:
    name: str
    lookup: str
    converted: bool


def _columns(model: type[models.Model]) -> list[Column]:
    """Return the exported columns; a relation to a model with a slug exports the slug."""
    columns = []
    for field in model._meta.concrete_fields:
        if isinstance(field, BlindIndexField) or field.name in NOT_EXPORTED:
            continue
        lookup, value_field = field.attname, field
        related: Any = field.related_model if field.is_relation else None
        if related is not None:
            slug = next((f for f in related._meta.concrete_fields if f.name == "slug"), None)
            lookup, value_field = (f"{field.name}__slug", slug) if slug else (lookup, field.target_field)
        columns.append(Column(field.name, lookup, isinstance(value_field, CONVERTED_FIELDS)))
    return columns


def _plain(value: Any) -> Any:
    """Return a JSON value: dates and times in ISO 8601, decimals and UUIDs as text."""
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return _encoder.default(value)


def subject_of_row(obj: models.Model) -> Any:
    """Return the user a registered row belongs to, through its registry subject, or None."""
    user_model = get_user_model()
    if isinstance(obj, user_model):
        return obj
    try:
        registration = registry.get(obj._meta.label)
    except LookupError:
        return None
    if callable(registration.subject):
        return registration.subject(obj)
    if registration.subject_path is None:
        return None
    current: Any = obj
    for part in registration.subject_path.split("__"):
        current = getattr(current, part, None)
        if current is None:
            return None
    return current if isinstance(current, user_model) else None


def sections(user: Any) -> Iterator[Section]:
    """Yield the subject's account, the rows of every registration with a subject path, and consents."""
    user_model = get_user_model()
    yield Section(user_model, ACCOUNT_CATEGORY, user_model._base_manager.filter(pk=user.pk))
    for registration in sorted(registry.registrations(), key=lambda entry: entry.name):
        if registration.subject_path:
            rows = registration.model._base_manager.filter(**{registration.subject_path: user.pk})
            yield Section(registration.model, registration.category, rows)
    yield Section(ConsentRecord, CONSENT_CATEGORY, ConsentRecord.objects.filter(user_id=user.pk))


def _header(user: Any, now: Any) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "generated_at": _plain(now), "subject": _plain(user.pk)}


def export_subject(user: Any, *, now: Any = None) -> dict[str, Any]:
    """Return everything the registry knows about ``user``, decrypted and JSON-serializable."""
    document = _header(user, now or timezone.now())
    document["records"] = [{**section.describe(), "rows": list(section.iter_rows())} for section in sections(user)]
    return document


def stream_export(user: Any, *, now: Any = None) -> Iterator[str]:
    """Yield the text of ``export_subject(user)`` as JSON, piece by piece, in bounded memory."""

    yield _json.encode(_header(user, now or timezone.now()))[:-1] + ', "records": ['
    for index, section in enumerate(sections(user)):
        yield ("," if index else "") + _json.encode(section.describe())[:-1] + ', "rows": ['
        chunk: list[dict[str, Any]] = []
        written = False
        for row in section.iter_rows():
            chunk.append(row)
            if len(chunk) == ROWS_PER_CHUNK:
                yield ("," if written else "") + _json.encode(chunk)[1:-1]
                written, chunk = True, []
        if chunk:
            yield ("," if written else "") + _json.encode(chunk)[1:-1]
        yield "]}"
    yield "]}"


def spool_export(user: Any, *, now: Any = None) -> tempfile.SpooledTemporaryFile:
    """Write ``stream_export(user)`` to a temporary file and return it rewound, or raise what stopped it."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        for piece in stream_export(user, now=now):
            spool.write(piece.encode())
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def export_response(request: HttpRequest, subject: Any) -> FileResponse:
    """Return the subject's export as a JSON download and record the export as a security event.

    Every value is read and decrypted before the first byte is sent, so a value that does not
    open raises ``DecryptionError`` here, with nothing sent and nothing recorded.
    """
    spool = spool_export(subject)
    record_subject_event(SecurityEvent.Kind.EXPORT, request, subject)
    response = FileResponse(
        spool,
        as_attachment=True,
        filename=f"personal-data-{timezone.now():%Y-%m-%d}.json",
        content_type="application/json; charset=utf-8",
    )
    add_never_cache_headers(response)
    return response

"""The records of processing, generated from the registry and the field declarations.

``manage.py privacy_inventory`` prints them; a shop keeps the output with its
records of processing. Nothing here is written by hand, so the inventory cannot
drift from what the code does with the data.
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.db import models
from django.db.models import ForeignObjectRel
from django.utils.translation import ngettext

from .. import registry
from ..fields import EncryptedField

#: The value of ``subject`` for a registration whose subject is a callable.
CALLABLE_SUBJECT = "callable"


def inventory() -> list[dict[str, Any]]:
    """Return the records of processing: one entry per model and field of personal data.

    A registered model contributes its ``personal_fields``, every encrypted
    field (encrypted data is personal whatever the registration lists) and the
    ``keep_fields`` of its retention, which survive anonymization (those that
    are not personal are marked ``"personal": False``). A model with encrypted
    fields that is not registered contributes them with ``"registered": False``
    and no category, subject or retention, so that the inventory does not hide
    it (check ``privacy_kit.W032`` reports it too).

    Entries are ordered by model label, then by field declaration order, and
    hold only JSON types.
    """
    entries: list[dict[str, Any]] = []
    registered = {entry.name: entry for entry in registry.registrations()}
    unregistered = {model._meta.label: model for model in unregistered_models()}
    for label in sorted({*registered, *unregistered}):
        if label in registered:
            entries.extend(_registered_entries(registered[label]))
        else:
            entries.extend(_unregistered_entries(unregistered[label]))
    return entries


def unregistered_models(app_configs: list[AppConfig] | None = None) -> list[type[models.Model]]:
    """Return the models that have encrypted fields of their own but no registration, by label.

    A proxy model shares the table and the registration of its concrete model,
    so it is left out; an unmanaged model is kept, since its rows are still
    read and written through it.
    """
    if app_configs is None:
        candidates = list(apps.get_models())
    else:
        candidates = [model for app_config in app_configs for model in app_config.get_models()]
    registered = {entry.name for entry in registry.registrations()}
    found = [
        model
        for model in candidates
        if not model._meta.proxy and model._meta.label not in registered and encrypted_fields(model)
    ]
    return sorted(found, key=lambda model: model._meta.label)


def encrypted_fields(model: type[models.Model]) -> list[EncryptedField]:
    """Return the encrypted fields declared on the model itself (not on a concrete parent)."""
    return [field for field in model._meta.local_fields if isinstance(field, EncryptedField)]


def _forward_fields(model: type[models.Model]) -> list[Any]:
    return [field for field in model._meta.get_fields() if not isinstance(field, ForeignObjectRel)]


def _field_entry(
    model: type[models.Model], field: Any, *, registered: bool, personal: bool, policy: dict[str, Any]
) -> dict[str, Any]:
    return {
        "model": model._meta.label,
        "model_verbose_name": str(model._meta.verbose_name),
        "registered": registered,
        "field": field.name,
        "field_verbose_name": str(getattr(field, "verbose_name", field.name)),
        "personal": personal,
        "encrypted": isinstance(field, EncryptedField),
        "searchable": bool(getattr(field, "searchable", False)),
        **policy,
    }


def _registered_entries(registration: registry.Registration) -> list[dict[str, Any]]:
    model, retention = registration.model, registration.retention
    personal = set(registration.personal_fields)
    kept = set(retention.keep_fields) if retention else set()
    if registration.subject_path is not None:
        subject: str | None = registration.subject_path
    elif callable(registration.subject):
        subject = CALLABLE_SUBJECT
    else:
        subject = None
    policy = {
        "category": registration.category,
        "subject": subject,
        "purposes": list(registration.purposes),
        **_retention_details(retention),
    }
    entries = []
    for field in _forward_fields(model):
        is_personal = field.name in personal or isinstance(field, EncryptedField)
        if not (is_personal or field.name in kept):
            continue
        field_policy = {
            **policy,
            "kept": field.name in kept,
            # Purges and erasures find a held subject's rows through the subject path.
            "legal_holds_honored": registration.subject_path is not None,
        }
        entries.append(_field_entry(model, field, registered=True, personal=is_personal, policy=field_policy))
    return entries


def _retention_details(retention: registry.Retention | None) -> dict[str, Any]:
    if retention is None:
        return {
            "retention_basis": None,
            "retention_date_field": None,
            "retention_days": None,
            "retention_period": None,
            "action": None,
        }
    try:
        days: int | None = retention.days
    except KeyError:
        days = None  # an unknown period name: check privacy_kit.E030 reports it
    return {
        "retention_basis": retention.basis,
        "retention_date_field": retention.date_field,
        "retention_days": days,
        "retention_period": retention.after_days if isinstance(retention.after_days, str) else None,
        "action": retention.action,
    }


def _unregistered_entries(model: type[models.Model]) -> list[dict[str, Any]]:
    policy = {
        "category": None,
        "subject": None,
        "purposes": [],
        **_retention_details(None),
        "kept": False,
        "legal_holds_honored": False,
    }
    return [
        _field_entry(model, field, registered=False, personal=True, policy=policy) for field in encrypted_fields(model)
    ]


# -- Markdown ----------------------------------------------------------------------

MARKDOWN_TITLE = "# Records of processing"
MARKDOWN_INTRO = (
    "Generated by `manage.py privacy_inventory` from the personal-data registry and the field "
    "declarations of the installed models. Kept: the field survives anonymization (`keep_fields`)."
)
UNREGISTERED_TITLE = "## Not registered"
UNREGISTERED_INTRO = (
    "These models have encrypted fields but no registration: nothing expires their rows, and "
    "export and erasure do not reach them (check `privacy_kit.W032`). Register them with "
    "`registry.register(...)`."
)
TABLE_HEADER = ("| Field | Name | Personal | Encrypted | Searchable | Kept |", "|---|---|---|---|---|---|")


def as_markdown(entries: list[dict[str, Any]] | None = None) -> str:
    """Return the inventory as a Markdown document: a section per model, a table of its fields."""
    entries = inventory() if entries is None else entries
    by_model: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_model.setdefault(entry["model"], []).append(entry)
    lines = [MARKDOWN_TITLE, "", MARKDOWN_INTRO, ""]
    registered = [fields for fields in by_model.values() if fields[0]["registered"]]
    unregistered = [fields for fields in by_model.values() if not fields[0]["registered"]]
    if not registered:
        lines += ["No model is registered.", ""]
    for fields in registered:
        lines += _model_heading("##", fields[0])
        lines += _policy_lines(fields[0])
        lines += ["", *_field_table(fields), ""]
    if unregistered:
        lines += [UNREGISTERED_TITLE, "", UNREGISTERED_INTRO, ""]
        for fields in unregistered:
            lines += [*_model_heading("###", fields[0]), *_field_table(fields), ""]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    # A pipe would end the table cell; a newline would end the table.
    return str(value).replace("|", "\\|").replace("\n", " ")


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _model_heading(level: str, entry: dict[str, Any]) -> list[str]:
    return [f"{level} {entry['model']} ({_cell(entry['model_verbose_name'])})", ""]


def _policy_lines(entry: dict[str, Any]) -> list[str]:
    purposes = ", ".join(entry["purposes"]) or "none declared"
    return [
        f"- Category: {_cell(entry['category'])}",
        f"- Subject: {_subject_text(entry)}",
        f"- Purposes: {_cell(purposes)}",
        f"- Retention: {_retention_text(entry)}",
    ]


def _subject_text(entry: dict[str, Any]) -> str:
    subject = entry["subject"]
    if subject is None:
        return "none (the rows belong to no user; legal holds do not apply)"
    if subject == CALLABLE_SUBJECT:
        return "found by a callable (purges do not apply legal holds to these rows)"
    return f"`{subject}`; legal holds honored"


def days_text(days: int) -> str:
    """Return "1 day", "2 days", ... in the active language."""
    return ngettext("%(count)d day", "%(count)d days", days) % {"count": days}


def _retention_text(entry: dict[str, Any]) -> str:
    basis, action, name = entry["retention_basis"], entry["action"], entry["retention_period"]
    if basis is None:
        return "none: nothing expires the rows"
    if entry["retention_days"] is None:
        period = f'the period `{name}`, which PRIVACY_KIT["RETENTION"] does not define'
    elif name is not None:
        period = f'{days_text(entry["retention_days"])} (`{name}` in PRIVACY_KIT["RETENTION"])'
    else:
        period = days_text(entry["retention_days"])
    date_field = f"`{entry['retention_date_field']}`"
    if basis == registry.AGE:
        return f"age basis: {action} each row {period} after its {date_field}"
    return (
        f"{basis} basis: {action} the subject's rows {period} after the subject's last activity "
        f"(last login, joining, or the {date_field} of a registered row)"
    )


def _field_table(fields: list[dict[str, Any]]) -> list[str]:
    rows = [
        f"| `{entry['field']}` | {_cell(entry['field_verbose_name'])} | {_yes_no(entry['personal'])} | "
        f"{_yes_no(entry['encrypted'])} | {_yes_no(entry['searchable'])} | {_yes_no(entry['kept'])} |"
        for entry in fields
    ]
    return [*TABLE_HEADER, *rows]

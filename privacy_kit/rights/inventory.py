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
from ..conf import app_settings
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

    Each entry also holds what the PDPL's Art. 31 record asks for beyond the
    field itself: the registration's ``recipients`` and ``transfers`` outside the
    Kingdom, whether the value is sealed under its subject's own key
    (``keyed_per_subject``), and who can see it in the admin (``access``).

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
    encrypted = isinstance(field, EncryptedField)
    return {
        "model": model._meta.label,
        "model_verbose_name": str(model._meta.verbose_name),
        "registered": registered,
        "field": field.name,
        "field_verbose_name": str(getattr(field, "verbose_name", field.name)),
        "personal": personal,
        "encrypted": encrypted,
        # Sealed under the key of the subject its own table's row names (see privacy_kit.keys).
        "keyed_per_subject": encrypted and registry.subject_column(field.model) is not None,
        "searchable": bool(getattr(field, "searchable", False)),
        **policy,
        "access": admin_access(model),
    }


class _StaffHolding:
    """A stand-in for an active staff user, not a superuser, who holds exactly ``permissions``."""

    is_active = is_staff = is_authenticated = True
    is_superuser = is_anonymous = False
    pk = None

    def __init__(self, permissions: set[str]) -> None:
        self.permissions = permissions

    def has_perm(self, permission: str, obj: Any = None) -> bool:
        return permission in self.permissions

    def has_perms(self, permissions: Any, obj: Any = None) -> bool:
        return all(self.has_perm(permission) for permission in permissions)

    def has_module_perms(self, app_label: str) -> bool:
        return any(permission.startswith(f"{app_label}.") for permission in self.permissions)

    def is_verified(self) -> bool:
        return True


def admin_access(model: type[models.Model]) -> dict[str, Any]:
    """Return who can open the model's rows in privacy_kit's admin, and how they are shown.

    ``permissions`` are those that let staff other than superusers see the rows
    (none when the admin lets in superusers only, as for privacy_kit's logs);
    ``masked`` and ``openings_logged`` hold for a ``PersonalDataAdmin``.
    """
    access: dict[str, Any] = {
        "in_admin": False,
        "superusers_only": False,
        "permissions": [],
        "two_factor": app_settings.ADMIN_2FA_REQUIRED,
        "masked": False,
        "openings_logged": False,
    }
    if not apps.is_installed("django.contrib.admin") or not apps.is_installed("django_otp"):
        return access
    # Imported here: the admin sits on top of the rights, and needs a ready app registry.
    from django.http import HttpRequest

    from ..admin import site
    from ..admin.personal_data import PersonalDataAdmin

    model_admin = site._registry.get(model)
    if model_admin is None:
        return access
    meta = model._meta
    permissions = {f"{meta.app_label}.{action}_{meta.model_name}" for action in ("view", "change")}
    request = HttpRequest()
    request.user = _StaffHolding(permissions)  # type: ignore[assignment]
    try:
        staff_can_see = bool(model_admin.has_view_or_change_permission(request))
    except Exception:
        staff_can_see = True  # an admin that asks more of the user than the stand-in has: assume the wider access
    personal = isinstance(model_admin, PersonalDataAdmin)
    access.update(
        in_admin=True,
        superusers_only=not staff_can_see,
        permissions=sorted(permissions) if staff_can_see else [],
        masked=personal,
        openings_logged=personal,
    )
    return access


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
        "recipients": list(registration.recipients),
        "transfers": [
            {"country": transfer.country, "safeguard": transfer.safeguard, "recipient": transfer.recipient}
            for transfer in registration.transfers
        ],
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
            # Purges and erasures find a held subject's rows through the subject path (and other paths to users).
            "legal_holds_honored": bool(registration.legal_hold_paths),
            "legal_hold_paths": list(registration.legal_hold_paths),
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
        "recipients": [],
        "transfers": [],
        **_retention_details(None),
        "kept": False,
        "legal_holds_honored": False,
        "legal_hold_paths": [],
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
TABLE_HEADER = (
    "| Field | Name | Personal | Encrypted | Keyed per subject | Searchable | Kept |",
    "|---|---|---|---|---|---|---|",
)


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
        lines += _policy_lines(fields)
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


def _policy_lines(fields: list[dict[str, Any]]) -> list[str]:
    entry = fields[0]
    purposes = ", ".join(entry["purposes"]) or "none declared"
    recipients = ", ".join(entry["recipients"]) or "none declared"
    return [
        f"- Category: {_cell(entry['category'])}",
        f"- Subject: {_subject_text(entry)}",
        f"- Purposes: {_cell(purposes)}",
        f"- Recipients: {_cell(recipients)}",
        f"- Transfers outside the Kingdom: {_cell(_transfers_text(entry['transfers']))}",
        f"- Retention: {_retention_text(entry)}",
        f"- Measures: {_measures_text(fields)}",
    ]


def _transfers_text(transfers: list[dict[str, Any]]) -> str:
    if not transfers:
        return "none declared"
    parts = []
    for transfer in transfers:
        to = f", to {transfer['recipient']}" if transfer["recipient"] else ""
        parts.append(f"{transfer['country']}{to}, under {registry.SAFEGUARDS[transfer['safeguard']]}")
    return "; ".join(parts)


def _measures_text(fields: list[dict[str, Any]]) -> str:
    encrypted = [entry for entry in fields if entry["encrypted"]]
    if not encrypted:
        measures = ["not encrypted"]
    elif all(entry["keyed_per_subject"] for entry in encrypted):
        measures = ["encrypted fields sealed under each subject's own key (destroyed at erasure)"]
    elif any(entry["keyed_per_subject"] for entry in encrypted):
        measures = ["encrypted fields, some sealed under each subject's own key (destroyed at erasure)"]
    else:
        measures = ["encrypted fields sealed under the shop's keys"]
    access = fields[0]["access"]
    factor = "after" if access["two_factor"] else "without"
    if not access["in_admin"]:
        measures.append("not in the admin")
    elif access["superusers_only"]:
        measures.append(f"in the admin to superusers only, {factor} two-factor authentication")
    else:
        holders = " or ".join(access["permissions"])
        measures.append(f"in the admin to superusers and staff holding {holders}, {factor} two-factor authentication")
    if access["in_admin"] and access["masked"]:
        measures.append("masked in lists, each opening logged")
    elif access["in_admin"] and access["superusers_only"]:
        measures.append("read only")
    return "; ".join(measures)


def _subject_text(entry: dict[str, Any]) -> str:
    subject = entry["subject"]
    if subject is None and entry["legal_hold_paths"]:
        paths = ", ".join(f"`{path}`" for path in entry["legal_hold_paths"])
        return f"none (evidence about people: no export or erasure); legal holds of {paths} honored"
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
        f"{_yes_no(entry['encrypted'])} | {_yes_no(entry['keyed_per_subject'])} | {_yes_no(entry['searchable'])} | "
        f"{_yes_no(entry['kept'])} |"
        for entry in fields
    ]
    return [*TABLE_HEADER, *rows]

"""The notice of a breach for the authority, in English or Arabic, as Markdown or JSON.

It holds every item of PDPL IR Art. 24: the nature of the breach and its times,
the categories of data, the approximate numbers of subjects and records, the
likely consequences, the measures taken and proposed, the contact, and when the
authority and the subjects were told. It ends with the subjects to tell, as the
registry finds them: counts per model and the ids of their accounts, no value.
An item not yet known says so: the regulation lets a notice be completed in phases.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.apps import apps
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from .models import Breach
from .subjects import SubjectsConcerned, subjects_concerned

LANGUAGES = ("en", "ar")
FORMATS = ("md", "json")
#: The fields that hold a time.
MOMENTS = {"occurred_at", "detected_at", "aware_at", "due_at", "notified_authority_at", "subjects_notified_at"}

# Every item of the notice, in the order of IR Art. 24, with its label.
ITEMS = (
    ("reference", gettext_lazy("Reference")),
    ("title", gettext_lazy("Title")),
    ("nature", gettext_lazy("Nature of the breach")),
    ("occurred_at", gettext_lazy("When it happened")),
    ("detected_at", gettext_lazy("When it was detected")),
    ("aware_at", gettext_lazy("When the controller became aware of it")),
    ("due_at", gettext_lazy("Notification due (72 hours after becoming aware)")),
    ("data_categories", gettext_lazy("Categories of personal data concerned")),
    ("approximate_subjects", gettext_lazy("Approximate number of data subjects concerned")),
    ("approximate_records", gettext_lazy("Approximate number of personal data records concerned")),
    ("consequences", gettext_lazy("Likely consequences")),
    ("measures_taken", gettext_lazy("Measures taken")),
    ("measures_proposed", gettext_lazy("Measures proposed")),
    ("advice_to_subjects", gettext_lazy("Advice to the data subjects")),
    ("contact", gettext_lazy("Contact for more information")),
    ("notified_authority_at", gettext_lazy("Authority notified")),
    ("subjects_notified_at", gettext_lazy("Data subjects notified")),
    ("delay_reason", gettext_lazy("Reasons for a notification after 72 hours")),
    ("status", gettext_lazy("Status")),
)


def _joined(parts: list[str]) -> str:
    """Join names with the list separator of the active language (a comma, in Arabic "،")."""
    return pgettext("list separator", ", ").join(parts)


def _iso(value: datetime.datetime | None) -> str | None:
    return timezone.localtime(value).isoformat(timespec="minutes") if value is not None else None


def _text(value: str) -> str | None:
    return value.strip() or None


def _categories(breach: Breach, subjects: SubjectsConcerned) -> str | None:
    """Return the staff's description of the data, then what the registry holds of each affected model."""
    lines = [breach.data_categories.strip()] if breach.data_categories.strip() else []
    for model in subjects.models:
        meta = apps.get_model(model.label)._meta
        names = [str(meta.get_field(name).verbose_name) for name in model.personal_fields]
        fields = _joined(names) or _("no personal field declared")
        lines.append(
            _("%(name)s (%(label)s), %(category)s: %(fields)s")
            % {"name": model.verbose_name, "label": model.label, "category": model.category, "fields": fields}
        )
    return "\n".join(lines) or None


def _values(breach: Breach, subjects: SubjectsConcerned) -> dict[str, Any]:
    contact = _joined(
        [part for part in (breach.contact_name, breach.contact_email, breach.contact_phone) if part.strip()]
    )
    return {
        "reference": breach.pk,
        "title": breach.title,
        "nature": _text(breach.nature),
        "occurred_at": _iso(breach.occurred_at),
        "detected_at": _iso(breach.detected_at),
        "aware_at": _iso(breach.aware_at),
        "due_at": _iso(breach.due_at),
        "data_categories": _categories(breach, subjects),
        # The staff's estimate when there is one, else what the registry counts.
        "approximate_subjects": (
            breach.approximate_subjects if breach.approximate_subjects is not None else subjects.subjects
        ),
        "approximate_records": breach.approximate_records
        if breach.approximate_records is not None
        else subjects.records,
        "consequences": _text(breach.consequences),
        "measures_taken": _text(breach.measures_taken),
        "measures_proposed": _text(breach.measures_proposed),
        "advice_to_subjects": _text(breach.advice_to_subjects),
        "contact": contact or None,
        "notified_authority_at": _iso(breach.notified_authority_at),
        "subjects_notified_at": _iso(breach.subjects_notified_at),
        "delay_reason": _text(breach.delay_reason),
        "status": str(breach.get_status_display()),
    }


def breach_notice(breach: Breach, *, language: str = "en", now: datetime.datetime | None = None) -> dict[str, Any]:
    """Return the notice of ``breach`` in ``language`` (``"en"`` or ``"ar"``) as JSON types.

    ``fields`` maps each IR Art. 24 item to its label in that language and its
    value (None while it is not known); ``subjects`` lists the subjects to tell.
    """
    if language not in LANGUAGES:
        raise ValueError(f"The notice is written in {' or '.join(LANGUAGES)}, not {language!r}.")
    with translation.override(language):
        subjects = subjects_concerned(breach)
        values = _values(breach, subjects)
        return {
            "document": "breach_notice",
            "language": language,
            "title": _("Notice of a personal data breach"),
            "law": _("Personal Data Protection Law, Art. 20; its Implementing Regulation, Art. 24"),
            "generated_at": _iso(now or timezone.now()),
            "fields": {key: {"label": str(label), "value": values[key]} for key, label in ITEMS},
            "subjects": {
                "label": _("Data subjects to tell"),
                "window": {"from": _iso(breach.affected_from), "until": _iso(breach.affected_until)},
                "subjects": subjects.subjects,
                "records": subjects.records,
                "by_model": [model.as_dict() for model in subjects.models],
                "unlisted_models": list(subjects.unlisted),
                "unknown_models": list(subjects.unknown),
                "ids": list(subjects.subject_ids),
            },
        }


def render_notice(notice: dict[str, Any], fmt: str = "md") -> str:
    """Return the notice as a Markdown document (``"md"``) or indented JSON (``"json"``)."""
    if fmt == "json":
        return json.dumps(notice, indent=2, ensure_ascii=False)
    if fmt != "md":
        raise ValueError(f"The notice is written as {' or '.join(FORMATS)}, not {fmt!r}.")
    with translation.override(notice["language"]):
        return _markdown(notice)


def _moment_text(value: str) -> str:
    moment = datetime.datetime.fromisoformat(value)
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})"


def _value_text(key: str, value: Any) -> str:
    if value is None and key in ("notified_authority_at", "subjects_notified_at"):
        return _("Not yet.")
    if value is None and key == "delay_reason":
        return _("None given.")
    if value is None:
        return _("Not known yet; it will follow.")
    if key in MOMENTS:
        return _moment_text(value)
    return str(value)


def _markdown(notice: dict[str, Any]) -> str:
    fields = notice["fields"]
    lines = [
        f"# {notice['title']}",
        "",
        _("%(law)s. Breach #%(reference)s, written %(moment)s.")
        % {
            "law": notice["law"],
            "reference": fields["reference"]["value"],
            "moment": _moment_text(notice["generated_at"]),
        },
        "",
    ]
    for key, item in fields.items():
        if key == "reference":
            continue
        lines += [f"## {item['label']}", "", _value_text(key, item["value"]), ""]
    lines += _subjects_lines(notice["subjects"])
    return "\n".join(lines)


def _subjects_lines(subjects: dict[str, Any]) -> list[str]:
    window = subjects["window"]
    start = _moment_text(window["from"]) if window["from"] else _("the first row")
    end = _moment_text(window["until"]) if window["until"] else _("the last row")
    lines = [
        f"## {subjects['label']}",
        "",
        _("%(subjects)s data subjects and %(records)s records, in the rows dated from %(start)s to %(end)s.")
        % {"subjects": subjects["subjects"], "records": subjects["records"], "start": start, "end": end},
        "",
    ]
    if subjects["by_model"]:
        header = (_("Model"), _("Records"), _("Data subjects"), _("Records of no account"))
        lines += ["| " + " | ".join(header) + " |", "|---|---|---|---|"]
        for model in subjects["by_model"]:
            count = "?" if model["subjects"] is None else model["subjects"]
            name = f"{model['verbose_name']} (`{model['label']}`)"
            lines.append(f"| {name} | {model['records']} | {count} | {model['records_without_subject']} |")
        lines.append("")
    if subjects["unlisted_models"]:
        lines += [
            _("The registry cannot list the subjects of %(labels)s (a function names them): list them by hand.")
            % {"labels": _joined(subjects["unlisted_models"])},
            "",
        ]
    for label in subjects["unknown_models"]:
        lines += [
            _("%(label)s is not in the personal-data registry any more: its rows are not counted.") % {"label": label},
            "",
        ]
    ids = _joined([str(pk) for pk in subjects["ids"]]) or _("none")
    lines += [_("Their accounts, by id (to find how to reach each one): %(ids)s") % {"ids": ids}, ""]
    return lines

"""The personal-data registry: where personal data lives, whose it is, and how long it is kept.

Each model is described once; retention, export, erasure and the inventory all
read this description::

    from privacy_kit import registry

    registry.register(
        Order,
        subject="customer",
        category="personal",
        personal_fields=["full_name", "phone", "address"],
        retention=registry.Retention(
            basis="relationship", date_field="created_at", after_days=730,
            action="anonymize", keep_fields=["total", "created_at"],
        ),
    )

Mistakes in a registration are reported by ``manage.py check`` (see
``registration_errors``), not at purge time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models

from .conf import app_settings

RELATIONSHIP = "relationship"
AGE = "age"
DELETE = "delete"
ANONYMIZE = "anonymize"
BASES = (RELATIONSHIP, AGE)
ACTIONS = (DELETE, ANONYMIZE)

#: The Kingdom of Saudi Arabia: data kept for recipients here is no transfer.
KINGDOM = "SA"
#: The safeguards under which the PDPL's Transfer Regulation lets personal data leave the Kingdom:
#: a destination the authority has found adequate (Art. 2), the appropriate safeguards of Art. 5,
#: and the cases it exempts (Art. 6, such as a contract with the subject that needs the transfer).
SAFEGUARDS = {
    "adequacy": "an adequacy decision for the destination",
    "standard_contractual_clauses": "standard contractual clauses",
    "binding_common_rules": "binding common rules",
    "certification": "a certification of the recipient",
    "code_of_conduct": "a binding code of conduct",
    "exemption": "a case the Transfer Regulation exempts",
}
#: ISO 3166-1 alpha-2 country codes (the same 249 as the time-zone database's iso3166.tab).
COUNTRIES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW
    BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI
    FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN
    IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME
    MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF
    PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE
    YT ZA ZM ZW
    """.split()
)
# Codes often written for these countries that ISO 3166-1 does not use.
_COMMON_MISTAKES = {"UK": "the United Kingdom is 'GB'", "EL": "Greece is 'GR'", "KSA": "the Kingdom is 'SA'"}


class RegistrationError(ImproperlyConfigured):
    """A ``register()`` call was refused: its message names the model and what to fix. Nothing was registered."""


@dataclass(frozen=True)
class Transfer:
    """Personal data of the model sent outside the Kingdom: where to, under which safeguard, and to whom.

    ``country`` is the ISO 3166-1 alpha-2 code of the destination (``"IE"``,
    ``"US"``); ``safeguard`` is a key of ``SAFEGUARDS``; ``recipient`` names who
    receives the data there (a processor, a courier's head office...).
    """

    country: str
    safeguard: str
    recipient: str = ""

    def __post_init__(self) -> None:
        # "ie" is Ireland's code in lower case; "Ireland" stays as written, for the error to quote.
        if isinstance(self.country, str) and len(self.country.strip()) == 2:
            object.__setattr__(self, "country", self.country.strip().upper())


@dataclass(frozen=True)
class Retention:
    """How long rows are kept and what happens to them then.

    ``basis="age"``: a row expires when its ``date_field`` is older than the period.
    ``basis="relationship"``: a subject's rows expire once the subject has been
    inactive for the period. ``after_days`` is a number of days or a key of
    ``PRIVACY_KIT["RETENTION"]``.
    """

    basis: str
    date_field: str
    after_days: int | str
    action: str = DELETE
    keep_fields: Iterable[str] = ()
    #: Relations that keep a row past its period while a row of theirs is linked to it:
    #: a security event escalated into a breach stays as long as the breach record.
    keep_while_linked: Iterable[str] = ()
    #: Paths from a row to users whose active legal hold keeps the row, besides the
    #: registration's subject: the access log rows about a held customer.
    legal_hold_paths: Iterable[str] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "keep_fields", tuple(self.keep_fields))
        object.__setattr__(self, "keep_while_linked", tuple(self.keep_while_linked))
        object.__setattr__(self, "legal_hold_paths", tuple(self.legal_hold_paths))

    @property
    def days(self) -> int:
        """Return the period in days, reading ``PRIVACY_KIT["RETENTION"]`` for a named period."""
        if isinstance(self.after_days, str):
            return int(app_settings.RETENTION[self.after_days])
        return int(self.after_days)


@dataclass(frozen=True)
class Registration:
    """One model's entry in the registry."""

    model: type[models.Model]
    subject: str | Callable[[models.Model], Any] | None
    category: str
    personal_fields: tuple[str, ...] = ()
    retention: Retention | None = None
    purposes: tuple[str, ...] = field(default=())
    recipients: tuple[str, ...] = ()
    transfers: tuple[Transfer, ...] = ()
    #: The fields the subject may correct themselves on the my-data page (and staff through a correction request).
    correctable: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The policy's name: the model's label, such as ``shop.Order``."""
        return self.model._meta.label

    @property
    def subject_path(self) -> str | None:
        """The ORM path from a row to its user, or None when the subject is a callable."""
        return self.subject if isinstance(self.subject, str) else None

    @property
    def legal_hold_paths(self) -> tuple[str, ...]:
        """Return the paths from a row to the users whose active legal hold keeps it: the subject's, and others."""
        extra = self.retention.legal_hold_paths if self.retention else ()
        return tuple(dict.fromkeys([*([self.subject_path] if self.subject_path else []), *extra]))


class Registry:
    """The registrations of a project, one per model."""

    def __init__(self) -> None:
        self._registrations: dict[str, Registration] = {}
        # By model class: Options.label is computed on every read, and this runs for every value saved.
        self._subject_columns: dict[type[models.Model], models.Field | None] = {}
        self.version = 0  # changes with every registration: what caches of the registry compare

    def register(
        self,
        model: type[models.Model],
        *,
        subject: str | Callable[[models.Model], Any] | None,
        category: str,
        personal_fields: Iterable[str] = (),
        retention: Retention | None = None,
        purposes: Iterable[str] = (),
        recipients: Iterable[str] = (),
        transfers: Iterable[Transfer] = (),
        correctable: Iterable[str] = (),
    ) -> Registration:
        """Describe a model's personal data; registering a model again replaces its entry.

        ``subject`` is required: a path of relations from a row to its user
        (``"customer"``, ``"order__customer"``), a callable that takes a row and returns
        its user or None, or None for rows that belong to no customer account (retention
        by age only; export and erasure leave them out).

        ``recipients`` names who else receives the data (a courier, a payment
        processor); ``transfers`` lists each ``Transfer`` of it outside the Kingdom.
        Both go into the records of processing (``manage.py privacy_inventory``).
        ``correctable`` names the fields the subject corrects on the my-data page
        (``privacy_kit.requests``): editable fields of the model's own, not its primary
        key nor a relation. A malformed option raises ``RegistrationError`` and registers nothing.
        """
        label = model._meta.label
        registration = Registration(
            model=model,
            subject=subject,
            category=category,
            personal_fields=tuple(personal_fields),
            retention=retention,
            purposes=tuple(purposes),
            recipients=_checked_recipients(label, recipients),
            transfers=_checked_transfers(label, transfers),
            correctable=_checked_correctable(model, correctable),
        )
        self._registrations[registration.name] = registration
        self._subject_columns.clear()
        self.version += 1
        return registration

    def unregister(self, model: type[models.Model]) -> None:
        self._registrations.pop(model._meta.label, None)
        self._subject_columns.clear()
        self.version += 1

    def subject_column(self, model: type[models.Model]) -> models.Field | None:
        """Return the column of the model's own table that names each row's subject, or None.

        That is the primary key of the user model, or the foreign key to the user that
        the registration's subject path names when the path is that one relation. The
        encrypted values of rows with such a column are sealed under their subject's key.
        """
        try:
            return self._subject_columns[model]
        except KeyError:
            column = self._subject_columns[model] = self._find_subject_column(model)
            return column

    def _find_subject_column(self, model: type[models.Model]) -> models.Field | None:
        concrete = model._meta.concrete_model or model
        if concrete._meta.label == settings.AUTH_USER_MODEL:
            return concrete._meta.pk
        registration = self._registrations.get(model._meta.label) or self._registrations.get(concrete._meta.label)
        path = registration.subject_path if registration else None
        if not path or "__" in path:
            return None
        relation = _field(concrete, path)
        if (
            isinstance(relation, models.ForeignKey)
            and relation.model is concrete  # in the model's own table, not a parent's
            and relation.related_model is not None
            and relation.related_model._meta.label == settings.AUTH_USER_MODEL
            and relation.target_field.primary_key
        ):
            return relation
        return None

    def registrations(self) -> list[Registration]:
        return list(self._registrations.values())

    def get(self, name: str) -> Registration:
        """Return the registration of a model label; raise ``LookupError`` naming the known ones."""
        try:
            return self._registrations[name]
        except KeyError:
            known = ", ".join(sorted(self._registrations)) or "none"
            raise LookupError(f"No registration named {name!r}; registered: {known}.") from None


default_registry = Registry()
register = default_registry.register
unregister = default_registry.unregister
registrations = default_registry.registrations
subject_column = default_registry.subject_column
get = default_registry.get


def _listed(label: str, option: str, values: Any, what: str) -> list[Any]:
    if isinstance(values, (str, bytes, Transfer)) or not isinstance(values, Iterable):
        given = "a string" if isinstance(values, str) else repr(values)
        raise RegistrationError(
            f"{label}: {option} must be a list of {what}, not {given}: "
            f"write {option}=[...] (a string would be read letter by letter)."
        )
    return list(values)


def _checked_recipients(label: str, recipients: Any) -> tuple[str, ...]:
    """Return the recipients as a tuple of names; raise ``RegistrationError`` naming the first bad one."""
    names = _listed(label, "recipients", recipients, "names")
    for index, name in enumerate(names):
        if not isinstance(name, str):
            raise RegistrationError(f"{label}: recipients[{index}] must be a name (a string), not {name!r}.")
        if not name.strip():
            raise RegistrationError(f"{label}: recipients[{index}] is empty; name who receives the data.")
    return tuple(name.strip() for name in names)


def _checked_transfers(label: str, transfers: Any) -> tuple[Transfer, ...]:
    """Return the transfers as a tuple; raise ``RegistrationError`` naming the first bad one and what to write."""
    checked = _listed(label, "transfers", transfers, "registry.Transfer(country=..., safeguard=...)")
    known = ", ".join(SAFEGUARDS)
    for index, transfer in enumerate(checked):
        where = f"{label}: transfers[{index}]"
        if not isinstance(transfer, Transfer):
            raise RegistrationError(
                f"{where} must be a registry.Transfer(country=..., safeguard=..., recipient=...), not {transfer!r}."
            )
        country = transfer.country
        if country == KINGDOM:
            raise RegistrationError(
                f"{where}: {KINGDOM} is the Kingdom itself, not a transfer outside it; "
                "name a recipient there in recipients=[...] instead."
            )
        if not isinstance(country, str) or country not in COUNTRIES:
            mistake = _COMMON_MISTAKES.get(country) if isinstance(country, str) else None
            raise RegistrationError(
                f"{where} names the country {country!r}, which is not an ISO 3166-1 alpha-2 code"
                + (f" ({mistake})" if mistake else " such as 'IE' or 'US'")
                + "."
            )
        if transfer.safeguard not in SAFEGUARDS:
            raise RegistrationError(f"{where} has the safeguard {transfer.safeguard!r}, which is not one of {known}.")
        if not isinstance(transfer.recipient, str):
            raise RegistrationError(f"{where}: recipient must be a name (a string), not {transfer.recipient!r}.")
    return tuple(checked)


#: The user model's fields that control the account, never corrected by its subject.
ACCOUNT_CONTROL_FIELDS = frozenset({"password", "is_active", "is_staff", "is_superuser", "last_login", "date_joined"})


def _checked_correctable(model: type[models.Model], names: Any) -> tuple[str, ...]:
    """Return the correctable field names; raise ``RegistrationError`` naming the first one a subject cannot correct."""
    label = model._meta.label
    checked = _listed(label, "correctable", names, "field names")
    for name in checked:
        field = _field(model, name) if isinstance(name, str) else None
        if field is None:
            known = ", ".join(
                f.name for f in model._meta.concrete_fields if f.editable and not f.primary_key and not f.is_relation
            )
            raise RegistrationError(
                f"{label}: correctable names {name!r}, which is not a field of it; its fields: {known}."
            )
        if field.primary_key or field.is_relation or not field.editable or not field.concrete:
            raise RegistrationError(
                f"{label}: correctable names {name!r}, which a subject cannot correct "
                "(a primary key, a relation or a field that is not editable)."
            )
        if label == settings.AUTH_USER_MODEL and name in ACCOUNT_CONTROL_FIELDS:
            raise RegistrationError(
                f"{label}: correctable names {name!r}, which says who may log in and with which rights: "
                "a subject cannot correct it."
            )
    return tuple(dict.fromkeys(checked))


def _field(model: type[models.Model], name: str) -> models.Field | None:
    try:
        return model._meta.get_field(name)  # type: ignore[return-value]
    except FieldDoesNotExist:
        return None


def _path_target(model: type[models.Model], path: str) -> type[models.Model] | None:
    """Return the model that an ORM path of relations ends at, or None if it breaks."""
    current = model
    for part in path.split("__"):
        relation = _field(current, part)
        if relation is None or not relation.is_relation or relation.related_model is None:
            return None
        current = relation.related_model  # type: ignore[assignment]
    return current


def registration_errors(registration: Registration) -> list[str]:
    """Return what is wrong with a registration, in sentences that say what to fix."""
    model, label = registration.model, registration.name
    errors = []
    if registration.subject_path is not None:
        target = _path_target(model, registration.subject_path)
        if target is None or target._meta.label != settings.AUTH_USER_MODEL:
            errors.append(
                f"{label}: subject {registration.subject_path!r} does not lead to {settings.AUTH_USER_MODEL}; "
                "give the path of relations from a row to its user, such as 'customer' or 'order__customer'."
            )
    elif registration.subject is not None and not callable(registration.subject):
        errors.append(f"{label}: subject must be a path of relations, a callable, or None.")
    for name in registration.personal_fields:
        if _field(model, name) is None:
            errors.append(f"{label}: personal field {name!r} does not exist.")
    retention = registration.retention
    if retention is None:
        return errors
    if retention.basis not in BASES:
        errors.append(f"{label}: retention basis {retention.basis!r} is not one of {', '.join(BASES)}.")
    if retention.action not in ACTIONS:
        errors.append(f"{label}: retention action {retention.action!r} is not one of {', '.join(ACTIONS)}.")
    date_field = _field(model, retention.date_field)
    if not isinstance(date_field, models.DateField):
        errors.append(f"{label}: retention date_field {retention.date_field!r} is not a date or datetime field.")
    for name in retention.keep_fields:
        if _field(model, name) is None:
            errors.append(f"{label}: keep_fields names {name!r}, which does not exist.")
    for name in retention.keep_while_linked:
        relation = _field(model, name)
        if relation is None or not relation.is_relation:
            errors.append(f"{label}: keep_while_linked names {name!r}, which is not a relation of the model.")
    for path in retention.legal_hold_paths:
        target = _path_target(model, path)
        if target is None or target._meta.label != settings.AUTH_USER_MODEL:
            errors.append(
                f"{label}: legal_hold_paths names {path!r}, which does not lead to {settings.AUTH_USER_MODEL}."
            )
    if retention.basis == RELATIONSHIP and registration.subject_path is None:
        errors.append(f"{label}: the relationship basis needs a subject path to the user.")
    if isinstance(retention.after_days, str) and retention.after_days not in app_settings.RETENTION:
        errors.append(
            f"{label}: after_days names {retention.after_days!r}, which PRIVACY_KIT['RETENTION'] does not define."
        )
    elif not isinstance(retention.after_days, str) and int(retention.after_days) < 0:
        errors.append(f"{label}: after_days must not be negative.")
    if retention.action == ANONYMIZE:
        for name in registration.personal_fields:
            personal = _field(model, name)
            if name not in retention.keep_fields and personal is not None and personal.primary_key:
                errors.append(f"{label}: the primary key {name!r} cannot be anonymized.")
    return errors

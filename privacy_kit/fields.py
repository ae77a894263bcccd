"""Encrypted model fields.

Each ``Encrypted*Field`` is its plain Django field with the value sealed by
AES-256-GCM before it reaches the database and opened when it comes back, so
validation, forms and the admin behave as with the plain field. The column
holds text whatever the plain field's type.

The values of a model registered with a subject (a foreign key to the user, or the
user model itself) are sealed under that subject's own key (``privacy_kit.keys``).
Reading them, the database reports each row's subject, and the subject's wrapped
key, beside the value (``SubjectCol``): the key is chosen by the row, never by
anything inside the value, so a value copied into another subject's row, or a row
moved to another subject, does not decrypt.

``searchable=True`` prefixes each stored value with a blind index (a keyed
HMAC of the normalized plaintext) and adds a generated, indexed column that
the database fills from that prefix. The index can therefore never go stale:
``save()``, ``update()``, ``bulk_create()`` and ``bulk_update()`` all write the
one value it is generated from. ``exact`` and ``in`` lookups use it; every
lookup the ciphertext cannot answer raises ``FieldError``.
"""

from __future__ import annotations

import binascii
import datetime
import json
import sys
import time
import unicodedata
from collections.abc import Iterator
from contextlib import ExitStack
from functools import cached_property, partial
from typing import Any

from cryptography.exceptions import InvalidTag
from django.core import checks
from django.core.exceptions import FieldError, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import DatabaseError, connection, connections, models, transaction
from django.db.models.expressions import Case, Col, Value, When
from django.db.models.fields import AutoFieldMixin
from django.db.models.functions import Cast
from django.db.models.lookups import Exact, In, IsNull, Lookup
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import class_prepared, post_init, post_save, pre_save
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from . import crypto, registry
from .crypto import BLIND_INDEX_CHARS, Binding, DecryptionError
from .keys import store

BLIND_INDEX_SUFFIX = "_blind_index"

E010 = "privacy_kit.E010"
E011 = "privacy_kit.E011"
E012 = "privacy_kit.E012"
E013 = "privacy_kit.E013"
E014 = "privacy_kit.E014"
E015 = "privacy_kit.E015"


class EncryptedField(models.Field):
    """Store the value of the plain field it is mixed into encrypted; list it before that field."""

    # True where the plaintext text is the Python value itself (text fields).
    plaintext_is_value = False

    def __init__(self, *args: Any, searchable: bool = False, **kwargs: Any) -> None:
        self.searchable = searchable
        super().__init__(*args, **kwargs)

    @property
    def description(self) -> Any:  # type: ignore[override]
        # What the plain field says, with its placeholders (admindocs fills them in).
        return format_lazy(_("Encrypted {}"), super().description)

    # -- declaration ------------------------------------------------------

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.searchable:
            kwargs["searchable"] = True
        return name, path, args, kwargs

    def contribute_to_class(self, cls: type[models.Model], name: str, **kwargs: Any) -> None:
        super().contribute_to_class(cls, name, **kwargs)
        self.binding = Binding(cls._meta.label_lower, self.name)
        # What a subject envelope of this column authenticates before the subject (hot path).
        self.subject_data = crypto.SUBJECT_HEADER + self.binding.associated_data
        self.subject_data_at = self.subject_data + b"@"  # then the subject, for a column without blind index
        if self.searchable:
            # Its blind-index column is added once the model is built (unless listed, see
            # add_blind_indexes), or now to a model built already.
            if cls._meta.apps.all_models[cls._meta.app_label].get(cls._meta.model_name) is cls:
                add_blind_indexes(cls)
            else:
                class_prepared.connect(add_blind_indexes, sender=cls, dispatch_uid="privacy_kit.add_blind_indexes")
        receivers = ((post_init, remember_subject), (post_save, remember_subject), (pre_save, check_partial_save))
        for signal, receiver in receivers:
            signal.connect(receiver, sender=cls, dispatch_uid=f"privacy_kit.{receiver.__name__}")

    @property
    def blind_index_field(self) -> BlindIndexField:
        return self.model._meta.get_field(self.name + BLIND_INDEX_SUFFIX)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        if not hasattr(self, "binding"):
            # Not a column of its model: a GeneratedField's output_field, which the database computes.
            return [
                checks.Error(
                    "An encrypted field cannot be a GeneratedField's output_field: the database computes "
                    "and stores the column itself, unencrypted.",
                    hint="Use a plain output_field, or compute the value in Python into an encrypted field.",
                    obj=self,
                    id=E015,
                )
            ]
        return [*super().check(**kwargs), *self._check_encryption_options()]

    def _check_encryption_options(self) -> list[checks.CheckMessage]:
        errors = []
        label = f"{self.model._meta.label}.{self.name}"
        if self.primary_key:
            errors.append(
                checks.Error(
                    f"{label} is encrypted and cannot be a primary key.",
                    hint="Every encryption of a value differs, so the database cannot compare them. "
                    "Keep a plain primary key.",
                    obj=self,
                    id=E010,
                )
            )
        elif self._unique and not self.searchable:
            errors.append(
                checks.Error(
                    f"{label} is encrypted and not searchable, so it cannot be unique.",
                    hint="Every encryption of a value differs, so the database cannot compare them. "
                    "Declare it with searchable=True: the unique index is then on its blind index.",
                    obj=self,
                    id=E010,
                )
            )
        errors.extend(self._check_unique_constraints())
        if self.db_index:
            errors.append(
                checks.Error(
                    f"{label} is encrypted: an index on its ciphertext is of no use.",
                    hint="Remove db_index; use searchable=True to get an indexed blind index.",
                    obj=self,
                    id=E011,
                )
            )
        if self.has_db_default():
            errors.append(
                checks.Error(
                    f"{label} is encrypted and has a db_default, which the database would store unencrypted.",
                    hint="Use default= instead: the field seals it like any other value.",
                    obj=self,
                    id=E014,
                )
            )
        if self.searchable and not self.supports_blind_index():
            errors.append(
                checks.Error(
                    f"{label}: searchable=True is not supported on {type(self).__name__}.",
                    hint="Blind indexes work on text, email, integer and date fields.",
                    obj=self,
                    id=E012,
                )
            )
        return errors

    def _check_unique_constraints(self) -> list[checks.CheckMessage]:
        # The database would compare ciphertexts, which differ for equal values: such a
        # constraint never fires, whatever the field.
        meta = self.model._meta
        groups = [(f"unique_together {list(names)!r}", names) for names in meta.unique_together]
        for constraint in meta.constraints:
            if isinstance(constraint, models.UniqueConstraint):
                names = [*constraint.fields, *_referenced_names(constraint.expressions)]
                groups.append((f"the constraint {constraint.name!r}", names))
        return [
            checks.Error(
                f"{meta.label}.{self.name} is encrypted and in {described}: the database would compare "
                "ciphertexts, which differ for equal values, so it can never refuse a duplicate.",
                hint="Make the field alone unique with unique=True and searchable=True, or keep the "
                "constraint on plain columns.",
                obj=self,
                id=E013,
            )
            for described, names in groups
            if self.name in names or self.attname in names
        ]

    def supports_blind_index(self) -> bool:
        if isinstance(self, models.DateTimeField):
            return False
        return isinstance(self, (models.CharField, models.TextField, models.IntegerField, models.DateField))

    @cached_property
    def validators(self) -> list[Any]:
        if not isinstance(self, models.IntegerField):
            return super().validators
        # IntegerField looks its range up by internal type, which is text here:
        # keep the range of the plain field's column, as the plain field would.
        low, high = connection.ops.integer_field_range(super().get_internal_type())
        validators = [*self.default_validators, *self._validators]
        if low is not None:
            validators.append(MinValueValidator(low))
        if high is not None:
            validators.append(MaxValueValidator(high))
        return validators

    # -- storage ----------------------------------------------------------

    def get_internal_type(self) -> str:
        # The column holds text, and the backends must treat it as text: no
        # numeric casts, no date converters, no check constraints on it.
        return "TextField"

    def get_col(self, alias: str, output_field: Any = None) -> Col:
        if output_field is None or output_field is self:
            return SubjectCol(alias, self)
        return super().get_col(alias, output_field)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)
        if is_sql(value):
            value = self.refuse_unsealed(value)
            if not isinstance(value, Value):
                return value
            value = value.value  # the field's own value (or None): sealed as if assigned
        # The model that holds this column: what reading it uses (a parent's, with inheritance).
        column = registry.subject_column(self.model)
        # The empty text is stored as it is, under no key; "" of a JSON field is a value like any other.
        empty = value == "" and self.plaintext_is_value
        if column is None or value is None or empty:
            return value
        owner = getattr(model_instance, column.attname)
        if owner is None:
            return value  # no subject yet: sealed under the shared keys
        subject = store.subject_id(owner, column=column, model=self.model, instance=model_instance)
        return SubjectValue(value, subject)

    def refuse_unsealed(self, expression: Any) -> Any:
        """Return an expression written to this column if what it stores is sealed by the field; raise if not.

        The database would store what an SQL expression computes as it is, unencrypted:
        ``F("other")``, ``Concat(...)``, a function, a cast or a database default. What
        Django's ``bulk_update()`` writes passes: values the field prepares itself
        (``Value(value, output_field=field)``), chosen by ``Case``/``When`` and cast to
        the field, and NULL.
        """
        if _sealed_by(expression, self):
            return expression
        raise ValueError(
            f"{self.model._meta.label}.{self.name} is encrypted: the database would store what "
            f"{type(expression).__name__} computes unencrypted. Assign the value itself."
        )

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if is_sql(value):  # update(field=expression)
            return self.refuse_unsealed(value)
        if type(value) is SubjectValue:
            text, subject = value.value, value.subject
            if type(text) is str and text and self.plaintext_is_value and not self.searchable:
                # The hot path, inline: text of a column without blind index, its subject's key
                # cached (crypto.seal_with). Anything else goes through _prep_sealed().
                entry = store.cache.ciphers.get(subject)
                if entry is not None and entry[0] > time.monotonic():
                    nonce = crypto.new_nonce()
                    sealed = entry[1].encrypt(nonce, text.encode(), self.subject_data_at + subject.encode())
                    return binascii.b2a_base64(crypto.SUBJECT_HEADER + nonce + sealed, newline=False).decode("ascii")
            return self._prep_sealed(text, connection, subject)
        return self.get_db_prep_value(value, connection, prepared=False)

    def _prep_sealed(self, value: Any, connection: Any, subject: str) -> Any:
        if type(value) is str and self.plaintext_is_value:
            return self.seal(value, subject)
        value = self.get_prep_value(value)
        return None if value is None else self.seal(self.value_to_text(value), subject)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        # The hot path (a str for a text field) skips the plain field's
        # preparation, which would return the same str.
        if type(value) is str and self.plaintext_is_value:
            return self.seal(value)
        if hasattr(value, "as_sql"):
            return value
        if not prepared:
            value = self.get_prep_value(value)
            if value is None:
                return None
        return self.seal(self.value_to_text(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        # The hot path, inline: a value under the shared keys, no blind-index prefix. Anything
        # else, and every failure, goes through open(), which says why.
        if value[BLIND_INDEX_CHARS : BLIND_INDEX_CHARS + 1] != ":":
            try:
                raw = binascii.a2b_base64(value, strict_mode=True)
                cipher = crypto.keyring().ciphers_by_header.get(raw[: crypto.HEADER_BYTES])
                if cipher is not None:
                    opened = cipher.decrypt(
                        raw[crypto.HEADER_BYTES : SHARED_NONCE_END],
                        raw[SHARED_NONCE_END:],
                        raw[: crypto.HEADER_BYTES] + self.binding.associated_data,
                    )
                    text = opened.decode()
                    return text if self.plaintext_is_value else self.text_to_value(text)
            except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
                pass
        text = self.open(value)
        return text if self.plaintext_is_value else self.text_to_value(text)

    def seal(self, text: str, subject: str | None = None) -> str:
        """Return the stored form of a plaintext: blind index prefix (if searchable) and envelope.

        With a ``subject`` (as ``privacy_kit.keys.subject_id`` gives it), the envelope is sealed under
        that subject's key and bound to the subject; without, under the shared keys.

        The empty text is stored as the empty string: its emptiness is no secret
        (an encrypted empty value has a length of its own), and it lets SQL tell
        blank or anonymized values apart without decrypting.
        """
        if not text:
            return ""
        ring = crypto.keyring()
        if subject is None and not self.searchable:  # the hot path of a column without subject
            return ring.seal(text.encode(), self.binding.associated_data)
        associated_data, prefix = self.binding.associated_data, ""
        if self.searchable:
            prefix = ring.blind_index(self.binding, self.normalize(text))
            associated_data += b"#" + prefix.encode("ascii")
            prefix += ":"
        if subject is None:
            return prefix + ring.seal(text.encode(), associated_data)
        cipher = store.writing_cipher(subject)
        return prefix + crypto.seal_with(cipher, text.encode(), associated_data + b"@" + subject.encode())

    def open(self, stored: str, subject: str | None = None, batch: Any = None) -> str:
        """Return the plaintext of a stored value or raise ``DecryptionError``.

        ``subject`` is the row's subject as the database reported it (``None`` for a row
        without one); ``batch`` loads the keys of the other rows of the same query with
        its key. A value sealed under a subject's key opens only with that subject; a
        value of an erased subject raises ``KeyDestroyed``.
        """
        if not stored:
            return ""
        if stored[BLIND_INDEX_CHARS : BLIND_INDEX_CHARS + 1] == ":":
            token = stored[BLIND_INDEX_CHARS + 1 :]
            associated_data = self.binding.associated_data + b"#" + stored[:BLIND_INDEX_CHARS].encode("ascii")
        else:
            token, associated_data = stored, self.binding.associated_data
        ring = crypto.keyring()
        try:
            raw = binascii.a2b_base64(token, strict_mode=True)
        except (binascii.Error, ValueError):
            raw = b""
        if raw[:1] == crypto.SUBJECT_HEADER:
            plaintext = self._open_subject(raw, associated_data, subject, batch)
        elif raw:
            plaintext = ring.open_raw(raw, associated_data, self.binding)
        else:
            plaintext = ring.open(token, associated_data, self.binding)  # raises: not an envelope
        try:
            return plaintext.decode()
        except UnicodeDecodeError:
            raise DecryptionError(self.binding.model, self.binding.field, None, "the plaintext is not text") from None

    def _open_subject(self, raw: bytes, associated_data: bytes, subject: str | None, batch: Any) -> bytes:
        model, field = self.binding.model, self.binding.field
        if subject is None:
            raise DecryptionError(model, field, crypto.SUBJECT_KEY, "the row has no subject")
        cipher = store.reading_cipher(subject, batch, model, field)
        try:
            return crypto.open_with(cipher, raw, associated_data + b"@" + subject.encode())
        except (InvalidTag, ValueError):
            raise DecryptionError(
                model, field, crypto.SUBJECT_KEY, "authentication failed: the value was altered or is another row's"
            ) from None

    def from_subject_db_value(self, batch: Any, value: Any, expression: Any, connection: Any) -> Any:
        """Convert what ``SubjectCol`` selects: the row's subject and the stored value."""
        if value is None:
            return None
        subject, separator, stored = value.partition("|")
        if not separator:
            raise DecryptionError(
                self.binding.model, self.binding.field, None, "the database did not report the row's subject"
            )
        # The hot path, inline: a subject envelope whose key is cached. Anything else, and
        # every failure, goes through open(), which says why.
        entry = store.cache.ciphers.get(subject) if subject else None
        if entry is not None and entry[0] > time.monotonic():
            if stored[BLIND_INDEX_CHARS : BLIND_INDEX_CHARS + 1] == ":":
                token = stored[BLIND_INDEX_CHARS + 1 :]
                associated_data = self.subject_data + b"#" + stored[:BLIND_INDEX_CHARS].encode("ascii") + b"@"
            else:
                token, associated_data = stored, self.subject_data_at
            try:
                raw = binascii.a2b_base64(token, strict_mode=True)
                if raw[:1] == crypto.SUBJECT_HEADER:
                    opened = entry[1].decrypt(raw[1:NONCE_END], raw[NONCE_END:], associated_data + subject.encode())
                    text = opened.decode()
                    return text if self.plaintext_is_value else self.text_to_value(text)
            except (binascii.Error, ValueError, InvalidTag):
                pass
        text = self.open(stored, subject or None, batch)
        return text if self.plaintext_is_value else self.text_to_value(text)

    # -- plaintext codec: the value as text, exact and distinct from NULL --

    def value_to_text(self, value: Any) -> str:
        return str(value)

    def text_to_value(self, text: str) -> Any:
        try:
            return self.to_python(text)
        except (ValidationError, ValueError, TypeError):
            raise DecryptionError(
                self.binding.model, self.binding.field, None, "the plaintext does not fit the field's type"
            ) from None

    def normalize(self, text: str) -> str:
        """Return the form of a plaintext that the blind index hashes.

        Text is brought to Unicode NFKC (composed, compatibility forms folded, as
        Arabic presentation forms are) and its whitespace is stripped at both ends
        and collapsed to one space inside, so what a person typed again matches.
        Other values (numbers, dates) already have a single text form.
        """
        if isinstance(self, (models.CharField, models.TextField)):
            return " ".join(unicodedata.normalize("NFKC", text).split())
        return text

    def blind_index(self, value: Any) -> str:
        """Return the blind index of a query value, as the generated column holds it."""
        text = self.value_to_text(self.get_prep_value(value))
        if not text:
            return ""  # what the generated column holds for a stored empty string
        return crypto.keyring().blind_index(self.binding, self.normalize(text))

    def blind_indexes(self, value: Any) -> list[str]:
        """Return the blind indexes a stored value equal to a query value may hold.

        The index under ``BLIND_INDEX_KEY``, then (while a blind-index rotation
        runs) those under each of ``BLIND_INDEX_KEY_FALLBACKS``.
        """
        text = self.value_to_text(self.get_prep_value(value))
        if not text:
            return [""]
        ring, normalized = crypto.keyring(), self.normalize(text)
        current = ring.blind_index(self.binding, normalized)
        if not ring.blind_index_fallbacks:
            return [current]
        return [current, *ring.fallback_blind_indexes(self.binding, normalized)]

    # -- lookups ----------------------------------------------------------

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return IsNull
        if lookup_name in ("exact", "in") and self.searchable:
            return BlindIndexExact if lookup_name == "exact" else BlindIndexIn
        raise FieldError(self._lookup_refusal(lookup_name))

    def get_transform(self, lookup_name: str) -> Any:
        raise FieldError(self._lookup_refusal(lookup_name))

    def _lookup_refusal(self, lookup_name: str) -> str:
        label = f"{self.model._meta.label}.{self.name}"
        if lookup_name in ("exact", "in"):
            return (
                f"{label} is encrypted and not searchable, so the database cannot match it by value. "
                "Declare it with searchable=True to filter with exact and in through a blind index."
            )
        allowed = "'isnull', 'exact' and 'in'" if self.searchable else "'isnull' only"
        return (
            f"'{lookup_name}' cannot be used on the encrypted field {label}: the database holds only "
            f"ciphertext, so it cannot compare, order or look inside values. It supports {allowed}."
        )


# -- save(update_fields=...) and subject keys ---------------------------------------------
#
# A partial save must leave every encrypted value under the key of the subject the row
# names in the database: the values of a row moved to another subject are sealed again
# with it, and a value is sealed under the subject the row still has.

LOADED_SUBJECT = "_privacy_kit_subjects"


_columns_cache: dict[type[models.Model], tuple[int, dict[models.Field, list[EncryptedField]]]] = {}


def _subject_columns(model: type[models.Model]) -> dict[models.Field, list[EncryptedField]]:
    """Return each subject column of the model's tables with the encrypted fields it seals."""
    version = registry.default_registry.version
    cached = _columns_cache.get(model)
    if cached is not None and cached[0] == version:
        return cached[1]
    columns: dict[models.Field, list[EncryptedField]] = {}
    for field in model._meta.concrete_fields:
        if isinstance(field, EncryptedField):
            column = registry.subject_column(field.model)
            if column is not None:
                columns.setdefault(column, []).append(field)
    _columns_cache[model] = (version, columns)
    return columns


def remember_subject(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """Receive ``post_init`` and ``post_save``: note the subject each row has as loaded or saved."""
    if kwargs.get("raw"):
        return
    columns = _subject_columns(sender)
    if columns:
        instance.__dict__[LOADED_SUBJECT] = {column: instance.__dict__.get(column.attname) for column in columns}


def check_partial_save(
    sender: type[models.Model], instance: models.Model, update_fields: Any = None, **kwargs: Any
) -> None:
    """Receive ``pre_save``: refuse a partial save that would leave values under another subject's key."""
    if update_fields is None or kwargs.get("raw"):
        return
    loaded = instance.__dict__.get(LOADED_SUBJECT, {})
    for column, fields in _subject_columns(sender).items():
        if column not in loaded or loaded[column] == instance.__dict__.get(column.attname):
            continue  # the subject the database has: every value saved is sealed under it
        named = {column.name, column.attname} & set(update_fields)
        missing = [field.name for field in fields if field.name not in update_fields]
        if (named and missing) or (not named and len(missing) < len(fields)):
            label = sender._meta.label
            raise ValueError(
                f"{label}: the row's subject ({column.name}) changed, and save(update_fields=...) would leave "
                f"encrypted values sealed under another subject's key. Save {column.name} together with "
                f"{', '.join(field.name for field in fields)}, or save() the whole row."
            )


# What an expression's SQL is made from, when set on the expression itself rather than by its class
# (and any as_sql or as_<vendor> method set on it).
_SQL_OVERRIDES = ("template", "function", "arg_joiner", "case_joiner")


def _sealed_by(expression: Any, field: EncryptedField) -> bool:
    """Say whether everything an expression writes to ``field`` is NULL or a value the field seals itself.

    Only Django's own ``Value``, ``Case``, ``When`` and ``Cast``, as their classes
    write them: a subclass, or a template, function or joiner given to one, is SQL
    of its own.
    """
    kind = type(expression)
    if kind not in (Value, When, Case, Cast) or getattr(expression, "extra", None):
        return False
    if any(name in _SQL_OVERRIDES or name.startswith("as_") for name in vars(expression)):
        return False
    if kind is Value:
        return expression.value is None or expression._output_field_or_none == field
    if kind is When:
        return _sealed_by(expression.result, field)
    if expression._output_field_or_none != field:
        return False
    if kind is Case:
        return all(_sealed_by(source, field) for source in [*expression.cases, expression.default])
    return all(_sealed_by(source, field) for source in expression.get_source_expressions())


def is_sql(value: Any) -> bool:
    """Say whether a value is SQL for the database to compute (an expression, or anything that compiles)."""
    return hasattr(value, "resolve_expression") or hasattr(value, "as_sql")


class SubjectValue:
    """A value on its way to the database with the subject of its row (from ``pre_save``)."""

    __slots__ = ("subject", "value")

    def __init__(self, value: Any, subject: str) -> None:
        self.value = value
        self.subject = subject


BATCH = "_privacy_kit_subject_batch"
NONCE_END = 1 + crypto.NONCE_BYTES
SHARED_NONCE_END = crypto.HEADER_BYTES + crypto.NONCE_BYTES


class SubjectCol(Col):
    """The column of an encrypted field, selected with its row's subject.

    For a model with a subject the database returns ``subject|stored value``, so the key
    that opens the value is chosen by the row. The keys of all the subjects of a query's
    rows are loaded together at the first one not cached (``QueryBatch``): one
    query, whatever the number of subjects. Anywhere but the select list (a ``WHERE``, an
    expression) it is a plain column.
    """

    def select_format(self, compiler: Any, sql: str, params: Any) -> Any:
        column = registry.subject_column(self.target.model)
        query = compiler.query
        if column is None or query.subquery:
            # A subquery's value reaches the outer query without its row: it opens as a
            # value of no subject, so a subject's value refuses there (fails closed).
            return super().select_format(compiler, sql, params)
        # Django 6.1 names it quote_name; 5.2 has only quote_name_unless_alias.
        quote = getattr(compiler, "quote_name", None) or compiler.quote_name_unless_alias
        owner = f"{quote(self.alias)}.{quote(column.column)}" if self.alias else quote(column.column)
        # One batch for the columns of the query's own table (the compiler keeps it); a
        # joined table's rows look their keys up by subject.
        batch = None
        if self.alias == query.base_table:
            batch = compiler.__dict__.setdefault(BATCH, QueryBatch(query, compiler.using, column))
        # Only this instance's values carry the prefix: a raw() query's columns never do, and
        # the value itself must never be taken for the subject (see get_db_converters).
        self.reports_subject, self.batch = True, batch
        return f"COALESCE(CAST({owner} AS TEXT), '') || '|' || {sql}", params

    def get_db_converters(self, connection: Any) -> list[Any]:
        if not getattr(self, "reports_subject", False) or registry.subject_column(self.target.model) is None:
            return super().get_db_converters(connection)
        return [subject_converter(self.target, self.batch)]


def subject_converter(field: EncryptedField, batch: QueryBatch | None) -> Any:
    """Return the converter of a column selected with its row's subject (``from_subject_db_value``).

    Built once per query, with what every value needs bound in it: a value of a column
    without blind index whose subject's key is cached opens here; anything else, and
    every failure, goes through ``from_subject_db_value()``, which says why.
    """
    if field.searchable:
        return partial(field.from_subject_db_value, batch)
    keys, monotonic, a2b, header = store.cache, time.monotonic, binascii.a2b_base64, crypto.SUBJECT_HEADER
    data_at, as_value, slow = field.subject_data_at, field.text_to_value, field.from_subject_db_value
    plain_text = field.plaintext_is_value

    def convert(value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        subject, separator, stored = value.partition("|")
        entry = keys.ciphers.get(subject)
        if entry is not None and separator and entry[0] > monotonic():
            try:
                raw = a2b(stored, strict_mode=True)
                if raw[:1] == header:
                    text = entry[1].decrypt(raw[1:NONCE_END], raw[NONCE_END:], data_at + subject.encode()).decode()
                    return text if plain_text else as_value(text)
            except (binascii.Error, ValueError, InvalidTag):
                pass
        return slow(batch, value, expression, connection)

    return convert


class QueryBatch:
    """The subjects of the rows a query reads, whose keys load together at the first miss."""

    def __init__(self, query: Any, using: str, column: models.Field) -> None:
        self.query = query
        self.using = using
        self.column = column
        self.loaded = False

    def load(self) -> None:
        # A query the batch cannot rewrite (a union, say), or one key that does not open,
        # costs only speed: each subject's key is then looked up alone (a bad one fails
        # only its own rows).
        if self.loaded:
            return
        self.loaded = True
        try:
            rows = self.query.model._base_manager.using(self.using).all()
            rows.query = self.query.chain()
            rows.query.clear_ordering(force=False)
            text = Cast(self.column.attname, output_field=models.TextField())
            subjects = rows.annotate(**{SUBJECT: text}).values(SUBJECT)
            with ExitStack() as savepoints:
                # A failed query must not break the shop's transaction: inside one it runs in a savepoint.
                for alias in sorted({self.using, store.key_database()}):
                    if connections[alias].in_atomic_block:
                        savepoints.enter_context(transaction.atomic(using=alias))
                store.preload(subjects, self.using)
        except (DatabaseError, FieldError, TypeError, ValueError, DecryptionError):
            pass


SUBJECT = "privacy_kit_subject"


def split_stored(stored: str) -> tuple[str, str]:
    """Split a stored value into its blind index (or ``""``) and its envelope."""
    if stored[BLIND_INDEX_CHARS : BLIND_INDEX_CHARS + 1] == ":":
        return stored[:BLIND_INDEX_CHARS], stored[BLIND_INDEX_CHARS + 1 :]
    return "", stored


def _referenced_names(expressions: Any) -> Iterator[str]:
    """Yield the names of the fields that expressions refer to with ``F()``."""
    for expression in expressions:
        if isinstance(expression, models.F):
            yield expression.name
        elif hasattr(expression, "get_source_expressions"):
            yield from _referenced_names(expression.get_source_expressions())


def _has_local_field(cls: type[models.Model], name: str) -> bool:
    return any(field.name == name for field in cls._meta.local_fields)


class BlindIndexPrefix(models.Func):
    """The blind index at the start of a stored value: ``SUBSTR(column, 1, 22)``."""

    function = "SUBSTR"
    # Django's SQLite introspection splits a table's SQL on ", " to find its
    # columns; an expression without that separator keeps it working.
    arg_joiner = ","

    def __init__(self, source: str) -> None:
        super().__init__(
            source,
            models.Value(1),
            models.Value(BLIND_INDEX_CHARS),
            output_field=models.CharField(max_length=BLIND_INDEX_CHARS),
        )


def add_blind_indexes(sender: type[models.Model], **kwargs: Any) -> None:
    """Receive ``class_prepared``: add the blind-index column of each searchable field, unless listed.

    A model that migrations render from their state, or that the schema editor builds to
    remake a table, lists its blind-index columns as the migrations made them (unique or
    not): those are kept. What the migrations build for ``unique=True`` is the unique index
    on the blind index, so there the field itself is not unique: a UNIQUE on the ciphertext,
    where equal values never match, would be two more indexes of no use.
    """
    for field in list(sender._meta.local_fields):
        if not isinstance(field, EncryptedField) or not field.searchable:
            continue
        index_name = field.name + BLIND_INDEX_SUFFIX
        if _has_local_field(sender, index_name):
            field._unique = False
        else:
            # Equal values have equal blind indexes, never equal ciphertexts: unique=True holds there.
            sender.add_to_class(index_name, BlindIndexField(source=field.name, unique=field._unique))


class BlindIndexDescriptor(DeferredAttribute):
    """Read a blind-index column: ``None`` on a row not saved yet, whose index the database has not made."""

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        # Django's unique validation of a unique blind index (from unique=True on its
        # source) then skips it: the source field's own check, a lookup under every
        # blind-index key, is the one that finds duplicates.
        if instance is not None and instance._state.adding and self.field.attname not in instance.__dict__:
            return None
        return super().__get__(instance, cls)


class BlindIndexField(models.GeneratedField):
    """The indexed column of a searchable field, generated by the database from the stored value.

    Unique when its source is declared ``unique=True``.
    """

    descriptor_class = BlindIndexDescriptor

    def __init__(self, source: str, **kwargs: Any) -> None:
        self.source = source
        kwargs.setdefault("db_index", True)
        super().__init__(
            expression=BlindIndexPrefix(source),
            output_field=models.CharField(max_length=BLIND_INDEX_CHARS),
            db_persist=True,
            **kwargs,
        )

    def deconstruct(self) -> Any:
        name, path, _, _ = super().deconstruct()
        return name, path, [], {"source": self.source, **({"unique": True} if self._unique else {})}


class BlindIndexLookup(Lookup):
    """Match a searchable encrypted field through its blind-index column."""

    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        field = self.lhs.output_field
        if hasattr(self.rhs, "resolve_expression"):
            raise FieldError(
                f"{field.model._meta.label}.{field.name} is encrypted: it can be matched against "
                "values, not against other columns, expressions or subqueries."
            )
        # Each value matches under the current key or, during a rotation, a fallback key:
        # an exact lookup becomes an IN over its few indexes, still answered by the index.
        if self.lookup_name == "in":
            return [index for value in self.rhs if value is not None for index in field.blind_indexes(value)]
        if self.rhs is None:
            return None
        indexes = field.blind_indexes(self.rhs)
        return indexes if len(indexes) > 1 else indexes[0]

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        if not isinstance(self.lhs, Col):
            raise FieldError(self.lhs.output_field._lookup_refusal(self.lookup_name))
        column = self.lhs.output_field.blind_index_field.get_col(self.lhs.alias)
        lookup_class = In if isinstance(self.rhs, list) else Exact
        return lookup_class(column, self.rhs).as_sql(compiler, connection)


class BlindIndexExact(BlindIndexLookup):
    lookup_name = "exact"


class BlindIndexIn(BlindIndexLookup):
    lookup_name = "in"


# -- the field types -------------------------------------------------------


class EncryptedCharField(EncryptedField, models.CharField):
    plaintext_is_value = True


class EncryptedTextField(EncryptedField, models.TextField):
    plaintext_is_value = True


class EncryptedEmailField(EncryptedField, models.EmailField):
    plaintext_is_value = True

    def normalize(self, text: str) -> str:
        return super().normalize(text).lower()


class EncryptedIntegerField(EncryptedField, models.IntegerField):
    pass


class EncryptedDecimalField(EncryptedField, models.DecimalField):
    pass


class EncryptedDateField(EncryptedField, models.DateField):
    pass


class EncryptedDateTimeField(EncryptedField, models.DateTimeField):
    def value_to_text(self, value: Any) -> str:
        # Aware values are kept in UTC, as the database would return them.
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC)
        return value.isoformat()


class EncryptedJSONField(EncryptedField, models.JSONField):
    def value_to_text(self, value: Any) -> str:
        return json.dumps(value, cls=self.encoder, ensure_ascii=False)

    def text_to_value(self, text: str) -> Any:
        try:
            return json.loads(text, cls=self.decoder)
        except ValueError:
            raise DecryptionError(self.binding.model, self.binding.field, None, "the plaintext is not JSON") from None

    def get_prep_value(self, value: Any) -> Any:
        return value


# -- encrypt(field): django-cryptography's API -----------------------------

_UNSUPPORTED = (
    models.ForeignObject,
    models.ManyToManyField,
    models.FileField,
    models.BinaryField,
    AutoFieldMixin,
    models.GeneratedField,
)

_classes: dict[type[models.Field], type[EncryptedField]] = {
    models.CharField: EncryptedCharField,
    models.TextField: EncryptedTextField,
    models.EmailField: EncryptedEmailField,
    models.IntegerField: EncryptedIntegerField,
    models.DecimalField: EncryptedDecimalField,
    models.DateField: EncryptedDateField,
    models.DateTimeField: EncryptedDateTimeField,
    models.JSONField: EncryptedJSONField,
}


def _is_django_field(cls: type) -> bool:
    return getattr(models, cls.__name__, None) is cls


class DecoratedField:
    """What ``@encrypt`` adds to a field class of a shop's own: its migrations name it by its module.

    The decorated class keeps the plain class's module and name, as django-cryptography's
    did, so the name the module binds is the encrypted class. Built without the decorator
    (``EncryptedX = encrypt(X)``), that name is still the plain class, and a migration
    would create a plain column: ``deconstruct()`` refuses.
    """

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()  # type: ignore[misc]
        cls = type(self)
        if "<locals>" not in cls.__qualname__:
            named: Any = sys.modules.get(cls.__module__)
            for part in cls.__qualname__.split("."):
                named = getattr(named, part, None)
            if named is not cls:
                raise TypeError(
                    f"encrypt({cls.__qualname__}): a migration names this field {path}, which is the plain "
                    f"field class. Put @encrypt above 'class {cls.__qualname__}', or define "
                    f"'class Encrypted{cls.__name__}(EncryptedField, {cls.__name__})'."
                )
        return name, path, args, kwargs


def encrypted_class(plain_class: type[models.Field]) -> type[EncryptedField]:
    """Return the encrypted field class of a value field class: Django's, or a subclass of one."""
    if plain_class in _classes:
        return _classes[plain_class]
    django_base = next((cls for cls in plain_class.__mro__ if _is_django_field(cls)), models.Field)
    if issubclass(plain_class, (*_UNSUPPORTED, EncryptedField)) or django_base is models.Field:
        raise TypeError(
            f"encrypt() does not support {plain_class.__name__}: it takes Django's own value fields "
            "(text, numbers, dates, booleans, JSON, UUID) and subclasses of them. For another field "
            "class, define 'class EncryptedMyField(EncryptedField, MyField)' in your code."
        )
    if django_base is plain_class:
        name = "Encrypted" + plain_class.__name__
        cls = type(name, (EncryptedField, plain_class), {"__module__": __name__, "__qualname__": name})
    else:
        # A subclass of the shop's own (@encrypt above its class): the codec of the Django
        # field it extends, its own methods, under its own name.
        namespace = {"__module__": plain_class.__module__, "__qualname__": plain_class.__qualname__}
        bases = (DecoratedField, encrypted_class(django_base), plain_class)
        cls = type(plain_class.__name__, bases, {**namespace, "__doc__": plain_class.__doc__})
    _classes[plain_class] = cls
    return cls


def encrypt(field: Any, *, searchable: bool = False) -> Any:
    """Return an encrypted copy of a plain model field: ``encrypt(models.CharField(max_length=50))``.

    Given one of Django's field classes (``encrypt(models.IntegerField)``), return the
    encrypted class, which takes the plain field's options.
    """
    if isinstance(field, type):
        if not issubclass(field, models.Field):
            raise TypeError(f"encrypt() takes a model field or a model field class, not {field.__name__}.")
        if searchable:
            raise TypeError("encrypt() of a field class takes no options: pass searchable=True to the class.")
        return encrypted_class(field)
    if not isinstance(field, models.Field):
        raise TypeError(f"encrypt() takes a model field or a model field class, not {type(field).__name__}.")
    _, _, args, kwargs = field.deconstruct()
    return encrypted_class(type(field))(*args, searchable=searchable, **kwargs)


def __getattr__(name: str) -> Any:
    # Migrations name the classes that encrypt() builds, such as
    # EncryptedBooleanField; build them on import like the named ones.
    plain = getattr(models, name.removeprefix("Encrypted"), None) if name.startswith("Encrypted") else None
    if isinstance(plain, type) and issubclass(plain, models.Field):
        return encrypted_class(plain)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

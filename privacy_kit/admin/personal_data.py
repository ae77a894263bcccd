"""``PersonalDataAdmin``: personal data masked in lists, every opened record logged, search by blind index."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.checks import ModelAdminChecks
from django.contrib.admin.utils import (
    NotRelationField,
    flatten_fieldsets,
    get_fields_from_path,
    lookup_spawns_duplicates,
    unquote,
)
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.text import unescape_string_literal
from django.utils.translation import gettext_lazy as _

from .. import registry
from ..fields import EncryptedField
from ..security.access import record_access
from ..two_factor.views import reverify
from .forms import EraseSubjectForm

#: What a list view shows in place of a personal value.
MASK = "•••••"
#: The permission the export action needs: it shows every model's data of a customer.
EXPORT_PERMISSION = "privacy_kit.export_personal_data"
#: The ``fields`` entry of the AccessLog row of an export: all the customer's data.
EXPORTED = "(export)"
#: Closing an admin's account is an admin's decision, not a clerk's with delete rights on orders.
STAFF_ERASURE_MSG = _("Only a superuser can erase a staff account. Nothing was erased.")
#: The actions that act on the customer a row belongs to: offered only where rows belong to one.
SUBJECT_ACTIONS = ("export_personal_data", "erase_subject")

E047 = "privacy_kit.E047"
E047_MSG = "{admin} has the personal field '{path}' in {option}: the change list would show its values unmasked."
E047_HINT = "Remove '{path}' from {option}. A record's personal data is seen in its change view, which is logged."

# Set while Django's own search runs over the plain fields only.
_searching_plain_fields: ContextVar[bool] = ContextVar("privacy_kit_searching_plain_fields", default=False)


def personal_field_names(model: type[models.Model]) -> list[str]:
    """Return the model's encrypted fields and the personal fields of its registration, in model order."""
    try:
        listed = set(registry.get(model._meta.label).personal_fields)
    except LookupError:
        listed = set()
    return [
        field.name
        for field in model._meta.get_fields()
        if isinstance(field, EncryptedField) or (field.name in listed and not field.auto_created)
    ]


def encrypted_search_path(model: type[models.Model], search_field: str) -> tuple[str, EncryptedField] | None:
    """Return the path and field of a ``search_fields`` entry that ends at an encrypted field, else None."""
    opts = model._meta
    found: tuple[str, EncryptedField] | None = None
    parts = search_field.lstrip("^=@").split(LOOKUP_SEP)
    for index, part in enumerate(parts):
        try:
            field = opts.get_field(opts.pk.name if part == "pk" else part)
        except FieldDoesNotExist:
            break  # a lookup such as "exact" or "icontains": the path ended before it
        if isinstance(field, EncryptedField):
            found = (LOOKUP_SEP.join(parts[: index + 1]), field)
            break
        if not getattr(field, "path_infos", None):
            break
        opts = field.path_infos[-1].to_opts  # type: ignore[attr-defined]
    return found


def masked_column(field: models.Field) -> Callable[[Any], str]:
    """Return a list_display column that shows the mask, not the value, under the field's name."""

    @admin.display(description=field.verbose_name)
    def column(obj: Any) -> str:
        return MASK

    column.__name__ = f"masked_{field.name}"
    return column


def may_act_on(user: Any, subject: Any) -> bool:
    """Return whether the staff ``user`` may erase or correct ``subject``: a staff account only a superuser may."""
    staff_account = getattr(subject, "is_staff", False) or getattr(subject, "is_superuser", False)
    return bool(user.is_superuser or not staff_account)


class MaskedChangeList(ChangeList):
    """A change list that does not even load the personal fields: nothing is decrypted for the mask."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> Any:
        queryset = super().get_queryset(request, exclude_parameters)
        deferred = [
            name
            for name in self.model_admin.get_personal_fields()
            if getattr(self.model._meta.get_field(name), "concrete", False)
            and not self.model._meta.get_field(name).primary_key
        ]
        return queryset.defer(*deferred) if deferred else queryset


def is_personal_path(model: type[models.Model], path: str) -> bool:
    """Return whether a field path (``"email"``, ``"customer__phone"``) ends at a personal or encrypted field."""
    try:
        field = get_fields_from_path(model, path)[-1]
    except (FieldDoesNotExist, NotRelationField):
        return False  # Django's own checks report a path that does not exist
    return not field.is_relation and field.name in personal_field_names(field.model)


def unmasked_options(model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
    """Return ``(option, path)`` of each personal field in list_filter, list_editable or date_hierarchy.

    Each would put values in the change list: the filter's choices, the editable
    inputs, the dates of the drill-down. A ``SimpleListFilter`` is the shop's own
    code and is not inspected.
    """
    paths: list[tuple[str, Any]] = [("list_filter", entry) for entry in model_admin.list_filter]
    paths += [("list_editable", name) for name in model_admin.list_editable]
    if model_admin.date_hierarchy:
        paths.append(("date_hierarchy", model_admin.date_hierarchy))
    found = []
    for option, entry in paths:
        path = entry[0] if isinstance(entry, (list, tuple)) else entry
        if isinstance(path, str) and is_personal_path(model_admin.model, path):
            found.append((option, path))
    return found


class PersonalDataAdminChecks(ModelAdminChecks):
    """Django's ModelAdmin checks, and privacy_kit.E047: no personal field where a list would show it."""

    def check(self, admin_obj: Any, **kwargs: Any) -> list[checks.CheckMessage]:
        name = f"{type(admin_obj).__module__}.{type(admin_obj).__qualname__}"
        return [
            *super().check(admin_obj, **kwargs),
            *(
                checks.Error(
                    E047_MSG.format(admin=name, path=path, option=option),
                    hint=E047_HINT.format(path=path, option=option),
                    obj=type(admin_obj),
                    id=E047,
                )
                for option, path in unmasked_options(admin_obj)
            ),
        ]


class PersonalDataAdmin(admin.ModelAdmin):
    """A ModelAdmin for a model with personal data.

    The change list shows encrypted fields and the registration's personal fields
    masked, without loading them. Opening a record writes an ``AccessLog`` row and
    may raise a bulk-access security event. Searchable encrypted fields in
    ``search_fields`` are matched exactly (any case for emails) through their blind
    index; other encrypted fields there are never searched. A personal field in
    ``list_filter``, ``list_editable`` or ``date_hierarchy`` is a check error
    (privacy_kit.E047): each would show its values in the list. The model's
    ``__str__`` appears in lists, breadcrumbs and Django's admin log: it must not
    contain personal data.
    """

    checks_class = PersonalDataAdminChecks
    mask = MASK
    #: Fields this admin treats as personal besides the model's encrypted and registry personal fields.
    personal_fields: Sequence[str] = ()
    # A subclass that adds actions keeps these: actions = [*PersonalDataAdmin.actions, "mine"].
    actions = ["export_personal_data", "erase_subject"]
    erase_confirmation_template = "privacy_kit/admin/erase_confirmation.html"

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return MaskedChangeList

    def get_personal_fields(self) -> list[str]:
        """Return the fields masked in the list and logged when shown: the model's, then ``personal_fields``."""
        names = personal_field_names(self.model)
        return [*names, *(name for name in self.personal_fields if name not in names)]

    def _masked_columns(self) -> dict[str, Callable[[Any], str]]:
        columns: dict[str, Callable[[Any], str]] | None = self.__dict__.get("_privacy_kit_masked_columns")
        if columns is None:
            opts = self.model._meta
            columns = {name: masked_column(opts.get_field(name)) for name in self.get_personal_fields()}  # type: ignore[arg-type]
            self.__dict__["_privacy_kit_masked_columns"] = columns
        return columns

    def _mask(self, names: Sequence[Any]) -> list[Any]:
        columns = self._masked_columns()
        return [columns.get(name, name) if isinstance(name, str) else name for name in names]

    def get_list_display(self, request: HttpRequest) -> Sequence[Any]:
        return self._mask(super().get_list_display(request))

    def get_list_display_links(self, request: HttpRequest, list_display: Sequence[Any]) -> Sequence[Any] | None:
        links = super().get_list_display_links(request, list_display)
        return self._mask(links) if links else links

    # -- opening a record -------------------------------------------------

    def shown_personal_fields(self, request: HttpRequest, obj: models.Model) -> list[str]:
        """Return the personal and encrypted fields that the change view of ``obj`` shows."""
        shown = set(flatten_fieldsets(self.get_fieldsets(request, obj)))
        return [name for name in self.get_personal_fields() if name in shown]

    def subject_id_of(self, obj: models.Model) -> Any:
        """Return the primary key of the user whose data ``obj`` is (a user is their own), or None."""
        if isinstance(obj, get_user_model()):
            return obj.pk
        try:
            registration = registry.get(self.model._meta.label)
        except LookupError:
            return None
        if registration.subject_path is not None:
            rows = self.model._default_manager.filter(pk=obj.pk).values_list(registration.subject_path, flat=True)
            return rows.first()
        if callable(registration.subject):
            return getattr(registration.subject(obj), "pk", None)
        return None

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        # Any method that renders the form shows the record (OPTIONS, PUT, a POST with errors): log them all.
        if response.status_code == 200:
            obj = getattr(request, "_privacy_kit_opened", None)
            if obj is not None and str(obj.pk) == str(unquote(object_id)):
                fields = self.shown_personal_fields(request, obj)
                record_access(request, obj, fields, subject_id=self.subject_id_of(obj))
        return response

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        # The change view renders the record here: remember which one was shown.
        if change and obj is not None:
            request._privacy_kit_opened = obj  # type: ignore[attr-defined]
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- the customer's rights ---------------------------------------------

    def _subject_of_one(self, request: HttpRequest, queryset: Any) -> Any:
        """Return the user whose data the one selected row is; else tell the staff user why not and return None."""
        from ..rights import subject_of_row

        rows = list(queryset[:2])
        if len(rows) != 1:
            self.message_user(request, _("Select exactly one record."), messages.WARNING)
            return None
        subject = subject_of_row(rows[0])
        if subject is None:
            self.message_user(request, _("This record belongs to no customer account."), messages.WARNING)
        return subject

    def has_subject(self) -> bool:
        """Return whether the model's rows belong to customer accounts (the user model, or a subject in the registry).

        A model registered with ``subject=None`` (or not registered) has no customer to
        export or erase: its admin does not offer those actions.
        """
        if issubclass(self.model, get_user_model()):
            return True
        try:
            return registry.get(self.model._meta.label).subject is not None
        except LookupError:
            return False

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # Django 6.1 says where the actions show (action_location); 5.2 has no such argument.
        located = {} if action_location is None else {"action_location": action_location}
        actions = super().get_actions(request, **located)
        if not self.has_subject():
            for name in SUBJECT_ACTIONS:
                actions.pop(name, None)
        return actions

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # A subject action posted where none is offered (a forged or stale form) does nothing, and says so.
        if request.method == "POST" and request.POST.get("action") in SUBJECT_ACTIONS and not self.has_subject():
            if not self.has_view_or_change_permission(request):
                raise PermissionDenied
            self.message_user(
                request,
                _("These records belong to no customer account: nothing was exported or erased."),
                messages.WARNING,
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)

    def has_export_permission(self, request: HttpRequest) -> bool:
        """Return whether the user may export a customer's data: ``privacy_kit.export_personal_data``."""
        return bool(request.user.has_perm(EXPORT_PERMISSION))

    @admin.action(description=_("Export this customer's data"), permissions=["export"])
    def export_personal_data(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        """Download everything the registry holds of the selected row's customer, as JSON (an EXPORT event).

        The export is an access like opening a record: it writes an AccessLog row and
        counts towards bulk access.
        """
        from ..rights import export_response

        subject = self._subject_of_one(request, queryset)
        if subject is None:
            return None
        response = export_response(request, subject)
        record_access(request, subject, [EXPORTED], subject_id=subject.pk)
        return response

    @admin.action(description=_("Erase this customer"), permissions=["delete"])
    def erase_subject(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        """Ask for a reason and the staff user's code again, then queue the erasure of the row's customer."""
        from ..rights import ErasureRefused, queue_erasure

        subject = self._subject_of_one(request, queryset)
        if subject is None:
            return None
        if not may_act_on(request.user, subject):
            self.message_user(request, STAFF_ERASURE_MSG, messages.ERROR)
            return None
        form = reverify(request, EraseSubjectForm) if request.POST.get("post") else EraseSubjectForm(request)
        if form.is_bound and form.is_valid():
            try:
                queue_erasure(request, subject, reason=form.cleaned_data["reason"], source="admin")
            except ErasureRefused as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
            else:
                self.message_user(
                    request, _("This customer's account is closed and the erasure of their data is queued.")
                )
            return None
        if not request.user.is_authenticated:  # locked out while guessing codes: logged out
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Erase this customer?"),
            "opts": self.opts,
            "form": form,
            "queryset": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": "erase_subject",
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.erase_confirmation_template, context)

    # -- search -----------------------------------------------------------

    def get_search_fields(self, request: HttpRequest) -> Sequence[str]:
        search_fields = super().get_search_fields(request)
        if _searching_plain_fields.get():
            return [name for name in search_fields if encrypted_search_path(self.model, str(name)) is None]
        return search_fields

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        """Match searchable encrypted fields exactly through the blind index, OR-ed with Django's plain search."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if term[0] in "\"'" and term[0] == term[-1] and len(term) > 1:
            term = unescape_string_literal(term)
        matches = models.Q()
        encrypted_duplicates = False
        for name in super().get_search_fields(request):
            found = encrypted_search_path(self.model, str(name))
            if found is None or not found[1].searchable:
                continue  # plain fields go to Django; unsearchable encrypted ones are never searched
            path, field = found
            try:
                field.blind_index(term)
            except (ValidationError, ValueError, TypeError):
                continue  # the term cannot be a value of this field (a word for a number, say)
            matches |= models.Q(**{path: term})
            encrypted_duplicates |= lookup_spawns_duplicates(self.opts, path)
        token = _searching_plain_fields.set(True)
        try:
            has_plain = bool(self.get_search_fields(request))
            if has_plain:
                plain, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        finally:
            _searching_plain_fields.reset(token)
        if not has_plain:
            return (queryset.filter(matches) if matches else queryset.none()), encrypted_duplicates
        if not matches:
            return plain, may_have_duplicates
        return plain | queryset.filter(matches), may_have_duplicates or encrypted_duplicates


__all__ = [
    "MASK",
    "SUBJECT_ACTIONS",
    "MaskedChangeList",
    "PersonalDataAdmin",
    "PersonalDataAdminChecks",
    "encrypted_search_path",
    "personal_field_names",
    "unmasked_options",
]

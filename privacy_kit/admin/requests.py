"""Admin pages of the data-subject requests: staff record requests by channel, verify, extend, refuse and fulfil them.

Each action asks what the law wants on the record (how the identity was checked,
the reason for an extension or a refusal, what was done) in a form, then calls
the workflow of ``privacy_kit.requests``; a request closed (fulfilled or refused)
is shown, never edited or deleted. A correction request is fulfilled on its own
page, which shows the subject's correctable entries and logs the look.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..crypto import DecryptionError
from ..models import DataRequest
from ..requests.corrections import CorrectionRefused, correctable_rows, correction_form, subject_row
from ..requests.models import LONGEST_EXTENSION
from ..requests.workflow import RequestError, extend, fulfil, open_request, refuse, verify
from ..rights.erasure import ErasureRefused
from ..security.access import record_access
from ..two_factor.forms import ReverifyForm
from ..two_factor.views import reverify
from .personal_data import STAFF_ERASURE_MSG, may_act_on
from .sites import site

ACTION_TEMPLATE = "privacy_kit/admin/request_action.html"
CORRECTION_TEMPLATE = "privacy_kit/admin/request_correction.html"
# What refuses a step: its message says why, and nothing was changed.
REFUSALS = (RequestError, ErasureRefused, CorrectionRefused)


class DataRequestForm(forms.ModelForm):
    """A request that came by mail, phone or in person, as staff record it."""

    channel = forms.ChoiceField(
        label=_("channel"),
        choices=[choice for choice in DataRequest.Channel.choices if choice[0] in DataRequest.STAFF_CHANNELS],
    )

    class Meta:
        model = DataRequest
        fields = ["subject", "kind", "channel", "received_at", "note"]

    def clean_received_at(self) -> datetime.datetime:
        received = self.cleaned_data["received_at"]
        if received > timezone.now():
            raise forms.ValidationError(_("A request cannot be received in the future; give when it arrived."))
        return received


class NoteForm(forms.ModelForm):
    """What staff may still change on an open request: its note."""

    class Meta:
        model = DataRequest
        fields = ["note"]


class ActionForm(forms.Form):
    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.request = request
        super().__init__(*args, **kwargs)


class VerifyForm(ActionForm):
    method = forms.ChoiceField(
        label=_("How the identity was verified"),
        # The session and password are the my-data page's; staff verify by other means.
        choices=[choice for choice in DataRequest.IdentityMethod.choices if choice[0] != "session_password"],
    )


class ExtendForm(ActionForm):
    days = forms.IntegerField(
        label=_("Days added"),
        min_value=1,
        max_value=LONGEST_EXTENSION.days,
        help_text=_("At most 30, and only once. The customer is told the new date and the reason."),
    )
    reason = forms.CharField(label=_("Reason, for the customer"), widget=forms.Textarea(attrs={"rows": 3}))


class RefuseForm(ActionForm):
    reason = forms.ChoiceField(label=_("Reason for the refusal"), choices=DataRequest.RefusalReason.choices)
    note = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text=_("Needed for “other”.")
    )


class FulfilForm(ActionForm):
    note = forms.CharField(
        label=_("What was done"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Needed for a restriction or an objection; kept in the request's evidence."),
    )


class FulfilErasureForm(ReverifyForm):
    """Fulfilling an erasure closes accounts for good: the staff user's code again."""

    note = FulfilForm.base_fields["note"]
    field_order = ["note", "otp_token"]


class RepeatFilter(admin.SimpleListFilter):
    title = _("repeated request")
    parameter_name = "repeat"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("a repeat")), ("no", _("not a repeat"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(repeat_of__isnull=False)
        if self.value() == "no":
            return queryset.filter(repeat_of__isnull=True)
        return queryset


def may_change(user: Any, model: Any) -> bool:
    """Return whether the staff ``user`` has the change permission of ``model``."""
    meta = model._meta
    return bool(user.has_perm(f"{meta.app_label}.{get_permission_codename('change', meta)}"))


@admin.register(DataRequest, site=site)
class DataRequestAdmin(admin.ModelAdmin):
    form = DataRequestForm
    change_form_template = "privacy_kit/admin/request_change_form.html"
    list_display = ["number", "kind", "channel", "subject", "received_at", "deadline", "days_left", "status", "repeat"]
    list_filter = ["status", "kind", "channel", RepeatFilter]
    list_select_related = ["subject"]
    date_hierarchy = "received_at"
    raw_id_fields = ["subject"]
    actions = ["verify_requests", "extend_requests", "refuse_requests", "fulfil_requests"]
    record_fields = [
        "number",
        "subject",
        "kind",
        "channel",
        "received_at",
        "status",
        "due_at",
        "extended_until",
        "extension_reason",
        "identity_verified_at",
        "identity_method",
        "verified_by",
        "refusal_reason",
        "refusal_note",
        "repeat",
        "recorded_by",
        "handled_by",
        "closed_at",
        "evidence_text",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).with_due_by()

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is not None:
            kwargs["form"] = NoteForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return list(DataRequestForm._meta.fields or [])
        return [*self.record_fields, "note"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.record_fields) if obj is not None else []

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The history of a closed request is the record the law asks for: shown, never edited.
        if obj is not None and not obj.is_open:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # kept five years after it closes (PDPL IR Art. 33)

    def save_model(self, request: HttpRequest, obj: DataRequest, form: Any, change: bool) -> None:
        if change:
            obj.save(update_fields=["note"])
            return
        created = open_request(
            obj.subject,
            kind=obj.kind,
            channel=obj.channel,
            received_at=obj.received_at,
            by=request.user,
            note=obj.note,
        )
        for field in DataRequest._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        if created.repeat_of_id:
            self.message_user(
                request,
                _("This request repeats request #%(number)s of the same kind: it may be refused as repetitive.")
                % {"number": created.repeat_of_id},
                messages.WARNING,
            )

    @admin.display(description=_("request"), ordering="pk")
    def number(self, obj: DataRequest) -> str:
        return f"#{obj.pk}" if obj.pk else "—"

    @admin.display(description=_("answer by"), ordering="due_by")
    def deadline(self, obj: DataRequest) -> Any:
        return obj.deadline if obj.pk else "—"

    @admin.display(description=_("days left"))
    def days_left(self, obj: DataRequest) -> Any:
        return obj.days_left() if obj.pk and obj.is_open else "—"

    @admin.display(description=_("repeats"), ordering="repeat_of")
    def repeat(self, obj: DataRequest) -> str:
        return f"#{obj.repeat_of_id}" if obj.repeat_of_id else "—"

    @admin.display(description=_("evidence"))
    def evidence_text(self, obj: DataRequest) -> str:
        return (
            format_html("<pre>{}</pre>", json.dumps(obj.evidence, indent=2, ensure_ascii=False))
            if obj.evidence
            else "—"
        )

    # -- actions ---------------------------------------------------------------

    def _act(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        *,
        form_class: type[forms.Form],
        action: str,
        title: Any,
        button: Any,
        step: Callable[[DataRequest, dict[str, Any]], Any],
        done: Callable[[int], str],
    ) -> TemplateResponse | None:
        """Ask the action's form, then apply ``step`` to each selected request; report each refusal."""
        if request.POST.get("post"):
            form: Any = (
                reverify(request, form_class)
                if issubclass(form_class, ReverifyForm)
                else form_class(request, request.POST)
            )
        else:
            form = form_class(request)
        if form.is_bound and form.is_valid():
            count = 0
            for data_request in queryset.order_by("pk"):
                try:
                    step(data_request, form.cleaned_data)
                except REFUSALS as refusal:
                    self.message_user(request, str(refusal), messages.ERROR)
                else:
                    count += 1
            if count:
                self.message_user(request, done(count), messages.SUCCESS)
            return None
        if not request.user.is_authenticated:  # locked out while guessing codes: logged out
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "button": button,
            "opts": self.opts,
            "form": form,
            "queryset": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": action,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, ACTION_TEMPLATE, context)

    @admin.action(description=_("Verify the identity of the requester"), permissions=["change"])
    def verify_requests(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._act(
            request,
            queryset,
            form_class=VerifyForm,
            action="verify_requests",
            title=_("Verify the identity of the requester"),
            button=_("Verified"),
            step=lambda item, data: verify(item, method=data["method"], by=request.user),
            done=lambda n: ngettext("%(count)d request verified.", "%(count)d requests verified.", n) % {"count": n},
        )

    @admin.action(description=_("Extend the deadline (once, with a reason)"), permissions=["change"])
    def extend_requests(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._act(
            request,
            queryset,
            form_class=ExtendForm,
            action="extend_requests",
            title=_("Extend the deadline"),
            button=_("Extend"),
            step=lambda item, data: extend(
                item,
                until=item.due_at + datetime.timedelta(days=data["days"]),
                reason=data["reason"],
                by=request.user,
            ),
            done=lambda n: ngettext("%(count)d request extended.", "%(count)d requests extended.", n) % {"count": n},
        )

    @admin.action(description=_("Refuse the request, with the reason"), permissions=["change"])
    def refuse_requests(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._act(
            request,
            queryset,
            form_class=RefuseForm,
            action="refuse_requests",
            title=_("Refuse the request"),
            button=_("Refuse"),
            step=lambda item, data: refuse(item, reason=data["reason"], note=data["note"], by=request.user),
            done=lambda n: ngettext("%(count)d request refused.", "%(count)d requests refused.", n) % {"count": n},
        )

    @admin.action(description=_("Fulfil the request"), permissions=["change"])
    def fulfil_requests(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        erasures = queryset.filter(kind=DataRequest.Kind.ERASURE).exists()

        def step(item: DataRequest, data: dict[str, Any]) -> Any:
            if item.kind == DataRequest.Kind.CORRECTION:
                raise RequestError(
                    str(_("Request #%(number)s is a correction: fulfil it on its page, with the corrected values."))
                    % {"number": item.pk}
                )
            if item.kind == DataRequest.Kind.ERASURE and not may_act_on(request.user, item.subject):
                raise RequestError(f"#{item.pk}: {STAFF_ERASURE_MSG}")
            return fulfil(item, by=request.user, request=request, note=data["note"])

        return self._act(
            request,
            queryset,
            form_class=FulfilErasureForm if erasures else FulfilForm,
            action="fulfil_requests",
            title=_("Fulfil the request"),
            button=_("Fulfil"),
            step=step,
            done=lambda n: ngettext("%(count)d request fulfilled.", "%(count)d requests fulfilled.", n) % {"count": n},
        )

    # -- the correction page ---------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        meta = self.model._meta
        return [
            path(
                "<path:object_id>/correct/",
                self.admin_site.admin_view(self.correction_view),
                name=f"{meta.app_label}_{meta.model_name}_correct",
            ),
            *super().get_urls(),  # type: ignore[list-item]
        ]

    def correction_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Choose one of the subject's correctable entries, then correct it: that fulfils the request."""
        data_request = self.get_object(request, unquote(object_id))
        if data_request is None or data_request.kind != DataRequest.Kind.CORRECTION:
            raise Http404
        if not self.has_change_permission(request, data_request) or data_request.subject is None:
            raise PermissionDenied
        subject = data_request.subject
        if not may_act_on(request.user, subject):
            raise PermissionDenied
        meta = self.model._meta
        change_url = reverse(
            f"{self.admin_site.name}:{meta.app_label}_{meta.model_name}_change", args=[data_request.pk]
        )
        chosen = request.GET.get("row", "")
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": _("Correct the data of request #%(number)s") % {"number": data_request.pk},
            "opts": self.opts,
            "original": data_request,
            "change_url": change_url,
        }
        if ":" not in chosen:
            context["sections"] = [
                {"label": registration.name, "name": registration.model._meta.verbose_name_plural, "rows": rows}
                for registration, rows in correctable_rows(subject)
                if may_change(request.user, registration.model)
            ]
            return TemplateResponse(request, CORRECTION_TEMPLATE, context)
        label, pk = chosen.rsplit(":", 1)
        try:
            row = subject_row(subject, label, pk)
        except (CorrectionRefused, DecryptionError) as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return HttpResponseRedirect(request.path)
        if not may_change(request.user, row._meta.model):
            raise PermissionDenied  # staff see and correct through a request only what they may change
        if request.method == "POST":
            data = request.POST.copy()
            data.pop("csrfmiddlewaretoken", None)
            try:
                fulfil(data_request, by=request.user, request=request, correction=(row, data))
            except REFUSALS as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
                form = correction_form(subject_row(subject, label, pk), data)
                form.is_valid()
            else:
                self.message_user(request, _("The correction is saved and the request fulfilled."), messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        else:
            form = correction_form(row)
            # Staff now see the entry's values: on the access log, like any opening of personal data.
            record_access(request, row, list(form.fields), subject_id=subject.pk)
        context.update(form=form, row=row, label=label)
        return TemplateResponse(request, CORRECTION_TEMPLATE, context)

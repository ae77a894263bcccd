"""Admin pages of the breach register: each breach with its 72-hour clock, its notice to download, and escalation.

``EscalatesToBreach`` gives the security events' page the action that opens a
breach from the events selected there. The breach's own page never edits which
events it came from, and shows them by kind and time only: staff who handle
breaches are not always allowed to see security events (superusers are).
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..breaches import FORMATS, LANGUAGES, affectable_models, breach_notice, escalate, render_notice, subjects_concerned
from ..models import Breach
from ..security.access import record_access
from .sites import site

#: The permission that lets staff open a breach from security events (superusers hold every permission).
ESCALATE_PERMISSION = "privacy_kit.add_breach"
CONTENT_TYPES = {"md": "text/markdown; charset=utf-8", "json": "application/json; charset=utf-8"}


def duration_text(span: datetime.timedelta) -> str:
    """Return a span of time as whole hours (or minutes under an hour), in the active language."""
    minutes = round(abs(span).total_seconds() / 60)
    if minutes < 60:
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    hours = round(minutes / 60)
    return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}


def clock_text(breach: Breach, now: datetime.datetime | None = None) -> str:
    """Say where a breach stands against its 72 hours: due in, overdue by, notified on time or late, closed."""
    if breach.notified_authority_at is not None:
        if breach.notified_late:
            late = duration_text(breach.notified_authority_at - breach.due_at)
            return str(_("authority notified %(time)s late") % {"time": late})
        return str(_("authority notified on time"))
    if breach.status == Breach.Status.CLOSED:
        return str(_("closed without a notice"))
    left = breach.time_left(now)
    if left < datetime.timedelta(0):
        return str(_("overdue by %(time)s") % {"time": duration_text(left)})
    return str(_("due in %(time)s") % {"time": duration_text(left)})


class BreachForm(forms.ModelForm):
    affected_models = forms.MultipleChoiceField(
        label=_("models affected"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The data the breach exposed: the subjects to tell are listed from these models' rows."),
    )

    class Meta:
        model = Breach
        # What staff write; never the events a breach came from, who recorded it or when it closed.
        fields = [
            "title",
            "status",
            "nature",
            "occurred_at",
            "detected_at",
            "aware_at",
            "affected_models",
            "affected_from",
            "affected_until",
            "data_categories",
            "approximate_subjects",
            "approximate_records",
            "consequences",
            "measures_taken",
            "measures_proposed",
            "advice_to_subjects",
            "contact_name",
            "contact_email",
            "contact_phone",
            "notified_authority_at",
            "subjects_notified_at",
            "delay_reason",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read when the form is made: the registry is complete only once the apps are ready.
        self.fields["affected_models"].choices = [(label, f"{name} ({label})") for label, name in affectable_models()]


@admin.register(Breach, site=site)
class BreachAdmin(admin.ModelAdmin):
    form = BreachForm
    change_form_template = "privacy_kit/admin/breach_change_form.html"
    list_display = ["title", "status", "aware_at", "clock", "notified_authority_at", "subjects_notified_at"]
    list_filter = ["status"]
    date_hierarchy = "aware_at"
    search_fields = ["title"]
    readonly_fields = [
        "clock",
        "notification_due",
        "subjects_found",
        "escalated_from",
        "recorded_by",
        "created_at",
        "closed_at",
    ]
    fieldsets = [
        (None, {"fields": ["title", "status", "clock"]}),
        (_("What happened"), {"fields": ["nature", "occurred_at", "detected_at", "aware_at", "notification_due"]}),
        (
            _("Data and subjects concerned"),
            {
                "fields": [
                    "affected_models",
                    "affected_from",
                    "affected_until",
                    "subjects_found",
                    "data_categories",
                    "approximate_subjects",
                    "approximate_records",
                ]
            },
        ),
        (
            _("Risks and measures"),
            {"fields": ["consequences", "measures_taken", "measures_proposed", "advice_to_subjects"]},
        ),
        (_("Contact for the authority"), {"fields": ["contact_name", "contact_email", "contact_phone"]}),
        (_("Notifications"), {"fields": ["notified_authority_at", "subjects_notified_at", "delay_reason"]}),
        (_("Record"), {"fields": ["escalated_from", "recorded_by", "created_at", "closed_at"]}),
    ]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record is kept five years after it closes (PDPL IR Art. 33), then purged

    def save_model(self, request: HttpRequest, obj: Breach, form: Any, change: bool) -> None:
        if not change:
            obj.recorded_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    @admin.display(description=_("clock"))
    def clock(self, obj: Breach) -> str:
        return clock_text(obj) if obj.pk else "—"

    @admin.display(description=_("notification due"))
    def notification_due(self, obj: Breach) -> Any:
        return obj.due_at if obj.pk else "—"

    @admin.display(description=_("found in the registry"))
    def subjects_found(self, obj: Breach) -> str:
        if not obj.pk or not obj.affected_models:
            return "—"
        found = subjects_concerned(obj)
        return str(
            _("%(subjects)s data subjects, %(records)s records (the notice lists their account ids).")
            % {"subjects": found.subjects, "records": found.records}
        )

    @admin.display(description=_("escalated from"))
    def escalated_from(self, obj: Breach) -> str:
        if not obj.pk:
            return "—"
        # By kind and time only: a security event's user and address are for superusers.
        events = [
            f"{event.get_kind_display()}, {timezone.localtime(event.created_at):%Y-%m-%d %H:%M} (#{event.pk})"
            for event in obj.events.order_by("created_at", "pk")
        ]
        return "; ".join(events) or "—"

    def get_urls(self) -> list[URLPattern]:
        meta = self.model._meta
        return [
            path(
                "<path:object_id>/notice/<str:language>/<str:fmt>/",
                self.admin_site.admin_view(self.notice_view),
                name=f"{meta.app_label}_{meta.model_name}_notice",
            ),
            *super().get_urls(),  # type: ignore[list-item]
        ]

    def notice_view(self, request: HttpRequest, object_id: str, language: str, fmt: str) -> HttpResponse:
        """Download the notice for the authority, in ``language`` and ``fmt``; the download is logged."""
        if language not in LANGUAGES or fmt not in FORMATS:
            raise Http404
        breach = self.get_object(request, unquote(object_id))
        if breach is None:
            raise Http404
        if not self.has_view_permission(request, breach):
            raise PermissionDenied
        # The notice lists the accounts of the subjects to tell: who took that list, and when, is on record.
        record_access(request, breach, ["notice"])
        response = HttpResponse(render_notice(breach_notice(breach, language=language), fmt), CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="breach-{breach.pk}-notice-{language}.{fmt}"'
        return response


class EscalatesToBreach(admin.ModelAdmin):
    """The security events' action that opens a breach from the events selected."""

    actions = ["escalate_to_breach"]

    def has_escalate_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(ESCALATE_PERMISSION)) and self.has_view_permission(request)

    @admin.action(description=_("Escalate the selected events into a breach"), permissions=["escalate"])
    def escalate_to_breach(self, request: HttpRequest, queryset: QuerySet) -> HttpResponseRedirect:
        breach = escalate(queryset, by=request.user)
        due = timezone.localtime(breach.due_at).strftime("%Y-%m-%d %H:%M")
        self.message_user(
            request,
            _("Breach #%(number)s opened: the authority must be notified by %(due)s. Complete what happened.")
            % {"number": breach.pk, "due": due},
        )
        meta = Breach._meta
        url = reverse(f"{self.admin_site.name}:{meta.app_label}_{meta.model_name}_change", args=[breach.pk])
        return HttpResponseRedirect(url)

"""Admin pages of consent: purposes and policies are edited, the ledger and events only read."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..models import BehavioralEvent, ConsentRecord, PolicyVersion, Purpose
from .options import ReadOnlyAdmin
from .personal_data import PersonalDataAdmin
from .sites import site


@admin.register(Purpose, site=site)
class PurposeAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "requires_consent"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(PolicyVersion, site=site)
class PolicyVersionAdmin(admin.ModelAdmin):
    list_display = ["version", "language", "effective_at", "requires_reconsent", "text_sha256"]
    list_filter = ["language", "requires_reconsent"]
    readonly_fields = ["text_sha256", "created_at"]

    # A version in effect is evidence of what customers agreed to: view only.
    def has_change_permission(self, request: HttpRequest, obj: PolicyVersion | None = None) -> bool:
        return (obj is None or not obj.is_effective) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: PolicyVersion | None = None) -> bool:
        return (obj is None or not obj.is_effective) and super().has_delete_permission(request, obj)


@admin.register(ConsentRecord, site=site)
class ConsentRecordAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "purpose", "action", "subject", "source", "policy_version"]
    list_filter = ["purpose", "action", "source"]
    date_hierarchy = "created_at"
    list_select_related = ["purpose", "policy_version", "user"]

    @admin.display(description=_("subject"))
    def subject(self, record: ConsentRecord) -> str:
        if record.user_id is not None:
            return str(record.user)
        return _("visitor %(id)s") % {"id": str(record.visitor)[:8]} if record.visitor else "—"


# What a customer searched and viewed is personal: masked in the list, each opened event logged.
@admin.register(BehavioralEvent, site=site)
class BehavioralEventAdmin(ReadOnlyAdmin, PersonalDataAdmin):
    list_display = ["created_at", "kind", "purpose", "user"]
    list_filter = ["kind", "purpose"]
    list_select_related = ["purpose", "user"]

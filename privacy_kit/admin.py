"""Admin pages of privacy_kit's models: purposes and policies are edited, ledgers only read."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import BehavioralEvent, ConsentRecord, LegalHold, PolicyVersion, PurgeRun, Purpose


class ReadOnlyAdmin(admin.ModelAdmin):
    """Show rows; never add, change or delete them (ledgers and logs)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "requires_consent"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    list_display = ["version", "language", "effective_at", "requires_reconsent", "text_sha256"]
    list_filter = ["language", "requires_reconsent"]
    readonly_fields = ["text_sha256", "created_at"]

    # A version in effect is evidence of what customers agreed to: view only.
    def has_change_permission(self, request: HttpRequest, obj: PolicyVersion | None = None) -> bool:
        return (obj is None or not obj.is_effective) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: PolicyVersion | None = None) -> bool:
        return (obj is None or not obj.is_effective) and super().has_delete_permission(request, obj)


@admin.register(ConsentRecord)
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


@admin.register(BehavioralEvent)
class BehavioralEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "purpose", "user"]
    list_filter = ["kind", "purpose"]
    list_select_related = ["purpose", "user"]


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    list_display = ["subject", "placed_at", "released_at"]
    list_filter = [("released_at", admin.EmptyFieldListFilter)]
    raw_id_fields = ["subject"]
    actions = ["release"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a hold is released, never erased: it is evidence

    @admin.action(description=_("Release the selected holds"))
    def release(self, request: HttpRequest, queryset: Any) -> None:
        for hold in queryset.filter(released_at__isnull=True):
            hold.release()


@admin.register(PurgeRun)
class PurgeRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "policy", "chunk", "status", "deleted", "anonymized", "dry_run", "finished_at"]
    list_filter = ["status", "policy", "dry_run"]
    date_hierarchy = "started_at"

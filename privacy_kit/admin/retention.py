"""Admin pages of retention: purge runs only read, legal holds released but never deleted."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..models import LegalHold, PurgeRun
from .options import ReadOnlyAdmin
from .sites import site


@admin.register(LegalHold, site=site)
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


@admin.register(PurgeRun, site=site)
class PurgeRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "policy", "chunk", "status", "deleted", "anonymized", "dry_run", "finished_at"]
    list_filter = ["status", "policy", "dry_run"]
    date_hierarchy = "started_at"

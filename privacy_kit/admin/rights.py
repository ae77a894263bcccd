"""Admin page of the erasure ledger: read only, for superusers only."""

from __future__ import annotations

from django.contrib import admin

from ..models import ErasureRecord
from .security import SuperuserOnlyReadOnlyAdmin
from .sites import site


@admin.register(ErasureRecord, site=site)
class ErasureRecordAdmin(SuperuserOnlyReadOnlyAdmin):
    list_display = ["requested_at", "status", "source", "requested_by", "reason", "completed_at"]
    list_filter = ["status", "source"]
    date_hierarchy = "requested_at"
    list_select_related = ["requested_by"]
    # The keyed hash is there to find the subject again after a restore; it tells a person nothing.
    exclude = ["subject_ref"]

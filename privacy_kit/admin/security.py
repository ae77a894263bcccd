"""Admin pages of the access log and security events: read only, for superusers only.

Security events can be escalated into a breach (``EscalatesToBreach``, privacy_kit.admin.breaches).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ..models import AccessLog, SecurityEvent
from .breaches import EscalatesToBreach
from .options import ReadOnlyAdmin
from .sites import site


class SuperuserOnlyReadOnlyAdmin(ReadOnlyAdmin):
    """Show rows to superusers only; other staff do not see the model at all."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)


@admin.register(AccessLog, site=site)
class AccessLogAdmin(SuperuserOnlyReadOnlyAdmin):
    list_display = ["created_at", "actor", "subject", "model_label", "object_id", "fields", "ip"]
    list_filter = ["model_label"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "subject"]


@admin.register(SecurityEvent, site=site)
class SecurityEventAdmin(EscalatesToBreach, SuperuserOnlyReadOnlyAdmin):
    list_display = ["created_at", "kind", "user", "ip", "detail"]
    list_filter = ["kind"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]

"""django-axes's page of failed login attempts, with an action that unlocks, for superusers only."""

from __future__ import annotations

from typing import Any

# Imported first: it registers django-axes's own page, which this module then replaces.
import axes.admin
from axes.models import AccessAttempt
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..security.lockouts import unlock
from .sites import site


class AccessAttemptAdmin(axes.admin.AccessAttemptAdmin):
    """django-axes's attempts, where a superuser ends a lockout with a recorded UNLOCK event.

    Deleting attempts would end a lockout without a trace, so it is off: the
    "Unlock" action is the way, and it is offered to superusers only.
    """

    actions = [*axes.admin.AccessAttemptAdmin.actions, "unlock"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_unlock_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    @admin.action(description=_("Unlock the selected usernames and IP addresses"), permissions=["unlock"])
    def unlock(self, request: HttpRequest, queryset: Any) -> None:
        targets = set(queryset.values_list("username", "ip_address"))
        count = sum(unlock(username=username, ip_address=ip, request=request) for username, ip in targets)
        message = ngettext(
            "Unlocked: %(count)d failed attempt forgotten.", "Unlocked: %(count)d failed attempts forgotten.", count
        )
        self.message_user(request, message % {"count": count})


if axes.admin.settings.AXES_ENABLE_ADMIN:
    if site.is_registered(AccessAttempt):
        site.unregister(AccessAttempt)
    site.register(AccessAttempt, AccessAttemptAdmin)

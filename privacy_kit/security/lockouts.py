"""End a django-axes lockout by hand, and record who did."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .events import record_security_event, user_named
from .models import SecurityEvent


def unlock(*, username: str | None = None, ip_address: str | None = None, request: HttpRequest | None = None) -> int:
    """Forget django-axes's failed attempts of a username or an IP address; return how many.

    When there were any, an UNLOCK security event records it. Given both, the
    attempts of either go (``ip_or_username``): a user locked out by name and by
    address can log in again. The event names the unlocked user and, in ``detail``,
    the staff user who unlocked (by number: no personal data).
    """
    from axes.handlers.proxy import AxesProxyHandler

    if not username and not ip_address:
        return 0  # axes would reset every attempt
    count = AxesProxyHandler.reset_attempts(
        username=username, ip_address=ip_address, ip_or_username=bool(username and ip_address)
    )
    if not count:
        return 0
    actor: Any = getattr(request, "user", None)
    by = f" by user #{actor.pk}" if actor is not None and actor.pk is not None else ""
    what = "username and IP address" if username and ip_address else "username" if username else "IP address"
    detail = f"{count} failed attempt(s) of the {what} forgotten{by}"
    record_security_event(SecurityEvent.Kind.UNLOCK, user=user_named(username), request=request, detail=detail)
    return count


def client_description(username: str, ip_address: str, user_agent: str, path_info: Any, request: HttpRequest) -> str:
    """Describe a login attempt for django-axes' log by its path only: ``AXES_CLIENT_STR_CALLABLE``.

    axes otherwise writes the username, the IP address and the browser of every
    failed login to the log at WARNING, where no erasure reaches them.
    """
    if isinstance(path_info, (tuple, list)):
        path_info = path_info[0] if path_info else ""
    return f'{{path_info: "{path_info}"}}'

"""The client IP address behind reverse proxies: from a header they set, and only when configured.

By default django-axes, and so every lockout, security event and access log row,
takes the address of the TCP peer (``REMOTE_ADDR``): an ``X-Forwarded-For`` sent by
a client is ignored. Behind proxies that you run, tell django-axes to read the
header they write::

    from privacy_kit.security.proxy import forwarded_client_ip

    AXES_CLIENT_IP_CALLABLE = forwarded_client_ip("HTTP_X_FORWARDED_FOR", proxies=1)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.http import HttpRequest


def forwarded_client_ip(header: str = "HTTP_X_FORWARDED_FOR", proxies: int = 1) -> Callable[[HttpRequest], str | None]:
    """Return a function for ``AXES_CLIENT_IP_CALLABLE`` that reads the client address from ``header``.

    ``header`` is its ``request.META`` name (``HTTP_X_FORWARDED_FOR``, ``HTTP_X_REAL_IP``).
    ``proxies`` is how many proxies you run in front of Django. Each appends the
    address it got the request from, so the client is the ``proxies``-th address
    from the right; whatever stands left of it came from the client and may be forged.
    A request without that many addresses, or with a malformed one, did not come
    through the proxies as expected: its ``REMOTE_ADDR`` is used.
    """
    if proxies < 1:
        raise ValueError("proxies is the number of proxies in front of Django: at least 1.")

    def client_ip(request: HttpRequest) -> str | None:
        addresses = [part.strip() for part in request.META.get(header, "").split(",") if part.strip()]
        if len(addresses) >= proxies:
            try:
                return str(ipaddress.ip_address(addresses[-proxies]))
            except ValueError:
                pass
        return request.META.get("REMOTE_ADDR") or None

    client_ip.__qualname__ = client_ip.__name__ = f"forwarded_client_ip({header!r}, proxies={proxies})"
    return client_ip

"""Limit how often one client address, and one visitor or user, may change consent.

Every change writes ledger rows that are kept as evidence, so an unlimited
endpoint lets anyone fill the ledger. Counts live in Django's cache, one
fixed window per hour, incremented atomically (``add`` then ``incr``).
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.http import HttpRequest

from privacy_kit import crypto
from privacy_kit.conf import app_settings
from privacy_kit.consent import IP_BINDING
from privacy_kit.consent.subjects import subject_of

WINDOW_SECONDS = 3600
KEY_PREFIX = "privacy_kit.consent_rate"


def consent_rate_exceeded(request: HttpRequest) -> bool:
    """Count one consent change for the request's address and subject; tell whether either is over its limit."""
    from privacy_kit.security.events import client_ip  # its models load after this package

    limits = app_settings.CONSENT_RATE_LIMIT
    window = int(time.time() // WINDOW_SECONDS)
    counters = []
    address = client_ip(request)
    if address:
        # The keyed hash the ledger keeps as evidence: the cache holds no client address.
        counters.append((f"address:{crypto.keyring().blind_index(IP_BINDING, address)}", limits["per_address"]))
    who = subject_of(request)
    if who.user_id is not None:
        counters.append((f"user:{who.user_id}", limits["per_visitor"]))
    elif who.visitor is not None:
        counters.append((f"visitor:{who.visitor}", limits["per_visitor"]))
    exceeded = False
    for name, limit in counters:
        # Each counter is counted even when another is over: a flood from one address
        # spread over many visitor ids still meets the address's limit.
        exceeded = _count(f"{KEY_PREFIX}:{window}:{name}") > limit or exceeded
    return exceeded


def seconds_to_next_window() -> int:
    """Return how long until the counters of this window start again, for a ``Retry-After`` header."""
    return WINDOW_SECONDS - int(time.time()) % WINDOW_SECONDS


def _count(key: str) -> int:
    """Add one to the counter ``key`` of this window and return its new value."""
    # add() creates the counter only if absent, so two first requests do not both start it at 1.
    cache.add(key, 0, timeout=WINDOW_SECONDS)
    try:
        return int(cache.incr(key))
    except ValueError:  # evicted between add and incr
        cache.add(key, 1, timeout=WINDOW_SECONDS)
        return 1

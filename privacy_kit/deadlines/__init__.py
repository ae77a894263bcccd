"""Requests and breaches on the clock: an alert as each nears or passes its due time.

``send_deadline_alerts()`` is the beat task ``privacy_kit.deadlines``: for each
record whose clock runs (an open data-subject request, a breach the authority has
not been told of) it sends the ``privacy_kit.signals.deadline_alert`` signal and
mails ADMINS once per threshold and due time. ``clocks()`` lists the clocks.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .alerts import SentAlert, send_deadline_alerts
    from .clock import Clock, Threshold, clocks

# Loaded on first use: privacy_kit.models imports this package's model while Django loads the apps.
_PUBLIC = {
    "SentAlert": "alerts",
    "send_deadline_alerts": "alerts",
    "Clock": "clock",
    "Threshold": "clock",
    "clocks": "clock",
}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)


__all__ = ["Clock", "SentAlert", "Threshold", "clocks", "send_deadline_alerts"]

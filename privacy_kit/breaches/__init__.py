"""Breaches on the clock: the register, the escalation of security events, the notice to the authority.

PDPL Art. 20 and its Implementing Regulation Art. 24: a personal data breach is
notified to the authority within 72 hours of the shop becoming aware of it, with
its nature, the data and subjects concerned, the likely consequences, the
measures taken and proposed, and whom to contact; the subjects at risk are told
too. ``escalate`` opens a ``Breach`` from security events, ``subjects_concerned``
lists from the registry whom it touched (ids and counts, never values), and
``breach_notice`` writes the notice in English or Arabic. The admin and
``manage.py breach_notice`` are thin wrappers over them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .escalation import escalate
    from .models import NOTIFICATION_DEADLINE
    from .notice import FORMATS, LANGUAGES, breach_notice, render_notice
    from .subjects import AffectedModel, SubjectsConcerned, affectable_models, subjects_concerned, unknown_models

# Loaded on first use: privacy_kit.models imports this package's models while
# Django loads the apps, before the modules below can import models themselves.
_PUBLIC = {
    "escalate": "escalation",
    "NOTIFICATION_DEADLINE": "models",
    "FORMATS": "notice",
    "LANGUAGES": "notice",
    "breach_notice": "notice",
    "render_notice": "notice",
    "AffectedModel": "subjects",
    "SubjectsConcerned": "subjects",
    "affectable_models": "subjects",
    "subjects_concerned": "subjects",
    "unknown_models": "subjects",
}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)


__all__ = [
    "FORMATS",
    "LANGUAGES",
    "NOTIFICATION_DEADLINE",
    "AffectedModel",
    "SubjectsConcerned",
    "affectable_models",
    "breach_notice",
    "escalate",
    "render_notice",
    "subjects_concerned",
    "unknown_models",
]

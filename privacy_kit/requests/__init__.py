"""Data-subject requests on the clock: the register, identity, extensions, refusals, and fulfilment.

PDPL Implementing Regulation Art. 3: a request (access, copy, correction,
erasure, withdrawal...) is answered within 30 days, extendable once by up to 30
more with notice and reasons; the identity of the requester is verified and
every request is kept on record, refusals and their reasons included.
``open_request``, ``verify``, ``begin``, ``extend``, ``refuse`` and ``fulfil``
are plain functions; the my-data page and the admin are thin wrappers over them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .corrections import CorrectionRefused, correct, correctable_rows, correction_form
    from .models import ANSWER_WITHIN, LONGEST_EXTENSION
    from .workflow import (
        RequestError,
        begin,
        extend,
        find_repeat,
        fulfil,
        open_request,
        refuse,
        verify,
    )

# Loaded on first use: privacy_kit.models imports this package's models while
# Django loads the apps, before the modules below can import models themselves.
_PUBLIC = {
    "ANSWER_WITHIN": "models",
    "LONGEST_EXTENSION": "models",
    "CorrectionRefused": "corrections",
    "correct": "corrections",
    "correctable_rows": "corrections",
    "correction_form": "corrections",
    "RequestError": "workflow",
    "begin": "workflow",
    "extend": "workflow",
    "find_repeat": "workflow",
    "fulfil": "workflow",
    "open_request": "workflow",
    "refuse": "workflow",
    "verify": "workflow",
}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)


__all__ = [
    "ANSWER_WITHIN",
    "LONGEST_EXTENSION",
    "CorrectionRefused",
    "RequestError",
    "begin",
    "correct",
    "correctable_rows",
    "correction_form",
    "extend",
    "find_repeat",
    "fulfil",
    "open_request",
    "refuse",
    "verify",
]

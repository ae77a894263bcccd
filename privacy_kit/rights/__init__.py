"""The data subject's rights: see and take away (export) and erase one's personal data.

``export_subject`` and ``erase_subject`` are plain functions driven by the
registry; the my-data pages, the admin actions, the ``privacy_kit.erase_subject``
task and the ``replay_erasures`` command are thin wrappers over them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .erasure import (
        ErasureRefused,
        erase_subject,
        queue_erasure,
        replay_erasures,
        request_erasure,
        resume_erasures,
        subject_reference,
    )
    from .export import SCHEMA_VERSION, export_response, export_subject, stream_export, subject_of_row

# Loaded on first use: privacy_kit.models imports this package's models while
# Django loads the apps, before the modules below can import models themselves.
_PUBLIC = {
    "ErasureRefused": "erasure",
    "erase_subject": "erasure",
    "queue_erasure": "erasure",
    "replay_erasures": "erasure",
    "request_erasure": "erasure",
    "resume_erasures": "erasure",
    "subject_reference": "erasure",
    "SCHEMA_VERSION": "export",
    "export_response": "export",
    "export_subject": "export",
    "stream_export": "export",
    "subject_of_row": "export",
}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)


__all__ = [
    "SCHEMA_VERSION",
    "ErasureRefused",
    "erase_subject",
    "export_response",
    "export_subject",
    "queue_erasure",
    "replay_erasures",
    "request_erasure",
    "resume_erasures",
    "stream_export",
    "subject_of_row",
    "subject_reference",
]

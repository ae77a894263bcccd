"""All models of privacy_kit, importable from here."""

from .consent.models import ConsentRecord, LedgerError, PolicyVersion, Purpose
from .retention.models import LegalHold, PurgeRun
from .security.models import AccessLog, LogError, SecurityEvent
from .tracking.models import BehavioralEvent

__all__ = [
    "AccessLog",
    "BehavioralEvent",
    "ConsentRecord",
    "LedgerError",
    "LegalHold",
    "LogError",
    "PolicyVersion",
    "PurgeRun",
    "Purpose",
    "SecurityEvent",
]

"""All models of privacy_kit, importable from here."""

from .breaches.models import Breach
from .consent.models import ConsentRecord, PolicyVersion, Purpose
from .deadlines.models import DeadlineAlert
from .keys.models import SubjectKey
from .ledger import LedgerError
from .requests.models import DataRequest
from .retention.models import LegalHold, PurgeRun
from .rights.models import ErasureRecord
from .security.models import AccessLog, SecurityEvent
from .tracking.models import BehavioralEvent

__all__ = [
    "AccessLog",
    "BehavioralEvent",
    "Breach",
    "ConsentRecord",
    "DataRequest",
    "DeadlineAlert",
    "ErasureRecord",
    "LedgerError",
    "LegalHold",
    "PolicyVersion",
    "PurgeRun",
    "Purpose",
    "SecurityEvent",
    "SubjectKey",
]

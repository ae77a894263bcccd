"""All models of privacy_kit, importable from here."""

from .consent.models import ConsentRecord, LedgerError, PolicyVersion, Purpose
from .retention.models import LegalHold, PurgeRun
from .tracking.models import BehavioralEvent

__all__ = ["BehavioralEvent", "ConsentRecord", "LedgerError", "LegalHold", "PolicyVersion", "PurgeRun", "Purpose"]

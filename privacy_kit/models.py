"""All models of privacy_kit, importable from here."""

from .consent.models import ConsentRecord, LedgerError, PolicyVersion, Purpose
from .tracking.models import BehavioralEvent

__all__ = ["BehavioralEvent", "ConsentRecord", "LedgerError", "PolicyVersion", "Purpose"]

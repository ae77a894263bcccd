"""Retention: expire personal and behavioral data once the period of dealing is over."""

from .purge import (
    PurgeResult,
    anonymized_fields,
    anonymous_value,
    expired,
    held_subjects,
    inactive_users,
    lock_holds,
    not_yet_anonymous,
    plan_purge,
    policy_lock,
    purge_policy,
)

__all__ = [
    "PurgeResult",
    "anonymized_fields",
    "anonymous_value",
    "expired",
    "held_subjects",
    "inactive_users",
    "lock_holds",
    "not_yet_anonymous",
    "plan_purge",
    "policy_lock",
    "purge_policy",
]

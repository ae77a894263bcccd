"""The public signals of privacy_kit."""

from django.dispatch import Signal

# Sent when a security event needs a person's attention now: a lockout or bulk access.
# The sender is the SecurityEvent model. Arguments:
#   event - the SecurityEvent just recorded (its detail holds no personal data).
security_alert = Signal()

# Sent when a record on the clock reaches a threshold before its due time, or passes it:
# a data-subject request 7 days and 1 day before it is due, a breach 24 and 6 hours before
# the authority must be told, and each once overdue (privacy_kit.deadlines). Sent once per
# record, threshold and due time, in the transaction that records the alert: a receiver that
# raises rolls it back, and the next run of the beat task sends it again. The sender is the
# record's model. Arguments:
#   record    - the DataRequest or Breach;
#   clock     - "request" or "breach";
#   threshold - "7d", "1d", "24h", "6h" or "overdue";
#   due_at    - when the record is due (a request's extension moves it, and re-arms its alerts);
#   left      - a timedelta from now to due_at, negative once overdue.
deadline_alert = Signal()

# Sent when a staff user's two-factor device is added: an authenticator app confirmed,
# new backup codes, a passkey registered. The sender is the device's model. Arguments:
#   device  - the django-otp device, saved;
#   request - the HttpRequest that added it, or None.
device_added = Signal()

# Sent when a confirmed two-factor device is deleted, wherever (its page, the admin, a
# shell, new backup codes replacing old ones). The sender is the device's model. Arguments:
#   device  - the django-otp device, no longer in the database;
#   request - always None: a deletion reaches privacy_kit through post_delete.
device_removed = Signal()

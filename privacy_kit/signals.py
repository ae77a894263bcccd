"""The public signals of privacy_kit."""

from django.dispatch import Signal

# Sent when a security event needs a person's attention now: a lockout or bulk access.
# The sender is the SecurityEvent model. Arguments:
#   event - the SecurityEvent just recorded (its detail holds no personal data).
security_alert = Signal()

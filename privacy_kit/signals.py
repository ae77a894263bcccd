"""The public signals of privacy_kit."""

from django.dispatch import Signal

# Sent when a security event needs a person's attention now: a lockout or bulk access.
# The sender is the SecurityEvent model. Arguments:
#   event - the SecurityEvent just recorded (its detail holds no personal data).
security_alert = Signal()

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

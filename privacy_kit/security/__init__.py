"""Security of the admin: who looked at whose personal data, and what looked like an intrusion.

``AccessLog`` records each opening of a record with personal data; ``SecurityEvent``
records failed logins and codes, lockouts, bulk access and the other events the
spec lists. Both are append-only.
"""

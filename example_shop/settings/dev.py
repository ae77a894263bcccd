"""Settings for running the demo on a laptop: SQLite, DEBUG, demo keys."""

from .base import *  # noqa: F403

DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
SECRET_KEY = "demo-only-not-secret-" + "x" * 40
# Browsers make passkeys for a domain name, not for 127.0.0.1: open the demo at http://localhost:8000.
OTP_WEBAUTHN_RP_ID = "localhost"
OTP_WEBAUTHN_ALLOWED_ORIGINS = ["http://localhost:8000"]

# Demo keys, for this demo only. A real shop keeps its keys out of the
# settings file, in PRIVACY_KIT_ENCRYPTION_KEYS and PRIVACY_KIT_BLIND_INDEX_KEY.
PRIVACY_KIT = {
    **PRIVACY_KIT,  # noqa: F405
    "ENCRYPTION_KEYS": ["Tq1mDqN2vVXm6x3zS9w0Hq1D5mUq2dHZ8yqk4Ff0z5Y="],
    "BLIND_INDEX_KEY": "xW8P2kq4cV1sA6n0bT3eY9rL5mH7jG2dF4aS8qZ1wE0=",
}

"""Sessions verified by a second factor, for the tests of the admin."""

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice


def verify(client, user, device=None):
    """Log ``user`` in on ``client``, verified in the session by ``device`` (a new confirmed TOTP device by default)."""
    device = device or TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device

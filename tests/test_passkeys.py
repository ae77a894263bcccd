"""Passkeys of staff, without a browser: registration, login after the password, and every refusal.

The authenticator is tests/passkeys.py: real P-256 keys and signatures, checked by
django-otp-webauthn and py_webauthn as a phone's would be.
"""

import json

import django
import pytest
from axes.models import AccessAttempt
from django.contrib.sessions.models import Session
from django.core import checks, mail, signing
from django.test import Client
from django.utils import translation
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from privacy_kit.models import SecurityEvent
from privacy_kit.signals import device_added, device_removed
from privacy_kit.two_factor.passkeys import CANCELLED, LOGIN_STATE_COOKIE, LOGIN_STATE_SALT
from tests.passkeys import SoftAuthenticator
from tests.two_factor import verify

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN = "/admin/login/"
PASSKEYS = "/admin/two-factor/passkeys/"
REGISTRATION_OPTIONS = "/admin/two-factor/passkeys/options/"
LOGIN_OPTIONS = "/admin/two-factor/passkey-login/options/"
# Django 6.0 takes ADMINS as addresses; 5.2 as (name, address) pairs.
ADMINS = ["security@shop.example"] if django.VERSION >= (6,) else [("Security", "security@shop.example")]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.sa", PASSWORD)


@pytest.fixture
def colleague(django_user_model):
    return django_user_model.objects.create_user("colleague", password=PASSWORD, is_staff=True)


def verified_client(user):
    client = Client()
    verify(client, user)
    return client


def add_passkey(client, authenticator, name="Work laptop"):
    options = client.post(REGISTRATION_OPTIONS).json()
    return client.post(PASSKEYS, {"name": name, "response": authenticator.create(options)})


@pytest.fixture
def laptop(staff):
    """A passkey of staff's, registered from a session verified by their authenticator app."""
    authenticator = SoftAuthenticator()
    assert add_passkey(verified_client(staff), authenticator).status_code == 302
    return authenticator


def log_in_with_passkey(client, authenticator, username="staff", password=PASSWORD, **answer):
    options = client.post(LOGIN_OPTIONS).json()
    passkey = authenticator.get(options, **answer) if authenticator else CANCELLED
    return client.post(LOGIN, {"username": username, "password": password, "passkey": passkey, "next": "/admin/"})


def failures(username="staff"):
    return sum(AccessAttempt.objects.filter(username=username).values_list("failures_since_start", flat=True))


def failed_otp_events(user):
    return SecurityEvent.objects.filter(kind=SecurityEvent.Kind.FAILED_OTP, user=user).count()


def refused(response):
    return response.status_code == 200 and "_auth_user_id" not in response.client.session


# Registering


def test_a_verified_staff_user_adds_a_named_passkey_recorded_alerted_and_signalled(
    staff, django_capture_on_commit_callbacks, settings
):
    settings.ADMINS = ADMINS
    received = []
    device_added.connect(lambda sender, device, **kwargs: received.append(device), weak=False, dispatch_uid="t")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = add_passkey(verified_client(staff), SoftAuthenticator(), name="Work laptop")
    finally:
        device_added.disconnect(dispatch_uid="t")
    assert response.status_code == 302 and response.url == PASSKEYS
    [passkey] = WebAuthnCredential.objects.filter(user=staff)
    assert passkey.name == "Work laptop" and passkey.confirmed
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.DEVICE_ADDED, user=staff)
    assert event.detail == f"django_otp_webauthn.WebAuthnCredential #{passkey.pk}"
    assert received == [passkey]
    assert len(mail.outbox) == 1  # a new way in to the account: ADMINS hear of it


def test_the_passkeys_page_lists_only_the_users_own_passkeys(staff, colleague, laptop):
    add_passkey(verified_client(colleague), SoftAuthenticator(), name="Colleague's phone")
    page = verified_client(staff).get(PASSKEYS).content.decode()
    assert "Work laptop" in page and "Colleague&#x27;s phone" not in page and "Colleague's phone" not in page


def test_an_unverified_session_cannot_add_a_passkey(staff):
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    client.force_login(staff)  # the password, and no code
    assert client.post(REGISTRATION_OPTIONS).status_code == 403
    assert client.get(PASSKEYS).status_code == 302
    # A registration made elsewhere, posted here: no challenge of this session, no page for it.
    assert (
        client.post(PASSKEYS, {"name": "x", "response": SoftAuthenticator().create(fake_options())}).status_code == 302
    )
    assert not WebAuthnCredential.objects.exists()


def test_a_staff_user_with_no_factor_yet_cannot_make_a_passkey_their_first(staff):
    client = Client()
    client.force_login(staff)
    assert client.post(REGISTRATION_OPTIONS).status_code == 403
    assert not WebAuthnCredential.objects.exists()


def fake_options():
    return {"challenge": "AAAA", "user": {"id": "AAAA"}}


def test_a_registration_is_good_once(staff):
    client = verified_client(staff)
    authenticator = SoftAuthenticator()
    answer = authenticator.create(client.post(REGISTRATION_OPTIONS).json())
    assert client.post(PASSKEYS, {"name": "one", "response": answer}).status_code == 302
    again = client.post(PASSKEYS, {"name": "two", "response": answer})
    assert again.status_code == 200 and "expired" in again.content.decode()
    assert WebAuthnCredential.objects.count() == 1


def test_a_passkey_registered_already_is_refused_for_anyone_else(staff, colleague, laptop):
    # An authenticator that answers with the credential id of staff's passkey, for the colleague.
    response = add_passkey(verified_client(colleague), laptop)
    assert response.status_code == 200 and "could not be registered" in response.content.decode()
    assert list(WebAuthnCredential.objects.values_list("user__username", flat=True)) == ["staff"]


def test_a_registration_without_user_verification_is_refused(staff):
    client = verified_client(staff)
    answer = SoftAuthenticator().create(client.post(REGISTRATION_OPTIONS).json(), user_verified=False)
    assert client.post(PASSKEYS, {"name": "x", "response": answer}).status_code == 200
    assert not WebAuthnCredential.objects.exists()


def test_a_registration_made_for_another_site_is_refused(staff):
    client = verified_client(staff)
    phished = SoftAuthenticator(origin="https://shop-login.example")
    assert client.post(PASSKEYS, {"name": "x", "response": phished.create(client.post(REGISTRATION_OPTIONS).json())})
    assert not WebAuthnCredential.objects.exists()


# Logging in


def test_password_and_passkey_log_in_verified_by_the_passkey(staff, laptop, settings):
    client = Client()
    response = log_in_with_passkey(client, laptop)
    assert response.status_code == 302 and response.url == "/admin/"
    passkey = WebAuthnCredential.objects.get(user=staff)
    assert client.session[DEVICE_ID_SESSION_KEY] == passkey.persistent_id
    assert client.get("/admin/").status_code == 200
    passkey.refresh_from_db()
    assert passkey.sign_count == 1 and passkey.last_used_at is not None


def test_a_user_with_only_a_passkey_is_verified_for_the_admin_session_hours(staff, laptop, settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "ADMIN_SESSION_HOURS": 2}
    TOTPDevice.objects.filter(user=staff).delete()
    StaticDevice.objects.filter(user=staff).delete()
    client = Client()
    assert log_in_with_passkey(client, laptop).status_code == 302
    assert client.get("/admin/").status_code == 200  # not sent to set up an authenticator app
    assert client.session.get_expiry_age() == 2 * 3600


def test_the_authenticator_app_still_logs_in_when_there_is_a_passkey(staff, laptop):
    device = TOTPDevice.objects.get(user=staff)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    client = Client()
    response = client.post(LOGIN, {"username": "staff", "password": PASSWORD, "otp_token": code, "next": "/admin/"})
    assert response.status_code == 302 and client.get("/admin/").status_code == 200


def test_a_passkey_without_the_password_logs_nobody_in(staff, laptop):
    response = log_in_with_passkey(Client(), laptop, password="wrong")
    assert refused(response)


def test_the_login_options_name_no_credential_and_no_user(staff, laptop):
    options = Client().post(LOGIN_OPTIONS).json()
    assert options.get("allowCredentials", []) == [] and options["userVerification"] == "required"


def test_another_users_passkey_is_refused_and_counted(staff, colleague, laptop):
    colleagues = SoftAuthenticator()
    add_passkey(verified_client(colleague), colleagues)
    response = log_in_with_passkey(Client(), colleagues, username="staff")
    assert refused(response)
    assert failures() == 1 and failed_otp_events(staff) == 1


def test_a_passkey_never_registered_is_refused_and_counted(staff, laptop):
    assert refused(log_in_with_passkey(Client(), SoftAuthenticator()))
    assert failures() == 1 and failed_otp_events(staff) == 1


def test_a_replayed_assertion_is_refused_and_counted(staff, laptop):
    client = Client()
    options = client.post(LOGIN_OPTIONS).json()
    answer = laptop.get(options)
    form = {"username": "staff", "password": PASSWORD, "passkey": answer, "next": "/admin/"}
    assert client.post(LOGIN, form).status_code == 302
    client.logout()
    # The same answer again: in a session with no challenge, then against a new challenge.
    assert refused(client.post(LOGIN, form))
    client.post(LOGIN_OPTIONS)
    assert refused(client.post(LOGIN, form))
    assert failures() == 2 and failed_otp_events(staff) == 2


def test_a_cloned_passkey_whose_counter_went_back_is_refused(staff, laptop):
    assert log_in_with_passkey(Client(), laptop).status_code == 302
    assert log_in_with_passkey(Client(), laptop).status_code == 302
    laptop.sign_count = 0  # a copy of the key made before those two logins
    assert refused(log_in_with_passkey(Client(), laptop))
    assert failures() == 1


def test_an_assertion_for_a_phishing_site_is_refused_and_counted(staff, laptop):
    laptop.origin = "https://shop-login.example"
    assert refused(log_in_with_passkey(Client(), laptop))
    assert failures() == 1


def test_an_assertion_without_user_verification_is_refused(staff, laptop):
    assert refused(log_in_with_passkey(Client(), laptop, user_verified=False))
    assert failures() == 1


def test_a_cancelled_assertion_is_refused_and_counted(staff, laptop):
    assert refused(log_in_with_passkey(Client(), None))
    assert failures() == 1 and failed_otp_events(staff) == 1


def test_a_wrong_password_uses_up_the_passkey_challenge(staff, laptop):
    client = Client()
    options = client.post(LOGIN_OPTIONS).json()
    answer = laptop.get(options)
    assert refused(client.post(LOGIN, {"username": "staff", "password": "wrong", "passkey": answer}))
    assert refused(client.post(LOGIN, {"username": "staff", "password": PASSWORD, "passkey": answer}))


def test_failed_passkeys_lock_out_like_wrong_codes(staff, laptop):
    for _ in range(5):
        log_in_with_passkey(Client(), None)
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.LOCKOUT, user=staff).exists()
    response = log_in_with_passkey(Client(), laptop)  # now even the right passkey
    assert response.status_code != 302 and "_auth_user_id" not in response.client.session


# Removing


def test_removing_a_passkey_is_recorded_and_signalled(staff, laptop):
    passkey = WebAuthnCredential.objects.get(user=staff)
    received = []
    device_removed.connect(lambda sender, device, **kwargs: received.append(device.pk), weak=False, dispatch_uid="t")
    try:
        response = verified_client(staff).post(f"{PASSKEYS}{passkey.pk}/remove/")
    finally:
        device_removed.disconnect(dispatch_uid="t")
    assert response.status_code == 302 and not WebAuthnCredential.objects.exists()
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.DEVICE_REMOVED, user=staff)
    assert event.detail == f"django_otp_webauthn.WebAuthnCredential #{passkey.pk}"
    assert received == [passkey.pk]
    assert refused(log_in_with_passkey(Client(), laptop))


def test_another_users_passkey_cannot_be_removed(staff, colleague, laptop):
    passkey = WebAuthnCredential.objects.get(user=staff)
    assert verified_client(colleague).post(f"{PASSKEYS}{passkey.pk}/remove/").status_code == 404
    assert WebAuthnCredential.objects.filter(pk=passkey.pk).exists()


def test_removing_the_passkey_that_verified_the_session_ends_the_verification(staff, laptop):
    client = Client()
    log_in_with_passkey(client, laptop)
    passkey = WebAuthnCredential.objects.get(user=staff)
    assert client.post(f"{PASSKEYS}{passkey.pk}/remove/").status_code == 302
    assert client.get("/admin/").status_code == 302


# Requests a form or a script would not send


def test_the_passkey_endpoints_refuse_a_request_without_csrf_token(staff, laptop):
    client = Client(enforce_csrf_checks=True)
    verify(client, staff)
    assert client.post(REGISTRATION_OPTIONS).status_code == 403
    assert client.post(LOGIN_OPTIONS).status_code == 403
    passkey = WebAuthnCredential.objects.get(user=staff)
    assert client.post(f"{PASSKEYS}{passkey.pk}/remove/").status_code == 403
    assert client.post(PASSKEYS, {"name": "x", "response": "{}"}).status_code == 403
    assert WebAuthnCredential.objects.filter(pk=passkey.pk).exists()
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post(LOGIN, {"username": "staff", "password": PASSWORD, "passkey": CANCELLED}).status_code == 403


@pytest.mark.parametrize("url", [REGISTRATION_OPTIONS, LOGIN_OPTIONS, f"{PASSKEYS}1/remove/"])
def test_the_passkey_endpoints_refuse_get(staff, laptop, url):
    assert verified_client(staff).get(url).status_code == 405


def test_a_challenge_leaves_no_session_row_and_no_personal_data_in_its_cookie(staff, laptop):
    client = Client()
    before = Session.objects.count()
    response = client.post(LOGIN_OPTIONS)
    assert Session.objects.count() == before
    cookie = response.cookies[LOGIN_STATE_COOKIE]
    assert cookie["httponly"] and cookie["path"] == LOGIN
    state = signing.loads(cookie.value, salt=LOGIN_STATE_SALT)
    assert set(state) == {"challenge", "issued_at"} and "staff" not in json.dumps(state)


def test_a_forged_or_expired_challenge_cookie_is_refused_and_counted(staff, laptop, settings):
    client = Client()
    options = client.post(LOGIN_OPTIONS).json()
    answer = laptop.get(options)
    value = client.cookies[LOGIN_STATE_COOKIE].value
    client.cookies[LOGIN_STATE_COOKIE] = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert refused(client.post(LOGIN, {"username": "staff", "password": PASSWORD, "passkey": answer}))
    settings.OTP_WEBAUTHN_TIMEOUT_SECONDS = -1  # every challenge is older than that
    client.cookies[LOGIN_STATE_COOKIE] = value
    assert refused(client.post(LOGIN, {"username": "staff", "password": PASSWORD, "passkey": answer}))
    assert failures() == 2


# Checks


def passkey_messages(**settings_):
    from django.test import override_settings

    with override_settings(**settings_):
        return [m.id for m in checks.run_checks(tags=[checks.Tags.security]) if m.id.startswith("privacy_kit.")]


PASSKEY_CHECKS = {"privacy_kit.E049", *(f"privacy_kit.W04{n}" for n in range(1, 6))}


def test_the_passkey_settings_of_the_tests_pass_the_checks():
    assert set(passkey_messages()) & PASSKEY_CHECKS == set()


def test_a_plain_http_origin_outside_debug_is_an_error():
    assert "privacy_kit.E049" in passkey_messages(OTP_WEBAUTHN_ALLOWED_ORIGINS=["http://localhost"])


def test_a_plain_http_origin_in_debug_is_allowed():
    messages = passkey_messages(DEBUG=True, OTP_WEBAUTHN_ALLOWED_ORIGINS=["http://localhost:8000"])
    assert set(messages) & PASSKEY_CHECKS == set()


def test_a_relying_party_id_of_no_allowed_host_is_a_warning():
    assert "privacy_kit.W041" in passkey_messages(OTP_WEBAUTHN_RP_ID="shop.example")


def test_a_relying_party_id_that_is_the_parent_domain_of_an_allowed_host_passes():
    messages = passkey_messages(
        ALLOWED_HOSTS=["admin.shop.example"],
        OTP_WEBAUTHN_RP_ID="shop.example",
        OTP_WEBAUTHN_ALLOWED_ORIGINS=["https://admin.shop.example"],
    )
    assert set(messages) & PASSKEY_CHECKS == set()


def test_an_origin_not_in_allowed_hosts_is_a_warning():
    messages = passkey_messages(ALLOWED_HOSTS=["localhost"], OTP_WEBAUTHN_ALLOWED_ORIGINS=["https://admin.localhost"])
    assert "privacy_kit.W042" in messages


def test_an_origin_off_the_relying_party_domain_is_a_warning():
    messages = passkey_messages(
        ALLOWED_HOSTS=["localhost", "shop.example"], OTP_WEBAUTHN_ALLOWED_ORIGINS=["https://shop.example"]
    )
    assert "privacy_kit.W043" in messages


def test_passwordless_login_mounted_is_a_warning():
    messages = passkey_messages(ROOT_URLCONF="tests.urls_passwordless", OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN=True)
    assert "privacy_kit.W044" in messages
    # Mounted with passwordless login off: still a warning, with its own message (tests/test_attacks_two_factor.py).
    assert "privacy_kit.W044" in passkey_messages(ROOT_URLCONF="tests.urls_passwordless")
    assert "privacy_kit.W044" not in passkey_messages(OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN=True)


def test_an_ip_address_as_relying_party_id_is_a_warning():
    assert "privacy_kit.W045" in passkey_messages(ALLOWED_HOSTS=["127.0.0.1"], OTP_WEBAUTHN_RP_ID="127.0.0.1")


@pytest.fixture
def _language_reset():
    """Leave no language active: LocaleMiddleware activates the request's in this thread."""
    yield
    translation.deactivate()


@pytest.mark.usefixtures("_language_reset")
def test_the_passkey_pages_speak_arabic(staff, laptop):
    login = Client(HTTP_ACCEPT_LANGUAGE="ar").get(LOGIN).content.decode()
    assert "استخدم مفتاح مرور بدلًا من الرمز" in login
    client = verified_client(staff)
    page = client.get(PASSKEYS, HTTP_ACCEPT_LANGUAGE="ar").content.decode()
    assert 'dir="rtl"' in page and "مفاتيح المرور الخاصة بك" in page and "إضافة مفتاح مرور" in page


def test_the_demo_says_how_to_add_a_passkey(settings):
    import io

    from django.core.management import call_command

    settings.DEBUG = True
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = ["http://localhost:8000"]
    out = io.StringIO()
    call_command("demo_staff", stdout=out)
    assert "http://localhost:8000/admin/" in out.getvalue() and "'Add a passkey'" in out.getvalue()

"""Attacks on the second factor: passkeys crossed between users and sessions, raced, flooded, forged, renamed.

Each test tries something a password thief, a colleague, a flood of visitors or a
stale browser would, through the real views, with tests/passkeys.py's authenticator
(real keys and signatures). What broke is fixed in the code; what held stays tested.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from privacy_kit.models import SecurityEvent
from tests.passkeys import SoftAuthenticator
from tests.runs import ON_POSTGRES, settings_only
from tests.test_passkeys import (
    ADMINS,
    LOGIN,
    LOGIN_OPTIONS,
    PASSKEYS,
    PASSWORD,
    REGISTRATION_OPTIONS,
    add_passkey,
    failures,
    log_in_with_passkey,
    refused,
    verified_client,
)
from tests.two_factor import verify

pytestmark = pytest.mark.django_db
BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.sa", PASSWORD)


@pytest.fixture
def colleague(django_user_model):
    return django_user_model.objects.create_user("colleague", password=PASSWORD, is_staff=True)


@pytest.fixture
def laptop(staff):
    authenticator = SoftAuthenticator()
    assert add_passkey(verified_client(staff), authenticator).status_code == 302
    return authenticator


def is_verified_session(client):
    return DEVICE_ID_SESSION_KEY in client.session and client.get("/admin/").status_code == 200


# Crossing users and sessions


def test_a_password_of_a_user_with_no_device_and_a_colleagues_passkey_verify_nobody(staff, colleague, laptop):
    # The colleague has only a password; staff's passkey answers. The colleague must not come out verified.
    client = Client()
    response = log_in_with_passkey(client, laptop, username="colleague")
    assert DEVICE_ID_SESSION_KEY not in client.session
    assert client.get("/admin/").status_code == 302
    assert response.status_code in (200, 302)
    assert WebAuthnCredential.objects.get(user=staff).sign_count == 0  # staff's passkey was not even used


def test_an_assertion_for_a_challenge_issued_to_another_session_is_refused(staff, laptop):
    victim, attacker = Client(), Client()
    options = victim.post(LOGIN_OPTIONS).json()
    attacker.post(LOGIN_OPTIONS)  # a challenge of its own, not the one answered
    answer = laptop.get(options)
    form = {"username": "staff", "password": PASSWORD, "passkey": answer}
    assert refused(attacker.post(LOGIN, form))
    assert failures() == 1


def test_an_assertion_posted_by_a_client_that_asked_for_no_challenge_is_refused(staff, laptop):
    options = Client().post(LOGIN_OPTIONS).json()
    assert refused(Client().post(LOGIN, {"username": "staff", "password": PASSWORD, "passkey": laptop.get(options)}))


# The anonymous login-options endpoint


def test_a_flood_of_anonymous_login_challenges_writes_no_session_rows(staff, laptop):
    before = Session.objects.count()
    for _ in range(50):
        assert Client().post(LOGIN_OPTIONS).status_code == 200
    assert Session.objects.count() == before


# Registration reached by sessions that should not


def test_registration_refused_once_the_verifying_device_is_deleted(staff):
    client = Client()
    phone = verify(client, staff)
    options = client.post(REGISTRATION_OPTIONS).json()
    phone.delete()
    assert client.post(REGISTRATION_OPTIONS).status_code == 403
    answer = SoftAuthenticator().create(options)
    assert client.post(PASSKEYS, {"name": "x", "response": answer}).status_code == 302  # to the login page
    assert not WebAuthnCredential.objects.exists()


def test_registration_refused_once_staff_status_is_taken_away_mid_session(staff, colleague):
    client = verified_client(colleague)
    options = client.post(REGISTRATION_OPTIONS).json()
    colleague.is_staff = False
    colleague.save()
    assert client.post(REGISTRATION_OPTIONS).status_code == 403
    assert client.post(PASSKEYS, {"name": "x", "response": SoftAuthenticator().create(options)}).status_code == 302
    assert not WebAuthnCredential.objects.exists()


def test_an_attestation_for_a_colleagues_challenge_does_not_register_in_another_session(staff, colleague):
    colleagues_session = verified_client(colleague)
    options = colleagues_session.post(REGISTRATION_OPTIONS).json()
    answer = SoftAuthenticator().create(options)
    staffs_session = verified_client(staff)
    staffs_session.post(REGISTRATION_OPTIONS)  # a challenge of its own
    response = staffs_session.post(PASSKEYS, {"name": "x", "response": answer})
    assert response.status_code == 200 and not WebAuthnCredential.objects.exists()
    # And the colleague's own session still cannot use it for staff: its state names the colleague.
    assert colleagues_session.post(PASSKEYS, {"name": "x", "response": answer}).status_code == 302
    assert list(WebAuthnCredential.objects.values_list("user__username", flat=True)) == ["colleague"]


def test_a_guessed_passkey_id_of_a_colleague_is_not_removed_and_a_missing_one_is_404(staff, colleague, laptop):
    passkey = WebAuthnCredential.objects.get(user=staff)
    client = verified_client(colleague)
    for pk in (passkey.pk, passkey.pk + 1, 0):
        assert client.post(f"{PASSKEYS}{pk}/remove/").status_code == 404
    assert WebAuthnCredential.objects.filter(pk=passkey.pk).exists()
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.DEVICE_REMOVED).exists()


@pytest.mark.parametrize("method", ["put", "delete", "patch", "options", "trace"])
def test_the_passkeys_page_answers_no_other_method_than_get_head_and_post(staff, laptop, method):
    client = verified_client(staff)
    form = "application/x-www-form-urlencoded"
    response = getattr(client, method)(PASSKEYS, data="name=x&response={}", content_type=form)
    assert response.status_code == 405
    assert WebAuthnCredential.objects.count() == 1


def test_the_passkeys_page_answers_head_and_is_never_cached(staff, laptop):
    client = verified_client(staff)
    assert client.head(PASSKEYS).status_code == 200
    page = client.get(PASSKEYS)
    assert "no-store" in page["Cache-Control"] and "private" in page["Cache-Control"]


def test_after_logout_the_passkeys_page_and_its_endpoints_refuse_the_old_cookie(staff, laptop):
    client = Client()
    assert log_in_with_passkey(client, laptop).status_code == 302
    old_cookie = client.cookies["sessionid"].value
    client.post("/admin/logout/")
    stale = Client()
    stale.cookies["sessionid"] = old_cookie  # the back button of a shared browser sends what it had
    assert stale.get(PASSKEYS).status_code == 302
    assert stale.post(REGISTRATION_OPTIONS).status_code == 403
    passkey = WebAuthnCredential.objects.get(user=staff)
    assert stale.post(f"{PASSKEYS}{passkey.pk}/remove/").status_code == 302
    assert WebAuthnCredential.objects.filter(pk=passkey.pk).exists()


# A passkey named with markup


MARKUP = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def test_a_passkey_named_with_markup_is_shown_escaped_and_kept_out_of_events_and_mail(
    staff, django_capture_on_commit_callbacks, settings
):
    settings.ADMINS = ADMINS
    client = verified_client(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = add_passkey(client, SoftAuthenticator(), name=MARKUP)
    assert response.status_code == 302
    assert WebAuthnCredential.objects.get(user=staff).name == MARKUP
    page = client.get(PASSKEYS).content.decode()  # the success message and the list
    assert "<script>alert(2)</script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.DEVICE_ADDED)
    assert "<" not in event.detail and "alert" not in event.detail
    assert len(mail.outbox) == 1 and "alert(" not in mail.outbox[0].body + mail.outbox[0].subject


# Lockouts


def test_a_valid_passkey_does_not_end_a_lockout_by_cancelled_ones_nor_reset_the_count(staff, laptop):
    for _ in range(5):
        log_in_with_passkey(Client(), None)
    client = Client()
    response = log_in_with_passkey(client, laptop)
    assert response.status_code == 429 and "_auth_user_id" not in client.session
    # The lock is on the username: another address, the right password and passkey, still refused.
    other = Client(REMOTE_ADDR="10.9.9.9")
    assert log_in_with_passkey(other, laptop).status_code == 429
    assert WebAuthnCredential.objects.get(user=staff).sign_count == 0  # the passkey was never checked


def test_an_admin_session_verified_by_a_passkey_ends_after_admin_session_hours(staff, laptop, settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "ADMIN_SESSION_HOURS": 1}
    client = Client()
    assert log_in_with_passkey(client, laptop).status_code == 302
    import datetime

    from django.utils import timezone

    key = client.session.session_key
    row = Session.objects.get(session_key=key)
    assert row.expire_date <= timezone.now() + datetime.timedelta(hours=1, seconds=5)
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - datetime.timedelta(seconds=1))
    assert client.get(PASSKEYS).status_code == 302


# One challenge, two logins


class ZeroCounter(SoftAuthenticator):
    """A passkey whose counter stays at 0, as synced passkeys' do: the counter cannot tell a replay."""

    def get(self, options, user_verified=True):
        self.sign_count = -1
        return super().get(options, user_verified=user_verified)


def test_two_logins_racing_one_challenge_verify_one_session_only(staff):
    synced = ZeroCounter()
    assert add_passkey(verified_client(staff), synced).status_code == 302
    first = Client()
    options = first.post(LOGIN_OPTIONS).json()
    answer = synced.get(options)
    # What the second request holds when it read the browser's state before the first one finished:
    # the same cookies and, where the challenge is in the session, the session row as it was then.
    cookies = {name: morsel.value for name, morsel in first.cookies.items()}
    key = first.cookies["sessionid"].value if "sessionid" in first.cookies else None
    row = Session.objects.filter(session_key=key).values("session_data", "expire_date").first()
    form = {"username": "staff", "password": PASSWORD, "passkey": answer, "next": "/admin/"}
    assert first.post(LOGIN, form).status_code == 302
    if row is not None:
        Session.objects.update_or_create(session_key=key, defaults=row)
    second = Client()
    for name, value in cookies.items():
        second.cookies[name] = value
    assert refused(second.post(LOGIN, form))
    assert is_verified_session(first)


# django-otp-webauthn's own views, mounted as its documentation shows (passwordless login off).
# They do what privacy_kit's pages refuse; the guarantee is that `manage.py check` says so (W044).

WEBAUTHN = "/webauthn/"


def warned_of_mounted_webauthn_urls():
    from privacy_kit.checks import W044, W044_MOUNTED_MSG, check_passkeys

    return [m.msg for m in check_passkeys() if m.id == W044] == [W044_MOUNTED_MSG]


@pytest.mark.urls("tests.urls_passwordless")
def test_its_registration_adds_an_unrecorded_first_factor_for_a_password_only_user_and_check_says_so(colleague):
    client = Client()
    client.force_login(colleague)  # the password, no device yet
    begin = client.post(f"{WEBAUTHN}registration/begin/")
    answer = SoftAuthenticator().create(begin.json())
    client.post(f"{WEBAUTHN}registration/complete/", data=answer, content_type="application/json")
    assert WebAuthnCredential.objects.filter(user=colleague).exists()
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.DEVICE_ADDED, user=colleague).exists()
    assert warned_of_mounted_webauthn_urls()


@pytest.mark.urls("tests.urls_passwordless")
def test_its_authentication_verifies_a_password_only_session_uncounted_and_check_says_so(staff, laptop):
    client = Client()
    client.force_login(staff)  # the password (say at the shop's login page), no second factor
    for _ in range(3):  # passkeys that are not staff's
        begin = client.post(f"{WEBAUTHN}authentication/begin/")
        answer = SoftAuthenticator().get(begin.json())
        client.post(f"{WEBAUTHN}authentication/complete/", data=answer, content_type="application/json")
    assert failures() == 0  # django-axes heard of none
    begin = client.post(f"{WEBAUTHN}authentication/begin/")
    answer = laptop.get(begin.json(), user_verified=False)  # no fingerprint, no PIN
    client.post(f"{WEBAUTHN}authentication/complete/", data=answer, content_type="application/json")
    assert DEVICE_ID_SESSION_KEY in client.session
    assert warned_of_mounted_webauthn_urls()


def test_the_admins_own_passkey_pages_are_no_reason_for_the_warning():
    from privacy_kit.checks import W044, check_passkeys

    assert W044 not in [m.id for m in check_passkeys()]


# The INSTALLED_APPS entry of earlier versions, which reloads privacy_kit.admin in ready()

SHOP_MODELS = """
from django.db import models
from privacy_kit.admin import PersonalDataAdmin  # at import time of models.py

BASE_SEEN_BY_MODELS = PersonalDataAdmin


class Note(models.Model):
    text = models.TextField()

    class Meta:
        app_label = "noteshop"
"""
SHOP_ADMIN = """
from django.contrib import admin
from privacy_kit.admin import PersonalDataAdmin
from .models import Note


@admin.register(Note)
class NoteAdmin(PersonalDataAdmin):
    pass
"""
SHOP_CHECK = """
import django
django.setup()
from django.contrib import admin
import privacy_kit.admin
from privacy_kit.admin.personal_data import PersonalDataAdmin
from noteshop import models
from noteshop.models import Note
registered = admin.site._registry[Note]
print(models.BASE_SEEN_BY_MODELS is PersonalDataAdmin is privacy_kit.admin.PersonalDataAdmin,
      isinstance(registered, privacy_kit.admin.PersonalDataAdmin),
      admin.site._registry is privacy_kit.admin.site._registry)
"""


@settings_only
@pytest.mark.parametrize(
    "admin_app",
    ["privacy_kit.two_factor.apps.PrivacyAdminConfig", "privacy_kit.admin.apps.PrivacyAdminConfig"],
    ids=["entry", "entry-of-earlier-versions"],
)
def test_a_shop_models_module_importing_personal_data_admin_keeps_one_class_under_each_entry(tmp_path, admin_app):
    package = tmp_path / "noteshop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(SHOP_MODELS)
    (package / "admin.py").write_text(SHOP_ADMIN)
    (tmp_path / "shop_settings.py").write_text(
        "from tests.settings import *\n"
        "INSTALLED_APPS = [name for name in INSTALLED_APPS if not name.endswith('PrivacyAdminConfig')]\n"
        f"INSTALLED_APPS.insert(0, {admin_app!r})\n"
        "INSTALLED_APPS.append('noteshop')\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "shop_settings", "PYTHONPATH": f"{tmp_path}:{BASE_DIR}"}
    run = subprocess.run(
        [sys.executable, "-c", SHOP_CHECK], env=env, capture_output=True, text=True, timeout=120, cwd=BASE_DIR
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["True", "True", "True"]


# Re-verification of a user whose only device is a passkey (docs/admin.md: refused, never let through)


def test_a_passkey_only_user_cannot_get_new_backup_codes_with_a_passkey_answer_or_a_guess(staff, laptop):
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.filter(user=staff).delete()
    StaticDevice.objects.filter(user=staff).delete()
    client = Client()
    assert log_in_with_passkey(client, laptop).status_code == 302
    options = client.post(LOGIN_OPTIONS).json()  # a challenge, answered, posted where a code goes
    forged = {"otp_token": "", "passkey": laptop.get(options)}
    url = "/admin/two-factor/backup-codes/new/"
    assert client.post(url, forged).status_code == 200
    assert client.post(url, {"otp_token": "123456"}).status_code == 200
    assert client.post(url, {"otp_token": laptop.get(options)[:32]}).status_code == 200
    assert not StaticDevice.objects.filter(user=staff).exists()
    assert failures() == 2  # the guesses are counted; the empty code is a form error


@pytest.mark.skipif(not ON_POSTGRES, reason="two requests at once, each in its own connection: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_threads_posting_one_answer_at_once_verify_one_session(django_user_model):
    import threading

    from django.db import connection

    django_user_model.objects.create_superuser("staff", "staff@example.sa", PASSWORD)
    synced = ZeroCounter()
    assert add_passkey(verified_client(django_user_model.objects.get()), synced).status_code == 302
    first = Client()
    answer = synced.get(first.post(LOGIN_OPTIONS).json())
    cookies = {name: morsel.value for name, morsel in first.cookies.items()}
    form = {"username": "staff", "password": PASSWORD, "passkey": answer, "next": "/admin/"}
    start, statuses = threading.Barrier(2), []

    def log_in():
        client = Client()
        for name, value in cookies.items():
            client.cookies[name] = value
        start.wait()
        try:
            statuses.append(client.post(LOGIN, form).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=log_in) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 302]


# The devices in the admin


def test_passkeys_have_no_admin_page_to_move_one_to_a_colleague(staff, colleague, laptop):
    passkey = WebAuthnCredential.objects.get(user=staff)
    client = verified_client(staff)  # a superuser
    url = f"/admin/django_otp_webauthn/webauthncredential/{passkey.pk}/change/"
    assert client.get(url).status_code == 404
    client.post(url, {"user": colleague.pk, "name": passkey.name, "confirmed": "on"})
    passkey.refresh_from_db()
    assert passkey.user_id == staff.pk


def test_an_authenticator_app_added_for_a_colleague_in_the_admin_is_recorded(
    staff, colleague, settings, django_capture_on_commit_callbacks
):
    settings.ADMINS = ADMINS
    client = verified_client(staff)  # a superuser: django-otp's own admin page adds devices
    form = {
        "user": colleague.pk,
        "name": "planted",
        "confirmed": "on",
        "key": "3132333435363738393031323334353637383930",
    }
    form |= {"step": 30, "t0": 0, "digits": 6, "tolerance": 1, "drift": 0, "last_t": -1, "throttling_failure_count": 0}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/otp_totp/totpdevice/add/", form)
    planted = TOTPDevice.objects.filter(user=colleague, name="planted").first()
    assert response.status_code == 302 and planted is not None
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.DEVICE_ADDED, user=colleague)
    assert event.detail == f"otp_totp.TOTPDevice #{planted.pk}" and len(mail.outbox) == 1
    # Renamed later: nothing new.
    form |= {"name": "renamed"}
    assert client.post(f"/admin/otp_totp/totpdevice/{planted.pk}/change/", form).status_code == 302
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.DEVICE_ADDED).count() == 1


def test_backup_codes_added_to_a_colleagues_device_in_the_admin_are_recorded(staff, colleague):
    from django_otp.plugins.otp_static.models import StaticDevice

    from privacy_kit.two_factor.backup_codes import replace_backup_codes

    replace_backup_codes(colleague)
    device = StaticDevice.objects.get(user=colleague)
    tokens = list(device.token_set.all())
    form = {"user": colleague.pk, "name": device.name, "confirmed": "on", "throttling_failure_count": 0}
    prefix = "token_set"
    form |= {f"{prefix}-TOTAL_FORMS": len(tokens) + 1, f"{prefix}-INITIAL_FORMS": len(tokens)}
    form |= {f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000}
    for n, token in enumerate(tokens):
        form |= {f"{prefix}-{n}-id": token.pk, f"{prefix}-{n}-device": device.pk, f"{prefix}-{n}-token": token.token}
    form |= {f"{prefix}-{len(tokens)}-device": device.pk, f"{prefix}-{len(tokens)}-token": "planted1"}
    before = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.DEVICE_ADDED, user=colleague).count()
    response = verified_client(staff).post(f"/admin/otp_static/staticdevice/{device.pk}/change/", form)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    assert device.token_set.filter(token="planted1").exists()
    events = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.DEVICE_ADDED, user=colleague)
    assert events.count() == before + 1
    assert events.latest("pk").detail == f"otp_static.StaticDevice #{device.pk}, 1 backup codes added"

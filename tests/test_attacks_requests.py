"""Attacks on data-subject requests: someone else's rows and requests, forged fields, wrong methods, no CSRF token."""

import datetime
import threading

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone

from privacy_kit import registry
from privacy_kit.models import DataRequest, SecurityEvent
from privacy_kit.requests import CorrectionRefused, RequestError, correct, fulfil, open_request, verify
from tests.testapp.models import Order
from tests.testapp.policies import register_orders

pytestmark = pytest.mark.django_db
NOW = timezone.now()
PASSWORD = "pw-layla-1"
CORRECT = "/privacy/my-data/correct/"
Kind, Channel, Status = DataRequest.Kind, DataRequest.Channel, DataRequest.Status


@pytest.fixture
def layla(django_user_model):
    return django_user_model.objects.create_user("layla", email="layla@example.sa", password=PASSWORD)


@pytest.fixture
def omar(django_user_model):
    return django_user_model.objects.create_user("omar", password="pw-omar-1")


@pytest.fixture
def orders(layla, omar):
    retention = register_orders(personal_fields=["full_name", "phone", "address"]).retention
    registry.register(
        Order,
        subject="customer",
        category="personal",
        personal_fields=["full_name", "phone", "address"],
        retention=retention,
        correctable=["full_name", "phone", "address"],
    )
    mine = Order.objects.create(customer=layla, full_name="Layla", phone="0550000001", total=10, created_at=NOW)
    theirs = Order.objects.create(customer=omar, full_name="Omar", phone="0550000002", total=20, created_at=NOW)
    return mine, theirs


@pytest.fixture
def logged_in(client, layla):
    client.force_login(layla)
    return client


def snapshot():
    return list(Order.objects.order_by("pk").values_list("customer", "full_name", "phone", "address", "note", "total"))


def correction(row, **fields):
    values = {"full_name": "Layla H.", "phone": "0551", "address": ""}
    return {"model": "testapp.Order", "row": row.pk, "password": PASSWORD, **values, **fields}


def nothing_changed(before):
    assert snapshot() == before
    # A refusal is recorded as an event too ("refused: ..."); no correction was.
    assert not SecurityEvent.objects.filter(kind="correction").exclude(detail__startswith="refused").exists()


# -- corrections on the my-data page -------------------------------------------


@pytest.mark.parametrize("forged", ["customer", "total", "created_at", "is_staff", "full_name_blind_index"])
def test_a_correction_with_a_forged_or_uncorrectable_field_is_refused_and_changes_nothing(logged_in, orders, forged):
    mine, _ = orders
    before = snapshot()
    response = logged_in.post(CORRECT, correction(mine, **{forged: "1"}))
    assert response.status_code == 400
    assert f"Not a field that can be corrected: {forged}. Nothing was changed." in response.content.decode()
    nothing_changed(before)
    assert not DataRequest.objects.exists()


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"full_name": ""}, "This field is required."),
        ({"phone": "0" * 31}, "Ensure this value has at most 30 characters"),
    ],
)
def test_a_correction_with_invalid_values_is_refused_with_the_forms_error(logged_in, orders, fields, message):
    mine, _ = orders
    before = snapshot()
    response = logged_in.post(CORRECT, correction(mine, **fields))
    assert response.status_code == 400
    page = response.content.decode()
    assert "The correction is not valid. Nothing was changed." in page and message in page
    nothing_changed(before)
    assert not DataRequest.objects.exists()


def test_a_correction_of_another_users_row_is_refused_and_recorded(logged_in, layla, orders):
    _, theirs = orders
    before = snapshot()
    response = logged_in.post(CORRECT, correction(theirs))
    assert response.status_code == 403
    assert b"Omar" not in response.content and b"omar" not in response.content
    nothing_changed(before)
    request = DataRequest.objects.get()
    assert (request.subject, request.kind, request.status, request.refusal_reason) == (
        layla,
        Kind.CORRECTION,
        Status.REFUSED,
        "identity_not_verified",
    )
    assert SecurityEvent.objects.get(user=layla, detail__startswith="refused").kind == "correction"


@pytest.mark.parametrize("row", ["999999", "abc", "", "1 OR 1=1"])
def test_a_correction_of_a_row_that_does_not_exist_is_refused_like_another_users(logged_in, orders, row):
    before = snapshot()
    data = {**correction(orders[0]), "row": row}
    assert logged_in.post(CORRECT, data).status_code == 403
    nothing_changed(before)


@pytest.mark.parametrize("name", ["user", "user_id", "subject", "id"])
def test_a_correction_naming_another_user_is_refused(logged_in, omar, orders, name):
    before = snapshot()
    assert logged_in.post(CORRECT, {**correction(orders[0]), name: omar.pk}).status_code == 403
    nothing_changed(before)
    assert DataRequest.objects.get().refusal_reason == "identity_not_verified"


@pytest.mark.parametrize("label", ["auth.User", "privacy_kit.SecurityEvent", "testapp.Cart", "nonsense"])
def test_a_correction_of_a_model_without_correctable_fields_is_refused(logged_in, orders, label):
    before = snapshot()
    response = logged_in.post(CORRECT, {**correction(orders[0]), "model": label})
    assert response.status_code in (400, 403)
    nothing_changed(before)


def test_a_correction_needs_the_password(logged_in, layla, orders):
    before = snapshot()
    response = logged_in.post(CORRECT, correction(orders[0], password="wrong"))
    assert response.status_code == 400
    assert "That password is not right." in response.content.decode()
    nothing_changed(before)
    assert SecurityEvent.objects.filter(kind="failed_login", user=layla).exists()


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_a_correction_is_only_posted(logged_in, orders, method):
    before = snapshot()
    response = getattr(logged_in, method)(
        CORRECT, correction(orders[0]), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 405
    nothing_changed(before)


def test_a_correction_without_the_csrf_token_is_refused(layla, orders):
    client = Client(enforce_csrf_checks=True)
    client.force_login(layla)
    before = snapshot()
    assert client.post(CORRECT, correction(orders[0])).status_code == 403
    nothing_changed(before)
    assert not DataRequest.objects.exists()


def test_a_correction_needs_a_login(client, orders):
    before = snapshot()
    assert client.post(CORRECT, correction(orders[0])).status_code == 302
    nothing_changed(before)


def test_correct_refuses_a_row_of_another_subject_even_when_called_directly(layla, omar, orders):
    _, theirs = orders
    before = snapshot()
    with pytest.raises(CorrectionRefused) as refused:
        correct(theirs, {"full_name": "X", "phone": "", "address": ""}, subject=layla)
    assert refused.value.foreign
    nothing_changed(before)


def test_a_staff_correction_of_a_row_of_another_subject_than_the_requests_is_refused(layla, omar, admin_user, orders):
    _, theirs = orders
    request = verify(open_request(layla, kind=Kind.CORRECTION, channel=Channel.MAIL), method="id_document")
    before = snapshot()
    with pytest.raises(CorrectionRefused):
        fulfil(request, by=admin_user, correction=(theirs, {"full_name": "X", "phone": "", "address": ""}))
    nothing_changed(before)
    request.refresh_from_db()
    assert request.status == Status.VERIFIED


# -- other requests of the my-data page ----------------------------------------


@pytest.mark.parametrize("url", ["/privacy/my-data/export/", "/privacy/my-data/delete/"])
def test_my_data_actions_without_the_csrf_token_are_refused_and_open_no_request(layla, url):
    client = Client(enforce_csrf_checks=True)
    client.force_login(layla)
    assert client.post(url, {"password": PASSWORD, "confirm": "on"}).status_code == 403
    assert not DataRequest.objects.exists()
    layla.refresh_from_db()
    assert layla.is_active


def test_a_download_naming_another_user_is_recorded_as_a_refused_request_of_the_asker(logged_in, layla, omar):
    response = logged_in.post(f"/privacy/my-data/export/?user={omar.pk}", {"password": PASSWORD})
    assert response.status_code == 403
    request = DataRequest.objects.get()
    assert (request.subject, request.kind, request.refusal_reason) == (layla, Kind.COPY, "identity_not_verified")
    # The other account is named nowhere in the record.
    assert request.refusal_note == "The request named another account than the one logged in."
    assert set(request.evidence) == {"action", "reason", "at"}
    assert not DataRequest.objects.filter(subject=omar).exists()


def test_the_copy_of_another_users_request_is_refused_and_recorded(logged_in, layla, omar, admin_user):
    theirs = fulfil(verify(open_request(omar, kind=Kind.COPY, channel=Channel.MAIL), method="id_document"))
    response = logged_in.post(f"/privacy/my-data/requests/{theirs.pk}/download/", {"password": PASSWORD})
    assert response.status_code == 403
    assert not SecurityEvent.objects.filter(kind="export", detail="own data").exists()
    assert DataRequest.objects.get(subject=layla).refusal_reason == "identity_not_verified"


def test_the_copy_download_is_only_posted(logged_in, layla):
    theirs = fulfil(verify(open_request(layla, kind=Kind.COPY, channel=Channel.MAIL), method="id_document"))
    assert logged_in.get(f"/privacy/my-data/requests/{theirs.pk}/download/").status_code == 405


def test_the_my_data_page_lists_no_other_users_requests(logged_in, layla, omar):
    theirs = open_request(omar, kind=Kind.ERASURE, channel=Channel.MAIL)
    mine = open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL)
    page = logged_in.get("/privacy/my-data/").content.decode()
    assert f'data-request="{mine.pk}"' in page and f'data-request="{theirs.pk}"' not in page


# -- the workflow under attack -------------------------------------------------


def test_a_forged_status_cannot_skip_the_identity_check(layla):
    request = open_request(layla, kind=Kind.ERASURE, channel=Channel.MAIL)
    request.status = Status.IN_PROGRESS  # in memory only: fulfil reads the row again
    with pytest.raises(RequestError, match="not verified"):
        fulfil(request)
    layla.refresh_from_db()
    assert layla.is_active


def test_an_extension_by_a_forged_second_call_after_an_edit_in_memory_is_refused(layla):
    from privacy_kit.requests import extend

    request = open_request(layla, kind=Kind.COPY, channel=Channel.MAIL)
    extend(request, until=request.due_at + datetime.timedelta(days=5), reason="Archive restore.")
    request.extended_until = None  # in memory only
    with pytest.raises(RequestError, match="only once"):
        extend(request, until=request.due_at + datetime.timedelta(days=30), reason="Again.")


def test_the_database_refuses_a_fulfilled_request_without_a_verified_identity(layla):
    request = open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL)
    with pytest.raises(IntegrityError), transaction.atomic():
        DataRequest.objects.filter(pk=request.pk).update(status=Status.FULFILLED)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks and two connections")
@pytest.mark.django_db(transaction=True)
def test_two_staff_fulfilling_one_request_at_once_close_it_once(layla, admin_user):
    request = verify(open_request(layla, kind=Kind.WITHDRAWAL, channel=Channel.MAIL), method="id_document")
    outcomes = []
    barrier = threading.Barrier(2, timeout=10)

    def run():
        barrier.wait()
        try:
            fulfil(DataRequest.objects.get(pk=request.pk), by=admin_user)
            outcomes.append("fulfilled")
        except RequestError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["fulfilled", "refused"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks and two connections")
@pytest.mark.django_db(transaction=True)
def test_a_repeat_being_recorded_does_not_hold_up_the_request_it_repeats(layla):
    """Two downloads at once deadlocked: the second's insert locks the first request as its repeat_of.

    The insert's foreign-key checks take FOR KEY SHARE on the request it repeats and on the
    account; fulfilling the first request and counting its downloads locked the same rows FOR
    UPDATE, which waits for them, while the insert waited for the account. The workflow's locks
    are FOR NO KEY UPDATE: they do not wait for a key share.
    """
    from privacy_kit.rights.views import may_export

    first = verify(open_request(layla, kind=Kind.WITHDRAWAL, channel=Channel.MAIL), method="id_document")
    inserted, done = threading.Event(), threading.Event()

    def record_a_repeat():
        try:
            with transaction.atomic():
                open_request(layla, kind=Kind.WITHDRAWAL, channel=Channel.MAIL)
                # Django's foreign keys are checked at commit: that is where an autocommit insert
                # takes these locks; here they are taken now, and held.
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                inserted.set()
                done.wait(10)
        finally:
            connection.close()

    other = threading.Thread(target=record_a_repeat)
    other.start()
    try:
        assert inserted.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            assert may_export(layla)
            assert fulfil(first).status == Status.FULFILLED
    finally:
        done.set()
        other.join()
    assert DataRequest.objects.get(pk=first.pk).status == Status.FULFILLED
    assert DataRequest.objects.filter(repeat_of=first).count() == 1


# -- the admin -----------------------------------------------------------------

REQUESTS = "/admin/privacy_kit/datarequest/"


@pytest.fixture
def clerk(django_user_model):
    """A staff user who may only view requests, verified by a second factor."""
    from django.contrib.auth.models import Permission

    from tests.two_factor import verify as verify_session

    user = django_user_model.objects.create_user("clerk", password="pw-clerk-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_datarequest"))
    client = Client()
    verify_session(client, user)
    return client


@pytest.mark.parametrize(
    "action, data",
    [
        ("verify_requests", {"method": "id_document"}),
        ("extend_requests", {"days": 10, "reason": "Archive."}),
        ("refuse_requests", {"reason": "unreasonable", "note": ""}),
        ("fulfil_requests", {"note": ""}),
    ],
)
def test_staff_who_may_only_view_requests_cannot_act_on_them(clerk, layla, action, data):
    request = open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL)
    before = DataRequest.objects.values().get(pk=request.pk)
    clerk.post(REQUESTS, {"action": action, "_selected_action": [request.pk], "post": "yes", **data})
    assert DataRequest.objects.values().get(pk=request.pk) == before


def test_staff_who_may_only_view_requests_cannot_correct_through_one(clerk, layla, orders):
    mine, _ = orders
    request = verify(open_request(layla, kind=Kind.CORRECTION, channel=Channel.MAIL), method="id_document")
    url = f"{REQUESTS}{request.pk}/correct/?row=testapp.Order:{mine.pk}"
    assert clerk.get(url).status_code == 403
    assert clerk.post(url, {"full_name": "X", "phone": "", "address": ""}).status_code == 403
    mine.refresh_from_db()
    assert mine.full_name == "Layla"


def test_an_admin_session_without_the_second_factor_reaches_no_request(client, admin_user, layla):
    request = open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL)
    client.force_login(admin_user)  # the password passed, the code not
    for url in (REQUESTS, f"{REQUESTS}{request.pk}/change/", f"{REQUESTS}{request.pk}/correct/"):
        assert client.get(url).status_code == 302
    client.post(REQUESTS, {"action": "refuse_requests", "_selected_action": [request.pk], "post": "yes"})
    request.refresh_from_db()
    assert request.status == Status.RECEIVED


def test_an_entry_whose_value_no_longer_opens_keeps_the_my_data_page_up(logged_in, orders):
    from tests.test_fields import write_stored

    mine, _ = orders
    write_stored(Order, mine.pk, "phone", "AQAAAAAA" + "B" * 40)
    page = logged_in.get("/privacy/my-data/")
    assert page.status_code == 200
    assert 'data-form="correct"' not in page.content.decode()
    response = logged_in.post(CORRECT, correction(mine))
    assert response.status_code == 500
    assert "That entry cannot be read just now" in response.content.decode()
    assert not DataRequest.objects.exists()


# -- corrections against an erasure ----------------------------------------------


def test_a_correction_request_cannot_write_personal_data_back_into_an_erased_account(layla, admin_user, orders):
    from privacy_kit.rights.erasure import erase_subject

    mine, _ = orders
    request = verify(open_request(layla, kind=Kind.CORRECTION, channel=Channel.MAIL), method="id_document")
    erase_subject(layla, reason="The customer asked.")
    assert Order.objects.get(pk=mine.pk).full_name == ""
    with pytest.raises(CorrectionRefused, match="erased"):
        fulfil(
            request, by=admin_user, correction=(mine, {"full_name": "Layla H.", "phone": "0551", "address": "Riyadh"})
        )
    erased = Order.objects.get(pk=mine.pk)
    assert (erased.full_name, erased.phone, erased.address) in (("", "", None), ("", "", ""))
    request.refresh_from_db()
    assert request.status == Status.VERIFIED


def test_a_correction_is_refused_while_the_accounts_erasure_is_pending(layla, admin_user, orders):
    from privacy_kit.models import ErasureRecord
    from privacy_kit.rights.erasure import subject_reference

    mine, _ = orders
    # An erasure recorded and not yet run by a worker: the account is closed, the rows not yet anonymized.
    ErasureRecord.objects.create(subject_ref=subject_reference(layla.pk), reason="x", source="admin")
    with pytest.raises(CorrectionRefused, match="erased"):
        correct(mine, {"full_name": "Layla H.", "phone": "0551", "address": ""}, subject=layla, by=admin_user)
    assert Order.objects.get(pk=mine.pk).full_name == "Layla"


# -- the download of a copy staff prepared ---------------------------------------


def prepared_copy(subject):
    return fulfil(verify(open_request(subject, kind=Kind.COPY, channel=Channel.MAIL), method="id_document"))


def test_a_prepared_copy_is_no_way_around_the_hourly_limit_of_downloads(logged_in, layla, settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "EXPORTS_PER_HOUR": 2}
    url = f"/privacy/my-data/requests/{prepared_copy(layla).pk}/download/"
    responses = [logged_in.post(url, {"password": PASSWORD}) for _ in range(3)]
    assert [response.status_code for response in responses] == [200, 200, 429]
    assert "You have downloaded your data several times in the last hour" in responses[2].content.decode()
    assert SecurityEvent.objects.filter(kind="export", user=layla, detail="own data").count() == 2
    # The limit is one for both ways of downloading.
    assert logged_in.post("/privacy/my-data/export/", {"password": PASSWORD}).status_code == 429
    for response in responses:
        response.close()


def test_a_prepared_copy_is_not_downloaded_after_logout(client, layla):
    url = f"/privacy/my-data/requests/{prepared_copy(layla).pk}/download/"
    client.force_login(layla)
    client.logout()  # the shared browser, after logout
    response = client.post(url, {"password": PASSWORD})
    assert response.status_code == 302 and "login" in response["Location"]
    assert not SecurityEvent.objects.filter(kind="export").exists()


@pytest.mark.parametrize("method", ["head", "put", "patch", "delete", "options"])
@pytest.mark.parametrize("view", ["correct", "download"])
def test_the_my_data_request_views_answer_no_other_method_than_post(logged_in, layla, orders, method, view):
    url = CORRECT if view == "correct" else f"/privacy/my-data/requests/{prepared_copy(layla).pk}/download/"
    before = snapshot()
    response = getattr(logged_in, method)(url)
    assert response.status_code == 405
    nothing_changed(before)
    assert not SecurityEvent.objects.filter(kind="export").exists()


# -- the reasons staff write, where the customer and staff read them -------------

REASON = "Archive & backups <script>alert('x')</script>\r\nBcc: everyone@example.com"


def extended(subject):
    from privacy_kit.requests import extend

    request = open_request(subject, kind=Kind.COPY, channel=Channel.MAIL)
    return extend(request, until=request.due_at + datetime.timedelta(days=15), reason=REASON)


def test_the_extension_mail_carries_the_reason_as_written_and_no_header_of_it(
    layla, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = extended(layla)
    [mail] = mailoutbox
    assert mail.to == ["layla@example.sa"] and not mail.bcc and not mail.cc
    message = mail.message()
    assert message["Bcc"] is None and "\n" not in mail.subject
    # A plain-text mail: the reason reads as staff wrote it, not HTML-escaped.
    assert "Why: Archive & backups <script>alert('x')</script>" in mail.body
    assert "&amp;" not in mail.body and "&lt;" not in mail.body
    # Nothing of the customer but what the mail is about: no name, no username.
    assert "layla" not in mail.body.lower() and f"#{request.pk}" in mail.subject


def test_the_reasons_are_escaped_on_the_my_data_page_and_in_the_admin(logged_in, layla, admin_user):
    from privacy_kit.requests import refuse
    from tests.two_factor import verify as verify_session

    request = extended(layla)
    refused = refuse(open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL), reason="other", note=REASON)
    page = logged_in.get("/privacy/my-data/").content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    staff = Client()
    verify_session(staff, admin_user)
    for item in (request, refused):
        page = staff.get(f"{REQUESTS}{item.pk}/change/").content.decode()
        assert "<script>alert" not in page and "&lt;script&gt;alert" in page


# -- a correctable field that is encrypted, searchable and unique ----------------


@pytest.fixture
def subscriptions(layla, omar):
    from tests.testapp.models import Subscriber

    registry.register(
        Subscriber, subject="owner", category="personal", personal_fields=["email"], correctable=["email"]
    )
    mine = Subscriber.objects.create(owner=layla, email="layla@example.sa")
    theirs = Subscriber.objects.create(owner=omar, email="omar@example.sa")
    return mine, theirs


def test_a_correction_to_another_subscribers_unique_email_is_refused_and_names_nothing_of_them(
    logged_in, subscriptions
):
    from tests.testapp.models import Subscriber

    mine, theirs = subscriptions
    data = {"model": "testapp.Subscriber", "row": mine.pk, "password": PASSWORD}
    for taken in ("omar@example.sa", " OMAR@example.SA "):
        response = logged_in.post(CORRECT, {**data, "email": taken})
        assert response.status_code == 400
        page = response.content.decode()
        assert "already exists" in page and f"#{theirs.pk}" not in page
    assert not DataRequest.objects.exists()
    assert Subscriber.objects.get(email="omar@example.sa").pk == theirs.pk
    assert Subscriber.objects.get(pk=mine.pk).email == "layla@example.sa"


def test_a_corrected_unique_email_is_found_by_its_blind_index_and_still_opens(logged_in, subscriptions):
    from tests.testapp.models import Subscriber

    mine, _ = subscriptions
    data = {"model": "testapp.Subscriber", "row": mine.pk, "password": PASSWORD, "email": "l.h@example.sa"}
    assert logged_in.post(CORRECT, data).status_code == 302
    assert Subscriber.objects.get(email="l.h@example.sa").pk == mine.pk
    assert not Subscriber.objects.filter(email="layla@example.sa").exists()
    assert 'value="l.h@example.sa"' in logged_in.get("/privacy/my-data/").content.decode()


# -- an erasure request against a staff account ------------------------------------


@pytest.fixture
def officer(django_user_model):
    """A staff user who may record and act on requests (not a superuser), verified by a second factor."""
    from django.contrib.auth.models import Permission

    from tests.two_factor import verify as verify_session

    user = django_user_model.objects.create_user("officer", password="pw-officer-1", is_staff=True)
    codenames = ["view_datarequest", "add_datarequest", "change_datarequest"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    return client, verify_session(client, user)


@pytest.mark.parametrize("target", ["staff", "superuser"])
def test_staff_who_are_not_superusers_cannot_close_a_staff_account_through_an_erasure_request(
    officer, django_user_model, target, django_capture_on_commit_callbacks
):
    from tests.test_requests import current_code

    client, device = officer
    flags = {"is_staff": True, "is_superuser": target == "superuser"}
    victim = django_user_model.objects.create_user("victim", password="pw-victim-1", **flags)
    request = verify(open_request(victim, kind=Kind.ERASURE, channel=Channel.MAIL), method="id_document")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            REQUESTS,
            {
                "action": "fulfil_requests",
                "_selected_action": [request.pk],
                "post": "yes",
                "note": "",
                "otp_token": current_code(device),
            },
            follow=True,
        )
    messages = [str(message) for message in response.context["messages"]]
    assert any("Only a superuser can erase a staff account" in message for message in messages)
    victim.refresh_from_db()
    assert victim.is_active and victim.username == "victim"
    request.refresh_from_db()
    assert request.status == Status.VERIFIED


# -- the staff correction page: whose data, which models -----------------------------


def grant(user, *codenames):
    from django.contrib.auth.models import Permission

    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def test_staff_without_the_models_change_permission_neither_see_nor_correct_its_entries(officer, layla, orders):
    from privacy_kit.models import AccessLog

    client, device = officer
    mine, _ = orders
    request = verify(open_request(layla, kind=Kind.CORRECTION, channel=Channel.MAIL), method="id_document")
    base = f"{REQUESTS}{request.pk}/correct/"
    listing = client.get(base)
    assert listing.status_code == 200 and "testapp.Order" not in listing.content.decode()
    url = f"{base}?row=testapp.Order:{mine.pk}"
    page = client.get(url)
    assert page.status_code == 403 and b"Layla" not in page.content
    assert client.post(url, {"full_name": "X", "phone": "", "address": ""}).status_code == 403
    assert not AccessLog.objects.filter(subject=layla).exists()
    mine.refresh_from_db()
    request.refresh_from_db()
    assert (mine.full_name, request.status) == ("Layla", Status.VERIFIED)
    # With the model's change permission, the same staff correct it.
    grant(device.user, "change_order")
    assert client.post(url, {"full_name": "Layla H.", "phone": "", "address": ""}).status_code == 302
    mine.refresh_from_db()
    assert mine.full_name == "Layla H."


@pytest.mark.parametrize("target", ["staff", "superuser"])
def test_staff_who_are_not_superusers_cannot_correct_a_staff_accounts_data(officer, django_user_model, target):
    client, device = officer
    grant(device.user, "change_order")
    flags = {"is_staff": True, "is_superuser": target == "superuser"}
    victim = django_user_model.objects.create_user("victim", password="pw-victim-1", **flags)
    registry.register(
        Order, subject="customer", category="personal", personal_fields=["full_name"], correctable=["full_name"]
    )
    theirs = Order.objects.create(customer=victim, full_name="Victim", total=1, created_at=NOW)
    request = verify(open_request(victim, kind=Kind.CORRECTION, channel=Channel.MAIL), method="id_document")
    url = f"{REQUESTS}{request.pk}/correct/?row=testapp.Order:{theirs.pk}"
    assert client.get(url).status_code == 403
    assert client.post(url, {"full_name": "Attacker"}).status_code == 403
    theirs.refresh_from_db()
    assert theirs.full_name == "Victim"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks and two connections")
@pytest.mark.django_db(transaction=True)
def test_an_erasure_that_runs_while_a_correction_is_saved_still_erases_the_corrected_values(layla, orders):
    from django.db.models.signals import pre_save

    from privacy_kit.rights.erasure import erase_subject
    from tests.celery_processes import wait_until

    mine, _ = orders
    correcting = threading.current_thread()
    started = threading.Event()
    errors: list[BaseException] = []
    waited: list[bool] = []

    def lock_waiters() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction sees its first snapshot
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0]

    def hold_the_save(sender, instance, **kwargs):
        if threading.current_thread() is correcting and not started.is_set():
            started.set()
            # The erasure's batch now waits for this row; without the lock it would run past it.
            waited.append(wait_until(lambda: lock_waiters() > 0, timeout=10))

    def erase():
        try:
            started.wait(30)
            erase_subject(layla, reason="The customer asked.")
        except BaseException as error:  # reported by the assertions below
            errors.append(error)
        finally:
            connection.close()

    pre_save.connect(hold_the_save, sender=Order)
    eraser = threading.Thread(target=erase)
    eraser.start()
    try:
        correct(mine, {"full_name": "Layla H.", "phone": "0551", "address": "Riyadh"}, subject=layla)
    finally:
        pre_save.disconnect(hold_the_save, sender=Order)
        eraser.join(60)
    assert errors == [] and waited == [True]
    erased = Order.objects.get(pk=mine.pk)
    assert (erased.full_name, erased.phone, erased.address or "") == ("", "", "")


# -- odd bodies posted to the my-data correction -------------------------------------


def test_a_forged_field_name_is_shown_escaped_and_cut_short(logged_in, orders):
    before = snapshot()
    name = "<img src=x onerror=alert(1)>" + "x" * 100
    response = logged_in.post(CORRECT, correction(orders[0], **{name: "1"}))
    assert response.status_code == 400
    page = response.content.decode()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "x" * 60 not in page
    nothing_changed(before)


def test_a_json_body_corrects_nothing(logged_in, orders):
    before = snapshot()
    response = logged_in.post(CORRECT, correction(orders[0]), content_type="application/json")
    assert response.status_code in (400, 403)
    nothing_changed(before)
    assert not DataRequest.objects.filter(status=Status.FULFILLED).exists()


def test_a_file_posted_with_a_correction_is_not_stored_and_the_values_are_checked_alone(logged_in, orders):
    from django.core.files.uploadedfile import SimpleUploadedFile

    mine, _ = orders
    upload = SimpleUploadedFile("full_name.txt", b"Omar", content_type="text/plain")
    response = logged_in.post(CORRECT, {**correction(mine), "full_name": upload})
    # A file where a value is due is no value: the form asks for the name, nothing changes.
    assert response.status_code == 400
    mine.refresh_from_db()
    assert mine.full_name == "Layla"


def test_an_overlong_value_is_refused_before_it_is_encrypted(logged_in, orders):
    before = snapshot()
    response = logged_in.post(CORRECT, correction(orders[0], full_name="L" * 101, address="A" * 100_000))
    assert response.status_code == 400
    assert "Ensure this value has at most 100 characters" in response.content.decode()
    nothing_changed(before)


def test_the_staff_correction_without_the_csrf_token_is_refused(admin_user, layla, orders):
    from tests.two_factor import verify as verify_session

    mine, _ = orders
    client = Client(enforce_csrf_checks=True)
    verify_session(client, admin_user)
    request = verify(open_request(layla, kind=Kind.CORRECTION, channel=Channel.MAIL), method="id_document")
    url = f"{REQUESTS}{request.pk}/correct/?row=testapp.Order:{mine.pk}"
    assert client.post(url, {"full_name": "X", "phone": "", "address": ""}).status_code == 403
    action = {"action": "fulfil_requests", "_selected_action": [request.pk], "post": "yes", "note": "x"}
    assert client.post(REQUESTS, action).status_code == 403
    mine.refresh_from_db()
    request.refresh_from_db()
    assert (mine.full_name, request.status) == ("Layla", Status.VERIFIED)


@pytest.mark.parametrize("name", ["password", "is_staff", "is_superuser", "is_active", "last_login"])
def test_the_fields_that_control_an_account_cannot_be_made_correctable(django_user_model, name):
    before = registry.registrations()
    with pytest.raises(registry.RegistrationError, match="who may log in"):
        registry.register(django_user_model, subject="id", category="personal", correctable=["email", name])
    assert registry.registrations() == before


def test_the_copy_download_without_the_csrf_token_is_refused(layla):
    client = Client(enforce_csrf_checks=True)
    client.force_login(layla)
    url = f"/privacy/my-data/requests/{prepared_copy(layla).pk}/download/"
    assert client.post(url, {"password": PASSWORD}).status_code == 403
    assert not SecurityEvent.objects.filter(kind="export").exists()


def test_a_second_erasure_request_of_an_erased_account_is_fulfilled_without_undoing_anything(
    layla, admin_user, orders, django_capture_on_commit_callbacks
):
    from privacy_kit.models import ErasureRecord

    mine, _ = orders
    first, second = (
        verify(open_request(layla, kind=Kind.ERASURE, channel=Channel.MAIL), method="id_document") for _ in range(2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        fulfil(first, by=admin_user)
    with pytest.raises(RequestError, match="cannot be fulfilled"):
        fulfil(first, by=admin_user)  # the same request twice
    with django_capture_on_commit_callbacks(execute=True):
        fulfil(second, by=admin_user)
    assert second.status == Status.FULFILLED
    assert set(ErasureRecord.objects.values_list("status", flat=True)) == {"done"}
    assert not ErasureRecord.objects.exclude(subject_key="").exists()  # no subject's pk left in the ledger
    layla.refresh_from_db()
    assert not layla.is_active and Order.objects.get(pk=mine.pk).full_name == ""


@pytest.mark.parametrize("number", ["9" * 30, str(2**63), "-1", "0"])
def test_an_out_of_range_id_is_refused_like_another_users(logged_in, layla, orders, number):
    before = snapshot()
    assert logged_in.post(CORRECT, {**correction(orders[0]), "row": number}).status_code == 403
    if number.isdigit():
        url = f"/privacy/my-data/requests/{number}/download/"
        assert logged_in.post(url, {"password": PASSWORD}).status_code == 403
    nothing_changed(before)
    assert not SecurityEvent.objects.filter(kind="export", detail="own data").exists()


def test_a_forged_change_form_changes_only_the_note_of_an_open_request_and_nothing_of_a_closed_one(admin_user, layla):
    from privacy_kit.requests import refuse
    from tests.two_factor import verify as verify_session

    client = Client()
    verify_session(client, admin_user)
    request = open_request(layla, kind=Kind.ERASURE, channel=Channel.MAIL)
    forged = {
        "note": "Asked by mail.",
        "status": "fulfilled",
        "identity_verified_at": "2020-01-01 00:00",
        "due_at": "2099-01-01 00:00",
        "extended_until": "2099-01-01 00:00",
        "evidence": '{"action": "erasure_queued"}',
        "subject": admin_user.pk,
        "_save": "Save",
    }
    before = DataRequest.objects.values().get(pk=request.pk)
    client.post(f"{REQUESTS}{request.pk}/change/", forged)
    after = DataRequest.objects.values().get(pk=request.pk)
    assert after == {**before, "note": "Asked by mail."}
    closed = refuse(open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL), reason="unreasonable")
    before = DataRequest.objects.values().get(pk=closed.pk)
    assert client.post(f"{REQUESTS}{closed.pk}/change/", forged).status_code == 403
    assert DataRequest.objects.values().get(pk=closed.pk) == before
    layla.refresh_from_db()
    assert layla.is_active


@pytest.mark.parametrize(
    "action, data",
    [
        ("verify_requests", {"method": "session_password"}),
        ("extend_requests", {"days": 31, "reason": "Archive."}),
        ("extend_requests", {"days": 0, "reason": "Archive."}),
        ("extend_requests", {"days": 10, "reason": "   "}),
        ("refuse_requests", {"reason": "because", "note": ""}),
        ("refuse_requests", {"reason": "other", "note": "  "}),
    ],
)
def test_forged_values_in_the_action_forms_move_no_request(admin_user, layla, action, data):
    from tests.two_factor import verify as verify_session

    client = Client()
    verify_session(client, admin_user)
    request = open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL)
    before = DataRequest.objects.values().get(pk=request.pk)
    client.post(REQUESTS, {"action": action, "_selected_action": [request.pk], "post": "yes", **data})
    assert DataRequest.objects.values().get(pk=request.pk) == before


def test_the_my_data_page_shows_no_internal_note_of_a_request(logged_in, layla, admin_user):
    from privacy_kit.requests import refuse

    note = "Fraud team: chargeback investigation 4711."
    open_request(layla, kind=Kind.ACCESS, channel=Channel.PHONE, by=admin_user, note=note)
    refuse(open_request(layla, kind=Kind.ERASURE, channel=Channel.MAIL), reason="other", note=note, by=admin_user)
    page = logged_in.get("/privacy/my-data/").content.decode()
    assert "investigation 4711" not in page and admin_user.get_username() not in page
    assert "Refused: other (see the note)." in page


def test_no_one_deletes_a_request_in_the_admin_not_even_a_superuser_by_a_forged_post(admin_user, layla):
    from tests.two_factor import verify as verify_session

    client = Client()
    verify_session(client, admin_user)
    request = open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL)
    assert client.post(f"{REQUESTS}{request.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(REQUESTS, {"action": "delete_selected", "_selected_action": [request.pk], "post": "yes"})
    assert DataRequest.objects.filter(pk=request.pk).exists()

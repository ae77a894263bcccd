"""Data-subject requests: the 30-day clock, identity, the workflow, fulfilment through the rights, the admin."""

import datetime
import json

import pytest
from django.test import Client
from django.utils import timezone, translation

from privacy_kit import registry
from privacy_kit.consent import grant, has_consent
from privacy_kit.models import AccessLog, DataRequest, ErasureRecord, LegalHold, PolicyVersion, Purpose, SecurityEvent
from privacy_kit.requests import ANSWER_WITHIN, RequestError, begin, extend, fulfil, open_request, refuse, verify
from privacy_kit.rights import ErasureRefused
from tests.browser import click_and_wait, needs_chromium, screenshot
from tests.runs import postgres_only
from tests.test_admin_actions import current_code
from tests.testapp.models import Order
from tests.testapp.policies import register_orders
from tests.two_factor import verify as verify_session

pytestmark = pytest.mark.django_db
NOW = timezone.now()
Kind, Channel, Status = DataRequest.Kind, DataRequest.Channel, DataRequest.Status


def days_ago(days):
    return NOW - datetime.timedelta(days=days)


@pytest.fixture
def layla(django_user_model):
    return django_user_model.objects.create_user("layla", email="layla@example.sa", password="pw-layla-1")


@pytest.fixture
def omar(django_user_model):
    return django_user_model.objects.create_user("omar", password="pw-omar-1")


@pytest.fixture
def policy():
    for slug in ("analytics", "marketing"):
        Purpose.objects.create(slug=slug, name=slug.title(), requires_consent=True)
    return PolicyVersion.objects.create(version="1", language="en", text="Policy", effective_at=days_ago(1))


# -- the clock ---------------------------------------------------------------


def test_a_request_is_due_30_days_after_it_was_received(layla):
    request = open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL, received_at=days_ago(3))
    assert request.due_at == days_ago(3) + datetime.timedelta(days=30)
    assert ANSWER_WITHIN == datetime.timedelta(days=30)
    assert request.status == Status.RECEIVED


def test_due_at_stays_fixed_when_received_at_is_changed_later(layla):
    request = open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL, received_at=days_ago(3))
    request.received_at = days_ago(1)
    request.save()
    request.refresh_from_db()
    assert request.due_at == days_ago(3) + ANSWER_WITHIN


def test_one_extension_of_up_to_30_days_moves_due_by(layla):
    request = open_request(layla, kind=Kind.COPY, channel=Channel.MAIL, received_at=days_ago(10))
    until = request.due_at + datetime.timedelta(days=30)
    extend(request, until=until, reason="The orders archive is being restored.")
    request.refresh_from_db()
    assert (request.extended_until, request.extension_reason) == (until, "The orders archive is being restored.")
    assert request.deadline == until
    assert DataRequest.objects.with_due_by().get(pk=request.pk).due_by == until


def test_a_second_extension_is_refused(layla):
    request = open_request(layla, kind=Kind.COPY, channel=Channel.MAIL)
    first = request.due_at + datetime.timedelta(days=10)
    extend(request, until=first, reason="Archive restore.")
    with pytest.raises(RequestError, match="only once"):
        extend(request, until=first + datetime.timedelta(days=5), reason="Still restoring.")
    request.refresh_from_db()
    assert request.extended_until == first


def test_an_extension_beyond_30_days_is_refused(layla):
    request = open_request(layla, kind=Kind.COPY, channel=Channel.MAIL)
    with pytest.raises(RequestError, match="at most 30 days"):
        extend(request, until=request.due_at + datetime.timedelta(days=30, seconds=1), reason="Archive restore.")
    request.refresh_from_db()
    assert request.extended_until is None


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_extension_without_a_reason_is_refused(layla, reason):
    request = open_request(layla, kind=Kind.COPY, channel=Channel.MAIL)
    with pytest.raises(RequestError, match="reason"):
        extend(request, until=request.due_at + datetime.timedelta(days=3), reason=reason)


def test_an_extension_that_ends_before_the_due_date_is_refused(layla):
    request = open_request(layla, kind=Kind.COPY, channel=Channel.MAIL)
    with pytest.raises(RequestError, match="after that"):
        extend(request, until=request.due_at - datetime.timedelta(days=1), reason="Archive restore.")


def test_a_closed_request_cannot_be_extended(layla):
    request = open_request(layla, kind=Kind.COPY, channel=Channel.MAIL)
    refuse(request, reason="unreasonable", by=None)
    with pytest.raises(RequestError, match="is refused"):
        extend(request, until=request.due_at + datetime.timedelta(days=3), reason="Archive restore.")


def test_open_and_with_due_by_give_the_open_requests_by_their_due_time(layla, omar):
    received = open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL, received_at=days_ago(20))
    verified = verify(open_request(omar, kind=Kind.COPY, channel=Channel.PHONE), method="account_contact")
    extended = open_request(layla, kind=Kind.ERASURE, channel=Channel.MAIL, received_at=days_ago(25))
    extend(extended, until=extended.due_at + datetime.timedelta(days=20), reason="Archive restore.")
    refuse(open_request(omar, kind=Kind.ACCESS, channel=Channel.MAIL), reason="unreasonable")
    rows = DataRequest.objects.open().with_due_by().order_by("due_by")
    # Due in 10 days, in 25 (5 left, extended by 20), in 30.
    assert [row.pk for row in rows] == [received.pk, extended.pk, verified.pk]
    assert [row.due_by for row in rows] == [received.due_at, extended.extended_until, verified.due_at]


# -- the workflow ------------------------------------------------------------


def test_the_workflow_goes_received_verified_in_progress_fulfilled(layla, admin_user):
    request = open_request(layla, kind=Kind.COPY, channel=Channel.MAIL, by=admin_user)
    verify(request, method="account_contact", by=admin_user)
    assert (request.status, request.identity_method, request.verified_by) == (
        Status.VERIFIED,
        "account_contact",
        admin_user,
    )
    begin(request, by=admin_user)
    assert request.status == Status.IN_PROGRESS
    fulfil(request, by=admin_user)
    request.refresh_from_db()
    assert (request.status, request.handled_by, request.recorded_by) == (Status.FULFILLED, admin_user, admin_user)
    assert request.closed_at is not None
    assert request.evidence["action"] == "export"
    assert request.evidence["delivery"] == "my_data_page"


@pytest.mark.parametrize(
    "step, message",
    [
        (lambda r: begin(r), "not verified yet"),
        (lambda r: fulfil(r), "not verified"),
    ],
)
def test_a_request_whose_identity_is_not_verified_cannot_be_begun_or_fulfilled(layla, step, message):
    request = open_request(layla, kind=Kind.ERASURE, channel=Channel.PHONE)
    with pytest.raises(RequestError, match=message):
        step(request)
    request.refresh_from_db()
    layla.refresh_from_db()
    assert request.status == Status.RECEIVED and request.evidence == {}
    assert layla.is_active and not ErasureRecord.objects.exists()


@pytest.mark.parametrize(
    "step",
    [
        lambda r: verify(r, method="id_document"),
        lambda r: begin(r),
        lambda r: fulfil(r),
        lambda r: refuse(r, reason="unreasonable"),
    ],
)
def test_a_closed_request_never_moves_again(layla, step):
    request = verify(open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL), method="id_document")
    fulfil(request)
    before = DataRequest.objects.values().get(pk=request.pk)
    with pytest.raises(RequestError, match="is fulfilled; it cannot be"):
        step(request)
    assert DataRequest.objects.values().get(pk=request.pk) == before


def test_verifying_twice_is_a_wrong_transition(layla):
    request = verify(open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL), method="id_document")
    with pytest.raises(RequestError, match="only a request that is received can"):
        verify(request, method="in_person")


@pytest.mark.parametrize("value", ["carrier_pigeon", ""])
def test_an_unknown_identity_method_is_refused(layla, value):
    request = open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL)
    with pytest.raises(RequestError, match="not a way of verifying identity"):
        verify(request, method=value)


@pytest.mark.parametrize("field, value", [("kind", "gossip"), ("channel", "fax")])
def test_an_unknown_kind_or_channel_is_refused(layla, field, value):
    arguments = {"kind": Kind.ACCESS, "channel": Channel.MAIL, field: value}
    with pytest.raises(RequestError, match=f"not a {field}|not a kind"):
        open_request(layla, **arguments)
    assert not DataRequest.objects.exists()


def test_a_request_cannot_be_received_in_the_future(layla):
    with pytest.raises(RequestError, match="future"):
        open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL, received_at=NOW + datetime.timedelta(days=2))


# -- refusals ----------------------------------------------------------------


@pytest.mark.parametrize("reason", ["repetitive", "unreasonable", "identity_not_verified", "legal_hold"])
def test_each_refusal_reason_closes_the_request_on_record(layla, admin_user, reason):
    request = open_request(layla, kind=Kind.ERASURE, channel=Channel.MAIL)
    refuse(request, reason=reason, note="", by=admin_user)
    request.refresh_from_db()
    assert (request.status, request.refusal_reason, request.handled_by) == (Status.REFUSED, reason, admin_user)
    assert request.evidence["action"] == "refused" and request.closed_at is not None


def test_a_refusal_for_another_reason_needs_a_note(layla):
    request = open_request(layla, kind=Kind.ERASURE, channel=Channel.MAIL)
    with pytest.raises(RequestError, match="needs a note"):
        refuse(request, reason="other", note=" ")
    refuse(request, reason="other", note="The account was never the requester's.")
    request.refresh_from_db()
    assert request.refusal_note == "The account was never the requester's."


def test_an_unknown_refusal_reason_is_refused(layla):
    request = open_request(layla, kind=Kind.ERASURE, channel=Channel.MAIL)
    with pytest.raises(RequestError, match="not a reason"):
        refuse(request, reason="busy")
    request.refresh_from_db()
    assert request.status == Status.RECEIVED


# -- repeats -----------------------------------------------------------------


def test_a_repeated_request_of_the_same_kind_is_flagged(layla):
    first = open_request(layla, kind=Kind.COPY, channel=Channel.MAIL, received_at=days_ago(10))
    second = open_request(layla, kind=Kind.COPY, channel=Channel.PHONE)
    assert second.repeat_of == first
    refuse(second, reason="repetitive")


@pytest.mark.parametrize(
    "kind, days, expected",
    [(Kind.ERASURE, 1, False), (Kind.COPY, 31, False), (Kind.COPY, 29, True)],
)
def test_a_repeat_is_the_same_kind_within_the_window(layla, kind, days, expected):
    open_request(layla, kind=Kind.COPY, channel=Channel.MAIL, received_at=days_ago(days))
    assert (open_request(layla, kind=kind, channel=Channel.MAIL).repeat_of is not None) is expected


def test_the_repeat_window_is_a_setting(layla, settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "REQUEST_REPEAT_DAYS": 60}
    open_request(layla, kind=Kind.COPY, channel=Channel.MAIL, received_at=days_ago(45))
    assert open_request(layla, kind=Kind.COPY, channel=Channel.MAIL).repeat_of is not None


def test_a_refused_request_is_no_earlier_request_to_repeat(layla, omar):
    refuse(open_request(layla, kind=Kind.COPY, channel=Channel.MAIL), reason="identity_not_verified")
    open_request(omar, kind=Kind.COPY, channel=Channel.MAIL)
    assert open_request(layla, kind=Kind.COPY, channel=Channel.MAIL).repeat_of is None


# -- fulfilment by kind ------------------------------------------------------


@pytest.fixture
def orders(layla, omar):
    register_orders(personal_fields=["full_name", "phone", "address"])
    registry.register(
        Order,
        subject="customer",
        category="personal",
        personal_fields=["full_name", "phone", "address"],
        retention=registry.get("testapp.Order").retention,
        correctable=["full_name", "phone", "address"],
    )
    mine = Order.objects.create(customer=layla, full_name="Layla", phone="0550000001", total=10, created_at=NOW)
    theirs = Order.objects.create(customer=omar, full_name="Omar", phone="0550000002", total=20, created_at=NOW)
    return mine, theirs


def staff_request(subject, kind, by, channel=Channel.MAIL):
    request = open_request(subject, kind=kind, channel=channel, by=by)
    return verify(request, method="account_contact", by=by)


def test_a_staff_erasure_closes_the_account_and_queues_the_erasure(
    layla, admin_user, orders, django_capture_on_commit_callbacks
):
    request = staff_request(layla, Kind.ERASURE, admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        fulfil(request, by=admin_user)
    record = ErasureRecord.objects.get()
    assert (record.source, record.requested_by_id) == ("admin", admin_user.pk)
    assert request.evidence["erasure_record"] == record.pk
    assert Order.objects.get(pk=orders[0].pk).full_name == ""
    layla.refresh_from_db()
    assert not layla.is_active


def test_an_erasure_under_legal_hold_is_not_fulfilled_and_can_be_refused_for_it(layla, admin_user):
    LegalHold.objects.create(subject=layla, reason="open chargeback")
    request = staff_request(layla, Kind.ERASURE, admin_user)
    with pytest.raises(ErasureRefused):
        fulfil(request, by=admin_user)
    request.refresh_from_db()
    assert request.status == Status.VERIFIED
    refuse(request, reason="legal_hold", by=admin_user)
    layla.refresh_from_db()
    assert layla.is_active and not ErasureRecord.objects.exists()


def test_a_staff_correction_changes_the_fields_and_logs_their_names_only(layla, admin_user, orders):
    mine, _ = orders
    request = staff_request(layla, Kind.CORRECTION, admin_user, channel=Channel.PHONE)
    data = {"full_name": "Layla Al-Harbi", "phone": "0551234567", "address": ""}
    fulfil(request, by=admin_user, correction=(mine, data))
    mine.refresh_from_db()
    assert (mine.full_name, mine.phone) == ("Layla Al-Harbi", "0551234567")
    assert request.evidence["fields"] == ["full_name", "phone"]
    event = SecurityEvent.objects.get(kind="correction")
    assert event.user == layla
    assert event.detail == f"testapp.Order #{mine.pk}: full_name, phone by staff #{admin_user.pk}"
    assert "0551234567" not in str(request.evidence) + event.detail


def test_a_correction_request_needs_the_correction(layla, admin_user, orders):
    request = staff_request(layla, Kind.CORRECTION, admin_user)
    with pytest.raises(RequestError, match="give the entry and the corrected values"):
        fulfil(request, by=admin_user)


def test_a_withdrawal_withdraws_every_consent_granted(layla, admin_user, policy):
    grant(layla, ["analytics", "marketing"], source="preferences")
    request = staff_request(layla, Kind.WITHDRAWAL, admin_user)
    fulfil(request, by=admin_user)
    assert not has_consent(layla, "analytics") and not has_consent(layla, "marketing")
    assert request.evidence["purposes"] == ["analytics", "marketing"]


@pytest.mark.parametrize("kind", [Kind.RESTRICTION, Kind.OBJECTION])
def test_a_restriction_or_objection_records_what_staff_did(layla, admin_user, kind):
    request = staff_request(layla, kind, admin_user)
    with pytest.raises(RequestError, match="say in the note"):
        fulfil(request, by=admin_user)
    fulfil(request, by=admin_user, note="Marketing mails stopped for this account.")
    assert request.evidence["note"] == "Marketing mails stopped for this account."


def test_fulfilled_requests_are_no_longer_open(layla, admin_user):
    fulfil(staff_request(layla, Kind.ACCESS, admin_user), by=admin_user)
    assert not DataRequest.objects.open().exists()


# -- the registry's correctable option ---------------------------------------


@pytest.mark.parametrize(
    "names, message",
    [
        (["phone_number"], "'phone_number', which is not a field of it"),
        (["id"], "a subject cannot correct"),
        (["customer"], "a subject cannot correct"),
        ("phone", "must be a list"),
    ],
)
def test_correctable_names_only_editable_fields_of_the_model(names, message):
    before = registry.registrations()
    with pytest.raises(registry.RegistrationError, match=message):
        registry.register(Order, subject="customer", category="personal", correctable=names)
    assert registry.registrations() == before


# -- the my-data page --------------------------------------------------------

PASSWORD = "pw-layla-1"


@pytest.fixture
def logged_in(client, layla):
    client.force_login(layla)
    return client


def test_a_download_on_the_my_data_page_is_a_fulfilled_copy_request(logged_in, layla, orders):
    response = logged_in.post("/privacy/my-data/export/", {"password": PASSWORD})
    assert response.status_code == 200
    request = DataRequest.objects.get()
    assert (request.kind, request.channel, request.status) == (Kind.COPY, Channel.MY_DATA, Status.FULFILLED)
    assert (request.identity_method, request.verified_by, request.handled_by) == ("session_password", None, None)
    assert request.subject == layla and request.identity_verified_at is not None
    assert request.evidence["delivery"] == "download"
    assert request.evidence["records"]["testapp.Order"] == 1
    response.close()


def test_deleting_the_account_on_the_my_data_page_is_a_fulfilled_erasure_request(
    logged_in, layla, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post("/privacy/my-data/delete/", {"password": PASSWORD, "confirm": "on"})
    assert response.status_code == 302
    request = DataRequest.objects.get()
    assert (request.kind, request.channel, request.status) == (Kind.ERASURE, Channel.MY_DATA, Status.FULFILLED)
    record = ErasureRecord.objects.get()
    assert request.evidence == {**request.evidence, "action": "erasure_queued", "erasure_record": record.pk}
    assert (record.source, record.reason) == ("account", "The customer deleted their account.")


def test_a_deletion_under_legal_hold_is_recorded_as_refused_for_it(logged_in, layla):
    LegalHold.objects.create(subject=layla, reason="open chargeback")
    response = logged_in.post("/privacy/my-data/delete/", {"password": PASSWORD, "confirm": "on"})
    assert response.status_code == 409
    request = DataRequest.objects.get()
    assert (request.status, request.refusal_reason) == (Status.REFUSED, "legal_hold")


def test_a_download_over_the_hourly_limit_is_refused_as_repetitive(logged_in, settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "EXPORTS_PER_HOUR": 1}
    responses = [logged_in.post("/privacy/my-data/export/", {"password": PASSWORD}) for _ in range(2)]
    assert [response.status_code for response in responses] == [200, 429]
    first, second = DataRequest.objects.order_by("pk")
    assert first.status == Status.FULFILLED
    assert (second.status, second.refusal_reason, second.repeat_of) == (Status.REFUSED, "repetitive", first)
    for response in responses:
        response.close()  # last: closing a response ends the test's database connection


def test_a_wrong_password_opens_no_request(logged_in, layla):
    assert logged_in.post("/privacy/my-data/export/", {"password": "wrong"}).status_code == 400
    assert not DataRequest.objects.exists()


def test_the_customer_corrects_their_data_on_the_my_data_page(logged_in, layla, orders):
    mine, _ = orders
    page = logged_in.get("/privacy/my-data/").content.decode()
    assert f'data-form="correct" data-model="testapp.Order" data-row="{mine.pk}"' in page
    data = {"model": "testapp.Order", "row": mine.pk, "password": PASSWORD, "full_name": "Layla H.", "phone": "0551"}
    response = logged_in.post("/privacy/my-data/correct/", {**data, "address": ""})
    request = DataRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/privacy/my-data/?corrected={request.pk}#corrections"
    mine.refresh_from_db()
    assert (mine.full_name, mine.phone) == ("Layla H.", "0551")
    assert (request.kind, request.status, request.evidence["fields"]) == (
        Kind.CORRECTION,
        Status.FULFILLED,
        [
            "full_name",
            "phone",
        ],
    )
    assert SecurityEvent.objects.get(kind="correction").detail == f"testapp.Order #{mine.pk}: full_name, phone"
    page = logged_in.get(response["Location"]).content.decode()
    assert f"Your correction is saved (request #{request.pk})." in page


def test_the_my_data_page_tells_the_customer_of_an_extension_and_its_reason(logged_in, layla):
    request = open_request(layla, kind=Kind.COPY, channel=Channel.MAIL)
    extend(request, until=request.due_at + datetime.timedelta(days=15), reason="Your orders archive is restored.")
    page = logged_in.get("/privacy/my-data/").content.decode()
    assert f'data-request="{request.pk}" data-status="received"' in page
    assert "We need more time, until" in page and "because: Your orders archive is restored." in page


def test_an_extension_is_mailed_to_the_customer(layla, mailoutbox, django_capture_on_commit_callbacks):
    request = open_request(layla, kind=Kind.COPY, channel=Channel.MAIL)
    with django_capture_on_commit_callbacks(execute=True):
        extend(request, until=request.due_at + datetime.timedelta(days=15), reason="Archive restore.")
    [mail] = mailoutbox
    assert mail.to == ["layla@example.sa"]
    assert f"#{request.pk}" in mail.subject and "Why: Archive restore." in mail.body


def test_a_copy_staff_prepared_is_downloaded_from_the_my_data_page(logged_in, layla, admin_user, orders):
    request = fulfil(staff_request(layla, Kind.COPY, admin_user), by=admin_user)
    page = logged_in.get("/privacy/my-data/").content.decode()
    assert f'action="/privacy/my-data/requests/{request.pk}/download/"' in page
    response = logged_in.post(f"/privacy/my-data/requests/{request.pk}/download/", {"password": PASSWORD})
    assert response.status_code == 200
    document = json.loads(b"".join(response.streaming_content))
    assert document["subject"] == layla.pk
    assert SecurityEvent.objects.filter(kind="export", user=layla).count() == 1
    response.close()


def test_a_copy_still_being_prepared_cannot_be_downloaded(logged_in, layla, admin_user):
    request = staff_request(layla, Kind.COPY, admin_user)
    response = logged_in.post(f"/privacy/my-data/requests/{request.pk}/download/", {"password": PASSWORD})
    assert response.status_code == 404
    assert not SecurityEvent.objects.filter(kind="export").exists()


# -- the admin -----------------------------------------------------------------

REQUESTS = "/admin/privacy_kit/datarequest/"


@pytest.fixture
def staff(admin_user):
    client = Client()
    return client, verify_session(client, admin_user)


def act(client, action, *requests, **data):
    selected = [request.pk for request in requests]
    return client.post(REQUESTS, {"action": action, "_selected_action": selected, "post": "yes", **data}, follow=True)


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize("channel", ["mail", "phone", "in_person"])
def test_staff_record_a_request_by_its_channel(staff, layla, admin_user, channel):
    client, _ = staff
    received = timezone.localtime(days_ago(2))
    data = {
        "subject": layla.pk,
        "kind": "erasure",
        "channel": channel,
        "received_at_0": received.strftime("%Y-%m-%d"),
        "received_at_1": received.strftime("%H:%M:%S"),
        "note": "Letter of 1 December.",
    }
    response = client.post(f"{REQUESTS}add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    request = DataRequest.objects.get()
    assert (request.channel, request.subject, request.recorded_by, request.status) == (
        channel,
        layla,
        admin_user,
        Status.RECEIVED,
    )
    assert request.due_at == request.received_at + ANSWER_WITHIN


@pytest.mark.parametrize("channel", ["my_data", "carrier_pigeon"])
def test_staff_cannot_record_a_request_as_from_the_my_data_page(staff, layla, channel):
    client, _ = staff
    now = timezone.localtime()
    data = {"subject": layla.pk, "kind": "copy", "channel": channel, "received_at_0": f"{now:%Y-%m-%d}"}
    response = client.post(f"{REQUESTS}add/", {**data, "received_at_1": f"{now:%H:%M:%S}"})
    assert response.status_code == 200
    assert "channel" in response.context["adminform"].form.errors
    assert not DataRequest.objects.exists()


def test_staff_are_warned_of_a_repeated_request(staff, layla):
    client, _ = staff
    first = open_request(layla, kind=Kind.COPY, channel=Channel.MAIL, received_at=days_ago(5))
    now = timezone.localtime()
    data = {"subject": layla.pk, "kind": "copy", "channel": "phone", "received_at_0": f"{now:%Y-%m-%d}"}
    response = client.post(f"{REQUESTS}add/", {**data, "received_at_1": f"{now:%H:%M:%S}"}, follow=True)
    assert f"This request repeats request #{first.pk} of the same kind" in " ".join(messages_of(response))
    listing = client.get(f"{REQUESTS}?repeat=yes").content.decode()
    assert f"#{first.pk}" in listing


def test_staff_verify_extend_and_fulfil_a_request_with_the_actions(staff, layla, admin_user):
    client, _ = staff
    request = open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL)
    page = client.post(REQUESTS, {"action": "verify_requests", "_selected_action": [request.pk]})
    assert page.status_code == 200 and 'name="method"' in page.content.decode()
    assert "session_password" not in page.content.decode()
    act(client, "verify_requests", request, method="id_document")
    act(client, "extend_requests", request, days=10, reason="The archive is being restored.")
    response = act(client, "fulfil_requests", request, note="")
    assert "1 request fulfilled." in messages_of(response)
    request.refresh_from_db()
    assert (request.status, request.identity_method, request.verified_by, request.handled_by) == (
        Status.FULFILLED,
        "id_document",
        admin_user,
        admin_user,
    )
    assert request.extended_until == request.due_at + datetime.timedelta(days=10)


def test_the_extend_action_refuses_more_than_30_days_and_a_second_extension(staff, layla):
    client, _ = staff
    request = open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL)
    response = act(client, "extend_requests", request, days=31, reason="Archive.")
    assert "days" in response.context["form"].errors
    act(client, "extend_requests", request, days=5, reason="Archive.")
    response = act(client, "extend_requests", request, days=5, reason="Again.")
    assert any("only once" in message for message in messages_of(response))
    request.refresh_from_db()
    assert request.extended_until == request.due_at + datetime.timedelta(days=5)


def test_the_fulfil_action_refuses_a_request_whose_identity_is_not_verified(staff, layla):
    client, _ = staff
    request = open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL)
    response = act(client, "fulfil_requests", request, note="")
    assert any("is not verified; it cannot be fulfilled" in message for message in messages_of(response))
    request.refresh_from_db()
    assert request.status == Status.RECEIVED


@pytest.mark.parametrize("reason", ["repetitive", "unreasonable", "identity_not_verified", "legal_hold"])
def test_the_refuse_action_records_the_reason(staff, layla, reason):
    client, _ = staff
    request = open_request(layla, kind=Kind.ERASURE, channel=Channel.PHONE)
    act(client, "refuse_requests", request, reason=reason, note="")
    request.refresh_from_db()
    assert (request.status, request.refusal_reason) == (Status.REFUSED, reason)


def test_the_fulfil_action_on_an_erasure_asks_for_the_staff_users_code(
    staff, layla, django_capture_on_commit_callbacks
):
    client, device = staff
    request = staff_request(layla, Kind.ERASURE, None)
    response = act(client, "fulfil_requests", request, note="", otp_token="000000")
    assert "That code is not valid." in str(response.context["form"].errors)
    layla.refresh_from_db()
    assert layla.is_active
    device.refresh_from_db()
    device.throttle_reset()  # django-otp makes a code after a wrong one wait
    with django_capture_on_commit_callbacks(execute=True):
        act(client, "fulfil_requests", request, note="", otp_token=current_code(device))
    layla.refresh_from_db()
    assert not layla.is_active
    assert DataRequest.objects.get().status == Status.FULFILLED


def test_a_closed_request_is_shown_and_never_edited_or_deleted(staff, layla):
    client, _ = staff
    request = refuse(open_request(layla, kind=Kind.ERASURE, channel=Channel.MAIL), reason="unreasonable")
    page = client.get(f"{REQUESTS}{request.pk}/change/")
    assert page.status_code == 200 and 'name="note"' not in page.content.decode()
    client.post(f"{REQUESTS}{request.pk}/change/", {"note": "rewritten"})
    assert client.post(f"{REQUESTS}{request.pk}/delete/", {"post": "yes"}).status_code == 403
    request.refresh_from_db()
    assert (request.note, request.status) == ("", Status.REFUSED)


def test_an_open_requests_record_fields_are_not_editable(staff, layla):
    client, _ = staff
    request = open_request(layla, kind=Kind.ERASURE, channel=Channel.MAIL)
    forged = {"note": "Called back.", "status": "fulfilled", "identity_verified_at": "2026-01-01", "evidence": "{}"}
    client.post(f"{REQUESTS}{request.pk}/change/", forged)
    request.refresh_from_db()
    assert (request.note, request.status, request.identity_verified_at) == ("Called back.", Status.RECEIVED, None)


def test_staff_correct_the_data_through_a_correction_request(staff, layla, admin_user, orders):
    client, _ = staff
    mine, _ = orders
    request = staff_request(layla, Kind.CORRECTION, admin_user, channel=Channel.PHONE)
    assert "Correct the data" in client.get(f"{REQUESTS}{request.pk}/change/").content.decode()
    listing = client.get(f"{REQUESTS}{request.pk}/correct/").content.decode()
    assert f"?row=testapp.Order:{mine.pk}" in listing and "Omar" not in listing
    form = client.get(f"{REQUESTS}{request.pk}/correct/?row=testapp.Order:{mine.pk}")
    assert form.status_code == 200
    assert AccessLog.objects.filter(actor=admin_user, subject=layla, model_label="testapp.Order").exists()
    url = f"{REQUESTS}{request.pk}/correct/?row=testapp.Order:{mine.pk}"
    response = client.post(url, {"full_name": "Layla Al-Harbi", "phone": "0559", "address": ""})
    assert response.status_code == 302
    mine.refresh_from_db()
    request.refresh_from_db()
    assert (mine.full_name, request.status, request.evidence["fields"]) == (
        "Layla Al-Harbi",
        Status.FULFILLED,
        ["full_name", "phone"],
    )


def test_the_staff_correction_page_refuses_another_subjects_entry(staff, layla, admin_user, orders):
    client, _ = staff
    _, theirs = orders
    request = staff_request(layla, Kind.CORRECTION, admin_user)
    url = f"{REQUESTS}{request.pk}/correct/?row=testapp.Order:{theirs.pk}"
    assert client.post(url, {"full_name": "X", "phone": "", "address": ""}).status_code == 302
    theirs.refresh_from_db()
    request.refresh_from_db()
    assert (theirs.full_name, request.status) == ("Omar", Status.VERIFIED)


# -- the check -----------------------------------------------------------------


def request_checks():
    from django.core import checks

    return [message for message in checks.run_checks() if message.id == "privacy_kit.E065"]


@pytest.mark.parametrize("value", [0, -3, "30", 2.5, None, True])
def test_a_repeat_window_that_is_not_a_positive_number_of_days_is_a_check_error(settings, value):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "REQUEST_REPEAT_DAYS": value}
    [error] = request_checks()
    assert "REQUEST_REPEAT_DAYS" in error.msg and error.hint


def test_the_default_repeat_window_passes_the_check(settings):
    settings.PRIVACY_KIT = {key: value for key, value in settings.PRIVACY_KIT.items() if key != "REQUEST_REPEAT_DAYS"}
    assert request_checks() == []
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "REQUEST_REPEAT_DAYS": 90}
    assert request_checks() == []


# -- in Arabic -----------------------------------------------------------------


def test_the_customers_requests_and_corrections_are_in_arabic(logged_in, layla, orders):
    request = open_request(layla, kind=Kind.COPY, channel=Channel.MAIL)
    extend(request, until=request.due_at + datetime.timedelta(days=15), reason="Archive restore.")
    page = logged_in.get("/privacy/my-data/", HTTP_ACCEPT_LANGUAGE="ar").content.decode()
    assert "<h2>طلباتك</h2>" in page and "<h2>صحّح بياناتك</h2>" in page
    assert f"الطلب رقم {request.pk} (نسخة (تصدير))" in page and "نحتاج إلى وقت أطول" in page


def test_a_wrong_transition_is_explained_in_arabic(layla):
    request = refuse(open_request(layla, kind=Kind.ERASURE, channel=Channel.MAIL), reason="unreasonable")
    with translation.override("ar"), pytest.raises(RequestError) as refused:
        fulfil(request)
    assert str(refused.value) == (
        f"الطلب رقم {request.pk} (محو) حالته مرفوض؛ لا يمكن تنفيذه: "
        "لا يمكن ذلك إلا لطلب حالته تم التحقق من الهوية أو قيد التنفيذ."
    )


# -- the demo shop -------------------------------------------------------------


def test_the_demo_shops_saved_address_is_corrected_with_its_own_validators(logged_in, layla):
    from example_shop.shop.models import SavedAddress

    contact = {"full_name": "Layla", "address": "Olaya St", "city": "Riyadh", "phone": "0551234567"}
    saved = SavedAddress.objects.create(user=layla, email="layla@example.sa", **contact)
    page = logged_in.get("/privacy/my-data/").content.decode()
    assert f'data-model="shop.SavedAddress" data-row="{saved.pk}"' in page
    data = {"model": "shop.SavedAddress", "row": saved.pk, "password": PASSWORD, **contact, "email": "l@example.sa"}
    response = logged_in.post("/privacy/my-data/correct/", {**data, "phone": "call me"})
    assert response.status_code == 400
    assert "Enter a phone number, such as +966 55 123 4567." in response.content.decode()
    saved.refresh_from_db()
    assert (saved.phone, saved.email) == ("0551234567", "layla@example.sa")
    assert logged_in.post("/privacy/my-data/correct/", data).status_code == 302
    saved.refresh_from_db()
    assert saved.email == "l@example.sa"
    assert DataRequest.objects.get().evidence["fields"] == ["email"]


# -- in Chromium ---------------------------------------------------------------


@needs_chromium
@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_customer_corrects_their_phone_in_chromium(browser, live_server, layla, orders):
    from selenium.webdriver.common.by import By

    from tests.test_browser_rights import log_in

    mine, _ = orders
    log_in(browser, live_server, layla)
    browser.get(f"{live_server.url}/privacy/my-data/")
    form = browser.find_element(By.CSS_SELECTOR, f'form[data-form=correct][data-row="{mine.pk}"]')
    phone = form.find_element(By.NAME, "phone")
    phone.clear()
    phone.send_keys("+966 55 765 4321")
    form.find_element(By.NAME, "password").send_keys(PASSWORD)
    click_and_wait(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    request = DataRequest.objects.get()
    assert "Your correction is saved (request" in browser.find_element(By.ID, "corrections").text
    assert f'data-request="{request.pk}"' in browser.page_source
    screenshot(browser, "requests-correction.png")
    mine.refresh_from_db()
    assert mine.phone == "+966 55 765 4321"
    assert (request.kind, request.status, request.evidence["fields"]) == (Kind.CORRECTION, Status.FULFILLED, ["phone"])


# -- the record is kept five years after it closes ----------------------------------------------


def closed_request(subject, days, **fields):
    request = open_request(subject, kind=Kind.ACCESS, channel=Channel.MAIL, received_at=days_ago(days + 20), **fields)
    request = refuse(request, reason=DataRequest.RefusalReason.UNREASONABLE, note="no such order")
    DataRequest.objects.filter(pk=request.pk).update(closed_at=days_ago(days))
    return request


def test_requests_are_kept_five_years_after_closing_then_purged(layla):
    from privacy_kit.retention import purge_policy

    gone, kept = closed_request(layla, 5 * 365 + 3), closed_request(layla, 5 * 365 - 1)
    still_open = open_request(layla, kind=Kind.ERASURE, channel=Channel.PHONE, received_at=days_ago(4000))
    assert purge_policy("privacy_kit.DataRequest", now=NOW).deleted == 1
    assert set(DataRequest.objects.all()) == {kept, still_open}
    assert gone.pk not in set(DataRequest.objects.values_list("pk", flat=True))


def test_purging_a_request_that_a_later_repeat_names_keeps_the_repeat(layla):
    from privacy_kit.retention import purge_policy

    first = closed_request(layla, 5 * 365 + 3)
    repeat = open_request(layla, kind=Kind.ACCESS, channel=Channel.MAIL, received_at=days_ago(4))
    DataRequest.objects.filter(pk=repeat.pk).update(repeat_of=first)
    assert purge_policy("privacy_kit.DataRequest", now=NOW).deleted == 1
    repeat.refresh_from_db()
    assert (repeat.status, repeat.repeat_of) == (Status.RECEIVED, None)

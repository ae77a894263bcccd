"""Attacks on the deadline alerts: two runs at once on SQLite, requests whose subject or record is gone."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from privacy_kit.deadlines import send_deadline_alerts
from privacy_kit.models import DataRequest, DeadlineAlert
from privacy_kit.requests import RequestError, fulfil, open_request, refuse, verify
from tests.test_deadlines import ADMIN, ADMINS, DAY, HOUR, breach, request_of

Kind, Channel, Status = DataRequest.Kind, DataRequest.Channel, DataRequest.Status


@pytest.fixture(autouse=True)
def admins(settings):
    settings.ADMINS = ADMINS


@pytest.fixture
def layla(django_user_model):
    return django_user_model.objects.create_user("layla", email="layla@example.sa", password="pw-layla-1")


def admin_mail():
    return [message for message in mail.outbox if message.to == [ADMIN]]


@pytest.mark.django_db
def test_a_request_whose_subject_was_deleted_is_still_alerted_and_names_no_one(layla):
    record = request_of(layla, timezone.now() - 23 * DAY - HOUR)
    layla.delete()  # SET_NULL: the record of the request stays
    [alert] = send_deadline_alerts()
    assert alert.record.pk == record.pk and alert.alert.threshold == "7d"
    [message] = admin_mail()
    assert f"Request #{record.pk} (erasure)" in message.subject
    for personal in ["layla", "example.sa", "None"]:
        assert personal not in message.subject and personal not in message.body


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [Kind.ACCESS, Kind.COPY, Kind.ERASURE, Kind.WITHDRAWAL, Kind.RESTRICTION])
def test_a_request_whose_subject_was_deleted_cannot_be_fulfilled_only_refused(layla, admin_user, kind):
    request = verify(open_request(layla, kind=kind, channel=Channel.MAIL), method="id_document")
    layla.delete()
    request.refresh_from_db()
    assert request.subject is None
    with pytest.raises(RequestError, match="no longer exists"):
        fulfil(request, by=admin_user, note="Done by hand.")
    request.refresh_from_db()
    assert request.status == Status.VERIFIED and request.evidence == {}
    refuse(request, reason="other", note="The account was deleted.", by=admin_user)
    assert request.status == Status.REFUSED


@pytest.mark.django_db
def test_a_deleted_request_gets_no_alert_and_its_old_alerts_do_not_block_another(layla):
    first = request_of(layla, timezone.now() - 23 * DAY - HOUR)
    assert len(send_deadline_alerts()) == 1
    DataRequest.objects.filter(pk=first.pk).delete()
    assert send_deadline_alerts() == []
    second = request_of(layla, timezone.now() - 23 * DAY - HOUR)
    assert [alert.record.pk for alert in send_deadline_alerts()] == [second.pk]


@pytest.mark.django_db
def test_a_receiver_that_fails_on_one_record_does_not_keep_the_alerts_of_the_others_from_going(layla):
    from privacy_kit.signals import deadline_alert

    request = request_of(layla, timezone.now() - 23 * DAY - HOUR)  # the request clock runs first
    record = breach(timezone.now() - 50 * HOUR)

    def fails_on_requests(sender, **kwargs):
        if sender is DataRequest:
            raise RuntimeError("receiver down")

    deadline_alert.connect(fails_on_requests, dispatch_uid="tests.fails_on_requests")
    try:
        with pytest.raises(RuntimeError):  # the run still fails, for the beat's log
            send_deadline_alerts()
    finally:
        deadline_alert.disconnect(dispatch_uid="tests.fails_on_requests")
    # The breach's 72 hours do not wait for a receiver of requests.
    assert list(DeadlineAlert.objects.values_list("clock", "record_id")) == [("breach", record.pk)]
    assert [message.subject for message in admin_mail()] and all(
        f"#{record.pk}" in message.subject for message in admin_mail()
    )
    assert [alert.record.pk for alert in send_deadline_alerts()] == [request.pk]


@pytest.mark.django_db
def test_an_integrity_error_in_a_receiver_is_no_alert_already_sent(layla):
    from django.db import IntegrityError

    from privacy_kit.signals import deadline_alert

    breach(timezone.now() - 50 * HOUR)

    def breaks_a_constraint(sender, **kwargs):
        raise IntegrityError("the receiver's own table")

    deadline_alert.connect(breaks_a_constraint, dispatch_uid="tests.breaks_a_constraint")
    try:
        with pytest.raises(IntegrityError):
            send_deadline_alerts()
    finally:
        deadline_alert.disconnect(dispatch_uid="tests.breaks_a_constraint")
    assert not DeadlineAlert.objects.exists() and admin_mail() == []
    assert len(send_deadline_alerts()) == 1

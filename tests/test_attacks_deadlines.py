"""Attacks on the deadline alerts: two runs at once on SQLite, requests whose subject or record is gone."""

from __future__ import annotations

import threading

import pytest
from django.core import mail
from django.db import connection, connections
from django.utils import timezone

from privacy_kit.deadlines import send_deadline_alerts
from privacy_kit.deadlines.clock import Clock
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


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the PostgreSQL run is tests/test_deadlines.py's")
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_on_sqlite_send_each_alert_once(monkeypatch):
    record = breach(timezone.now() - 67 * HOUR)
    # Both runs have read the alerts already sent (none) before either inserts its own.
    both_read = threading.Barrier(2, timeout=30)
    real = Clock.threshold_reached

    def after_both_read(self, due_at, now):
        both_read.wait()
        return real(self, due_at, now)

    monkeypatch.setattr(Clock, "threshold_reached", after_both_read)
    results: list[list] = []
    errors: list[BaseException] = []

    def run():
        try:
            results.append(send_deadline_alerts())
        except BaseException as error:  # reported by the assertions below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sorted(len(result) for result in results) == [0, 1]
    assert list(DeadlineAlert.objects.values_list("record_id", "threshold")) == [(record.pk, "6h")]
    assert len(mail.outbox) == 1


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

"""Data-subject requests: the 30-day clock, identity, the workflow, fulfilment through the rights, the admin."""

import datetime

import pytest
from django.utils import timezone

from privacy_kit.models import DataRequest
from privacy_kit.requests import ANSWER_WITHIN, RequestError, extend, open_request, refuse, verify

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

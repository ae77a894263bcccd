"""Attacks on erasure and retention: what a reviewer did to break their promises, through the real code."""

import datetime

import pytest
from celery.signals import task_prerun
from django.db import DataError, InterfaceError, OperationalError
from django.test import override_settings

from privacy_kit.models import PurgeRun
from privacy_kit.retention import purge_policy
from privacy_kit.tasks import purge_policy as purge_policy_task
from tests.testapp.models import Cart
from tests.testapp.policies import register_carts

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


# -- retention of date columns (item: the local date of the cut-off) -------------------


@pytest.fixture
def carts():
    register_carts(after_days=30)


@override_settings(TIME_ZONE="Asia/Riyadh")
def test_a_riyadh_shop_keeps_a_date_row_past_its_period_by_the_utc_date(carts):
    # 22:30 UTC on 31 January is 01:30 on 1 February in Riyadh: the cut-off is 2 January there.
    now = datetime.datetime(2026, 1, 31, 22, 30, tzinfo=UTC)
    Cart.objects.create(product="due", added_on=datetime.date(2026, 1, 1))
    Cart.objects.create(product="kept", added_on=datetime.date(2026, 1, 2))

    result = purge_policy("testapp.Cart", now=now)

    assert result.deleted == 1
    assert list(Cart.objects.values_list("product", flat=True)) == ["kept"]


@override_settings(TIME_ZONE="America/New_York")
def test_a_new_york_shop_loses_a_date_row_a_day_early_by_the_utc_date(carts):
    # 03:00 UTC on 1 February is 22:00 on 31 January in New York: the cut-off is 1 January there.
    now = datetime.datetime(2026, 2, 1, 3, 0, tzinfo=UTC)
    Cart.objects.create(product="due", added_on=datetime.date(2025, 12, 31))
    Cart.objects.create(product="kept", added_on=datetime.date(2026, 1, 1))

    result = purge_policy("testapp.Cart", now=now)

    assert result.deleted == 1
    assert list(Cart.objects.values_list("product", flat=True)) == ["kept"]


# -- malformed purge tasks -----------------------------------------------------------------


def test_a_purge_task_with_a_start_that_is_not_a_key_leaves_no_run_marked_running(carts):
    with pytest.raises(ValueError) as raised:
        purge_policy_task.apply(args=("testapp.Cart", "abc", 100)).get()

    assert str(raised.value) == (
        "testapp.Cart: the chunk start 'abc' is not a primary key of testapp.Cart; "
        "pass integer keys, as plan_purge() does."
    )
    assert not PurgeRun.objects.exists()


def test_a_purge_task_with_a_start_and_no_end_leaves_no_run_marked_running(carts):
    with pytest.raises(ValueError) as raised:
        purge_policy_task.apply(args=("testapp.Cart", 10)).get()

    assert str(raised.value) == "testapp.Cart: a chunk needs both a start and an end, not start=10 and end=None."
    assert not PurgeRun.objects.exists()


def test_a_purge_task_with_an_end_before_its_start_leaves_no_run(carts):
    with pytest.raises(ValueError) as raised:
        purge_policy_task.apply(args=("testapp.Cart", 100, 10)).get()

    assert str(raised.value) == "testapp.Cart: the chunk end 10 must be greater than its start 100."
    assert not PurgeRun.objects.exists()


def test_a_purge_task_with_a_too_long_key_fails_once_and_is_not_retried(carts):
    runs = []
    task_prerun.connect(lambda **kwargs: runs.append(kwargs["task_id"]), weak=False, dispatch_uid="count-runs")
    try:
        huge = 10**120
        result = purge_policy_task.apply(args=("testapp.Cart", huge, huge + 1), throw=False)
    finally:
        task_prerun.disconnect(dispatch_uid="count-runs")

    assert result.state == "FAILURE"
    assert str(result.result) == (
        f"testapp.Cart: the chunk start {huge!r} is not a primary key of testapp.Cart; "
        "pass integer keys, as plan_purge() does."
    )
    assert len(runs) == 1
    assert not PurgeRun.objects.exists()


def test_a_purge_task_that_hits_a_data_error_is_not_retried_as_if_the_database_were_down():
    assert DataError not in purge_policy_task.autoretry_for
    assert set(purge_policy_task.autoretry_for) == {OperationalError, InterfaceError}

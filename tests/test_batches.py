import pytest
from django.db import connection
from django.utils import timezone

from privacy_kit.batches import KeyRanges, delete_rows, key_pages, primary_key_batches, range_delete
from tests.testapp.models import Order, PurgeEvent

pytestmark = pytest.mark.django_db


def make_events(keys):
    PurgeEvent.objects.bulk_create(PurgeEvent(pk=key, kind="k", created_at=timezone.now()) for key in keys)


def covered(size):
    batches = list(primary_key_batches(PurgeEvent.objects.all(), size))
    return [sorted(PurgeEvent.objects.filter(batch).values_list("pk", flat=True)) for batch in batches]


def test_batches_cover_every_row_once_and_skip_gaps():
    make_events([1, 2, 3, 10, 11, 500, 501])
    assert covered(3) == [[1, 2, 3], [10, 11], [500, 501]]


def test_rows_that_fit_in_one_batch_take_one_query(django_assert_num_queries):
    make_events([5, 6, 7])
    with django_assert_num_queries(1):
        assert len(list(primary_key_batches(PurgeEvent.objects.all(), 10))) == 1


def test_no_rows_no_batch():
    assert covered(10) == []


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        next(primary_key_batches(PurgeEvent.objects.all(), 0))


def test_batches_respect_the_queryset_filter():
    make_events(range(1, 21))
    later = PurgeEvent.objects.filter(pk__gt=15)
    batches = [sorted(later.filter(batch).values_list("pk", flat=True)) for batch in primary_key_batches(later, 2)]
    assert batches == [[16, 17], [18, 19], [20]]


def test_key_pages_read_every_row_once_a_page_at_a_time(django_assert_num_queries):
    make_events(range(1, 6))
    rows = PurgeEvent.objects.values_list("pk", "kind")
    with django_assert_num_queries(3):  # 2 + 2 + 1 rows, the last page short: no further query
        pages = list(key_pages(rows, 2))
    assert [[pk for pk, _kind in page] for page in pages] == [[1, 2], [3, 4], [5]]


def walk(size, found):
    """Walk KeyRanges over PurgeEvent, telling it ``found(range)`` rows each time; return the ranges' keys."""
    ranges = KeyRanges(PurgeEvent.objects.all(), size)
    covered = []
    for batch in ranges:
        rows = sorted(PurgeEvent.objects.filter(batch).values_list("pk", flat=True))
        covered.append(rows)
        ranges.found(found(rows))
    return covered


def test_key_ranges_follow_on_without_a_query_after_a_range_that_found_rows(django_assert_num_queries):
    make_events(range(1, 31))
    with django_assert_num_queries(1 + 3):  # the bounds, then the three ranges read by the test
        covered = walk(10, found=len)
    assert covered == [list(range(1, 11)), list(range(11, 21)), list(range(21, 31))]


def test_key_ranges_jump_a_gap_after_a_range_that_found_nothing(django_assert_num_queries):
    make_events([1, 2, 3, 500, 501])
    # [1, 4) found rows, so [4, 7) follows without a query; it found nothing, so the walk jumps to 500.
    with django_assert_num_queries(1 + 3 + 1):
        covered = walk(3, found=len)
    assert covered == [[1, 2, 3], [], [500, 501]]


def test_key_ranges_jump_after_every_range_the_caller_says_nothing_of(django_assert_num_queries):
    make_events([1, 2, 3, 10, 11, 500, 501])
    with django_assert_num_queries(1 + 3 + 2):
        covered = walk(3, found=lambda rows: 0)
    assert covered == [[1, 2, 3], [10, 11], [500, 501]]


@pytest.mark.django_db(transaction=True)
def test_a_delete_with_nothing_to_cascade_is_one_statement_outside_any_transaction():
    make_events(range(1, 6))
    statements = []

    def record(execute, sql, params, many, context):
        statements.append((sql.split()[0], connection.in_atomic_block))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        counts = delete_rows(PurgeEvent.objects.filter(pk__lte=3))
    assert counts == {"testapp.PurgeEvent": 3}
    assert statements == [("DELETE", False)]
    assert sorted(PurgeEvent.objects.values_list("pk", flat=True)) == [4, 5]


def test_a_delete_that_cascades_or_is_listened_to_still_goes_through_the_collector(
    django_user_model, orders_loaded_on_delete
):
    user = django_user_model.objects.create(username="u")
    make_events(range(1, 3))
    PurgeEvent.objects.update(user=user)
    order = Order.objects.create(customer=user, full_name="x", total=1, created_at=timezone.now())
    assert delete_rows(django_user_model.objects.filter(pk=user.pk)) == {"auth.User": 1, "testapp.PurgeEvent": 2}
    assert not PurgeEvent.objects.exists()
    assert delete_rows(Order.objects.all()) == {"testapp.Order": 1}
    assert orders_loaded_on_delete == [order.pk]


def test_range_delete_deletes_the_querysets_rows_within_each_range_only():
    make_events(range(1, 21))
    PurgeEvent.objects.filter(pk__in=[3, 4, 15]).update(kind="keep")
    delete = range_delete(PurgeEvent.objects.exclude(kind="keep"))
    assert delete(1, 6) == 3 and delete(6, 11) == 5 and delete(6, 11) == 0
    assert sorted(PurgeEvent.objects.values_list("pk", flat=True)) == [3, 4, *range(11, 21)]


def test_range_delete_leaves_rows_that_cascade_or_are_listened_to_to_the_collector(
    django_user_model, orders_loaded_on_delete
):
    assert range_delete(django_user_model.objects.all()) is None  # their carts and events cascade
    assert range_delete(Order.objects.all()) is None  # a post_delete receiver must see each order


def test_rows_added_behind_the_walk_are_left_for_the_next_one():
    make_events([1, 2, 3])
    ranges = KeyRanges(PurgeEvent.objects.all(), 10)
    for batch in ranges:
        make_events([4])  # after the walk found its last key, 3
        assert sorted(PurgeEvent.objects.filter(batch).values_list("pk", flat=True)) == [1, 2, 3]
    assert ranges.bounds == (1, 4)

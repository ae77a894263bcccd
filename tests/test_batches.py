import pytest
from django.utils import timezone

from privacy_kit.batches import key_pages, primary_key_batches
from tests.testapp.models import PurgeEvent

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

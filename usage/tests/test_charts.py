from datetime import date, timedelta

from usage.charts import AXIS_ROOM, HEIGHT, TOP_ROOM, WIDTH, daily_chart
from usage.selectors import DailyCount

BASELINE = HEIGHT - AXIS_ROOM
TALLEST = BASELINE - TOP_ROOM


def days(*pairs: tuple[int, int]) -> list[DailyCount]:
    first = date(2031, 3, 1)
    return [
        DailyCount(day=first + timedelta(days=index), requests=requests, failed=failed)
        for index, (requests, failed) in enumerate(pairs)
    ]


def test_bars_are_scaled_to_the_busiest_day_and_stacked():
    chart = daily_chart(days((10, 0), (10, 5), (0, 0), (4, 1)))

    quiet, half_failed, empty, mixed = chart.bars
    assert chart.peak == 10
    assert (quiet.succeeded_y, quiet.succeeded_height, quiet.failed_height) == (TOP_ROOM, TALLEST, 0)
    assert half_failed.succeeded_height == half_failed.failed_height == TALLEST / 2
    assert half_failed.failed_y + half_failed.failed_height == half_failed.succeeded_y
    assert half_failed.succeeded_y + half_failed.succeeded_height == BASELINE
    assert (empty.succeeded_height, empty.failed_height) == (0, 0)
    assert (mixed.succeeded_height, mixed.failed_height) == (TALLEST * 3 / 10, TALLEST / 10)
    assert (chart.total, chart.failed, chart.busiest.day) == (24, 6, date(2031, 3, 1))


def test_bars_fill_the_width_in_order_without_overlapping():
    chart = daily_chart(days(*[(1, 0)] * 30))

    assert chart.bars[0].x > 0
    assert chart.bars[-1].x + chart.bars[-1].width < WIDTH
    for left, right in zip(chart.bars, chart.bars[1:], strict=False):
        assert left.x + left.width < right.x


def test_a_month_without_requests_draws_no_bars():
    chart = daily_chart(days(*[(0, 0)] * 30))

    assert (chart.peak, chart.total, chart.busiest) == (0, 0, None)
    assert all(bar.succeeded_height == bar.failed_height == 0 for bar in chart.bars)

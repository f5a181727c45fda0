"""The dashboard's chart of daily requests, drawn on the server as SVG geometry (no JavaScript).

The page stretches the drawing to its width and a height of its own (phones draw it narrow, not
flat), so the drawing holds no text: the dates and the scale are HTML around it."""

from dataclasses import dataclass
from datetime import date

from usage.selectors import DailyCount

WIDTH = 1000
HEIGHT = 200
AXIS_ROOM = 2  # below the bars, for the axis line
TOP_ROOM = 4  # above the highest bar
BAR_SHARE = 0.7  # of each day's slot; the rest is the gap between bars


@dataclass(frozen=True)
class Bar:
    count: DailyCount
    x: float
    width: float
    succeeded_y: float  # the top of the succeeded part; it reaches down to the baseline
    succeeded_height: float
    failed_y: float  # the failed part sits on top of the succeeded one
    failed_height: float


@dataclass(frozen=True)
class DailyChart:
    counts: list[DailyCount]
    bars: list[Bar]
    peak: int  # the most requests on one day
    width: int = WIDTH
    height: int = HEIGHT
    baseline: int = HEIGHT - AXIS_ROOM

    @property
    def first_day(self) -> date:
        return self.counts[0].day

    @property
    def last_day(self) -> date:
        return self.counts[-1].day

    @property
    def total(self) -> int:
        return sum(count.requests for count in self.counts)

    @property
    def failed(self) -> int:
        return sum(count.failed for count in self.counts)

    @property
    def busiest(self) -> DailyCount | None:
        return max(self.counts, key=lambda count: count.requests) if self.total else None


def daily_chart(counts: list[DailyCount]) -> DailyChart:
    """Stacked bars, one a day: succeeded requests below, failed ones above, scaled to the peak."""
    baseline = HEIGHT - AXIS_ROOM
    peak = max((count.requests for count in counts), default=0)
    slot = WIDTH / max(len(counts), 1)
    scale = (baseline - TOP_ROOM) / peak if peak else 0
    bars = []
    for index, count in enumerate(counts):
        succeeded_height = count.succeeded * scale
        failed_height = count.failed * scale
        bars.append(
            Bar(
                count=count,
                x=round(index * slot + slot * (1 - BAR_SHARE) / 2, 2),
                width=round(slot * BAR_SHARE, 2),
                succeeded_y=round(baseline - succeeded_height, 2),
                succeeded_height=round(succeeded_height, 2),
                failed_y=round(baseline - succeeded_height - failed_height, 2),
                failed_height=round(failed_height, 2),
            )
        )
    return DailyChart(counts=counts, bars=bars, peak=peak)

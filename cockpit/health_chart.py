"""The sync health page's charts: pushes, pulls, skips and failures per hour over the last day
and per day over 30, as stacked bar charts in server-rendered SVG (no JavaScript, no charting
library, works offline)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.utils import timezone

from sync.health import CHART_SERIES, DayCounts, HourCounts

# The two charts sit side by side on a wide screen (about 34rem each): a viewBox of about that
# width keeps the 11-unit labels at about 11 px there, and at a phone's scroll width.
WIDTH = 480
HEIGHT = 220
LEFT = 40  # room for the scale
RIGHT = 16  # room for half the newest bar's label, which is centred under it
BOTTOM = 24  # room for the hours
TOP = 10
COLOURS = {"pushed": "#2563eb", "pulled": "#146c43", "skipped": "#b7791f", "failed": "#b42318"}


@dataclass
class Segment:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass
class Chart:
    width: int
    height: int
    left: int
    plot_bottom: int
    top: int
    ticks: list[tuple[float, str]]  # (y, label)
    marks: list[tuple[float, str]]  # (x, label) under every third hour, every fifth day
    segments: list[Segment] = field(default_factory=list)
    series: list[tuple[str, str, str, int]] = field(default_factory=list)  # key, label, colour, sum
    rows: list[tuple[str, dict[str, int]]] = field(default_factory=list)  # the table fallback
    description: str = ""
    empty: bool = False  # nothing happened in the period


def _nice_max(value: int) -> int:
    """The scale's top: 1, 2 or 5 times a power of ten, at least the tallest bar."""
    if value <= 1:
        return 1
    magnitude = 10 ** (len(str(value)) - 1)
    return next(s * magnitude for s in (1, 2, 5, 10) if s * magnitude >= value)


class Bucket(Protocol):
    counts: dict[str, int]

    @property
    def total(self) -> int: ...


def _chart(buckets: Sequence[Bucket], labels: list[str], *, every: int) -> Chart:
    plot_bottom = HEIGHT - BOTTOM
    plot_height = plot_bottom - TOP
    slot = (WIDTH - LEFT - RIGHT) / max(len(buckets), 1)
    bar = slot * 0.7
    tallest = max((b.total for b in buckets), default=0)
    scale_top = _nice_max(tallest)
    # Only whole numbers on the scale (a top of 1 has no middle), and none above an empty
    # chart's 0: a scale that read 1 / 0 / 0 claimed activity that never happened.
    shares = (0,) if tallest == 0 else (0, 0.5, 1) if scale_top % 2 == 0 else (0, 1)
    ticks = [
        (plot_bottom - plot_height * share, f"{round(scale_top * share):,}") for share in shares
    ]
    chart = Chart(WIDTH, HEIGHT, LEFT, plot_bottom, TOP, ticks, [])
    for index, (bucket, label) in enumerate(zip(buckets, labels, strict=True)):
        x = LEFT + index * slot + (slot - bar) / 2
        # Every `every` bars one is named, counting back from the newest, always named.
        if (len(buckets) - 1 - index) % every == 0:
            chart.marks.append((x + bar / 2, label))
        y = float(plot_bottom)
        for key, name, _ in CHART_SERIES:
            count = bucket.counts[key]
            if not count:
                continue
            height = plot_height * count / scale_top
            y -= height
            chart.segments.append(
                Segment(x, y, bar, height, COLOURS[key], f"{label}: {count:,} {name.lower()}")
            )
        chart.rows.append((label, bucket.counts))
    for key, name, _ in CHART_SERIES:
        chart.series.append((key, name, COLOURS[key], sum(b.counts[key] for b in buckets)))
    chart.empty = tallest == 0
    return chart


def _summary(chart: Chart) -> str:
    return ", ".join(f"{total:,} {name.lower()}" for _, name, _, total in chart.series)


def chart_build(buckets: list[HourCounts]) -> Chart:
    """The last 24 hours, a bar an hour."""
    chart = _chart(buckets, [f"{timezone.localtime(b.start):%H:%M}" for b in buckets], every=3)
    first = timezone.localtime(buckets[0].start) if buckets else None
    chart.description = (
        f"Stacked bars, one per hour from {first:%H:%M} yesterday to this hour: {_summary(chart)}."
        if first
        else "No data."
    )
    return chart


def day_chart_build(buckets: list[DayCounts]) -> Chart:
    """The last 30 days, a bar a day."""
    chart = _chart(buckets, [f"{b.day:%-d %b}" for b in buckets], every=5)
    chart.description = (
        f"Stacked bars, one per day from {buckets[0].day:%a %-d %b} to today: {_summary(chart)}."
        if buckets
        else "No data."
    )
    return chart

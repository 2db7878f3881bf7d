"""The sync health page's chart: pushes, pulls, skips and failures per hour as a stacked bar
chart in server-rendered SVG (no JavaScript, no charting library, works offline)."""

from dataclasses import dataclass, field

from django.utils import timezone

from sync.health import CHART_SERIES, HourCounts

WIDTH = 720
HEIGHT = 220
LEFT = 40  # room for the scale
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
    hours: list[tuple[float, str]]  # (x, label) under every third bar
    segments: list[Segment] = field(default_factory=list)
    series: list[tuple[str, str, str, int]] = field(default_factory=list)  # key, label, colour, sum
    rows: list[tuple[str, dict[str, int]]] = field(default_factory=list)  # the table fallback
    description: str = ""
    empty: bool = False  # nothing happened in the 24 hours


def _nice_max(value: int) -> int:
    """The scale's top: 1, 2 or 5 times a power of ten, at least the tallest bar."""
    if value <= 1:
        return 1
    magnitude = 10 ** (len(str(value)) - 1)
    return next(s * magnitude for s in (1, 2, 5, 10) if s * magnitude >= value)


def chart_build(buckets: list[HourCounts]) -> Chart:
    plot_bottom = HEIGHT - BOTTOM
    plot_height = plot_bottom - TOP
    slot = (WIDTH - LEFT) / max(len(buckets), 1)
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
    for index, bucket in enumerate(buckets):
        local = timezone.localtime(bucket.start)
        label = f"{local:%H:%M}"
        x = LEFT + index * slot + (slot - bar) / 2
        if index % 3 == 0:
            chart.hours.append((x + bar / 2, label))
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
    summary = ", ".join(f"{total:,} {name.lower()}" for _, name, _, total in chart.series)
    first = timezone.localtime(buckets[0].start) if buckets else None
    chart.description = (
        f"Stacked bars, one per hour from {first:%H:%M} yesterday to this hour: {summary}."
        if first
        else "No data."
    )
    chart.empty = tallest == 0
    return chart

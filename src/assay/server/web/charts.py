"""Chart geometry for the dashboard's inline SVG: a line over runs and a histogram.

Layout is computed here, in plain Python, so templates only draw and tests can check what
a chart shows without a browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from assay.domain import HistogramBin

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 44, WIDTH - 10, 10, HEIGHT - 22


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    label: str
    width: float = 0.0
    height: float = 0.0
    anchor: str = "middle"


@dataclass
class Chart:
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    bottom: int = BOTTOM
    line: str = ""
    dots: list[Mark] = field(default_factory=list)
    bars: list[Mark] = field(default_factory=list)
    ticks: list[Mark] = field(default_factory=list)
    xticks: list[Mark] = field(default_factory=list)
    #: What an empty chart says instead of bars (why there is nothing to draw).
    note: str = "No data yet."

    @property
    def empty(self) -> bool:
        return not self.dots and not self.bars


def _y(value: float, low: float, high: float) -> float:
    span = high - low or 1.0
    return round(BOTTOM - (value - low) / span * (BOTTOM - TOP), 1)


def _ticks(low: float, high: float, fmt: str) -> list[Mark]:
    return [Mark(LEFT, _y(v, low, high), fmt.format(v)) for v in (low, (low + high) / 2, high)]


def line(
    title: str,
    points: Sequence[tuple[str, float | None]],
    *,
    low: float | None = None,
    high: float | None = None,
    fmt: str = "{:.2f}",
) -> Chart:
    """One value per run, in order; runs without a value leave a gap in the dots."""
    chart = Chart(title)
    known = [v for _, v in points if v is not None]
    if not known:
        return chart
    low = min(known) if low is None else low
    high = max(known) if high is None else high
    if high <= low:
        high = low + 1.0
    step = (RIGHT - LEFT) / max(len(points) - 1, 1)
    for i, (label, value) in enumerate(points):
        if value is None:
            continue
        x = round(LEFT + i * step, 1) if len(points) > 1 else (LEFT + RIGHT) / 2
        chart.dots.append(Mark(x, _y(value, low, high), f"{label}: {fmt.format(value)}"))
    chart.line = " ".join(f"{d.x},{d.y}" for d in chart.dots)
    chart.ticks = _ticks(low, high, fmt)
    chart.xticks = [
        Mark(LEFT, HEIGHT - 4, points[0][0], anchor="start"),
        Mark(RIGHT, HEIGHT - 4, points[-1][0], anchor="end"),
    ]
    return chart


def histogram(
    title: str, bins: Sequence[HistogramBin], *, fmt: str = "{:.2f}", note: str | None = None
) -> Chart:
    """Bars of a distribution's bins, scaled to the fullest one; ``note`` when there are none."""
    chart = Chart(title) if note is None else Chart(title, note=note)
    top = max((b.count for b in bins), default=0)
    if not top:
        return chart
    width = (RIGHT - LEFT) / len(bins)
    for i, b in enumerate(bins):
        y = _y(b.count, 0, top)
        chart.bars.append(
            Mark(
                round(LEFT + i * width + 1, 1),
                y,
                f"{fmt.format(b.lower)} to {fmt.format(b.upper)}: {b.count}",
                width=round(width - 2, 1),
                height=round(BOTTOM - y, 1),
            )
        )
    chart.ticks = _ticks(0, top, "{:.0f}")
    chart.xticks = [
        Mark(LEFT, HEIGHT - 4, fmt.format(bins[0].lower), anchor="start"),
        Mark(RIGHT, HEIGHT - 4, fmt.format(bins[-1].upper), anchor="end"),
    ]
    return chart

"""Inline SVG figures laid out in Python: a value over runs (dates on the axis, failed runs
marked), a forest plot of differences with their intervals, a scatter of paired scores and
side-by-side histograms.

A :class:`Figure` is a list of primitives (lines, dots, bars, labels) the template
``chart_macros.html`` draws as they are, plus a table of the numbers it shows: the text
alternative, rendered visually hidden next to the SVG.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from assay.domain import Frontier

Fmt = Callable[[float], str]


def readable(value: float | None, unit: str = "") -> str:
    """A number people read at a glance: thousands separated, SI prefixes from a million,
    small values to two significant digits, never scientific notation."""
    if value is None or math.isnan(value):
        return "—"
    size = abs(value)
    if size >= 1e9:
        text = f"{value / 1e9:,.3g} G"
    elif size >= 1e6:
        text = f"{value / 1e6:,.3g} M"
    elif size >= 1000:
        text = f"{value:,.0f}"
    elif size >= 1 or size == 0:
        text = f"{value:.3g}" if size < 100 else f"{value:.0f}"
    else:
        digits = min(-math.floor(math.log10(size)) + 1, 12)
        text = f"{value:.{digits}f}"
    return f"{text} {unit}".strip() if unit else text


def percent(value: float) -> str:
    return f"{value * 100:.0f} %"


def usd(value: float) -> str:
    return "$" + readable(value)


@dataclass(frozen=True)
class Seg:
    x1: float
    y1: float
    x2: float
    y2: float
    cls: str = "axis"


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    label: str
    cls: str = "dot"
    r: float = 3.5


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float
    label: str
    cls: str = "bar"


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "middle"
    cls: str = "tick"


@dataclass
class Figure:
    title: str
    #: Said instead of the figure when there is nothing to draw.
    note: str
    width: int = 640
    height: int = 200
    lines: list[Seg] = field(default_factory=list)
    paths: list[tuple[str, str]] = field(default_factory=list)  # (points, class)
    dots: list[Dot] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (label, class)
    #: The text alternative: column headers and rows of the numbers drawn.
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""
    empty: bool = True


class Scale:
    """A linear map from data values to pixels."""

    def __init__(self, low: float, high: float, start: float, end: float) -> None:
        if high <= low:
            high = low + (abs(low) or 1.0)
        self.low, self.high, self.start, self.end = low, high, start, end

    def __call__(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low)
        return round(self.start + share * (self.end - self.start), 1)


def _y_axis(fig: Figure, y: Scale, left: float, right: float, fmt: Fmt) -> None:
    for v in (y.low, (y.low + y.high) / 2, y.high):
        fig.lines.append(Seg(left, y(v), right, y(v), "grid"))
        fig.texts.append(Text(left - 4, y(v) + 4, fmt(v), "end"))


# ---------------------------------------------------------------- a value over runs
@dataclass(frozen=True)
class RunValue:
    """One run on a timeline: its value (None: nothing to plot) and whether it failed."""

    name: str
    when: datetime
    value: float | None
    status: str


_NOT_PLOTTED = {"failed", "cancelled", "interrupted"}


def over_runs(
    title: str,
    runs: Sequence[RunValue],
    *,
    fmt: Fmt = readable,
    low: float | None = None,
    high: float | None = None,
    width: int = 640,
    height: int = 200,
    note: str = "no run has a value for it yet.",
) -> Figure:
    """One point per run, evenly spaced in run order (so charts of the same runs line up),
    dated on the axis. Failed, cancelled and interrupted runs are marked on the axis and
    break the line: they are not drawn as zeros."""
    fig = Figure(title, note, width=width, height=height, header=["Run", "Date", title])
    left, right, top, bottom = 52, width - 12, 10, height - 34
    known = [r.value for r in runs if r.value is not None and r.status not in _NOT_PLOTTED]
    for r in runs:
        shown = (
            "not plotted: run " + r.status
            if r.status in _NOT_PLOTTED
            else fmt(r.value)
            if r.value is not None
            else "—"
        )
        fig.rows.append([r.name, r.when.strftime("%Y-%m-%d %H:%M"), shown])
    if not known:
        return fig
    fig.empty = False
    y = Scale(min(known) if low is None else low, max(known) if high is None else high, bottom, top)
    step = (right - left) / max(len(runs) - 1, 1)
    _y_axis(fig, y, left, right, fmt)
    fig.lines.append(Seg(left, bottom, right, bottom, "axis"))
    segment: list[str] = []
    for i, r in enumerate(runs):
        x = round(left + i * step, 1) if len(runs) > 1 else (left + right) / 2
        day = r.when.strftime("%Y-%m-%d")
        if r.status in _NOT_PLOTTED:
            fig.dots.append(Dot(x, bottom, f"{r.name} ({day}): {r.status}, not plotted", "flag", 4))
            if segment:
                fig.paths.append((" ".join(segment), "series"))
            segment = []
            continue
        if r.value is None:
            continue
        point = (x, y(r.value))
        segment.append(f"{point[0]},{point[1]}")
        fig.dots.append(Dot(*point, f"{r.name} ({day}): {fmt(r.value)}"))
    if segment:
        fig.paths.append((" ".join(segment), "series"))
    picks = sorted({0, len(runs) // 2, len(runs) - 1}) if len(runs) > 2 else range(len(runs))
    for i in picks:
        x = round(left + i * step, 1) if len(runs) > 1 else (left + right) / 2
        anchor = (
            "start"
            if i == 0 and len(runs) > 1
            else "end"
            if i == len(runs) - 1 and len(runs) > 1
            else "middle"
        )
        fig.texts.append(Text(x, height - 18, runs[i].when.strftime("%b %d"), anchor))
        fig.texts.append(Text(x, height - 5, runs[i].name[:24], anchor, "tick name"))
    if any(r.status in _NOT_PLOTTED for r in runs):
        fig.legend.append(("failed or cancelled run (not plotted)", "flag"))
    return fig


def sparkline(title: str, runs: Sequence[RunValue], *, fmt: Fmt = readable) -> Figure:
    """A small :func:`over_runs` for a row of charts (the runs list's scores)."""
    fig = over_runs(title, runs, fmt=fmt, width=260, height=90)
    fig.texts = [t for t in fig.texts if "name" not in t.cls]
    values = [row[2] for row in fig.rows]
    if values:  # the text alternative is the label: first and last value
        fig.caption = f"{len(values)} runs, from {values[0]} to {values[-1]}"
    return fig


# ---------------------------------------------------------------- forest plot
@dataclass(frozen=True)
class Interval:
    label: str
    difference: float | None
    low: float | None
    high: float | None
    verdict: str  # better, worse, inconclusive…


def forest(title: str, rows: Sequence[Interval], *, fmt: Fmt = readable) -> Figure:
    """Each difference (run - baseline) as a dot with its 95 % interval as a whisker, around
    a line at zero: a whisker that crosses zero is not a significant difference."""
    height = 40 + 26 * max(len(rows), 1)
    fig = Figure(
        title,
        "no metric has a difference to show (no items in common, or no values).",
        height=height,
        header=["Metric and run", "Difference", "95 % interval", "Verdict"],
    )
    label_w, right, top = 220, 628, 12
    known = [r for r in rows if r.difference is not None]
    for r in rows:
        interval = (
            f"[{fmt(r.low)}, {fmt(r.high)}]" if r.low is not None and r.high is not None else "—"
        )
        fig.rows.append(
            [r.label, fmt(r.difference) if r.difference is not None else "—", interval, r.verdict]
        )
    if not known:
        return fig
    fig.empty = False
    ends = [abs(v) for r in known for v in (r.difference, r.low, r.high) if v is not None]
    reach = max(ends) or 1.0
    x = Scale(-reach * 1.05, reach * 1.05, label_w, right)
    bottom = height - 24
    fig.lines.append(Seg(x(0), top - 4, x(0), bottom, "zero"))
    fig.lines.append(Seg(label_w, bottom, right, bottom, "axis"))
    for v in (x.low, 0.0, x.high):
        fig.texts.append(Text(x(v), height - 8, ("+" if v > 0 else "") + fmt(v)))
    for i, r in enumerate(rows):
        cy = top + 13 + 26 * i
        fig.texts.append(Text(label_w - 8, cy + 4, r.label[:34], "end", "label"))
        if r.difference is None:
            fig.texts.append(Text(label_w + 6, cy + 4, "no paired values", "start", "tick"))
            continue
        if r.low is not None and r.high is not None:
            fig.lines.append(Seg(x(r.low), cy, x(r.high), cy, f"whisker {r.verdict}"))
            fig.lines.append(Seg(x(r.low), cy - 5, x(r.low), cy + 5, f"whisker {r.verdict}"))
            fig.lines.append(Seg(x(r.high), cy - 5, x(r.high), cy + 5, f"whisker {r.verdict}"))
        label = f"{r.label}: {fmt(r.difference)}"
        if r.low is not None and r.high is not None:
            label += f" [{fmt(r.low)}, {fmt(r.high)}], {r.verdict}"
        fig.dots.append(Dot(x(r.difference), cy, label, f"estimate {r.verdict}", 4.5))
    return fig


# ---------------------------------------------------------------- scatter
def scatter(
    title: str, xs: Sequence[float], ys: Sequence[float], *, x_name: str, y_name: str, paired: int
) -> Figure:
    """Each item as a dot at (baseline, run); above the diagonal the run scored higher."""
    fig = Figure(
        title,
        "no item has a value in both runs.",
        width=320,
        height=320,
        header=["Summary", x_name, y_name],
    )
    if not xs:
        return fig
    fig.empty = False
    left, right, top, bottom = 44, 310, 10, 282
    lo, hi = min(min(xs), min(ys)), max(max(xs), max(ys))
    x, y = Scale(lo, hi, left, right), Scale(lo, hi, bottom, top)
    fig.lines.append(Seg(x(x.low), y(y.low), x(x.high), y(y.high), "diagonal"))
    fig.lines.append(Seg(left, bottom, right, bottom, "axis"))
    fig.lines.append(Seg(left, top, left, bottom, "axis"))
    for v in (x.low, x.high):
        fig.texts.append(Text(x(v), bottom + 14, readable(v)))
        fig.texts.append(Text(left - 4, y(v) + 4, readable(v), "end"))
    fig.texts.append(Text((left + right) / 2, 316, x_name[:40]))
    for a, b in zip(xs, ys, strict=True):
        fig.dots.append(Dot(x(a), y(b), f"{readable(a)} → {readable(b)}", "point", 2.5))
    higher = sum(b > a for a, b in zip(xs, ys, strict=True))
    lower = sum(b < a for a, b in zip(xs, ys, strict=True))
    shown = len(xs)
    fig.caption = (
        f"{shown:,} of {paired:,} paired items"
        + (" (evenly sampled)" if shown < paired else "")
        + f": {higher:,} higher in {y_name}, {lower:,} lower, {shown - higher - lower:,} equal."
    )
    fig.rows = [
        ["items drawn", f"{shown:,}", f"{paired:,} paired"],
        ["mean", readable(sum(xs) / shown), readable(sum(ys) / shown)],
        ["higher in the run", "", f"{higher:,}"],
        ["lower in the run", "", f"{lower:,}"],
    ]
    return fig


# ---------------------------------------------------------------- side-by-side histograms
def histograms(
    title: str,
    edges: Sequence[float],
    counts: Sequence[tuple[str, Sequence[int]]],
    *,
    fmt: Fmt = readable,
) -> Figure:
    """Each run's share of results per bin, as adjacent bars (shares, so runs of different
    sizes compare)."""
    fig = Figure(
        title,
        "no finished result has a value for it.",
        header=["Bin", *[name for name, _ in counts]],
    )
    totals = [sum(c) for _, c in counts]
    if not edges or not any(totals):
        return fig
    fig.empty = False
    left, right, top, bottom = 44, 628, 10, 176
    shares = [[n / t if t else 0.0 for n in c] for (_, c), t in zip(counts, totals, strict=True)]
    y = Scale(0.0, max(max(s) for s in shares) or 1.0, bottom, top)
    _y_axis(fig, y, left, right, percent)
    fig.lines.append(Seg(left, bottom, right, bottom, "axis"))
    bins = len(edges) - 1
    slot = (right - left) / bins
    width = (slot - 2) / len(counts)
    for b in range(bins):
        span = f"{fmt(edges[b])} to {fmt(edges[b + 1])}"
        fig.rows.append(
            [
                span,
                *[f"{c[b]:,} ({percent(s[b])})" for (_, c), s in zip(counts, shares, strict=True)],
            ]
        )
        for k, ((name, c), s) in enumerate(zip(counts, shares, strict=True)):
            top_y = y(s[b])
            fig.boxes.append(
                Box(
                    round(left + b * slot + 1 + k * width, 1),
                    top_y,
                    round(width, 1),
                    round(bottom - top_y, 1),
                    f"{name}, {span}: {c[b]:,} ({percent(s[b])})",
                    f"bar series-{k % 4}",
                )
            )
    fig.texts.append(Text(left, bottom + 16, fmt(edges[0]), "start"))
    fig.texts.append(Text(right, bottom + 16, fmt(edges[-1]) + "+", "end"))
    fig.legend = [(name, f"series-{k % 4}") for k, (name, _) in enumerate(counts)]
    return fig


# ---------------------------------------------------------------- cost against quality
def cost_quality(frontier: Frontier) -> Figure:
    """Each run at (cost per item, quality) with its interval; the Pareto front (no cheaper
    run reaches its quality) drawn as a line through its runs."""
    fig = Figure(
        f"{frontier.metric} against cost per item",
        "no finished run recorded a cost.",
        width=640,
        height=260,
        header=["Run", "Cost per item", f"{frontier.metric} (95 % interval)", "On the front"],
    )
    shown = [p for p in frontier.points if p.cost_per_item is not None and p.quality is not None]
    if not shown:
        return fig
    fig.empty = False
    left, right, top, bottom = 56, 620, 12, 222
    costs = [p.cost_per_item or 0.0 for p in shown]
    lows = [p.ci_low if p.ci_low is not None else p.quality or 0.0 for p in shown]
    highs = [p.ci_high if p.ci_high is not None else p.quality or 0.0 for p in shown]
    x = Scale(min(costs), max(costs), left + 10, right - 10)
    y = Scale(min(0.0, min(lows)), max(1.0, max(highs)), bottom, top)
    _y_axis(fig, y, left, right, percent)
    fig.lines.append(Seg(left, bottom, right, bottom, "axis"))
    for v in (x.low, x.high):
        fig.texts.append(Text(x(v), bottom + 14, usd(v)))
    fig.texts.append(Text((left + right) / 2, bottom + 32, "cost per item (target and judge)"))
    front = sorted((p for p in shown if p.on_front), key=lambda p: p.cost_per_item or 0.0)
    if len(front) > 1:
        line = " ".join(f"{x(p.cost_per_item or 0.0)},{y(p.quality or 0.0)}" for p in front)
        fig.paths.append((line, "front-line"))
    for p, low, high in zip(shown, lows, highs, strict=True):
        px = x(p.cost_per_item or 0.0)
        fig.lines.append(Seg(px, y(low), px, y(high), "whisker"))
        label = (
            f"{p.name}: {percent(p.quality or 0.0)} [{percent(low)}, {percent(high)}] at "
            f"{usd(p.cost_per_item or 0.0)} per item" + (" — on the front" if p.on_front else "")
        )
        fig.dots.append(Dot(px, y(p.quality or 0.0), label, "front" if p.on_front else "point", 4))
        fig.rows.append(
            [
                p.name,
                usd(p.cost_per_item or 0.0),
                f"{percent(p.quality or 0.0)} [{percent(low)}, {percent(high)}]",
                "yes" if p.on_front else "no",
            ]
        )
    fig.legend = [("on the front: no cheaper run reaches its quality", "front")]
    names = ", ".join(p.name for p in front)
    fig.caption = f"{len(shown)} runs; the front, cheapest first: {names}."
    return fig

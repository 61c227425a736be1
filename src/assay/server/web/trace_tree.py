"""A trace laid out for its page: the timing tree, the totals, and chat messages found in values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from assay.domain import Observation, TraceDetail

ERROR = "ERROR"


@dataclass(frozen=True)
class TimelineSpan:
    """An observation placed on the trace's timeline (percent offsets of the whole trace)."""

    observation: Observation
    depth: int
    offset: float
    width: float
    duration_ms: float | None
    orphan: bool = False  # its parent is not in the trace (or the parents form a cycle)


@dataclass
class Node:
    """A span with the spans under it."""

    span: TimelineSpan
    children: list[Node] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.span.observation.id


def _bounds(trace: TraceDetail) -> tuple[datetime | None, float]:
    times = [t for o in trace.observations for t in (o.start_time, o.end_time) if t is not None]
    if not times:
        return None, 0.0
    start = min(times)
    return start, (max(times) - start).total_seconds()


def _place(o: Observation, depth: int, start: datetime | None, total: float) -> TimelineSpan:
    offset = width = 0.0
    duration = None
    if o.start_time is not None and start is not None:
        if total > 0:
            offset = (o.start_time - start).total_seconds() / total * 100
        if o.end_time is not None:
            seconds = (o.end_time - o.start_time).total_seconds()
            duration = seconds * 1000
            width = seconds / total * 100 if total > 0 else 100.0
    return TimelineSpan(o, depth, round(offset, 2), round(min(max(width, 0.5), 100.0), 2), duration)


def tree(trace: TraceDetail) -> list[Node]:
    """Observations under their parents (in start order), each placed on the timeline.

    An observation whose parent is missing becomes a root marked ``orphan``; so do those
    caught in a cycle of parent ids, which no root reaches.
    """
    ids = {o.id for o in trace.observations}
    children: dict[str | None, list[Observation]] = {}
    for o in trace.observations:
        parent = o.parent_id if o.parent_id in ids and o.parent_id != o.id else None
        children.setdefault(parent, []).append(o)
    start, total = _bounds(trace)
    seen: set[str] = set()

    def build(o: Observation, depth: int, orphan: bool) -> Node:
        seen.add(o.id)
        node = Node(_place(o, depth, start, total))
        if orphan:
            node.span = TimelineSpan(**{**node.span.__dict__, "orphan": True})
        for child in children.get(o.id, []):
            if child.id not in seen:
                node.children.append(build(child, depth + 1, False))
        return node

    roots = []
    for o in children.get(None, []):
        if o.id not in seen:
            missing = o.parent_id is not None
            roots.append(build(o, 0, missing))
    for o in trace.observations:  # parents in a cycle: shown, not lost
        if o.id not in seen:
            roots.append(build(o, 0, True))
    return roots


def timeline(trace: TraceDetail) -> list[TimelineSpan]:
    """Observations depth-first under their parents, each with its place on the timeline."""
    out: list[TimelineSpan] = []

    def walk(nodes: list[Node]) -> None:
        for node in nodes:
            out.append(node.span)
            walk(node.children)

    walk(tree(trace))
    return out


@dataclass(frozen=True)
class Totals:
    """What a trace's observations add up to."""

    duration_ms: float | None
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    observations: int
    errors: int


def totals(trace: TraceDetail) -> Totals:
    obs = trace.observations
    starts = [t for t in [trace.start_time, *(o.start_time for o in obs)] if t is not None]
    ends = [t for t in [trace.end_time, *(o.end_time for o in obs)] if t is not None]
    duration = None
    if starts and ends and max(ends) >= min(starts):
        duration = (max(ends) - min(starts)).total_seconds() * 1000
    tokens_in = [o.tokens_in for o in obs if o.tokens_in is not None]
    tokens_out = [o.tokens_out for o in obs if o.tokens_out is not None]
    costs = [o.cost for o in obs if o.cost is not None]
    return Totals(
        duration_ms=duration,
        tokens_in=sum(tokens_in) if tokens_in else None,
        tokens_out=sum(tokens_out) if tokens_out else None,
        cost=sum(costs) if costs else None,
        observations=len(obs),
        errors=sum(1 for o in obs if (o.level or "").upper() == ERROR),
    )


def is_error(trace: TraceDetail) -> bool:
    level = str(trace.metadata.get("level", "")).upper()
    return level == ERROR or any((o.level or "").upper() == ERROR for o in trace.observations)


def _message(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("role"), str)
        and ("content" in value or "tool_calls" in value)
    )


def chat_messages(value: Any) -> list[dict[str, Any]] | None:
    """The chat messages ``value`` holds (a list of them, one, or ``{"messages": [...]}``);
    None when it is something else."""
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if _message(value):
        return [value]
    if isinstance(value, list) and value and all(_message(m) for m in value):
        return value
    return None

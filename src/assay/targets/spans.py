"""Spans a task records while it runs: its agent's steps, model and tool calls.

Inside a function target, ``with assay.span("search", type="tool", input=query) as s:`` times
a step and ``s.update(output=hits)`` fills it in; spans opened inside it become its children
(also across ``await`` and in tasks it starts). The engine stores them under the result's
trace. Outside a run, ``span`` records nothing and costs almost nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

SpanType = Literal["span", "generation", "tool", "event"]
_TYPES = ("span", "generation", "tool", "event")
_UPDATABLE = frozenset(
    {"input", "output", "model", "tokens_in", "tokens_out", "cost", "metadata", "level"}
)


@dataclass
class Span:
    """One step of a task; ``parent`` is the index of the enclosing span, if any."""

    name: str
    type: SpanType = "span"
    input: Any = None
    output: Any = None
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    level: str = "DEFAULT"
    status_message: str | None = None
    start: float = field(default_factory=time.time)
    end: float | None = None
    parent: int | None = None

    def update(self, **values: Any) -> None:
        """Set fields once they are known: ``output``, ``model``, tokens, ``cost``, …"""
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise TypeError(f"span fields that cannot be set: {', '.join(sorted(unknown))}")
        for key, value in values.items():
            setattr(self, key, value)


_ATTRIBUTE = "_assay_spans"
_spans: ContextVar[list[Span] | None] = ContextVar("assay_spans", default=None)
_parent: ContextVar[int | None] = ContextVar("assay_span_parent", default=None)


@contextmanager
def span(
    name: str,
    *,
    type: SpanType = "span",
    input: Any = None,
    model: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Iterator[Span]:
    """Record a step of the running task; an exception marks it ``ERROR`` and propagates."""
    if type not in _TYPES:
        raise ValueError(f"span type must be one of {', '.join(_TYPES)}, got {type!r}")
    record = Span(name, type, input, model=model, metadata=dict(metadata or {}))
    spans = _spans.get()
    if spans is None:  # not inside a run
        yield record
        return
    record.parent = _parent.get()
    spans.append(record)
    token = _parent.set(len(spans) - 1)
    try:
        yield record
    except BaseException as exc:
        record.level = "ERROR"
        record.status_message = f"{exc.__class__.__name__}: {exc}"
        raise
    finally:
        record.end = time.time()
        _parent.reset(token)


@contextmanager
def recording() -> Iterator[list[Span]]:
    """Collect the spans opened inside (used by targets around each call). When the call
    raises, the spans go with the exception (see :func:`spans_of`)."""
    spans: list[Span] = []
    token, parent = _spans.set(spans), _parent.set(None)
    try:
        yield spans
    except Exception as exc:
        if spans:
            with suppress(AttributeError, TypeError):  # an exception type without a __dict__
                exc.__dict__[_ATTRIBUTE] = spans
        raise
    finally:
        _spans.reset(token)
        _parent.reset(parent)


def spans_of(exc: BaseException) -> list[Span]:
    """The spans a failed call recorded before raising ``exc``."""
    found = getattr(exc, _ATTRIBUTE, None)
    return list(found) if isinstance(found, list) else []

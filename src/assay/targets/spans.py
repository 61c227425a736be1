"""Spans a task records while it runs: its agent's steps, model and tool calls.

Inside a function target, ``with assay.span("search", type="tool", input=query) as s:`` times
a step and ``s.update(output=hits)`` fills it in; spans opened inside it become its children
(also across ``await`` and in tasks it starts). The engine stores them under the result's
trace. Outside a run, ``span`` records nothing and costs almost nothing. The SDK's
``@assay.observe`` and ``client.trace(...)`` record here too when called inside a target
(through :func:`active`, :func:`attach`, :func:`enter` and :func:`leave`).

Usage rolls up into the result: ``assay.span("llm", type="generation", cost=0.002,
tokens_in=120, tokens_out=40)`` (or ``s.update(cost=...)``) adds to the result's ``cost``,
``tokens_in`` and ``tokens_out`` (see :func:`span_totals`). Each field is rolled up on its own,
and only when the task did not report it itself: a ``TargetOutput`` (or response object) that
gives ``cost`` is the result's cost, taken to include its spans', so nothing is counted twice.
A span that reports a field covers the spans inside it: their values for that field are
taken to be part of its own and are not added again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar, Token
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
    model_parameters: dict[str, Any] | None = None

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
#: While OpenTelemetry spans are captured (``assay.engine.otel``): the index, in the given
#: list, of the current OpenTelemetry span when it is one of its steps, so that steps opened
#: inside it nest under it.
otel_parent: Callable[[list[Span]], int | None] | None = None


def _innermost(spans: list[Span]) -> int | None:
    """The index of the innermost open step in this context: an ``assay.span`` (or SDK
    observation), or a captured OpenTelemetry span opened inside it."""
    parent = _parent.get()
    hook = otel_parent
    if hook is not None:
        other = hook(spans)
        if other is not None and (parent is None or other > parent):
            return other
    return parent


@contextmanager
def span(
    name: str,
    *,
    type: SpanType = "span",
    input: Any = None,
    model: str | None = None,
    tokens_in: int | None = None,
    tokens_out: int | None = None,
    cost: float | None = None,
    metadata: dict[str, Any] | None = None,
) -> Iterator[Span]:
    """Record a step of the running task; an exception marks it ``ERROR`` and propagates.

    ``cost``, ``tokens_in`` and ``tokens_out`` (here or set later with ``update``) add up
    into the result's, unless the task reports them itself.
    """
    if type not in _TYPES:
        raise ValueError(f"span type must be one of {', '.join(_TYPES)}, got {type!r}")
    record = Span(
        name,
        type,
        input,
        model=model,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=cost,
        metadata=dict(metadata or {}),
    )
    spans = _spans.get()
    if spans is None:  # not inside a run
        yield record
        return
    record.parent = _innermost(spans)
    token = _parent.set(append(spans, record))
    try:
        yield record
    except BaseException as exc:
        record.level = "ERROR"
        record.status_message = f"{exc.__class__.__name__}: {exc}"
        raise
    finally:
        record.end = time.time()
        _parent.reset(token)


class recording:
    """Collect the spans opened inside (used by targets around each call). When the call
    raises, the spans go with the exception (see :func:`spans_of`). A class rather than a
    generator context manager: it wraps every target call."""

    __slots__ = ("_parent", "_spans", "spans")

    def __enter__(self) -> list[Span]:
        self.spans: list[Span] = []
        self._spans, self._parent = _spans.set(self.spans), _parent.set(None)
        return self.spans

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, Exception) and self.spans:
            with suppress(AttributeError, TypeError):  # an exception type without a __dict__
                exc.__dict__[_ATTRIBUTE] = self.spans
        _spans.reset(self._spans)
        _parent.reset(self._parent)


def active() -> bool:
    """Whether a task is being recorded in this context (inside an evaluate() target)."""
    return _spans.get() is not None


def attach(record: Span, parent: int | None = -1) -> int | None:
    """Add ``record`` to the running task's spans, under ``parent`` (an index from an earlier
    ``attach``) or, by default, under the innermost open ``span``; its index, or None outside
    a run. Used by the SDK's ``@observe`` and ``client.trace`` inside a target."""
    spans = _spans.get()
    if spans is None:
        return None
    record.parent = _innermost(spans) if parent == -1 else parent
    return append(spans, record)


def append(spans: list[Span], record: Span) -> int:
    """Add ``record`` and return its index (right even when another thread appends too)."""
    spans.append(record)
    index = len(spans) - 1
    if spans[index] is not record:
        index = next(i for i in range(index, -1, -1) if spans[i] is record)
    return index


def current() -> tuple[list[Span], int | None] | None:
    """The running task's steps and the index of the open ``assay.span`` step (None at the
    top), or None outside a run."""
    spans = _spans.get()
    return None if spans is None else (spans, _parent.get())


def enter(index: int | None) -> Token[int | None]:
    """Make the span at ``index`` the parent of spans opened from here (undo with ``leave``)."""
    return _parent.set(index)


def leave(token: Token[int | None]) -> None:
    _parent.reset(token)


def spans_of(exc: BaseException) -> list[Span]:
    """The spans a failed call recorded before raising ``exc``."""
    found = getattr(exc, _ATTRIBUTE, None)
    return list(found) if isinstance(found, list) else []


@dataclass(frozen=True, slots=True)
class Usage:
    """What a list of spans adds up to; a field is None when no span reports it."""

    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None


def _total(spans: list[Span], name: str) -> Any:
    """The sum of one field over the spans that report it and have no ancestor that does
    (a span's value covers its subtree). ``parent`` indexes into ``spans``."""
    total: Any = None
    for i, record in enumerate(spans):
        value = getattr(record, name)
        if value is None:
            continue
        parent, seen = record.parent, {i}
        while parent is not None and 0 <= parent < len(spans) and parent not in seen:
            if getattr(spans[parent], name) is not None:
                break
            seen.add(parent)
            parent = spans[parent].parent
        else:
            total = value if total is None else total + value
    return total


def span_totals(spans: list[Span]) -> Usage:
    """Tokens and cost of the spans recorded by one call, without counting a value twice."""
    return Usage(_total(spans, "tokens_in"), _total(spans, "tokens_out"), _total(spans, "cost"))


def tool_calls(spans: list[Span]) -> list[Mapping[str, Any]]:
    """The ``tool`` steps of a call as tool calls (``name``, ``arguments``, ``output``), in
    the order they started: what agent scorers check when the task reports none itself. A
    captured OpenTelemetry tool span is named by its ``gen_ai.tool.name`` / ``tool.name``."""
    calls: list[Mapping[str, Any]] = []
    for record in spans:
        if record.type == "tool":
            name = record.metadata.get("tool")
            calls.append(
                {
                    "name": name if isinstance(name, str) else record.name,
                    "arguments": record.input,
                    "output": record.output,
                }
            )
    return calls

"""Traces and observations as the caller holds them: ``client.trace(...)`` returns a
:class:`TraceHandle`; its ``span`` / ``start_generation`` / ``event`` return
:class:`ObservationHandle` children, which nest the same way.

A handle keeps its fields until it is sent. A trace is sent when created and again after
each ``update``/``end``; an observation once it ends (and again if updated after that). What
is sent is a snapshot: inputs, outputs and metadata are serialized on the caller's thread at
that moment, so changing an object afterwards does not change what was recorded. Nothing
here raises into the caller for the sake of tracing: values that cannot be serialized are
recorded as their ``repr``.

Inside a running ``evaluate()`` target a handle is a step of the result's trace instead
(see :mod:`._inrun`): the engine stores it with the result, and nothing is exported.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import ContextVar, Token
from random import getrandbits
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import orjson

from assay.client import _inrun

if TYPE_CHECKING:
    from assay.client._exporter import Record
    from assay.client._tracing import Tracer

Kind = Literal["span", "generation", "tool", "event"]
_OBS_UPDATABLE = (
    "name", "input", "output", "metadata", "model", "model_parameters", "level",
    "status_message",
)  # fmt: skip

current: ContextVar[Node | None] = ContextVar("assay_current_observation", default=None)


def new_id() -> str:
    """128 random bits as 32 hex digits (trace and observation ids)."""
    return f"{getrandbits(128):032x}"


def _default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return repr(value)[:10_000]


_SCALARS = frozenset({str, int, float, bool})


def snapshot(value: Any) -> Any:
    """``value`` as JSON bytes, now (an unserializable value becomes its ``repr``); None and
    plain strings and numbers, which cannot change, are kept as they are."""
    if value is None or type(value) in _SCALARS:
        return value
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return orjson.dumps(repr(value)[:10_000])


def _object(value: Any) -> Any:
    """Metadata and model parameters are JSON objects on the server."""
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, Mapping):
        return dict(value)
    return {"value": value}


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if value >= 0 and value == int(value) else None


def usage_tokens(usage: Any) -> tuple[int | None, int | None, float | None]:
    """(tokens in, tokens out, cost) from a usage mapping or object: ``input``/``output``,
    ``prompt_tokens``/``completion_tokens`` (OpenAI), ``input_tokens``/``output_tokens``
    (Anthropic), their camelCase forms, or ``tokens_in``/``tokens_out``; cost from
    ``total_cost`` or ``cost``."""
    if usage is None:
        return None, None, None

    def pick(*names: str) -> Any:
        for name in names:
            value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
            if value is not None:
                return value
        return None

    tokens_in = pick("input", "prompt_tokens", "input_tokens", "promptTokens", "tokens_in")
    tokens_out = pick(
        "output", "completion_tokens", "output_tokens", "completionTokens", "tokens_out"
    )
    cost = pick("total_cost", "totalCost", "cost")
    return _count(tokens_in), _count(tokens_out), _cost(cost)


def _cost(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


class Node:
    """What traces and observations share: children, context management, run steps."""

    id: str
    _tracer: Tracer | None
    _sampled: bool
    _recorder: Any = None  # the engine's step recorder inside a running target
    _step: Any = None  # this node's step there
    _index: int | None = None
    _tokens: tuple[Token[Node | None], Token[int | None] | None] | None = None

    @property
    def trace_id(self) -> str:
        raise NotImplementedError

    def span(self, name: str | None = None, **fields: Any) -> ObservationHandle:
        """A child span, started now."""
        return self._child("span", name, fields)

    start_span = span

    def generation(self, name: str | None = None, **fields: Any) -> ObservationHandle:
        """A child model call (``model``, ``model_parameters``, ``prompt``/``input``,
        ``usage``, ``cost``), started now."""
        return self._child("generation", name, fields)

    start_generation = generation

    def tool(self, name: str | None = None, **fields: Any) -> ObservationHandle:
        return self._child("tool", name, fields)

    def event(self, name: str | None = None, **fields: Any) -> ObservationHandle:
        """A point in time: recorded (and ended) at once."""
        event = self._child("event", name, fields)
        event.end()
        return event

    def _send(self) -> None:
        """Record the node's fields now: into its run step, else to the exporter if sampled."""
        if self._step is not None:
            self._fill_step()
            return
        if not self._sampled or self._tracer is None:
            return
        self._tracer.put(self._record())

    def _record(self) -> Record:
        """What the exporter queues for this node (see ``_exporter.Record``)."""
        raise NotImplementedError

    def _fill_step(self) -> None:
        raise NotImplementedError

    def _child(self, kind: Kind, name: str | None, fields: dict[str, Any]) -> ObservationHandle:
        return ObservationHandle(self, kind, name, fields)

    def __enter__(self) -> Self:
        self._enter()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exit()
        self._close(exc)

    def _close(self, exc: BaseException | None) -> None:
        """End the node as its ``with`` block ends (raising ``exc`` when not None)."""
        raise NotImplementedError

    def _enter(self) -> None:
        token = current.set(self)
        step = _inrun.enter(self._recorder, self._index) if self._recorder is not None else None
        self._tokens = (token, step)

    def _exit(self) -> None:
        tokens, self._tokens = self._tokens, None
        if tokens is None:
            return
        token, step = tokens
        if step is not None:
            _inrun.leave(self._recorder, step)
        current.reset(token)


class RunScope(Node):
    """The parent of the outermost observations made inside a running target (no trace of
    their own: the result's trace holds them)."""

    def __init__(self, recorder: Any) -> None:
        self.id, self._tracer, self._sampled, self._recorder = "", None, False, recorder

    @property
    def trace_id(self) -> str:
        return ""


class TraceHandle(Node):
    """One recorded execution (``client.trace(...)``)."""

    def __init__(
        self,
        tracer: Tracer | None,
        *,
        id: str | None,
        sampled: bool,
        recorder: Any = None,
        **fields: Any,
    ) -> None:
        self.id = id or new_id()
        self._tracer, self._sampled, self._recorder = tracer, sampled, recorder
        self.name: str | None = fields.get("name")
        self.input: Any = fields.get("input")
        self.output: Any = fields.get("output")
        self.metadata: Any = _object(fields.get("metadata"))
        self.tags: list[str] | None = [str(t) for t in fields.get("tags") or ()] or None
        self.user_id: str | None = fields.get("user_id")
        self.session_id: str | None = fields.get("session_id")
        self.start_time = time.time()
        self.end_time: float | None = None
        if recorder is not None:
            self._step, self._index = _inrun.open_step(
                recorder, self.name or "trace", "span", self.input, None, nested=True
            )
        self._send()

    @property
    def trace_id(self) -> str:
        return self.id

    def update(self, **fields: Any) -> TraceHandle:
        """Set ``name``, ``input``, ``output``, ``metadata``, ``tags``, ``user_id`` or
        ``session_id``; unknown names are ignored."""
        for key in ("name", "input", "output", "user_id", "session_id"):
            if key in fields:
                setattr(self, key, fields[key])
        if "metadata" in fields:
            self.metadata = _object(fields["metadata"])
        if "tags" in fields:
            self.tags = [str(t) for t in fields["tags"] or ()]
        self._send()
        return self

    def end(self, **fields: Any) -> TraceHandle:
        """Set the end time (and any fields, as ``update``)."""
        self.end_time = time.time()
        return self.update(**fields)

    def _close(self, exc: BaseException | None) -> None:
        self.end()

    def _record(self) -> Record:
        return (
            "trace",
            self.id,
            (
                self.name,
                self.start_time,
                self.end_time,
                self.tags,
                self.user_id,
                self.session_id,
                snapshot(self.input),
                snapshot(self.output),
                snapshot(self.metadata),
            ),  # fmt: skip  (the order of TRACE_FIELDS)
        )

    def _fill_step(self) -> None:
        step = self._step
        step.name, step.input, step.output = self.name or step.name, self.input, self.output
        extra = {k: getattr(self, k) for k in ("tags", "user_id", "session_id")}
        step.metadata = {**(self.metadata or {}), **{k: v for k, v in extra.items() if v}}
        step.end = self.end_time


class ObservationHandle(Node):
    """A span, generation, tool call or event inside a trace."""

    # Unset fields read these class defaults: a handle stores only what it was given.
    output: Any = None
    metadata: Any = None
    model: str | None = None
    model_parameters: Any = None
    level: str | None = None
    status_message: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    end_time: float | None = None
    root: TraceHandle | None = None  # a trace started for this observation alone
    _ended = False

    def __init__(
        self,
        parent: Node,
        kind: Kind,
        name: str | None,
        fields: dict[str, Any],
        *,
        nested: bool = False,
    ) -> None:
        """A child of ``parent``; inside a running target its step goes under ``parent``'s,
        or with ``nested`` under the innermost step open in this context."""
        self.id = fields.pop("id", None) or new_id()
        self.trace: str = parent.trace_id
        self.parent_id: str | None = parent.id if type(parent) is ObservationHandle else None
        self._tracer, self._sampled = parent._tracer, parent._sampled
        self.type: Kind = kind
        self.name = name
        self.input: Any = fields.pop("input", None) if fields else None
        if self.input is None and fields:
            self.input = fields.pop("prompt", None)
        self.start_time = time.time()
        if parent._recorder is not None:
            self._recorder = parent._recorder
            self._step, self._index = _inrun.open_step(
                self._recorder, name or kind, kind, self.input, parent._index, nested=nested
            )
        if fields:
            self._set(fields)

    @property
    def trace_id(self) -> str:
        return self.trace

    def update(self, **fields: Any) -> ObservationHandle:
        """Set ``output``, ``usage`` (``{"input": n, "output": m}``, OpenAI's or Anthropic's
        usage), ``cost``, ``model``, ``model_parameters``, ``metadata``, ``level``, … ;
        unknown names are ignored. After ``end`` the update is sent as well."""
        self._set(fields)
        if self._ended:
            self._send()
        return self

    def end(self, **fields: Any) -> ObservationHandle:
        """Set the end time (and any fields, as ``update``) and send the observation."""
        if fields:
            self._set(fields)
        self.end_time = time.time()
        self._ended = True
        self._send()
        return self

    def _close(self, exc: BaseException | None) -> None:
        if exc is not None:
            self.fail(exc)
        self.end()

    def fail(self, exc: BaseException) -> None:
        """Mark the observation as failed with ``exc``."""
        self.level, self.status_message = "ERROR", f"{type(exc).__name__}: {exc}"

    def _set(self, fields: dict[str, Any]) -> None:
        if "prompt" in fields and "input" not in fields:
            fields["input"] = fields["prompt"]
        for key in _OBS_UPDATABLE:
            if key in fields:
                value = fields[key]
                if key in ("metadata", "model_parameters"):
                    value = _object(value)
                setattr(self, key, value)
        usage = fields.get("usage", fields.get("usage_details"))
        if usage is not None:
            tokens_in, tokens_out, cost = usage_tokens(usage)
            self.tokens_in = tokens_in if tokens_in is not None else self.tokens_in
            self.tokens_out = tokens_out if tokens_out is not None else self.tokens_out
            self.cost = cost if cost is not None else self.cost
        for key in ("tokens_in", "tokens_out"):
            if key in fields:
                setattr(self, key, _count(fields[key]))
        if "cost" in fields:
            self.cost = _cost(fields["cost"])

    def _record(self) -> Record:
        return (
            "observation",
            self.trace,
            (
                self.id,
                self.type,
                self.parent_id,
                self.name,
                self.start_time,
                self.end_time,
                self.model,
                self.tokens_in,
                self.tokens_out,
                self.cost,
                self.level,
                self.status_message,
                snapshot(self.input),
                snapshot(self.output),
                snapshot(self.metadata),
                snapshot(self.model_parameters),
            ),  # fmt: skip  (the order of OBSERVATION_FIELDS)
        )

    def _fill_step(self) -> None:
        step = self._step
        for key in ("input", "output", "model", "tokens_in", "tokens_out", "cost"):
            setattr(step, key, getattr(self, key))
        step.name = self.name or step.name
        metadata = dict(self.metadata or {})
        if self.model_parameters:
            metadata["model_parameters"] = self.model_parameters
        step.metadata = metadata
        if self.level:
            step.level, step.status_message = self.level, self.status_message
        step.end = self.end_time


__all__ = [
    "Node",
    "ObservationHandle",
    "RunScope",
    "TraceHandle",
    "current",
    "new_id",
    "usage_tokens",
]

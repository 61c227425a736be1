"""The target protocol: what an experiment calls for each item, and what comes back.

A target turns one planned item into a :class:`TargetOutput`. Failures are raised as
:class:`TargetError` (``retryable`` says whether the engine should try again, ``retry_after``
how long the other side asked us to wait); any other exception counts as a non-retryable
failure, except timeouts and connection errors, which are retried.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from assay.domain import WorkItem
from assay.targets.spans import Span


@dataclass(slots=True)
class TargetOutput:
    """A target's answer with what it cost. Functions may return one to report usage."""

    output: Any
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tool_calls: list[Mapping[str, Any]] = field(default_factory=list)
    # What the call was, for the result's trace: the request sent (a prompt's messages),
    # and for model calls the model and its parameters.
    request: Any = None
    model: str | None = None
    parameters: dict[str, Any] | None = None
    spans: list[Span] = field(default_factory=list)  # steps the task recorded (assay.span)


class TargetError(Exception):
    """A failed call: ``retryable`` for timeouts, connection errors, 408/429/5xx/529."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status

    @property
    def rate_limited(self) -> bool:
        return self.status == 429


@runtime_checkable
class Target(Protocol):
    """Anything that can answer one item. ``spec()`` is stored with the experiment and hashed."""

    kind: str

    def spec(self) -> dict[str, Any]: ...

    async def call(self, item: WorkItem) -> TargetOutput: ...


class SyncTarget(Protocol):
    """A target whose work is a plain blocking call; the engine batches these on threads."""

    kind: str

    def spec(self) -> dict[str, Any]: ...

    def call_sync(self, item: WorkItem) -> TargetOutput: ...


def is_sync(target: object) -> bool:
    return callable(getattr(target, "call_sync", None))


_PLAIN = frozenset({str, int, float, bool, dict, list, type(None)})


def as_output(value: Any) -> TargetOutput:
    """Normalise a function's return: a TargetOutput, an object with ``.output``, or a value."""
    kind = type(value)
    if kind in _PLAIN:
        return TargetOutput(value)
    if kind is TargetOutput:
        return value  # type: ignore[no-any-return]
    if isinstance(value, TargetOutput):
        return value
    if (
        value is not None
        and not isinstance(value, str | bytes | int | float | bool | dict | list | tuple)
        and hasattr(value, "output")
    ):
        usage = getattr(value, "usage", None) or {}
        if not isinstance(usage, dict):
            usage = {k: getattr(usage, k, None) for k in ("input_tokens", "output_tokens")}
        tokens_in = usage.get("input_tokens", usage.get("prompt_tokens"))
        tokens_out = usage.get("output_tokens", usage.get("completion_tokens"))
        return TargetOutput(
            output=value.output,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=getattr(value, "cost", None),
            metadata=dict(getattr(value, "metadata", None) or {}),
        )
    return TargetOutput(output=value)


TargetFactory = Callable[..., Target]

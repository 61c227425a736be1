"""Function targets: any sync or async Python callable.

The callable receives the item's input as its first argument and, if it has a parameter named
``item``, the whole planned item (``.input``, ``.expected_output``, ``.context``, ``.metadata``,
``.tags``, ``.item_id``, ``.repetition``). It returns a plain value or a :class:`TargetOutput`.
Sync callables run on worker threads (the engine batches fast ones); async ones on the loop.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from assay.domain import WorkItem
from assay.errors import InvalidInput
from assay.targets.base import TargetOutput, as_output
from assay.targets.spans import Span, recording, span_totals


def _qualified(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "__main__"
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}:{name}"


def import_function(ref: str, *, search_path: list[Path] | None = None) -> Callable[..., Any]:
    """Import ``package.module:attr`` (attr may be dotted); the current directory is searched."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidInput(
            f"target.function: expected 'module:attribute', got {ref!r}", field="target.function"
        )
    for extra in [Path.cwd(), *(search_path or [])]:
        if str(extra) not in sys.path:
            sys.path.insert(0, str(extra))
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(
            f"target.function: cannot import module {module_name!r}: {exc}",
            field="target.function",
        ) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InvalidInput(
                f"target.function: module {module_name!r} has no attribute {attr!r}",
                field="target.function",
            ) from None
    if not callable(obj):
        raise InvalidInput(f"target.function: {ref!r} is not callable", field="target.function")
    return obj  # type: ignore[no-any-return]


class FunctionTarget:
    """Calls a Python function with the item input (and the item, if it asks for it)."""

    kind = "function"

    def __init__(
        self, fn: Callable[..., Any], *, name: str | None = None, timeout: float | None = None
    ) -> None:
        if not callable(fn):
            raise InvalidInput("task must be callable", field="task")
        self.fn = fn
        self.name = name or _qualified(fn)
        self.timeout = timeout
        params: Mapping[str, inspect.Parameter]
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}  # builtins without a signature: called with the input only
        self._wants_item = "item" in params
        positional = [
            p
            for p in params.values()
            if p.name != "item"
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        self._wants_input = bool(positional) or not params
        if params and not positional and not self._wants_item:
            raise InvalidInput(
                f"task {self.name!r} takes no argument for the item input", field="task"
            )
        target = fn
        while isinstance(target, functools.partial):
            target = target.func
        call = getattr(target, "__call__", None)  # noqa: B004 - async callable objects
        self.is_async = inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(call)
        if not self.is_async:
            self.call_sync = self._call_sync

    def spec(self) -> dict[str, Any]:
        return {"type": "function", "function": self.name}

    def _args(self, item: WorkItem) -> tuple[tuple[Any, ...], dict[str, Any]]:
        args = (item.input,) if self._wants_input else ()
        return args, ({"item": item} if self._wants_item else {})

    def _call_sync(self, item: WorkItem) -> TargetOutput:
        args, kwargs = self._args(item)
        with recording() as spans:
            output = as_output(self.fn(*args, **kwargs))
        return _with_spans(output, spans)

    async def call(self, item: WorkItem) -> TargetOutput:
        args, kwargs = self._args(item)
        with recording() as spans:
            value = self.fn(*args, **kwargs)
            if self.is_async or inspect.isawaitable(value):
                value = await value
        return _with_spans(as_output(value), spans)


def _with_spans(output: TargetOutput, spans: list[Span]) -> TargetOutput:
    """Attach the recorded spans; their cost and tokens fill what the task did not report."""
    if spans:
        output.spans = [*output.spans, *spans]
        usage = span_totals(spans)
        if output.cost is None:
            output.cost = usage.cost
        if output.tokens_in is None:
            output.tokens_in = usage.tokens_in
        if output.tokens_out is None:
            output.tokens_out = usage.tokens_out
    return output


def function_target(
    function: str, *, timeout: float | None = None, base_dir: str | None = None
) -> FunctionTarget:
    """Build a function target from a ``module:attr`` reference (run configs, the registry)."""
    search = [Path(base_dir)] if base_dir else None
    return FunctionTarget(import_function(function, search_path=search), timeout=timeout)

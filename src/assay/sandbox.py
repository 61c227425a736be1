"""Jinja2 sandboxes for user-supplied templates that cannot run away with the CPU or memory.

Jinja's sandbox stops templates from reaching Python internals, not from working forever:
nested loops, repetition (``"a" * 10**9``), string doubling in a loop or huge format widths
all run on the caller's thread. Here every render (or expression evaluation) has a budget:

- ``range()`` is at most :data:`MAX_RANGE` long;
- loop iterations plus calls (functions, macros, methods, filters) are at most
  :data:`MAX_STEPS`, taking at most :data:`MAX_SECONDS`;
- every string or collection a template builds (concatenation, arithmetic, filter and call
  results, output) is charged by its size against :data:`MAX_BYTES`, and none may exceed
  :data:`MAX_VALUE`; arguments that would build a bigger one (a width, a repeat count, an
  exponent, a ``%`` or ``format`` width) are refused before anything is built.

Going over the budget is a :class:`~jinja2.exceptions.SecurityError` (a ``TemplateError``),
so callers report it like any other template error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment
from jinja2.utils import Namespace

MAX_RANGE = 10_000
MAX_STEPS = 100_000
MAX_VALUE = 1_000_000  # characters (or items) in any one value
MAX_BYTES = 20_000_000  # characters (or items) built in one render, in total
MAX_SECONDS = 0.5  # of steps, checked every few hundred of them

_WIDE_FORMAT = re.compile(r"\d{7,}|%[^a-zA-Z%]*\*")  # a width of a million or more, or "*"


@dataclass(slots=True)
class Budget:
    steps: int = MAX_STEPS
    size: int = MAX_BYTES
    deadline: float = field(default_factory=lambda: time.monotonic() + MAX_SECONDS)

    def step(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise SecurityError(f"template too expensive: more than {MAX_STEPS} steps")
        if self.steps % 256 == 0 and time.monotonic() > self.deadline:
            raise SecurityError(f"template too expensive: over {MAX_SECONDS:g} s")

    def charge(self, value: Any) -> Any:
        if isinstance(value, str | bytes | list | tuple | dict | set):
            size = len(value)
            if size > MAX_VALUE:
                raise SecurityError(f"template value too large: over {MAX_VALUE} characters")
            self.size -= size
            if self.size < 0:
                raise SecurityError(f"template too expensive: built over {MAX_BYTES} characters")
        return value


_BUDGET: ContextVar[Budget | None] = ContextVar("assay_template_budget", default=None)


def budget() -> Budget:
    """The budget of the render in progress (a fresh one outside :func:`render`)."""
    current = _BUDGET.get()
    if current is None:
        current = Budget()
        _BUDGET.set(current)
    return current


def _check_args(args: Iterable[Any], kwargs: Mapping[str, Any]) -> None:
    """No width, count or length argument of a million or more."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE:
            raise SecurityError(f"template argument too large: {value} (limit {MAX_VALUE})")


def _narrow_format(pattern: Any) -> None:
    """A ``%`` or ``str.format`` pattern may not ask for a width of a million or ``*``."""
    if isinstance(pattern, str) and _WIDE_FORMAT.search(pattern):
        raise SecurityError("template format width too large")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 1


def _replace_size(obj: Any, args: tuple[Any, ...]) -> None:
    """``s.replace(old, new)`` may grow ``s`` by ``len(new)`` per character."""
    grows = isinstance(obj, str) and len(args) >= 2 and isinstance(args[1], str)
    if grows and _size(obj) * max(1, len(args[1])) > MAX_VALUE:
        raise SecurityError("template value too large: replace would exceed the limit")


def bounded_range(*args: int) -> range:
    _check_args(args, {})
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise SecurityError(f"range too long: {len(result)} items (limit {MAX_RANGE})")
    return result


def _iterate(value: Any) -> Iterator[Any]:
    spend = budget()
    for item in value:
        spend.step()
        yield item


def _charged(value: Any) -> Any:
    return budget().charge(value)


def _filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    first = 1 if getattr(function, "jinja_pass_arg", None) else 0  # the value's position

    @wraps(function)  # (keeps jinja_pass_arg)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        spend = budget()
        spend.step()
        value, rest = (args[first], args[first + 1 :]) if len(args) > first else (None, ())
        _check_args(rest, kwargs)
        if name == "format":
            _narrow_format(value)
        elif name == "replace":
            _replace_size(value, rest)
        return spend.charge(function(*args, **kwargs))

    return bounded


class _Namespace(Namespace):
    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, budget().charge(value))


class BoundedSandbox(SandboxedEnvironment):
    """A :class:`SandboxedEnvironment` whose templates run within a :class:`Budget`."""

    intercepted_binops = frozenset({"*", "**", "%", "+", "//"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _filter(name, f) for name, f in self.filters.items()}
        self.filters["_iterate"] = _iterate
        self.filters["_charged"] = _charged
        self.globals.update(range=bounded_range, namespace=_Namespace)

    def add_filter(self, name: str, function: Callable[..., Any]) -> None:
        """Register a filter that runs within the budget like the built-in ones."""
        self.filters[name] = _filter(name, function)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        spend = budget()
        spend.step()
        if operator == "*":
            count = right if isinstance(right, int) else left if isinstance(left, int) else 1
            if _size(left if isinstance(right, int) else right) * abs(count) > MAX_VALUE:
                raise SecurityError("template value too large: repetition exceeds the limit")
        elif operator == "**" and isinstance(right, int | float) and abs(right) > 256:
            raise SecurityError("template exponent too large")
        elif operator == "%":
            _narrow_format(left)
        return spend.charge(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        spend = budget()
        spend.step()
        _check_args(args, kwargs)
        if getattr(__obj, "__name__", None) == "replace":
            _replace_size(getattr(__obj, "__self__", None), args)
        return spend.charge(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if getattr(value, "__name__", None) in ("format", "format_map"):
            _narrow_format(getattr(value, "__self__", None))
        return super().wrap_str_format(value)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "_iterate", [], [], None, None, lineno=loop.lineno)
        for concat in list(tree.find_all(nodes.Concat)):
            whole = nodes.Concat(concat.nodes, lineno=concat.lineno)
            concat.nodes = [
                nodes.Filter(whole, "_charged", [], [], None, None, lineno=concat.lineno)
            ]
        return tree


class ImmutableBoundedSandbox(BoundedSandbox, ImmutableSandboxedEnvironment):
    """The same, without methods that modify lists or dicts in place."""


def render(template: Any, values: Mapping[str, Any], **extra: Any) -> str:
    """Render ``template`` (of a bounded sandbox) within a fresh budget, output included."""
    token = _BUDGET.set(Budget())
    try:
        spend = budget()
        parts: list[str] = []
        for chunk in template.generate(values, **extra):
            spend.charge(chunk)
            parts.append(chunk)
        text: str = spend.charge("".join(parts))
        return text
    finally:
        _BUDGET.reset(token)


def evaluate(expression: Callable[..., Any], values: Mapping[str, Any]) -> Any:
    """Evaluate a compiled expression (of a bounded sandbox) within a fresh budget."""
    token = _BUDGET.set(Budget())
    try:
        return expression(**values)
    finally:
        _BUDGET.reset(token)

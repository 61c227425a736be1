"""Checks over an agent's recorded tool calls (``Sample.tool_calls``).

A tool call is a mapping with the tool's name under ``name`` (or ``tool``, or OpenAI's
``function.name``) and its arguments under ``arguments`` (or ``args`` / ``input``, or
``function.arguments``), as an object or as JSON text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from assay.domain import ScoreCreate
from assay.scoring.base import Sample, make_score
from assay.scoring.text import MissingValue, expected_or
from assay.scoring.values import NotJson, parse_json, require


def call_name(call: Any) -> str | None:
    """The tool name of one recorded call (``None`` when it has none)."""
    if isinstance(call, str):
        return call
    if not isinstance(call, Mapping):
        return None
    for key in ("name", "tool", "tool_name"):
        if isinstance(call.get(key), str):
            return str(call[key])
    function = call.get("function")
    if isinstance(function, Mapping) and isinstance(function.get("name"), str):
        return str(function["name"])
    return None


def call_arguments(call: Any) -> Any:
    """The arguments of one recorded call, JSON text decoded."""
    if not isinstance(call, Mapping):
        return None
    raw: Any = None
    for key in ("arguments", "args", "input", "parameters"):
        if key in call:
            raw = call[key]
            break
    else:
        function = call.get("function")
        if isinstance(function, Mapping):
            raw = function.get("arguments")
    try:
        return parse_json(raw, strip_fences=False) if isinstance(raw, str) else raw
    except NotJson:
        return raw


def _calls(sample: Sample) -> list[Any]:
    calls: Any = sample.tool_calls  # a mapping may have put anything here
    if calls is None:
        return []
    if not isinstance(calls, Sequence) or isinstance(calls, str):
        raise MissingValue(f"tool_calls must be a list, not {type(calls).__name__}")
    return list(calls)


class ToolUsed:
    """True when ``tool`` was called between ``min_calls`` and ``max_calls`` times.

    ``max_calls=0`` checks that a tool was *not* used. The value is the number of calls.
    """

    def __init__(
        self,
        tool: str | None = None,
        *,
        min_calls: int = 1,
        max_calls: int | None = None,
        name: str = "tool_used",
    ) -> None:
        require(tool is None or isinstance(tool, str), "tool", "must be a tool name")
        require(isinstance(min_calls, int) and min_calls >= 0, "min_calls", "must be >= 0")
        require(
            max_calls is None or (isinstance(max_calls, int) and max_calls >= 0),
            "max_calls",
            "must be >= 0",
        )
        if max_calls is not None and max_calls < min_calls:
            min_calls = max_calls  # "never used" reads naturally as max_calls=0
        self.name = name
        self.tool = tool
        self.min_calls = min_calls
        self.max_calls = max_calls

    def score(self, sample: Sample) -> ScoreCreate:
        tool = expected_or(self.tool, sample, "tool")
        if not isinstance(tool, str):
            raise MissingValue(f"tool name must be text, not {type(tool).__name__}")
        count = sum(call_name(c) == tool for c in _calls(sample))
        low = count >= self.min_calls
        high = self.max_calls is None or count <= self.max_calls
        reason = None
        if not low:
            reason = f"{tool!r} called {count} time(s), expected at least {self.min_calls}"
        elif not high:
            reason = f"{tool!r} called {count} time(s), expected at most {self.max_calls}"
        return make_score(self.name, count, passed=low and high, reason=reason)


def args_match(expected: Any, actual: Any, *, exact: bool) -> bool:
    """Whether actual arguments match: equal (``exact``) or containing every expected field."""
    if exact:
        return bool(expected == actual)
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and args_match(v, actual[k], exact=False) for k, v in expected.items()
        )
    return bool(expected == actual)


class ToolArguments:
    """True when some call to ``tool`` had matching arguments.

    ``mode="subset"`` (default) needs every expected field, recursively, with extra fields
    allowed; ``mode="exact"`` needs equal arguments. ``arguments`` defaults to the expected
    output.
    """

    def __init__(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        mode: Literal["subset", "exact"] = "subset",
        name: str = "tool_arguments",
    ) -> None:
        require(isinstance(tool, str) and bool(tool), "tool", "must be a tool name")
        require(mode in ("subset", "exact"), "mode", "must be 'subset' or 'exact'")
        self.name = name
        self.tool = tool
        self.arguments = arguments
        self.exact = mode == "exact"

    def score(self, sample: Sample) -> ScoreCreate:
        expected = expected_or(self.arguments, sample, "arguments")
        calls = [c for c in _calls(sample) if call_name(c) == self.tool]
        if not calls:
            return make_score(self.name, False, passed=False, reason=f"{self.tool!r} not called")
        passed = any(args_match(expected, call_arguments(c), exact=self.exact) for c in calls)
        reason = None
        if not passed:
            got = repr(call_arguments(calls[0]))
            reason = f"no call to {self.tool!r} had matching arguments (first: {got[:120]})"
        return make_score(self.name, passed, passed=passed, reason=reason)


class ToolSequence:
    """Compares the order of tool calls with an expected sequence of tool names.

    ``mode="in_order"`` (default): the expected tools appear in this order, other calls may
    come between; ``"exact"``: the calls are exactly this sequence; ``"prefix"``: the calls
    start with it. The value is the share of the expected sequence that was matched in order.
    """

    def __init__(
        self,
        sequence: list[str] | None = None,
        *,
        mode: Literal["in_order", "exact", "prefix"] = "in_order",
        name: str = "tool_sequence",
    ) -> None:
        require(
            mode in ("in_order", "exact", "prefix"), "mode", "must be in_order, exact or prefix"
        )
        require(
            sequence is None
            or (isinstance(sequence, list) and all(isinstance(s, str) for s in sequence)),
            "sequence",
            "must be a list of tool names",
        )
        self.name = name
        self.sequence = sequence
        self.mode = mode

    def score(self, sample: Sample) -> ScoreCreate:
        raw = expected_or(self.sequence, sample, "sequence")
        if not isinstance(raw, list):
            raise MissingValue("the expected tool sequence must be a list")
        expected = [call_name(c) for c in raw]
        if any(e is None for e in expected):
            raise MissingValue("every entry of the expected tool sequence needs a tool name")
        actual = [call_name(c) for c in _calls(sample)]
        matched = 0
        for name in actual:  # greedy in-order subsequence match
            if matched < len(expected) and name == expected[matched]:
                matched += 1
        if self.mode == "exact":
            passed = actual == expected
        elif self.mode == "prefix":
            passed = actual[: len(expected)] == expected
        else:
            passed = matched == len(expected)
        share = 1.0 if not expected else matched / len(expected)
        reason = None if passed else f"expected {expected} ({self.mode}), got {actual}"
        return make_score(
            self.name, round(share, 6), passed=passed, reason=reason[:500] if reason else None
        )


tool_used = ToolUsed
tool_arguments = ToolArguments
tool_sequence = ToolSequence

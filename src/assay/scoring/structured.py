"""Structured-output scorers: valid JSON, JSON Schema validity and structural JSON match."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from assay.domain import ScoreCreate
from assay.patterns import PatternError, compile_pattern, search
from assay.scoring.base import Sample, make_score
from assay.scoring.text import MissingValue, expected_or
from assay.scoring.values import NotJson, parse_json, require

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

_MAX_DIFFS = 20


class IsJson:
    """True when the output is JSON: a structured value, or text that parses as JSON."""

    def __init__(
        self,
        *,
        strip_fences: bool = True,
        require_object: bool = False,
        name: str = "is_json",
    ) -> None:
        self.name = name
        self.strip_fences = strip_fences
        self.require_object = require_object

    def score(self, sample: Sample) -> ScoreCreate:
        if sample.output is None:
            return make_score(self.name, False, passed=False, reason="no output")
        try:
            value = parse_json(sample.output, strip_fences=self.strip_fences)
        except NotJson as exc:
            return make_score(self.name, False, passed=False, reason=str(exc))
        if self.require_object and not isinstance(value, dict):
            return make_score(
                self.name, False, passed=False, reason=f"JSON {type(value).__name__}, not an object"
            )
        return make_score(self.name, True, passed=True)


@functools.cache
def _linear_class() -> type[Draft202012Validator]:
    """Draft 2020-12 with ``pattern`` and ``patternProperties`` matched by RE2 (linear time)."""
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import ValidationError

    def pattern(validator: Any, pattern: str, instance: Any, _schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string") and not search(pattern, instance):
            yield ValidationError(f"{instance!r} does not match {pattern!r}")

    def pattern_properties(
        validator: Any, properties: dict[str, Any], instance: Any, _schema: Any
    ) -> Iterator[Any]:
        if validator.is_type(instance, "object"):
            for pattern, subschema in properties.items():
                for key, value in instance.items():
                    if search(pattern, key):
                        yield from validator.descend(
                            value, subschema, path=key, schema_path=pattern
                        )

    extended: type[Draft202012Validator] = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": pattern, "patternProperties": pattern_properties}
    )
    return extended


def _patterns(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            elif key == "patternProperties" and isinstance(value, dict):
                yield from (k for k in value if isinstance(k, str))
            yield from _patterns(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _patterns(value)


def linear_validator(schema: Any) -> Draft202012Validator:
    """A validator for a checked schema whose patterns compile on RE2 (ValueError if not)."""
    for pattern in _patterns(schema):
        try:
            compile_pattern(pattern)
        except PatternError as exc:
            raise ValueError(f"schema pattern {pattern!r}: {exc}") from None
    return _linear_class()(schema)


class JsonSchema:
    """True when the output (parsed as JSON) validates against a JSON Schema (2020-12)."""

    def __init__(
        self,
        schema: dict[str, Any] | None = None,
        *,
        strip_fences: bool = True,
        name: str = "json_schema",
    ) -> None:
        self.name = name
        self.strip_fences = strip_fences
        self.validator = self._validator(schema, "schema") if schema is not None else None

    @staticmethod
    def _validator(schema: Any, param: str) -> Draft202012Validator:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        require(isinstance(schema, dict | bool), param, "must be a JSON Schema object")
        try:
            Draft202012Validator.check_schema(schema)
            return linear_validator(schema)
        except SchemaError as exc:
            require(False, param, f"not a valid JSON Schema: {exc.message}")
        except ValueError as exc:
            require(False, param, str(exc))
        raise AssertionError("unreachable: require raised")

    def score(self, sample: Sample) -> ScoreCreate:
        if self.validator is not None:
            validator = self.validator
        else:
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            schema = expected_or(None, sample, "schema")
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise ValueError(f"expected output is not a JSON Schema: {exc.message}") from None
            validator = linear_validator(schema)
        try:
            value = parse_json(sample.output, strip_fences=self.strip_fences)
        except NotJson as exc:
            return make_score(self.name, False, passed=False, reason=f"output is {exc}")
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if not errors:
            return make_score(self.name, True, passed=True)
        shown = [f"{e.json_path}: {e.message[:200]}" for e in errors[:5]]
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        return make_score(
            self.name,
            False,
            passed=False,
            reason="; ".join(shown) + more,
            metadata={"errors": len(errors)},
        )


class JsonMatch:
    """Structural similarity of two JSON values: the share of leaf fields that match.

    Objects are compared key by key (keys only in the output count against it unless
    ``ignore_extra_keys``), arrays position by position (or as multisets with
    ``ignore_order``), numbers within ``abs_tol``. The value is in [0, 1]; it passes at 1.
    """

    def __init__(
        self,
        value: Any = None,
        *,
        ignore_extra_keys: bool = False,
        ignore_order: bool = False,
        ignore_case: bool = False,
        abs_tol: float = 0.0,
        strip_fences: bool = True,
        name: str = "json_match",
    ) -> None:
        require(
            isinstance(abs_tol, int | float) and not isinstance(abs_tol, bool) and abs_tol >= 0,
            "abs_tol",
            "must be a number >= 0",
        )
        self.name = name
        self.value = value
        self.ignore_extra_keys = ignore_extra_keys
        self.ignore_order = ignore_order
        self.ignore_case = ignore_case
        self.abs_tol = float(abs_tol)
        self.strip_fences = strip_fences

    def score(self, sample: Sample) -> ScoreCreate:
        try:
            expected = parse_json(expected_or(self.value, sample), strip_fences=self.strip_fences)
        except NotJson as exc:
            raise MissingValue(f"expected output is {exc}") from None
        try:
            actual = parse_json(sample.output, strip_fences=self.strip_fences)
        except NotJson as exc:
            return make_score(self.name, 0.0, passed=False, reason=f"output is {exc}")
        diffs: list[str] = []
        matched, total = self._compare(expected, actual, "$", diffs)
        value = 1.0 if total == 0 else matched / total
        reason = None
        if diffs:
            reason = "; ".join(diffs[:5]) + (f" (+{len(diffs) - 5} more)" if len(diffs) > 5 else "")
        return make_score(
            self.name,
            round(value, 6),
            passed=value == 1.0,
            reason=reason,
            metadata={"matched": matched, "total": total},
        )

    def _compare(self, exp: Any, act: Any, path: str, diffs: list[str]) -> tuple[float, int]:
        if isinstance(exp, dict) and isinstance(act, dict):
            return self._compare_dicts(exp, act, path, diffs)
        if isinstance(exp, list) and isinstance(act, list):
            if self.ignore_order:
                return self._compare_unordered(exp, act, path, diffs)
            matched, total = 0.0, 0
            for i in range(max(len(exp), len(act))):
                if i >= len(act):
                    n = _leaves(exp[i])
                    total += n
                    _note(diffs, f"{path}[{i}]: missing")
                elif i >= len(exp):
                    total += _leaves(act[i])
                    _note(diffs, f"{path}[{i}]: unexpected")
                else:
                    m, t = self._compare(exp[i], act[i], f"{path}[{i}]", diffs)
                    matched += m
                    total += t
            return matched, total
        if self._leaf_equal(exp, act):
            return 1.0, max(1, _leaves(exp))
        _note(diffs, f"{path}: expected {_short(exp)}, got {_short(act)}")
        return 0.0, max(_leaves(exp), _leaves(act), 1)

    def _compare_dicts(
        self, exp: dict[str, Any], act: dict[str, Any], path: str, diffs: list[str]
    ) -> tuple[float, int]:
        matched, total = 0.0, 0
        for key, value in exp.items():
            where = f"{path}.{key}"
            if key not in act:
                total += _leaves(value)
                _note(diffs, f"{where}: missing")
            else:
                m, t = self._compare(value, act[key], where, diffs)
                matched += m
                total += t
        if not self.ignore_extra_keys:
            for key in act.keys() - exp.keys():
                total += _leaves(act[key])
                _note(diffs, f"{path}.{key}: unexpected")
        return matched, total

    def _compare_unordered(
        self, exp: list[Any], act: list[Any], path: str, diffs: list[str]
    ) -> tuple[float, int]:
        """Pair elements regardless of order: exact counterparts first, then the closest
        partial ones; what stays unpaired is missing or unexpected."""
        remaining = list(range(len(act)))
        unpaired: list[int] = []
        matched, total = 0.0, 0
        for i, e in enumerate(exp):
            j = next(
                (j for j in remaining if _ratio(self._compare(e, act[j], path, [])) == 1.0), None
            )
            if j is None:
                unpaired.append(i)
                continue
            remaining.remove(j)
            m, t = self._compare(e, act[j], path, [])
            matched += m
            total += t
        for i in unpaired:
            e = exp[i]
            scored = [(self._compare(e, act[j], path, []), j) for j in remaining]
            best = max(scored, key=lambda s: _ratio(s[0]), default=None)
            if best is None or best[0][0] == 0:
                total += _leaves(e)
                _note(diffs, f"{path}[{i}]: missing")
                continue
            (m, t), j = best
            remaining.remove(j)
            _note(diffs, f"{path}[{i}]: no exact counterpart")
            matched += m
            total += t
        for j in remaining:
            total += _leaves(act[j])
            _note(diffs, f"{path}[*]: unexpected {_short(act[j])}")
        return matched, total

    def _leaf_equal(self, exp: Any, act: Any) -> bool:
        if isinstance(exp, bool) or isinstance(act, bool):
            return exp is act
        if isinstance(exp, int | float) and isinstance(act, int | float):
            return math.isclose(exp, act, rel_tol=0.0, abs_tol=self.abs_tol)
        if self.ignore_case and isinstance(exp, str) and isinstance(act, str):
            return exp.casefold() == act.casefold()
        return bool(exp == act)


def _ratio(result: tuple[float, int]) -> float:
    matched, total = result
    return 1.0 if total == 0 else matched / total


def _leaves(value: Any) -> int:
    """How many leaf fields a value holds (an empty container counts as one)."""
    if isinstance(value, dict):
        return sum(_leaves(v) for v in value.values()) or 1
    if isinstance(value, list):
        return sum(_leaves(v) for v in value) or 1
    return 1


def _note(diffs: list[str], text: str) -> None:
    if len(diffs) < _MAX_DIFFS:
        diffs.append(text)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


is_json = IsJson
json_schema = JsonSchema
json_match = JsonMatch

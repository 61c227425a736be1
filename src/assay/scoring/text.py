"""Text scorers: exact match, substring checks, regular expressions, prefixes and length."""

from __future__ import annotations

import contextlib
from typing import Any, Literal

from assay.domain import ScoreCreate, ScoreDataType
from assay.patterns import PatternError, compile_pattern
from assay.scoring.base import Sample, make_score
from assay.scoring.values import NotJson, as_text, normalize, parse_json, require, tokens


class MissingValue(ValueError):
    """A scorer needs a value the sample does not have (usually the expected output)."""


def expected_or(value: Any, sample: Sample, param: str = "value") -> Any:
    """The configured value, else the sample's expected output; an error when both are missing."""
    if value is not None:
        return value
    if sample.expected_output is None:
        raise MissingValue(
            f"no expected output to compare with (give the item one, or set {param!r})"
        )
    return sample.expected_output


def _quote(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(i if len(i) <= 60 else i[:57] + "...") for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


class ExactMatch:
    """True when the output equals the expected output, after optional normalisation.

    Strings are compared as text and structured values (dicts, lists, numbers) as values; text
    against a structured value is parsed as JSON and compared as a value when it can be, else
    compared with the value's JSON text.
    """

    def __init__(
        self,
        value: Any = None,
        *,
        ignore_case: bool = False,
        ignore_whitespace: bool = True,
        ignore_punctuation: bool = False,
        name: str = "exact_match",
    ) -> None:
        self.name = name
        self.value = value
        self._norm = {
            "ignore_case": ignore_case,
            "ignore_whitespace": ignore_whitespace,
            "ignore_punctuation": ignore_punctuation,
        }

    def score(self, sample: Sample) -> ScoreCreate:
        out, exp = sample.output, expected_or(self.value, sample)
        if type(out) is str and type(exp) is str and out == exp:  # equal once normalised too
            return make_score(self.name, True, passed=True)
        if isinstance(out, str) != isinstance(exp, str) and out is not None:
            # text against a structured value: compare as values when the text is JSON
            with contextlib.suppress(NotJson):
                out, exp = (
                    (parse_json(out), exp) if isinstance(out, str) else (out, parse_json(exp))
                )
        if isinstance(out, str) or isinstance(exp, str) or out is None:
            equal = normalize(as_text(out), **self._norm) == normalize(as_text(exp), **self._norm)
        else:
            equal = (out == exp and type(out) is type(exp)) or _same_number(out, exp)
        return make_score(
            self.name,
            equal,
            passed=equal,
            reason=None if equal else "output differs from expected output",
        )


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


class Contains:
    """Substring checks: ``all`` needles must appear (contains) or ``any`` of them.

    The needles are ``value`` or else the expected output: a string, a list of strings, or an
    object with a ``should_contain`` list (``{"should_contain": ["algorithm", "data"]}``).
    """

    def __init__(
        self,
        value: str | list[str] | None = None,
        *,
        ignore_case: bool = False,
        mode: Literal["all", "any"] = "all",
        name: str = "contains",
    ) -> None:
        require(mode in ("all", "any"), "mode", "must be 'all' or 'any'")
        require(value is None or isinstance(value, str | list), "value", "must be text or a list")
        self.name = name
        self.value = value
        self.ignore_case = ignore_case
        self.mode = mode

    def _needles(self, sample: Sample) -> list[str]:
        target = expected_or(self.value, sample)
        if isinstance(target, dict) and "should_contain" in target:
            target = target["should_contain"]
        needles = [as_text(t) for t in target] if isinstance(target, list) else [as_text(target)]
        if not needles:
            raise MissingValue("the list of texts to look for is empty")
        return needles

    def score(self, sample: Sample) -> ScoreCreate:
        text = as_text(sample.output)
        needles = self._needles(sample)
        if self.ignore_case:
            text = text.casefold()
            needles = [n.casefold() for n in needles]
        found = [n for n in needles if n in text]
        missing = [n for n in needles if n not in text]
        passed = not missing if self.mode == "all" else bool(found)
        reason = None
        if not passed:
            reason = f"missing {_quote(missing)}" if self.mode == "all" else "none found"
        return make_score(
            self.name,
            passed,
            passed=passed,
            reason=reason,
            metadata={"found": len(found), "total": len(needles)},
        )


def icontains(value: str | list[str] | None = None, *, name: str = "icontains") -> Contains:
    """Case-insensitive :class:`Contains` (all needles)."""
    return Contains(value, ignore_case=True, name=name)


def contains_all(
    value: str | list[str] | None = None, *, ignore_case: bool = False, name: str = "contains_all"
) -> Contains:
    """Every needle must appear in the output."""
    return Contains(value, ignore_case=ignore_case, mode="all", name=name)


def contains_any(
    value: str | list[str] | None = None, *, ignore_case: bool = False, name: str = "contains_any"
) -> Contains:
    """At least one needle must appear in the output."""
    return Contains(value, ignore_case=ignore_case, mode="any", name=name)


class Regex:
    """True when the pattern (or the expected output, as a pattern) matches the output.

    Patterns run on RE2 (:mod:`assay.patterns`): linear time, no backreferences or lookaround.
    """

    def __init__(
        self,
        pattern: str | None = None,
        *,
        ignore_case: bool = False,
        multiline: bool = False,
        dotall: bool = False,
        full_match: bool = False,
        name: str = "regex",
    ) -> None:
        self.name = name
        self.flags = {"ignore_case": ignore_case, "multiline": multiline, "dotall": dotall}
        self.full_match = full_match
        self.pattern = pattern
        if pattern is not None:
            require(isinstance(pattern, str), "pattern", "must be a string")
            try:
                compile_pattern(pattern, **self.flags)
            except PatternError as exc:
                require(False, "pattern", f"not a valid regular expression: {exc}")

    def score(self, sample: Sample) -> ScoreCreate:
        source = (
            self.pattern
            if self.pattern is not None
            else as_text(expected_or(None, sample, "pattern"))
        )
        try:
            pattern = compile_pattern(source, **self.flags)
        except PatternError as exc:
            raise MissingValue(f"expected output is not a valid pattern: {exc}") from None
        text = as_text(sample.output)
        match = pattern.fullmatch(text) if self.full_match else pattern.search(text)
        return make_score(
            self.name,
            match is not None,
            passed=match is not None,
            reason=None if match else f"no match for /{source}/",
            metadata={"match": match.group(0)[:200]} if match else {},
        )


class Affix:
    """True when the output starts (or ends) with the value or the expected output."""

    def __init__(
        self,
        value: str | None = None,
        *,
        end: bool = False,
        ignore_case: bool = False,
        strip: bool = True,
        name: str | None = None,
    ) -> None:
        require(value is None or isinstance(value, str), "value", "must be text")
        self.name = name or ("ends_with" if end else "starts_with")
        self.value = value
        self.end = end
        self.ignore_case = ignore_case
        self.strip = strip

    def score(self, sample: Sample) -> ScoreCreate:
        text, affix = as_text(sample.output), as_text(expected_or(self.value, sample))
        if self.strip:
            text = text.strip()
        if self.ignore_case:
            text, affix = text.casefold(), affix.casefold()
        passed = text.endswith(affix) if self.end else text.startswith(affix)
        where = "end" if self.end else "start"
        return make_score(
            self.name, passed, passed=passed, reason=None if passed else f"does not {where} with it"
        )


def starts_with(
    value: str | None = None,
    *,
    ignore_case: bool = False,
    strip: bool = True,
    name: str = "starts_with",
) -> Affix:
    """The output starts with ``value`` (default: the expected output)."""
    return Affix(value, ignore_case=ignore_case, strip=strip, name=name)


def ends_with(
    value: str | None = None,
    *,
    ignore_case: bool = False,
    strip: bool = True,
    name: str = "ends_with",
) -> Affix:
    """The output ends with ``value`` (default: the expected output)."""
    return Affix(value, end=True, ignore_case=ignore_case, strip=strip, name=name)


class Length:
    """The output's length in characters, words or lines; passes within ``[min, max]``."""

    def __init__(
        self,
        *,
        min: int | None = None,
        max: int | None = None,
        unit: Literal["chars", "words", "lines"] = "chars",
        name: str = "length",
    ) -> None:
        require(unit in ("chars", "words", "lines"), "unit", "must be chars, words or lines")
        for param, bound in (("min", min), ("max", max)):
            require(
                bound is None or (isinstance(bound, int) and not isinstance(bound, bool)),
                param,
                "must be a whole number",
            )
        require(min is None or max is None or min <= max, "min", "must not exceed max")
        self.name = name
        self.min, self.max, self.unit = min, max, unit

    def score(self, sample: Sample) -> ScoreCreate:
        text = as_text(sample.output)
        if self.unit == "chars":
            size = len(text)
        elif self.unit == "words":
            size = len(tokens(text, words_only=True))
        else:
            size = len(text.splitlines())
        problems = []
        if self.min is not None and size < self.min:
            problems.append(f"{size} {self.unit} < min {self.min}")
        if self.max is not None and size > self.max:
            problems.append(f"{size} {self.unit} > max {self.max}")
        return make_score(
            self.name,
            size,
            passed=not problems,
            reason="; ".join(problems) or None,
            data_type=ScoreDataType.numeric,
        )


exact_match = ExactMatch
contains = Contains
regex = Regex
length = Length

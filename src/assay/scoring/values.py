"""Turning arbitrary outputs into what scorers compare: text, JSON, numbers, tokens."""

from __future__ import annotations

import math
import re
import string
import unicodedata
from typing import Any

import orjson

from assay.errors import InvalidInput

_PUNCT = str.maketrans("", "", string.punctuation)
_SPACE = re.compile(r"\s+")
_FENCE = re.compile(r"^\s*```[\w+-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)
_NUMBER = re.compile(r"[-+]?(?:\d[\d,_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_WORD = re.compile(r"\w+", re.UNICODE)


def as_text(value: Any) -> str:
    """Text form of any output: strings as they are, everything else as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return str(value)


def normalize(
    text: str,
    *,
    ignore_case: bool = False,
    ignore_whitespace: bool = False,
    ignore_punctuation: bool = False,
) -> str:
    """Apply the usual comparison normalisations (casefold, punctuation, collapsed spaces)."""
    if ignore_case:
        text = unicodedata.normalize("NFC", text).casefold()
    if ignore_punctuation:
        text = text.translate(_PUNCT)
    if ignore_whitespace:
        text = _SPACE.sub(" ", text).strip()
    return text


class NotJson(ValueError):
    """The value is text that does not parse as JSON."""


def parse_json(value: Any, *, strip_fences: bool = True) -> Any:
    """A JSON value from an output: dicts/lists/numbers pass through, strings are parsed.

    A string wrapped in a Markdown code fence (```json ... ```), as models often reply, is
    unwrapped first when ``strip_fences`` is true.
    """
    if not isinstance(value, str | bytes):
        return value
    text = value.decode() if isinstance(value, bytes) else value
    if strip_fences:
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group(1)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise NotJson(f"not valid JSON: {exc}") from None


def to_number(value: Any, *, extract: bool = False) -> float | None:
    """A finite number from an int/float or a numeric string; ``None`` when there is none.

    With ``extract``, the first number inside a longer text counts ("about 42 km" → 42).
    Booleans are not numbers. Thousands separators (``1,234``) are accepted.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if extract:
        found = _NUMBER.search(text)
        if found is None:
            return None
        text = found.group(0)
    try:
        number = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def tokens(text: str, *, ignore_case: bool = True, words_only: bool = False) -> list[str]:
    """Unicode word tokens (plus punctuation marks unless ``words_only``)."""
    if ignore_case:
        text = text.casefold()
    return (_WORD if words_only else _TOKEN).findall(text)


def references(value: Any) -> list[str]:
    """Reference texts: a list of strings is several references, anything else is one."""
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return [as_text(value)]


def require(condition: bool, param: str, message: str) -> None:
    """Reject a bad scorer parameter with an error naming it."""
    if not condition:
        raise InvalidInput(f"{param}: {message}", field=f"params.{param}")

"""OpenTelemetry attribute values made safe to store: keys cleaned, sizes bounded.

An attribute key arriving over OTLP is text chosen by whoever sends the span. Before it becomes
a JSON object key it loses its control and format characters (NUL, escapes, bidi overrides,
zero-width marks), surrounding whitespace and anything past :data:`MAX_KEY_CHARS`; an empty
result is dropped. Two raw keys that clean to the same key keep the first. String values lose
NUL (which PostgreSQL cannot store) and are cut at :data:`OtelLimits.value_chars`; nested
arrays and key-value lists stop at :data:`MAX_DEPTH`.
"""

from __future__ import annotations

import base64
import unicodedata
from dataclasses import dataclass
from typing import Any

MAX_KEY_CHARS = 256
MAX_DEPTH = 8
TRUNCATED = "…[truncated]"


@dataclass(frozen=True, slots=True)
class OtelLimits:
    """What one request may carry; past these, values are cut or spans rejected."""

    #: Bytes of the (decompressed) request body.
    body_bytes: int = 50 * 1024 * 1024
    #: Spans in one request.
    spans: int = 20_000
    #: Attributes kept per span (or event, or resource); the rest are dropped and counted.
    attributes: int = 256
    #: Characters of one string value (a message or an input may be long).
    value_chars: int = 1_000_000
    #: Events kept per span.
    events: int = 128


_CLEAN: dict[str, str] = {}


def clean_key(key: str) -> str:
    """The key as stored: control/format characters removed, trimmed, bounded; may be ''."""
    cached = _CLEAN.get(key)
    if cached is not None:
        return cached
    if key.isprintable() and len(key) <= MAX_KEY_CHARS and key == key.strip():
        cleaned = key
    else:
        kept = "".join(c for c in key if unicodedata.category(c)[0] not in ("C", "Z") or c == " ")
        cleaned = kept.strip()[:MAX_KEY_CHARS]
    if len(key) <= MAX_KEY_CHARS and len(_CLEAN) < 10_000:  # the common keys, bounded
        _CLEAN[key] = cleaned
    return cleaned


def clean_text(value: str, limit: int) -> str:
    """A string value safe for every database: no NUL, at most ``limit`` characters."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if len(value) > limit:
        value = value[:limit] + TRUNCATED
    return value


def any_value(value: Any, limits: OtelLimits, depth: int = 0) -> Any:
    """An OTLP ``AnyValue`` message as plain JSON (bytes become base64 text)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return clean_text(value.string_value, limits.value_chars)
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        number = value.double_value
        return number if number == number and abs(number) != float("inf") else str(number)
    if depth >= MAX_DEPTH:
        return TRUNCATED
    if kind == "array_value":
        return [any_value(v, limits, depth + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        return key_values(value.kvlist_value.values, limits, depth + 1)[0]
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value[: limits.value_chars]).decode()
    return None


def key_values(pairs: Any, limits: OtelLimits, depth: int = 0) -> tuple[dict[str, Any], int]:
    """Repeated ``KeyValue`` as a dict of cleaned keys, and how many pairs were dropped.

    One pass over the pairs; strings and integers, nearly every attribute, are read inline.
    """
    out: dict[str, Any] = {}
    dropped = 0
    cache = _CLEAN
    cap = limits.attributes
    chars = limits.value_chars
    kept = 0
    for pair in pairs:
        raw = pair.key
        key = cache.get(raw)
        if key is None:
            key = clean_key(raw)
        if not key or key in out or kept >= cap:
            dropped += 1
            continue
        kept += 1
        value = pair.value
        text = value.string_value  # "" unless the value is a (non-empty) string
        if text:
            if len(text) > chars or "\x00" in text:
                text = clean_text(text, chars)
            out[key] = text
        else:
            out[key] = any_value(value, limits, depth)
    return out, dropped

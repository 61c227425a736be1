"""Sandboxed Jinja2 templates filled from an item, and paths into JSON responses.

Templates see ``input``, ``expected_output``, ``context``, ``metadata`` and ``item``; when the
input is an object its keys are also top-level variables (``{{ question }}``). Undefined
variables are errors, not empty strings. In JSON templates a string that is exactly one
expression (``"{{ input.tags }}"``) keeps the value's JSON type. Templates run in a bounded
sandbox (:mod:`assay.sandbox`): none can loop, repeat or grow without limit.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import orjson
from jinja2 import StrictUndefined, TemplateError, Undefined

from assay.domain import WorkItem
from assay.errors import InvalidInput
from assay.sandbox import ImmutableBoundedSandbox, evaluate, render

_ENV = ImmutableBoundedSandbox(undefined=StrictUndefined, autoescape=False)
_ENV.add_filter("tojson", lambda v: orjson.dumps(v).decode())
_WHOLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.DOTALL)
_PATH_TOKEN = re.compile(r"[^.\[\]]+|\[\d+\]")


class RenderError(Exception):
    """A template could not be filled from an item (reported on the result, not retried)."""


def variables(item: WorkItem) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if isinstance(item.input, dict):
        values.update(item.input)
    values.update(
        input=item.input,
        expected_output=item.expected_output,
        context=item.context,
        metadata=item.metadata,
        item=item,
    )
    return values


@lru_cache(maxsize=256)
def _template(source: str) -> Any:
    return _ENV.from_string(source)


@lru_cache(maxsize=256)
def _expression(source: str) -> Any:
    return _ENV.compile_expression(source, undefined_to_none=False)


def check(source: str, field: str) -> None:
    """Reject a template that does not parse, naming the field."""
    try:
        _template(source)
    except TemplateError as exc:
        raise InvalidInput(f"{field}: invalid template: {exc}", field=field) from None


def render_text(source: str, values: dict[str, Any]) -> str:
    try:
        return render(_template(source), values)
    except TemplateError as exc:
        raise RenderError(f"template error: {exc}") from None


def render_json(template: Any, values: dict[str, Any]) -> Any:
    """Fill every string leaf of a JSON value; a lone ``{{ expr }}`` keeps its JSON type."""
    if isinstance(template, str):
        whole = _WHOLE.match(template)
        if whole and "{{" not in whole.group(1) and "{%" not in template:
            try:
                value = evaluate(_expression(whole.group(1).strip()), values)
            except TemplateError as exc:
                raise RenderError(f"template error: {exc}") from None
            if isinstance(value, Undefined):
                raise RenderError(f"template error: {whole.group(1).strip()!r} is undefined")
            return _plain(value)
        return render_text(template, values)
    if isinstance(template, dict):
        return {k: render_json(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render_json(v, values) for v in template]
    return template


def _plain(value: Any) -> Any:
    if isinstance(value, WorkItem):
        return {"input": value.input, "expected_output": value.expected_output}
    return value


def parse_path(path: str) -> list[str | int]:
    """``choices[0].message.content`` or ``choices.0.message.content`` → tokens."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:].lstrip(".")
    tokens: list[str | int] = []
    for raw in _PATH_TOKEN.findall(text):
        if raw.startswith("["):
            tokens.append(int(raw[1:-1]))
        elif raw.isdigit():
            tokens.append(int(raw))
        else:
            tokens.append(raw)
    return tokens


def extract(value: Any, path: str | None) -> Any:
    """Follow ``path`` into a decoded JSON value; a missing step is an error naming it."""
    if not path:
        return value
    current = value
    for step in parse_path(path):
        if isinstance(step, int) and isinstance(current, list):
            if step >= len(current):
                raise RenderError(f"output path {path!r}: index {step} out of range")
            current = current[step]
        elif isinstance(current, dict) and str(step) in current:
            current = current[str(step)]
        else:
            raise RenderError(f"output path {path!r}: no {step!r} in the response")
    return current

"""Fields of the dashboard's forms: filters, where an empty field means "any", and JSON.

A form sends every field, empty ones too (``status=&since=``); FastAPI would refuse an empty
enum or date, so the pages take text and parse it here, with errors naming the field.
"""

from __future__ import annotations

import json
from datetime import date
from enum import Enum
from typing import Any, TypeVar, get_args

from assay.errors import InvalidInput

E = TypeVar("E", bound=Enum)


def choice(kind: type[E], value: str | None, field: str) -> E | None:
    """An enum member from its value, None for an empty field."""
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in kind)
        raise InvalidInput(f"{field}: {value!r} is not one of {allowed}", field=field) from None


def literal(options: object, value: str | None, field: str) -> str | None:
    """One of a ``Literal[...]``'s strings, None for an empty field."""
    if not value:
        return None
    allowed = get_args(options)
    if value not in allowed:
        raise InvalidInput(f"{field}: {value!r} is not one of {', '.join(allowed)}", field=field)
    return value


def day(value: str | None, field: str) -> date | None:
    """A calendar day (YYYY-MM-DD), None for an empty field."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not a date (YYYY-MM-DD)", field=field) from None


def json_field(text: str, *, default: Any, field: str | None = None) -> Any:
    """A form field holding JSON; text that is not JSON is taken as a string, unless ``field``
    names a field that must be JSON."""
    text = text.strip()
    if not text:
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if field is not None:
            raise InvalidInput(f"{field}: not valid JSON", field=field) from None
        return text

"""Item fields as files name them: target paths, ``--map`` specs and item validation.

A *target* is a path into an item: a field name, optionally followed by keys inside that field
(``input.query`` sets ``item.input["query"]``). Only the JSON-object fields take sub-keys.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from assay.domain import ItemCreate, ItemSource
from assay.domain.item_values import (
    WS,
    NewItem,
    plain_json,
    plain_keys,
    plain_tags,
    record_of,
)
from assay.errors import InvalidInput

Path = tuple[str, ...]

#: Fields an imported item may set, in export column order.
FIELDS = (
    "input",
    "expected_output",
    "context",
    "metadata",
    "tags",
    "source_trace_id",
    "sort_order",
)
#: Fields whose value is JSON, so a target may reach inside them (``input.query``).
NESTABLE = frozenset({"input", "expected_output", "context", "metadata"})
#: Spellings accepted for a field (the camelCase of the REST API and SDK).
ALIASES = {
    "expectedOutput": "expected_output",
    "sourceTraceId": "source_trace_id",
    "sortOrder": "sort_order",
}
#: Written by export, accepted and dropped on import: imported items get new ids and
#: ``source=import``.
IGNORED = frozenset({"id", "source"})
#: Target that drops a column or key (``--map notes=-``).
DROP = "-"


def parse_target(spec: str) -> Path | None:
    """``"input.query"`` -> ``("input", "query")``; ``None`` if it names no item field."""
    head, sep, rest = spec.partition(".")
    field = ALIASES.get(head, head)
    if field not in FIELDS:
        return None
    if not sep:
        return (field,)
    keys = tuple(rest.split("."))
    if field not in NESTABLE or any(not k for k in keys):
        return None
    return (field, *keys)


def _bad_target(spec: str) -> str:
    return (
        f"{spec!r} is not an item field: use one of {', '.join(FIELDS)}, "
        f"a dotted path inside {', '.join(sorted(NESTABLE))} (e.g. input.query), or '-' to drop"
    )


def parse_mapping(specs: Sequence[str]) -> dict[str, str]:
    """``["question=input.query"]`` -> ``{"question": "input.query"}``, checking every spec."""
    mapping: dict[str, str] = {}
    for spec in specs:
        column, sep, target = spec.partition("=")
        column, target = column.strip(), target.strip()
        if not sep or not column or not target:
            raise InvalidInput(
                f"bad mapping {spec!r}: expected COLUMN=FIELD, e.g. question=input.query",
                field="map",
            )
        if target != DROP and parse_target(target) is None:
            raise InvalidInput(f"bad mapping {spec!r}: {_bad_target(target)}", field="map")
        if column in mapping:
            raise InvalidInput(f"column {column!r} is mapped twice", field="map")
        mapping[column] = target
    return mapping


def check_mapping(mapping: Mapping[str, str]) -> dict[str, Path | None]:
    """Validate a mapping given as a dict; ``None`` marks a dropped column."""
    checked: dict[str, Path | None] = {}
    for column, target in mapping.items():
        if target == DROP:
            checked[column] = None
            continue
        path = parse_target(target)
        if path is None:
            raise InvalidInput(f"bad mapping for {column!r}: {_bad_target(target)}", field="map")
        checked[column] = path
    return checked


def dotted(path: Path) -> str:
    return ".".join(path)


def find_conflict(targets: Sequence[tuple[str, Path]]) -> tuple[str, str, Path] | None:
    """Two sources writing the same path, or one writing inside the other's value."""
    ordered = sorted(targets, key=lambda t: t[1])
    for (a, pa), (b, pb) in itertools.pairwise(ordered):
        if pb[: len(pa)] == pa:
            return a, b, pa
    return None


def set_path(data: dict[str, Any], path: Path, value: Any) -> bool:
    """Set ``value`` at ``path``, creating objects on the way; False if a non-object blocks it."""
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif not isinstance(child, dict):
            return False
        node = child
    node[path[-1]] = value
    return True


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def validate_item(data: dict[str, Any], where: str, row: int) -> ItemCreate:
    """:func:`check_item`'s item as a record."""
    return record_of(check_item(data, where, row))


_IMPORTED = ItemSource.import_


def check_item(data: dict[str, Any], where: str, row: int) -> NewItem:
    """Check the shapes files get wrong with plain words, then validate the item fully: the
    new item of ``data`` (which it may change), a plain row when no validator was needed.

    ``where`` prefixes messages (``"row 7"``, ``"line 3"``, ``"item 2"``).
    """
    value = data.get("input")
    if value is None:
        raise InvalidInput(f"{where}: input is missing or empty", field="input", row=row)
    if not isinstance(value, (dict, str)):  # a tuple is checked faster than dict | str
        raise InvalidInput(
            f"{where}: input must be a JSON object or a string, not {kind(value)}",
            field="input",
            row=row,
        )
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidInput(
            f"{where}: metadata must be a JSON object, not {kind(metadata)}",
            field="metadata",
            row=row,
        )
    if metadata is None:
        data.pop("metadata", None)
    tags = data.get("tags")
    if tags is None:
        data.pop("tags", None)
    data["source"] = _IMPORTED
    if _plain(data):
        return data
    try:
        return ItemCreate.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        raise InvalidInput(
            f'{where}, field "{field}": {error["msg"]}', field=field, row=row
        ) from None


_TRUSTED_FIELDS = frozenset({*FIELDS, "source"})


def _stripped(value: Any) -> Any:
    """A JSON value as ``ItemCreate`` stores it: strings (and object keys) stripped; the same
    object when nothing changes. Raises KeyError when stripping makes two keys one."""
    if isinstance(value, str):
        return value.strip(WS)
    if isinstance(value, dict):
        out = {k.strip(WS): _stripped(v) for k, v in value.items()}
        if len(out) != len(value):
            raise KeyError("keys collide once stripped")
        return out
    if isinstance(value, list):
        return [_stripped(v) for v in value]
    return value


def _plain(data: dict[str, Any]) -> bool:
    """Make ``data`` a plain new item without running the validator, when every field already
    has its final type (what files parsed by orjson and the CSV reader give); False (``data``
    unchanged) means: validate.

    Applies what validation would change (whitespace stripped from strings where the model
    strips it) and leaves every doubtful value (other types, tags out of bounds, unknown keys,
    object keys to strip where the values are taken as they are) to the full validator, so
    messages and results stay the validator's.
    """
    if not _TRUSTED_FIELDS.issuperset(data):
        return False
    changes: dict[str, Any] = {}
    value = data["input"]
    if isinstance(value, str):
        changes["input"] = value.strip(WS)
    elif not isinstance(value, dict) or not plain_keys(value):
        return False
    metadata = data.get("metadata")
    if metadata is not None and not plain_keys(metadata):
        return False
    for key in ("expected_output", "context"):
        value = data.get(key)
        if value is not None and not plain_json(value):  # checked first: no copy to make
            try:
                changes[key] = _stripped(value)
            except KeyError:
                return False
    tags = data.get("tags")
    if tags is not None and not plain_tags(tags):
        if not isinstance(tags, list):
            return False
        clean = []
        for tag in tags:
            if not isinstance(tag, str):
                return False
            tag = tag.strip(WS)
            if not 1 <= len(tag) <= 100:
                return False
            clean.append(tag)
        changes["tags"] = clean
    trace = data.get("source_trace_id")
    if trace is not None:
        if not isinstance(trace, str):
            return False
        changes["source_trace_id"] = trace.strip(WS)
    order = data.get("sort_order")
    if order is not None and type(order) is not int:
        return False
    data.update(changes)
    return True

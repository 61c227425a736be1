"""Read items from JSON (streamed with ijson) and JSONL (one object per line).

JSON is a top-level array of item objects or an object with an ``items`` array (the REST bulk
import payload). Keys are item fields (``expectedOutput`` is accepted for ``expected_output``);
``id`` and ``source`` are dropped; a mapping renames other keys onto fields; any other key is an
error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import IO, Any

import ijson
import orjson

from assay.domain.item_values import NewItem
from assay.errors import InvalidInput
from assay.io._fields import (
    ALIASES,
    FIELDS,
    IGNORED,
    Path,
    check_item,
    check_mapping,
    dotted,
    kind,
    set_path,
)

_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_WHITESPACE = b" \t\r\n"


class _Prefixed:
    """A binary stream with bytes already read put back in front."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self.head = head
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size < 0:
                data, self.head = self.head + self.stream.read(), b""
                return data
            data, self.head = self.head[:size], self.head[size:]
            return data
        return self.stream.read(size)


class _Shaper:
    """Turns one decoded JSON object into an item, applying aliases and the mapping."""

    def __init__(self, mapping: Mapping[str, str] | None) -> None:
        self.mapping: dict[str, Path | None] = check_mapping(mapping or {})
        known: dict[str, Path | None] = {f: (f,) for f in FIELDS}
        known.update({alias: (field,) for alias, field in ALIASES.items()})
        known.update(dict.fromkeys(IGNORED))
        known.update(self.mapping)
        self.known = known
        #: Keys that set a whole field as they are (the common case), to the field's name.
        self.direct = {
            key: path[0]
            for key, path in known.items()
            if path is not None and len(path) == 1 and key not in self.mapping
        }

    def item(self, obj: Any, where: str, number: int) -> NewItem:
        if not isinstance(obj, dict):
            raise InvalidInput(
                f"{where}: expected a JSON object, not {kind(obj)}", field="item", row=number
            )
        known, direct = self.known, self.direct
        data: dict[str, Any] = {}
        nested: list[tuple[str, Path, Any]] = []
        for key, value in obj.items():
            field = direct.get(key)
            if field is not None:
                if field in data:
                    raise InvalidInput(
                        f'{where}: field "{field}" is given twice (as "{key}" and an alias)',
                        field=field,
                        row=number,
                    )
                data[field] = value
                continue
            if key not in known:
                raise InvalidInput(
                    f'{where}: unknown field "{key}" (expected {", ".join(FIELDS)})',
                    field=key,
                    row=number,
                )
            path = known[key]
            if path is not None:
                nested.append((key, path, value))
        for key, path, value in nested:
            if not _place(data, path, value):
                raise InvalidInput(
                    f'{where}: mapped key "{key}" collides with field "{dotted(path[:1])}"',
                    field=key,
                    row=number,
                )
        return check_item(data, where, number)


def _place(data: dict[str, Any], path: Path, value: Any) -> bool:
    if len(path) == 1:
        if path[0] in data:
            return False
        data[path[0]] = value
        return True
    if isinstance(data.get(path[0]), dict):
        data[path[0]] = dict(data[path[0]])  # never mutate the parsed input in place
    return set_path(data, path, value)


def _first_byte(stream: IO[bytes]) -> tuple[bytes, IO[bytes] | _Prefixed]:
    """The first significant byte of the document (BOM and whitespace skipped)."""
    head = stream.read(4096)
    while 0 < len(head) < 4:  # enough bytes to recognise a byte-order mark
        more = stream.read(4096)
        if not more:
            break
        head += more
    if head.startswith(_UTF16_BOMS):
        raise InvalidInput("the file is UTF-16 encoded; save it as UTF-8", field="encoding")
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    while True:
        stripped = head.lstrip(_WHITESPACE)
        if stripped:
            return stripped[:1], _Prefixed(stripped, stream)
        head = stream.read(4096)
        if not head:
            return b"", stream


def read_json(
    stream: IO[bytes], mapping: Mapping[str, str] | None = None
) -> Iterator[tuple[int, NewItem]]:
    """Yield ``(position, item)`` for each element of the items array, 1-based."""
    shaper = _Shaper(mapping)
    first, source = _first_byte(stream)
    if not first:
        raise InvalidInput("the file is empty: expected a JSON array of items", field="file")
    if first == b"[":
        prefix = "item"
    elif first == b"{":
        prefix = "items.item"
    else:
        raise InvalidInput(
            'JSON must be an array of items or an object with an "items" array, not a single value',
            field="file",
        )
    number = 0
    try:
        for obj in ijson.items(source, prefix, use_float=True):
            number += 1
            yield number, shaper.item(obj, f"item {number}", number)
    except ijson.JSONError as exc:
        at = number + 1
        reason = _reason(exc)
        raise InvalidInput(
            f"item {at}: invalid or truncated JSON: {reason}", field="file", row=at
        ) from None
    except UnicodeDecodeError as exc:
        at = number + 1
        raise InvalidInput(
            f"item {at}: not valid UTF-8 ({exc.reason}); save the file as UTF-8",
            field="encoding",
            row=at,
        ) from None
    if number == 0:
        where = (
            "the top-level array is empty"
            if prefix == "item"
            else ('the object has no "items" array, or it is empty')
        )
        raise InvalidInput(f"no items: {where}", field="file")


def _reason(exc: Exception) -> str:
    """The first line of a parser error (yajl reports some as bytes with a caret diagram)."""
    raw = exc.args[0] if exc.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    lines = text.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def read_jsonl(
    stream: IO[bytes], mapping: Mapping[str, str] | None = None
) -> Iterator[tuple[int, NewItem]]:
    """Yield ``(line number, item)`` for each non-blank line."""
    shaper = _Shaper(mapping)
    line = 0
    count = 0
    for raw in stream:
        line += 1
        if line == 1:
            if raw.startswith(_UTF16_BOMS):
                raise InvalidInput(
                    "line 1: the file is UTF-16 encoded; save it as UTF-8", field="encoding", row=1
                )
            if raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(
                f"line {line}: invalid JSON: {exc}", field="file", row=line
            ) from None
        count += 1
        yield line, shaper.item(obj, f"line {line}", line)
    if count == 0:
        raise InvalidInput("no items: the file has no JSON lines", field="file")

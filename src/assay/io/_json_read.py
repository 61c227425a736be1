"""Read items from JSON (streamed) and JSONL (one object per line).

JSON is a top-level array of item objects or an object with an ``items`` array (the REST bulk
import payload). Keys are item fields (``expectedOutput`` is accepted for ``expected_output``);
``id`` and ``source`` are dropped; a mapping renames other keys onto fields; any other key is an
error.

The items array (the top-level one, or the ``items`` array when ``items`` is the object's
first key) is read in runs of whole elements parsed by orjson (see :func:`_elements`); ijson
reads whatever orjson cannot vouch for, the rest of the object after the array, and any other
object (``items`` after other keys, or not an array), so values and errors are always ijson's.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, NamedTuple

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

    def __init__(self, head: bytes, stream: IO[bytes] | _Prefixed) -> None:
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
        #: Keys dropped, and keys that are their own field: an object of only these is the
        #: item's data once the dropped keys are taken out (the common case, e.g. an export).
        self.dropped = tuple(key for key, path in known.items() if path is None)
        self.plain = frozenset(key for key, path in known.items() if path in (None, (key,)))

    def item(self, obj: Any, where: str, number: int) -> NewItem:
        if obj.__class__ is dict and self.plain.issuperset(obj):
            for key in self.dropped:
                obj.pop(key, None)  # the parsed object is the reader's own
            return check_item(obj, where, number)
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


class _Frame(NamedTuple):
    """Where the items array is: ijson's prefix for its elements, and the document's bytes
    before its ``[`` (spaces aside), for ijson to read on from a point inside it."""

    prefix: str
    before: bytes


_ARRAY = _Frame("item", b"")
_OBJECT = _Frame("items.item", b'{"items":')
#: An object whose first key is ``items``, an array, up to its ``[``.
_ITEMS_FIRST = re.compile(rb'\{[ \t\r\n]*"items"[ \t\r\n]*:[ \t\r\n]*\[')

#: Bytes read ahead for one run of elements.
_CHUNK = 1 << 16
#: Read-ahead beyond which a run with no cut in it is left to ijson (an element this large).
_MAX_BUFFER = 1 << 22
#: End of one object element, comma, start of the next and its first key: ``},\n{"id"``.
_SEPARATOR = re.compile(rb'\}[ \t\r\n]*,[ \t\r\n]*\{[ \t\r\n]*(?:"[^"\\]*")?')
#: Possible ends of the first element tried when learning the separator.
_MAX_TRIES = 64
#: Possible ends of an items array tried in the last bytes of its object.
_MAX_ENDS = 16
#: Digits to ``1``, every other byte to ``.``: a run of 19 digits shows as ``1`` * 19.
_DIGITS = bytes(0x31 if 0x30 <= b <= 0x39 else 0x2E for b in range(256))
_LONG_NUMBER = b"1" * 19


def _elements(source: IO[bytes] | _Prefixed, prefix: str) -> Iterator[Any]:
    """The values ijson reads at ``prefix`` (``item``, or ``items.item`` for an object) in the
    document ``source`` starts with (its ``[`` or ``{``). An object whose first key is not
    ``items``, or is not an array, is left to ijson (``items`` may come later, or twice)."""
    if prefix == _ARRAY.prefix:
        return _array(source, _ARRAY)
    head, _ = _fill(b"", source, _CHUNK)
    start = _ITEMS_FIRST.match(head)
    if start is None:
        return _ijson_items(head, source, skip=False, prefix=prefix)
    return _array(_Prefixed(head[start.end() - 1 :], source), _OBJECT)


def _array(source: IO[bytes] | _Prefixed, frame: _Frame) -> Iterator[Any]:
    """The elements of the items array that ``source`` starts with (its ``[``), then what
    ijson finds at ``frame.prefix`` in the rest of the document, as ijson reads them (a parse
    error is ijson's, raised after the elements before it).

    The bytes ahead are cut after the last complete element found in them, at the separator
    the first two elements show (``},\\n{"id"``), and parsed with orjson as one array. A cut
    that is not between top-level elements (inside a string or a nested value) does not parse,
    and a run that parses is exactly the elements the document has there: the parser goes
    through the same bytes in the same state. A run with a number orjson reads and ijson
    rejects (an integer beyond 64 bits: 19 digits or more) is read again by ijson; a run
    orjson rejects, and the rest of the document after it, are read by ijson alone, from the
    same point.
    """
    buf, eof = _fill(b"", source, _CHUNK)
    buf = buf[1:]  # the "["
    after_comma = False  # buf starts after the "[", else after a top-level comma
    separator: bytes | None = None
    while True:
        if eof:  # the rest of the array and whatever follows it
            last = _last_run(buf, after_comma, frame)
            if last is None:
                last = _ijson_rest(frame, buf, source, after_comma)
            yield from last
            return
        if separator is None:
            separator = _separator(buf)
        cut = buf.rfind(separator) if separator else -1
        if cut < 0 and len(buf) < _MAX_BUFFER:  # no cut yet: read further
            buf, eof = _fill(buf, source, 2 * max(len(buf), _CHUNK))
            continue
        run = _run(buf[: cut + 1], after_comma, closed=False) if cut >= 0 else None
        if run is None and cut >= 0 and separator:  # a nested object's? Try the cut before
            cut = buf.rfind(separator, 0, cut)
            run = _run(buf[: cut + 1], after_comma, closed=False) if cut >= 0 else None
        if run is None:  # bad JSON, or cuts that do not work here: ijson from here on
            yield from _ijson_rest(frame, buf, source, after_comma)
            return
        yield from run
        buf = buf[buf.index(b",", cut) + 1 :]
        after_comma = True
        buf, eof = _fill(buf, source, _CHUNK)


def _fill(buf: bytes, source: IO[bytes] | _Prefixed, size: int) -> tuple[bytes, bool]:
    """``buf`` and what ``source`` has next, up to ``size`` bytes; whether it is exhausted."""
    parts = [buf]
    have = len(buf)
    while have < size:
        more = source.read(max(size - have, _CHUNK))
        if not more:
            return b"".join(parts), True
        parts.append(more)
        have += len(more)
    return b"".join(parts), False


def _separator(buf: bytes) -> bytes | None:
    """What lies between the first element of ``buf`` and the second, from the first's
    closing ``}`` to the second's first key; None if ``buf`` does not show it."""
    for tries, match in enumerate(_SEPARATOR.finditer(buf)):
        if tries == _MAX_TRIES:
            break
        try:
            orjson.loads(buf[: match.start() + 1])  # the first element, whole?
        except orjson.JSONDecodeError:
            continue
        return match.group()
    return None


def _run(data: bytes, after_comma: bool, *, closed: bool) -> Iterable[Any] | None:
    """The elements in ``data`` (the whole rest of the document if ``closed``), or None when
    orjson does not parse them."""
    # After a comma, "[0," puts the parser in the same state (a "]" right after it is an error).
    text = _opening(after_comma) + data
    if not closed:
        text += b"]"
    try:
        elements: list[Any] = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if _LONG_NUMBER in text.translate(_DIGITS):
        return _ijson_items(text, None, skip=after_comma)
    return itertools.islice(elements, 1, None) if after_comma else elements


def _last_run(buf: bytes, after_comma: bool, frame: _Frame) -> Iterable[Any] | None:
    """The elements in ``buf``, the rest of the document, then what ijson finds after the
    array; None when orjson does not parse them.

    After an array in an object, the ``]`` that ends it is the one before which the bytes
    parse as the rest of the array (no other can close it), tried from the last one back.
    """
    if frame is _ARRAY:
        return _run(buf, after_comma, closed=True)
    end = len(buf)
    for _ in range(_MAX_ENDS):
        end = buf.rfind(b"]", 0, end)
        if end < 0:
            return None
        run = _run(buf[: end + 1], after_comma, closed=True)
        if run is None:
            continue
        rest = buf[end + 1 :]
        if rest.strip(_WHITESPACE) == b"}":  # the object ends with its items
            return run
        tail = _ijson_items(frame.before + b"[]" + rest, None, skip=False, prefix=frame.prefix)
        return itertools.chain(run, tail)
    return None


def _opening(after_comma: bool) -> bytes:
    return b"[0," if after_comma else b"["


def _ijson_rest(
    frame: _Frame, buf: bytes, source: IO[bytes] | _Prefixed, after_comma: bool
) -> Iterator[Any]:
    """What ijson reads from ``buf`` (inside the items array) to the end of the document."""
    head = frame.before + _opening(after_comma) + buf
    return _ijson_items(head, source, skip=after_comma, prefix=frame.prefix)


def _ijson_items(
    head: bytes, rest: IO[bytes] | _Prefixed | None, *, skip: bool, prefix: str = "item"
) -> Iterator[Any]:
    """The values ijson reads at ``prefix`` in ``head`` then ``rest``, a document's opening
    and what follows it; the first (the ``0`` of ``[0,``) skipped if ``skip``."""
    items = ijson.items(
        io.BytesIO(head) if rest is None else _Prefixed(head, rest), prefix, use_float=True
    )
    if skip:
        next(items)
    yield from items


def read_json(
    stream: IO[bytes], mapping: Mapping[str, str] | None = None
) -> Iterator[tuple[int, NewItem]]:
    """Yield ``(position, item)`` for each element of the items array, 1-based."""
    shaper = _Shaper(mapping)
    first, source = _first_byte(stream)
    if not first:
        raise InvalidInput("the file is empty: expected a JSON array of items", field="file")
    if first == b"[":
        prefix = _ARRAY.prefix
    elif first == b"{":
        prefix = _OBJECT.prefix
    else:
        raise InvalidInput(
            'JSON must be an array of items or an object with an "items" array, not a single value',
            field="file",
        )
    elements = _elements(source, prefix)
    number = 0
    try:
        for obj in elements:
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
            if prefix == _ARRAY.prefix
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

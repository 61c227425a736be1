"""Reading JSON and JSONL into items."""

from __future__ import annotations

import io
import json
from typing import Any

import ijson
import orjson
import pytest

from assay.errors import InvalidInput
from assay.io import Format, _json_read, read_items


def read(data: bytes | str, format: Format, mapping: dict[str, str] | None = None) -> list[Any]:
    raw = data.encode() if isinstance(data, str) else data
    return [
        (n, item.model_dump(exclude_defaults=True, exclude={"source"}))
        for n, item in read_items(io.BytesIO(raw), format=format, mapping=mapping)
    ]


def error(data: bytes | str, format: Format, mapping: dict[str, str] | None = None) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        read(data, format, mapping)
    return info.value


def test_array_of_items() -> None:
    text = '[{"input": {"q": "a"}, "expected_output": 1.5, "tags": ["t"]}, {"input": "b"}]'
    assert read(text, "json") == [
        (1, {"input": {"q": "a"}, "expected_output": 1.5, "tags": ["t"]}),
        (2, {"input": "b"}),
    ]


def test_items_object_as_in_the_bulk_import_api() -> None:
    text = """{"items": [
        {"input": {"query": "How do I reset my password?"},
         "expected_output": {"answer": "Go to Settings"}},
        {"input": {"query": "Pricing?"}, "expectedOutput": "Free and Pro"}
    ]}"""
    assert read(text, "json") == [
        (
            1,
            {
                "input": {"query": "How do I reset my password?"},
                "expected_output": {"answer": "Go to Settings"},
            },
        ),
        (2, {"input": {"query": "Pricing?"}, "expected_output": "Free and Pro"}),
    ]


def test_other_top_level_keys_are_ignored() -> None:
    assert read('{"name": "x", "items": [{"input": "a"}]}', "json") == [(1, {"input": "a"})]


def test_exported_fields_are_accepted() -> None:
    text = (
        '[{"id": "x", "source": "manual", "input": "a", "context": null, "metadata": {},'
        ' "tags": [], "source_trace_id": "t1", "sort_order": 3}]'
    )
    assert read(text, "json") == [(1, {"input": "a", "source_trace_id": "t1", "sort_order": 3})]


def test_numbers_are_floats_and_ints_not_decimals() -> None:
    [(_, item)] = read('[{"input": {"a": 0.1, "b": 10}}]', "json")
    assert item["input"]["a"] == 0.1
    assert type(item["input"]["a"]) is float
    assert type(item["input"]["b"]) is int


def test_bom_and_leading_whitespace() -> None:
    assert read(b'\xef\xbb\xbf \n\t[{"input": "a"}]', "json") == [(1, {"input": "a"})]
    assert read(b'\xef\xbb\xbf{"input": "a"}\n', "jsonl") == [(1, {"input": "a"})]


def test_mapping_renames_keys() -> None:
    text = '{"question": "Why?", "answer": "Because", "id": 7, "junk": 1}\n'
    mapping = {
        "question": "input.query",
        "answer": "expected_output",
        "id": "metadata.id",
        "junk": "-",
    }
    assert read(text, "jsonl", mapping) == [
        (1, {"input": {"query": "Why?"}, "expected_output": "Because", "metadata": {"id": 7}})
    ]


def test_mapping_into_an_existing_object() -> None:
    text = '{"input": {"a": 1}, "b": 2}\n'
    assert read(text, "jsonl", {"b": "input.b"}) == [(1, {"input": {"a": 1, "b": 2}})]


def test_jsonl_line_numbers_skip_blank_lines() -> None:
    assert [n for n, _ in read('{"input": "a"}\n\n  \n{"input": "b"}\n', "jsonl")] == [1, 4]


def test_json_is_read_lazily() -> None:
    items = read_items(io.BytesIO(b'[{"input": "a"}, {"input": 5}]'), format="json")
    assert next(items)[0] == 1
    with pytest.raises(InvalidInput, match="item 2"):
        next(items)


# ---------------------------------------------------------------- bad files


def test_empty_json() -> None:
    assert error(b"", "json").message == "the file is empty: expected a JSON array of items"
    assert error(b"  \n", "json").message == "the file is empty: expected a JSON array of items"


def test_empty_jsonl() -> None:
    assert error(b"\n\n", "jsonl").message == "no items: the file has no JSON lines"


def test_empty_array() -> None:
    assert error("[]", "json").message == "no items: the top-level array is empty"


def test_object_without_items() -> None:
    e = error('{"data": [{"input": "a"}]}', "json")
    assert e.message == 'no items: the object has no "items" array, or it is empty'


@pytest.mark.parametrize("text", ["42", '"items"', "true", "null"])
def test_scalar_document(text: str) -> None:
    assert error(text, "json").message == (
        'JSON must be an array of items or an object with an "items" array, not a single value'
    )


def test_array_of_non_objects() -> None:
    e = error('[{"input": "a"}, [1, 2]]', "json")
    assert e.message == "item 2: expected a JSON object, not array"
    assert e.row == 2
    e = error('[{"input": "a"}, {"input": "b"}, "c"]', "json")
    assert e.message == "item 3: expected a JSON object, not string"


def test_item_without_input() -> None:
    e = error('[{"input": "a"}, {"expected_output": "b"}]', "json")
    assert e.message == "item 2: input is missing or empty"
    assert (e.row, e.field) == (2, "input")


def test_input_of_the_wrong_type() -> None:
    assert error('{"input": 3}', "jsonl").message == (
        "line 1: input must be a JSON object or a string, not number"
    )


def test_unknown_field() -> None:
    e = error('{"input": "a"}\n{"input": "b", "expected": "c"}\n', "jsonl")
    assert e.message == (
        'line 2: unknown field "expected" (expected input, expected_output, context, metadata, '
        "tags, source_trace_id, sort_order)"
    )
    assert (e.row, e.field) == (2, "expected")


def test_field_and_alias_together() -> None:
    e = error('[{"input": "a", "expected_output": 1, "expectedOutput": 2}]', "json")
    assert (
        e.message
        == 'item 1: field "expected_output" is given twice (as "expectedOutput" and an alias)'
    )


def test_mapped_key_collides() -> None:
    e = error('{"input": "a", "q": "b"}\n', "jsonl", {"q": "input.q"})
    assert e.message == 'line 1: mapped key "q" collides with field "input"'


def test_pydantic_errors_name_the_field() -> None:
    e = error('[{"input": "a", "tags": ["ok", 3]}]', "json")
    assert e.message == 'item 1, field "tags.1": Input should be a valid string'
    assert e.field == "tags.1"
    e = error('[{"input": "a", "sort_order": "x"}]', "json")
    assert e.message.startswith('item 1, field "sort_order": Input should be a valid integer')


def test_truncated_json() -> None:
    e = error('[{"input": "a"}, {"input": "b"}, {"input": "c', "json")
    assert e.message == "item 3: invalid or truncated JSON: parse error: premature EOF"
    assert e.row == 3


def test_error_position_deep_in_a_large_document() -> None:
    items = [f'{{"input": "a{i}"}}' for i in range(3_000)]
    items[2_345] = '{"input": "a" "b"}'
    e = error("[" + ",".join(items) + "]", "json")
    assert e.message.startswith("item 2346: invalid or truncated JSON: parse error")


def test_invalid_json_syntax() -> None:
    e = error('{"items": [{"input": "a"} {"input": "b"}]}', "json")
    assert e.message.startswith("item 2: invalid or truncated JSON: ")


def test_jsonl_bad_line() -> None:
    e = error('{"input": "a"}\n{"input": "b",}\n{"input": "c"}\n', "jsonl")
    assert e.message.startswith("line 2: invalid JSON: ")
    assert (e.row, e.field) == (2, "file")


def test_json_latin1() -> None:
    e = error('[{"input": "a"}, {"input": "caf\xe9"}]'.encode("latin-1"), "json")
    assert (
        e.message
        == "item 2: invalid or truncated JSON: lexical error: invalid bytes in UTF8 string."
    )
    assert e.row == 2


def test_jsonl_latin1() -> None:
    e = error('{"input": "caf\xe9"}\n'.encode("latin-1"), "jsonl")
    assert e.message.startswith("line 1: invalid JSON: ")


@pytest.mark.parametrize("format", ["json", "jsonl"])
def test_utf16(format: Format) -> None:
    e = error('{"input": "a"}\n'.encode("utf-16"), format)
    assert e.message.endswith("the file is UTF-16 encoded; save it as UTF-8")


class Trickle(io.RawIOBase):
    """A non-seekable stream that hands out a few bytes per read, like a slow pipe."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data = data
        self.step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self.step if size < 0 else min(size, self.step)
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk


@pytest.mark.parametrize("step", [1, 3, 4096])
def test_json_from_a_trickling_stream(step: int) -> None:
    data = b"\xef\xbb\xbf" + b" " * 5000 + b'{"items": [{"input": "a"}, {"input": {"b": 1}}]}'
    items = list(read_items(Trickle(data, step), format="json"))  # type: ignore[arg-type]
    assert [(n, i.input) for n, i in items] == [(1, "a"), (2, {"b": 1})]


# ------------------------------------------- runs of elements parsed by orjson, against ijson


def _items(count: int) -> list[dict[str, Any]]:
    """Items of many shapes: nested objects and arrays of objects whose first key is the
    items' own (``input``), text that looks like separators, Unicode, numbers of every kind."""
    items: list[dict[str, Any]] = []
    for n in range(count):
        item: dict[str, Any] = {"input": {"query": f'q{n} }},{{"input" é 😀', "n": n}}
        if n % 3 == 0:
            item["context"] = [{"input": "nested"}, {"input": {"deep": [1.5, -0.0, 1e-300]}}]
        if n % 4 == 1:
            item["expected_output"] = {"answer": " padded ", "scores": [0.1, 2, None, True]}
        if n % 5 == 2:
            item["metadata"] = {"trace": "1234567890123456789012", "big": 9_223_372_036_854_775_807}
        if n % 7 == 3:
            item["tags"] = ["a", "b"]
        items.append(item)
    return items


def _layouts(items: list[dict[str, Any]]) -> dict[str, bytes]:
    one_per_line = b"[\n" + b",\n".join(orjson.dumps(i) for i in items) + b"\n]\n"
    return {
        "minified": orjson.dumps(items),
        "one per line": one_per_line,
        "indented": json.dumps(items, indent=2, ensure_ascii=False).encode(),
        "spaced": json.dumps(items, ensure_ascii=False).encode(),
    }


def _outcome(data: bytes, mapping: dict[str, str] | None = None) -> Any:
    """What reading ``data`` gives: the items (exactly: types and signs too), or the error."""
    try:
        return repr(
            [
                (n, item.model_dump())
                for n, item in read_items(io.BytesIO(data), format="json", mapping=mapping)
            ]
        )
    except InvalidInput as exc:
        return (exc.message, exc.row, exc.field)


def _ijson_outcome(
    data: bytes, monkeypatch: pytest.MonkeyPatch, mapping: dict[str, str] | None = None
) -> Any:
    """The outcome when ijson reads the whole document."""
    with monkeypatch.context() as m:
        m.setattr(_json_read, "_elements", lambda s, p: ijson.items(s, p, use_float=True))
        return _outcome(data, mapping)


@pytest.fixture
def small_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of a few elements, so that small documents take many."""
    monkeypatch.setattr(_json_read, "_CHUNK", 200)
    monkeypatch.setattr(_json_read, "_MAX_BUFFER", 2_000)


def test_good_documents_are_read_in_runs_without_ijson(
    small_runs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [{"input": {"query": f"q{n}"}, "tags": ["t"], "sort_order": n} for n in range(50)]
    expected = list(enumerate(items, 1))

    def no_ijson(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("ijson read part of a plain document")

    monkeypatch.setattr(_json_read, "_ijson_items", no_ijson)
    for name, data in _layouts(items).items():
        assert read(data, "json") == expected, name


def test_a_nested_separator_at_the_end_of_a_run(
    small_runs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last separator read ahead is inside an element: the cut before it is taken."""
    context = [{"input": "x" * 100}, {"input": "y" * 100}]
    rows = [{"input": "a"}, {"input": "b"}, {"input": "c", "context": context}]
    rows += [{"input": f"q{n}"} for n in range(10)]
    data = orjson.dumps(rows)
    nested = data.rfind(b'},{"input"', 0, _json_read._CHUNK)
    assert data.index(b"x") < nested < data.index(b"y")  # inside the third element

    def no_ijson(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("ijson read part of a plain document")

    monkeypatch.setattr(_json_read, "_ijson_items", no_ijson)
    assert [n for n, _ in read(data, "json")] == list(range(1, 14))


@pytest.mark.parametrize("count", [1, 2, 7, 40])
def test_documents_read_as_ijson_reads_them(
    small_runs: None, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    for name, data in _layouts(_items(count)).items():
        got = _outcome(data)
        assert got == _ijson_outcome(data, monkeypatch), name
        assert isinstance(got, str), name  # read, not refused


def test_truncated_anywhere_as_ijson_reports_it(
    small_runs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _layouts(_items(12))["one per line"]
    for end in range(1, len(data)):
        cut = data[:end]
        assert _outcome(cut) == _ijson_outcome(cut, monkeypatch), end


@pytest.mark.parametrize("byte", [b"x", b",", b"]", b"}", b"{", b'"', b"\xe9", b"0", b" "])
def test_a_byte_changed_anywhere_as_ijson_reports_it(
    small_runs: None, monkeypatch: pytest.MonkeyPatch, byte: bytes
) -> None:
    data = _layouts(_items(8))["minified"]
    for at in range(1, len(data), 3):
        changed = data[:at] + byte + data[at + 1 :]
        assert _outcome(changed) == _ijson_outcome(changed, monkeypatch), at


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (b"]", None),
        (b",]", "item 31: invalid or truncated JSON: parse error: unallowed token at this point"),
        (b"] x", "item 31: invalid or truncated JSON: parse error: trailing garbage"),
        (b"]]", "item 31: invalid or truncated JSON: parse error: trailing garbage"),
        (b', "text"]', "item 31: expected a JSON object, not string"),
        (b', {"input": 123456789012345678901234567890}]', "item 31: invalid or truncated JSON"),
        (b', {"input": {"n": 9223372036854775808}}]', "item 31: invalid or truncated JSON"),
        (b', {"input": {"n": -9223372036854775809}}]', "item 31: invalid or truncated JSON"),
        (b', {"input": {"n": 1e400}}]', "item 31: invalid or truncated JSON"),
        (b', {"input": "\\ud800"}]', None),  # ijson reads a lone surrogate as "?"
    ],
)
def test_the_end_of_a_long_array(
    small_runs: None, monkeypatch: pytest.MonkeyPatch, tail: bytes, message: str | None
) -> None:
    data = _layouts(_items(30))["one per line"].rstrip()[:-1].rstrip() + tail
    got = _outcome(data)
    assert got == _ijson_outcome(data, monkeypatch)
    if message is None:
        assert isinstance(got, str)
    else:
        assert got[0].startswith(message)
        assert got[1:] == (31, "item" if "expected a JSON object" in message else "file")


def test_an_integer_beyond_64_bits_deep_in_a_large_document() -> None:
    items = [f'{{"input": "a{i}", "sort_order": {i}}}' for i in range(5_000)]
    items[4_321] = '{"input": {"n": 18446744073709551615}}'
    e = error("[\n" + ",\n".join(items) + "\n]", "json")
    assert e.message == "item 4322: invalid or truncated JSON: parse error: integer overflow"
    assert e.row == 4322


def test_elements_larger_than_the_read_ahead(
    small_runs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = _items(20)
    items[5]["context"] = ["x" * 3_000]  # larger than _MAX_BUFFER: ijson reads on from there
    items[2]["expected_output"] = "y" * 500  # larger than _CHUNK
    for name, data in _layouts(items).items():
        got = _outcome(data)
        assert got == _ijson_outcome(data, monkeypatch), name
        assert isinstance(got, str), name


@pytest.mark.parametrize("step", [1, 7, 4096])
def test_runs_from_a_trickling_stream(small_runs: None, step: int) -> None:
    data = _layouts(_items(25))["indented"]
    items = list(read_items(Trickle(data, step), format="json"))  # type: ignore[arg-type]
    assert [(n, i.model_dump()) for n, i in items] == [
        (n, i.model_dump()) for n, i in read_items(io.BytesIO(data), format="json")
    ]
    assert len(items) == 25


def test_shaping_with_a_mapping_as_ijson_reads_it(
    small_runs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [{"id": n, "question": f"q{n}", "input": {"a": n}, "junk": 1} for n in range(20)]
    data = orjson.dumps(rows)
    for mapping in (
        {"question": "input.q", "junk": "-"},
        {"id": "metadata.id", "junk": "-", "question": "expected_output"},
        {"input": "context", "question": "input", "junk": "-"},
    ):
        got = _outcome(data, mapping)
        assert got == _ijson_outcome(data, monkeypatch, mapping)
        assert isinstance(got, str)
    swapped = orjson.dumps([{"input": f"a{n}", "context": f"b{n}"} for n in range(20)])
    assert read(swapped, "json", {"input": "context", "context": "input"})[-1] == (
        20,
        {"input": "b19", "context": "a19"},
    )


class Counting(io.BytesIO):
    """A stream that remembers how far it has been read."""

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.most = self.tell()
        return data


def test_read_ahead_stays_bounded_when_no_cut_is_found(small_runs: None) -> None:
    # Only the second element starts with "metadata": the separator before it never recurs.
    rows = [{"input": "a"}, {"metadata": {}, "input": "b"}]
    rows += [{"tags": [], "input": f"q{n}"} for n in range(1_999)]
    stream = Counting(orjson.dumps(rows))
    items = read_items(stream, format="json")
    assert next(items)[0] == 1
    assert next(items)[0] == 2
    assert stream.most < 3 * _json_read._MAX_BUFFER < len(stream.getvalue()) / 2
    assert sum(1 for _ in items) == 1_999


# ------------------------------------------------ the {"items": [...]} object, against ijson


def _objects(array: bytes) -> dict[str, bytes]:
    """Objects holding ``array`` as ``items``: first, after other keys, before them, twice,
    spaced out, and next to values that ijson also reads at ``items.item``."""
    after = b', "name": "x", "meta": {"n": [1, {"items": []}], "s": "]}"}'
    return {
        "items only": b'{"items": ' + array + b"}",
        "minified": b'{"items":' + array + b"}",
        "spaced": b'\xef\xbb\xbf \r\n{ \t"items" \n:\r\n ' + array + b" \n}\n\t",
        "keys after": b'{"items": ' + array + after + b"}",
        "keys before": b'{"name": "x", "items": ' + array + b"}",
        "twice": b'{"items": ' + array + b', "items": [{"input": "again"}]}',
        "twice, whole": b'{"items": ' + array + b', "items": ' + array + b"}",
        "same elements after": b'{"items": ' + array + b', "copy": ' + array + b"}",
        "twice, empty first": b'{"items": [], "items": ' + array + b"}",
        "item key": b'{"items": ' + array + b', "items": {"item": {"input": "key"}}}',
        "not first": b'{"items": 1, "items": ' + array + b"}",
        "many brackets after": b'{"items": ' + array + b', "x": ' + b"[" * 20 + b"]" * 20 + b"}",
        "form feed": b'{\f"items": ' + array + b"\f}",
    }


@pytest.mark.parametrize("count", [1, 2, 7, 40])
def test_items_objects_read_as_ijson_reads_them(
    small_runs: None, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    for layout, array in _layouts(_items(count)).items():
        for name, data in _objects(array).items():
            got = _outcome(data)
            assert got == _ijson_outcome(data, monkeypatch), (layout, name)
            assert isinstance(got, str), (layout, name)  # read, not refused


@pytest.mark.parametrize(
    "data",
    [
        b'{"items": []}',
        b'{"items": [] , "name": "x"}',
        b'{"items": [{"input": {"items": [{"input": "in"}]}}, {"items": []}]}',
        b'{"items": [{"input": "a", "context": {"items": [1]}}], "meta": {"items": [2]}}',
        b'{"items": {"item": {"input": "a"}}}',
        b'{"items": {"input": "a"}}',
        b'{"items": "[{\\"input\\": \\"a\\"}]"}',
        b'{"items": null, "x": [{"input": "a"}]}',
        b'{"items": 5}',
        b'{"items": [{"input": "a"}]',
        b'{"items": [{"input": "a"}]}}',
        b'{"items": [{"input": "a"}]} {"items": []}',
        b'{"items": [{"input": "a"}],}',
        b'{"items": [{"input": "a"}], "x"}',
        b'{"items": [{"input": "a"}] "x": 1}',
        b'{"items": [{"input": "a"}], "x": [1}',
        b'{"items": [{"input": "a"}], "x": 1e400}',
        b'{"items": [{"input": "a"}], "x": 123456789012345678901234567890}',
        b'{"items": [{"input": "a"}], "items": [{"input": 18446744073709551615}]}',
        b'{"items": [{"input": "a"}], "x": "caf\xe9"}',
        b'{"items": [{"input": "a"}, {"input": "b"}], "items": [{"input": 3}]}',
        b'{"items": [{"input": "a"}, 5, {"input": "c"}], "x": 1}',
        b'{"items": [{"input": "a"}, {"input": "b"]}',
        b'{"items": [{"input": "a"} {"input": "b"}]}',
        b'{"items" [{"input": "a"}]}',
        b'{"items": [{"input": "a"}, ]}',
        b'{"\\u0069tems": [{"input": "a"}]}',
        b'{"item": [{"input": "a"}]}',
        b'{"Items": [{"input": "a"}]}',
        b'{"items ": [{"input": "a"}]}',
    ],
)
def test_items_object_edges_as_ijson_reads_them(
    small_runs: None, monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    assert _outcome(data) == _ijson_outcome(data, monkeypatch)


def test_items_object_truncated_anywhere_as_ijson_reports_it(
    small_runs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _objects(_layouts(_items(12))["one per line"])["keys after"]
    for end in range(1, len(data)):
        cut = data[:end]
        assert _outcome(cut) == _ijson_outcome(cut, monkeypatch), end


@pytest.mark.parametrize("byte", [b"x", b",", b"]", b"}", b"{", b'"', b"\xe9", b"0", b" ", b"["])
def test_items_object_with_a_byte_changed_anywhere_as_ijson_reports_it(
    small_runs: None, monkeypatch: pytest.MonkeyPatch, byte: bytes
) -> None:
    data = _objects(_layouts(_items(8))["minified"])["keys after"]
    for at in range(1, len(data), 3):
        changed = data[:at] + byte + data[at + 1 :]
        assert _outcome(changed) == _ijson_outcome(changed, monkeypatch), at


def test_items_object_is_read_in_runs_and_ijson_reads_only_what_follows(
    small_runs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [{"input": {"query": f"q{n}"}, "tags": ["t"], "sort_order": n} for n in range(50)]
    expected = list(enumerate(items, 1))
    heads: list[bytes] = []
    ijson_items = _json_read._ijson_items

    def tail_only(head: bytes, *args: Any, **kwargs: Any) -> Any:
        heads.append(head)
        return ijson_items(head, *args, **kwargs)

    monkeypatch.setattr(_json_read, "_ijson_items", tail_only)
    for name, array in _layouts(items).items():
        objects = _objects(array)
        for layout in ("items only", "minified", "spaced"):
            assert read(objects[layout], "json") == expected, (name, layout)
        assert heads == []
        assert read(objects["keys after"], "json") == expected, name
        tail = b'{"items":[], "name": "x", "meta": {"n": [1, {"items": []}], "s": "]}"}}'
        assert [head.replace(b"\n", b"") for head in heads] == [tail]
        heads.clear()


@pytest.mark.parametrize("step", [1, 7, 4096])
def test_items_object_from_a_trickling_stream(small_runs: None, step: int) -> None:
    array = _layouts(_items(25))["indented"]
    for name, data in _objects(array).items():
        items = list(read_items(Trickle(data, step), format="json"))  # type: ignore[arg-type]
        expected = list(read_items(io.BytesIO(data), format="json"))
        assert [(n, i.model_dump()) for n, i in items] == [
            (n, i.model_dump()) for n, i in expected
        ], name
        assert len(items) >= 25, name


def test_items_object_is_streamed() -> None:
    rows = [{"input": f"q{n}", "tags": ["a", "b"], "sort_order": n} for n in range(100_000)]
    stream = Counting(b'{"items": ' + orjson.dumps(rows) + b', "name": "x"}')
    items = read_items(stream, format="json")
    assert next(items)[0] == 1
    assert stream.most < 4 * _json_read._CHUNK < len(stream.getvalue()) / 10
    assert sum(1 for _ in items) == 99_999

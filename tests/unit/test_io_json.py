"""Reading JSON and JSONL into items."""

from __future__ import annotations

import io
from typing import Any

import pytest

from assay.errors import InvalidInput
from assay.io import Format, read_items


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

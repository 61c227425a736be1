"""Formats, ``--map`` specs and target paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assay.errors import InvalidInput
from assay.io import detect_format, parse_mapping
from assay.io._fields import find_conflict, parse_target, validate_item


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "csv"),
        ("A.CSV", "csv"),
        ("items.json", "json"),
        ("items.jsonl", "jsonl"),
        ("items.ndjson", "jsonl"),
        ("dir.v2/items.jsonl", "jsonl"),
    ],
)
def test_detect_format_from_extension(name: str, expected: str) -> None:
    assert detect_format(Path(name)) == expected


def test_explicit_format_wins_over_extension() -> None:
    assert detect_format(Path("data.txt"), "csv") == "csv"
    assert detect_format(Path("data.json"), "jsonl") == "jsonl"


def test_unknown_extension_names_the_file() -> None:
    with pytest.raises(InvalidInput) as info:
        detect_format(Path("/tmp/data.txt"))
    assert info.value.message == (
        "cannot tell the format of 'data.txt' from its extension "
        "(.csv, .json, .jsonl, .ndjson): pass the format explicitly"
    )
    assert info.value.field == "format"


def test_unknown_explicit_format() -> None:
    with pytest.raises(InvalidInput, match=r"unknown format 'xml': use one of csv, json, jsonl"):
        detect_format(Path("a.csv"), "xml")  # type: ignore[arg-type]


def test_parse_mapping() -> None:
    assert parse_mapping(["question=input.query", " answer = expected_output ", "notes=-"]) == {
        "question": "input.query",
        "answer": "expected_output",
        "notes": "-",
    }
    assert parse_mapping([]) == {}


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("question", "expected COLUMN=FIELD"),
        ("=input", "expected COLUMN=FIELD"),
        ("question=", "expected COLUMN=FIELD"),
        ("question=answer", "'answer' is not an item field"),
        ("question=tags.x", "'tags.x' is not an item field"),
        ("question=input..x", "'input..x' is not an item field"),
    ],
)
def test_parse_mapping_rejects_bad_specs(spec: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_mapping([spec])
    assert info.value.field == "map"
    assert reason in info.value.message
    assert repr(spec) in info.value.message


def test_parse_mapping_rejects_a_column_mapped_twice() -> None:
    with pytest.raises(InvalidInput, match="column 'q' is mapped twice"):
        parse_mapping(["q=input", "q=metadata.q"])


def test_parse_target() -> None:
    assert parse_target("input") == ("input",)
    assert parse_target("input.a.b") == ("input", "a", "b")
    assert parse_target("expectedOutput.answer") == ("expected_output", "answer")
    assert parse_target("sortOrder") == ("sort_order",)
    assert parse_target("sort_order.x") is None
    assert parse_target("question") is None
    assert parse_target("input.") is None


def test_find_conflict() -> None:
    assert find_conflict([("a", ("input", "q")), ("b", ("metadata", "q"))]) is None
    assert find_conflict([("a", ("input",)), ("b", ("input", "q"))]) == ("a", "b", ("input",))
    assert find_conflict([("a", ("input", "q")), ("c", ("input", "r")), ("b", ("input", "q"))])


# ------------------------------------------------------------- items built without the validator
_SAME_AS_VALIDATOR = [
    {"input": {"q": " a "}},
    {"input": {" q ": "a", "r\u3000": 1}},
    {"input": "x", "metadata": {" k": " v "}},
    {"input": "  padded \u3000"},
    {"input": "ends in a separator\x1f"},
    {"input": "x", "expected_output": {" k ": " v ", "n": [" y ", {"z": " w "}]}},
    {"input": "x", "expected_output": 5.5, "context": True},
    {"input": "x", "context": [" a ", 1, None]},
    {"input": {"q": 1}, "metadata": {"k": " v "}, "tags": [" t ", "u"]},
    {"input": "x", "tags": ["a" * 100]},
    {"input": "x", "source_trace_id": " trace ", "sort_order": 3},
    {"tags": ["b"], "input": "order of keys differs"},
]


@pytest.mark.parametrize("data", _SAME_AS_VALIDATOR)
def test_items_built_directly_equal_validated_ones(data: dict[str, Any]) -> None:
    from assay.domain import ItemCreate, ItemSource

    item = validate_item(dict(data), "row 2", 2)
    validated = ItemCreate.model_validate({**data, "source": ItemSource.import_})
    assert item == validated
    assert repr(item) == repr(validated)
    assert item.model_fields_set == validated.model_fields_set
    assert item.model_dump_json() == validated.model_dump_json()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"input": "x", "tags": ["a" * 101]}, "tags.0"),
        ({"input": "x", "tags": ["  "]}, "tags.0"),
        ({"input": "x", "tags": [1]}, "tags.0"),
        ({"input": "x", "sort_order": "first"}, "sort_order"),
        ({"input": "x", "expected_output": {" k": 1, "k": 2}}, None),
    ],
)
def test_values_the_fast_path_doubts_go_to_the_validator(
    data: dict[str, Any], field: str | None
) -> None:
    from assay.domain import ItemCreate, ItemSource

    try:
        expected: Any = ItemCreate.model_validate({**data, "source": ItemSource.import_})
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(InvalidInput) as caught:
            validate_item(dict(data), "row 2", 2)
        assert caught.value.row == 2
        assert caught.value.field == field
    else:
        assert validate_item(dict(data), "row 2", 2) == expected

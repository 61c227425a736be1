"""Formats, ``--map`` specs and target paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.errors import InvalidInput
from assay.io import detect_format, parse_mapping
from assay.io._fields import find_conflict, parse_target


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

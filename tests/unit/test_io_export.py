"""Writing items: CSV cells, formula neutralisation, incremental JSON."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from assay.domain import Item, ItemSource
from assay.io import neutralise
from assay.io._export import CSV_COLUMNS, write_csv, write_json, write_jsonl

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def item(n: int, **fields: Any) -> Item:
    values: dict[str, Any] = {
        "id": f"id-{n}",
        "dataset_id": "ds",
        "version": 1,
        "input": {"q": f"question {n}"},
        "expected_output": None,
        "context": None,
        "metadata": {},
        "tags": [],
        "source": ItemSource.import_,
        "source_trace_id": None,
        "sort_order": n,
        "archived": False,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Item.model_validate(values | fields)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
        ("+1 555", "'+1 555"),
        ("-cmd", "'-cmd"),
        ("@import", "'@import"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-3", "-3"),
        ("-2.5e3", "-2.5e3"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise(cell: str, expected: str) -> None:
    assert neutralise(cell) == expected


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


def test_csv_cells() -> None:
    out = io.BytesIO()
    items = [
        item(
            0,
            input="plain",
            expected_output=42,
            context=[1],
            tags=["a", "b"],
            metadata={"k": "v"},
            source_trace_id="tr",
        ),
        item(1, input="=1+1", expected_output="[not json]", context="-note"),
        item(2, input={"q": "=x"}, expected_output={"a": None}, sort_order=-4),
        item(3, input="\u00a0[x]", expected_output=" {", context=False),
    ]
    assert write_csv(items, out) == 4
    header, *body = rows(out.getvalue())
    assert tuple(header) == CSV_COLUMNS
    assert body == [
        ["id-0", "plain", "42", "[1]", '{"k":"v"}', '["a","b"]', "import", "tr", "0"],
        ["id-1", "'=1+1", '"[not json]"', "'-note", "", "", "import", "", "1"],
        ["id-2", '{"q":"=x"}', '{"a":null}', "", "", "", "import", "", "-4"],
        ["id-3", '"\u00a0[x]"', '" {"', "false", "", "", "import", "", "3"],
    ]


def test_csv_leaves_the_stream_open_and_writes_crlf() -> None:
    out = io.BytesIO()
    write_csv([item(0)], out)
    assert not out.closed
    assert out.getvalue().count(b"\r\n") == 2


def test_csv_of_no_items_is_a_header() -> None:
    out = io.BytesIO()
    assert write_csv([], out) == 0
    assert rows(out.getvalue()) == [list(CSV_COLUMNS)]


@pytest.mark.parametrize("count", [0, 1, 2, 2_500])
def test_json_array_is_valid_at_any_size(count: int) -> None:
    out = io.BytesIO()
    assert write_json((item(n) for n in range(count)), out) == count
    parsed = orjson.loads(out.getvalue())
    assert [p["id"] for p in parsed] == [f"id-{n}" for n in range(count)]


def test_json_record_fields() -> None:
    out = io.BytesIO()
    write_json([item(0, tags=["t"], source_trace_id="tr")], out)
    assert orjson.loads(out.getvalue()) == [
        {
            "id": "id-0",
            "input": {"q": "question 0"},
            "expected_output": None,
            "context": None,
            "metadata": {},
            "tags": ["t"],
            "source": "import",
            "source_trace_id": "tr",
            "sort_order": 0,
        }
    ]


def test_jsonl_one_object_per_line() -> None:
    out = io.BytesIO()
    assert write_jsonl((item(n) for n in range(1_500)), out) == 1_500
    lines = out.getvalue().splitlines()
    assert len(lines) == 1_500
    assert orjson.loads(lines[-1])["sort_order"] == 1_499


def test_exports_stream_in_chunks() -> None:
    """Each format reads its records a chunk at a time: a big run never sits in memory."""
    from assay.io._export import csv_chunks, json_chunks, jsonl_chunks

    produced = 0

    def records() -> Iterator[dict[str, Any]]:
        nonlocal produced
        for n in range(100_000):
            produced += 1
            yield {"n": n}

    for chunks in (
        csv_chunks(["n"], lambda r: [str(r["n"])], records()),
        jsonl_chunks(lambda r: r, records()),
        json_chunks(lambda r: r, records()),
    ):
        produced = 0
        seen = 0
        for _data, rows in chunks:
            seen += rows
            assert produced - seen <= 1_000  # at most one chunk held
        assert seen == produced == 100_000

"""A corpus of bad files: each is rejected with a precise message and changes nothing.

Every case is imported twice, into an existing dataset and with ``create`` into a new one; after
each attempt the project's datasets, versions and item rows must be exactly as before.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from assay.domain import DatasetCreate, ItemCreate
from assay.errors import InvalidInput
from assay.io import Format, import_file, import_stream
from assay.store import Store
from assay.store.tables import dataset_items, dataset_versions, datasets


@dataclass(frozen=True)
class Bad:
    id: str
    format: Format
    data: bytes
    message: str
    row: int | None = None
    exact: bool = True
    mapping: dict[str, str] | None = None


def utf8(text: str) -> bytes:
    return text.encode()


CASES = [
    # ------------------------------------------------------------------ CSV
    Bad("csv-empty", "csv", b"", "the file is empty: a CSV needs a header row", 1),
    Bad(
        "csv-header-only",
        "csv",
        b"input,expected_output\r\n",
        "no items: the CSV has a header row but no data rows",
        1,
    ),
    Bad(
        "csv-too-many-cells",
        "csv",
        utf8("input,expected_output\na,b\nc,d\ne,f,g\n"),
        "row 4: expected 2 cells (one per header column), found 3",
        4,
    ),
    Bad(
        "csv-too-few-cells",
        "csv",
        utf8("input,expected_output,context\na,b,c\nd\n"),
        "row 3: expected 3 cells (one per header column), found 1",
        3,
    ),
    Bad(
        "csv-latin1",
        "csv",
        "input,expected_output\nok,fine\ncafé,crème\n".encode("latin-1"),
        "row 3: not valid UTF-8 (byte 0xe9 at position 4 of the line); save the file as UTF-8",
        3,
    ),
    Bad(
        "csv-utf16",
        "csv",
        "input\nq\n".encode("utf-16"),
        "row 1: the file is UTF-16 encoded; save it as UTF-8",
        1,
    ),
    Bad(
        "csv-duplicate-headers",
        "csv",
        utf8("input.q,expected_output,input.q\na,b,c\n"),
        'row 1: duplicate column "input.q" (columns 1 and 3)',
        1,
    ),
    Bad(
        "csv-invalid-json-cell",
        "csv",
        utf8('input.query,expected_output\nok,1\nok,2\nok,3\nok,4\nok,5\n"{""a"" 1}",6\n'),
        'row 7, column "input.query": invalid JSON cell: ',
        7,
        exact=False,
    ),
    Bad(
        "csv-missing-input-column",
        "csv",
        utf8("expected_output,context\na,b\n"),
        "row 1: no column sets input: add an 'input' column (or input.<key> columns), "
        "or map one with COLUMN=input",
        1,
    ),
    Bad(
        "csv-row-without-input",
        "csv",
        utf8("input,expected_output\na,b\n,c\n"),
        "row 3: input is missing or empty",
        3,
    ),
    Bad(
        "csv-bad-sort-order",
        "csv",
        utf8("input,sort_order\na,1\nb,two\n"),
        "row 3, column \"sort_order\": not an integer: 'two'",
        3,
    ),
    Bad(
        "csv-mapping-unknown-column",
        "csv",
        utf8("input\na\n"),
        'mapping names column "question", which is not in the header (input)',
        mapping={"question": "input.q"},
    ),
    Bad(
        "csv-nul",
        "csv",
        b"input\na\nb\x00c\n",
        "row 3: contains a NUL character, which no text cell may hold",
        3,
    ),
    # ------------------------------------------------------------------ JSON
    Bad("json-empty", "json", b"", "the file is empty: expected a JSON array of items"),
    Bad(
        "json-object-without-items",
        "json",
        utf8('{"data": [{"input": "a"}]}'),
        'no items: the object has no "items" array, or it is empty',
    ),
    Bad(
        "json-array-of-non-objects",
        "json",
        utf8('[{"input": "a"}, "b"]'),
        "item 2: expected a JSON object, not string",
        2,
    ),
    Bad(
        "json-scalar",
        "json",
        b"3.14",
        'JSON must be an array of items or an object with an "items" array, not a single value',
    ),
    Bad(
        "json-item-without-input",
        "json",
        utf8('{"items": [{"input": "a"}, {"expected_output": "b"}]}'),
        "item 2: input is missing or empty",
        2,
    ),
    Bad(
        "json-unknown-field",
        "json",
        utf8('[{"input": "a", "answer": "b"}]'),
        'item 1: unknown field "answer" (expected input, expected_output, context, metadata, '
        "tags, source_trace_id, sort_order)",
        1,
    ),
    Bad(
        "json-truncated",
        "json",
        utf8('[{"input": "a"}, {"input": "b"}, {"inp'),
        "item 3: invalid or truncated JSON: parse error: premature EOF",
        3,
    ),
    Bad(
        "json-latin1",
        "json",
        '[{"input": "café"}]'.encode("latin-1"),
        "item 1: invalid or truncated JSON: lexical error: invalid bytes in UTF8 string.",
        1,
    ),
    Bad(
        "json-integer-too-large",
        "json",
        utf8('[{"input": {"n": 1}}, {"input": {"n": 123456789012345678901234567890}}]'),
        "item 2: invalid or truncated JSON: parse error: integer overflow",
        2,
    ),
    Bad(
        "json-nul-in-text",
        "json",
        utf8('[{"input": "a\\u0000b"}]'),
        "item 1: cannot store item: text contains a NUL character (\\u0000), "
        "which cannot be stored",
        1,
    ),
    # ------------------------------------------------------------------ JSONL
    Bad(
        "jsonl-bad-line",
        "jsonl",
        utf8('{"input": "a"}\n{"input": "b"}\n{"input": "c",}\n{"input": "d"}\n'),
        "line 3: invalid JSON: ",
        3,
        exact=False,
    ),
    Bad(
        "jsonl-non-object-line",
        "jsonl",
        utf8('{"input": "a"}\n[1]\n'),
        "line 2: expected a JSON object, not array",
        2,
    ),
    Bad("jsonl-blank", "jsonl", b"\n\n", "no items: the file has no JSON lines"),
    Bad(
        "jsonl-bad-tag",
        "jsonl",
        utf8('{"input": "a", "tags": ["ok", ""]}\n'),
        'line 1, field "tags.1": String should have at least 1 character',
        1,
    ),
]


def snapshot(store: Store) -> dict[str, Any]:
    """Everything an import could touch in this project."""
    ids = select(datasets.c.id).where(datasets.c.project_id == store.project_id)
    with store.db.read() as conn:
        rows = conn.execute(
            select(datasets.c.name, datasets.c.version, datasets.c.item_count)
            .where(datasets.c.project_id == store.project_id)
            .order_by(datasets.c.name)
        ).all()
        versions = conn.execute(
            select(func.count()).where(dataset_versions.c.dataset_id.in_(ids))
        ).scalar_one()
        items = conn.execute(
            select(func.count()).where(dataset_items.c.dataset_id.in_(ids))
        ).scalar_one()
    return {"datasets": [tuple(r) for r in rows], "versions": versions, "item_rows": items}


@pytest.fixture
def seeded(store: Store) -> Store:
    store.datasets.create(DatasetCreate(name="existing"))
    store.datasets.add_items("existing", [ItemCreate(input="one"), ItemCreate(input="two")])
    return store


def check(exc: InvalidInput, case: Bad) -> None:
    if case.exact:
        assert exc.message == case.message
    else:
        assert exc.message.startswith(case.message)
        assert len(exc.message) > len(case.message)  # the parser's reason follows
    assert exc.row == case.row


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_file_is_rejected_and_changes_nothing(seeded: Store, case: Bad) -> None:
    before = snapshot(seeded)
    assert before["item_rows"] == 2
    for dataset, create in (("existing", False), ("fresh", True)):
        with pytest.raises(InvalidInput) as info:
            import_stream(
                seeded,
                io.BytesIO(case.data),
                format=case.format,
                dataset=dataset,
                create=create,
                mapping=case.mapping,
            )
        check(info.value, case)
        assert snapshot(seeded) == before


def test_bad_row_after_many_batches_rolls_back_everything(seeded: Store) -> None:
    """The first 12,000 rows are inserted in batches before row 12,002 fails."""
    body = "".join(f"q{n},{n}\n" for n in range(12_000))
    data = f"input,sort_order\n{body}late,not-a-number\n".encode()
    before = snapshot(seeded)
    for dataset, create in (("existing", False), ("fresh", True)):
        with pytest.raises(InvalidInput) as info:
            import_stream(seeded, io.BytesIO(data), format="csv", dataset=dataset, create=create)
        assert info.value.message == (
            "row 12002, column \"sort_order\": not an integer: 'not-a-number'"
        )
    assert snapshot(seeded) == before


SCHEMA = {
    "type": "object",
    "properties": {"query": {"type": "string", "minLength": 3}},
    "required": ["query"],
}


@pytest.mark.parametrize(
    ("format", "data", "message"),
    [
        (
            "csv",
            b"input.query\nfine\nno\n",
            "row 3: input.query does not match the dataset schema: 'no' is too short",
        ),
        (
            "jsonl",
            b'{"input": {"query": "fine"}}\n\n{"input": {"question": "x"}}\n',
            "line 3: input does not match the dataset schema: 'query' is a required property",
        ),
        (
            "json",
            b'[{"input": {"query": "fine"}}, {"input": "text"}]',
            "item 2: input does not match the dataset schema: 'text' is not of type 'object'",
        ),
    ],
)
def test_schema_violation_is_rejected_and_changes_nothing(
    seeded: Store, format: Format, data: bytes, message: str
) -> None:
    seeded.datasets.create(DatasetCreate(name="typed", input_schema=SCHEMA))
    before = snapshot(seeded)
    with pytest.raises(InvalidInput) as info:
        import_stream(seeded, io.BytesIO(data), format=format, dataset="typed")
    assert info.value.message == message
    assert snapshot(seeded) == before


def test_bom_file_imports_with_a_clean_header(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfinput.query,metadata.k\r\nhello,v\r\n")
    import_file(store, path, dataset="bom", create=True)
    [item] = store.datasets.iter_items("bom")
    assert (item.input, item.metadata) == ({"query": "hello"}, {"k": "v"})


def test_missing_file(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"file not found: .*nope\.csv"):
        import_file(store, tmp_path / "nope.csv", dataset="x", create=True)
    with pytest.raises(InvalidInput, match=r"cannot tell the format of 'data\.txt'"):
        import_file(store, tmp_path / "data.txt", dataset="x", create=True)
    assert store.datasets.list().items == []


def test_values_the_database_cannot_hold(seeded: Store) -> None:
    before = snapshot(seeded)
    with pytest.raises(InvalidInput) as info:
        seeded.datasets.add_items(
            "existing", [ItemCreate(input="ok"), ItemCreate(input={"n": 2**70})]
        )
    assert info.value.message == "row 2: cannot store item: Integer exceeds 64-bit range"
    with pytest.raises(InvalidInput) as info:
        seeded.datasets.add_items("existing", [ItemCreate(input="a", source_trace_id="t\x00")])
    assert info.value.message == (
        "row 1: cannot store item: source_trace_id contains a NUL character"
    )
    assert snapshot(seeded) == before

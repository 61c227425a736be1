"""Import and export against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from assay.domain import DatasetCreate, Item, ItemCreate, ItemSource, ItemUpdate
from assay.errors import InvalidInput, NotFound
from assay.io import Format, export_dataset, import_file, import_stream
from assay.store import Store

CSV = (
    "input.query,expected_output.answer,metadata.category,tags,difficulty\n"
    'How do I reset my password?,Settings > Security,account,"auth, howto",easy\n'
    "What are your pricing plans?,Free and Pro,billing,,hard\n"
    '"{""nested"": [1, 2]}","[""a"", ""b""]",,pricing,\n'
)


def content(store: Store, dataset: str, version: int | None = None) -> list[dict[str, Any]]:
    return [i.content() for i in store.datasets.iter_items(dataset, version=version)]


def export(store: Store, dataset: str, format: Format, version: int | None = None) -> bytes:
    out = io.BytesIO()
    export_dataset(store, dataset, out, format=format, version=version)
    return out.getvalue()


def test_csv_import_creates_one_version(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text(CSV)
    change = import_file(store, path, dataset="faq", create=True)
    assert (change.version, change.added, change.item_count) == (1, 3, 3)
    [version] = store.datasets.versions("faq")
    assert (version.version, version.added, version.message) == (1, 3, "import faq.csv")
    items = list(store.datasets.iter_items("faq"))
    assert {i.source for i in items} == {ItemSource.import_}
    assert [i.content() for i in items] == [
        {
            "input": {"query": "How do I reset my password?"},
            "expected_output": {"answer": "Settings > Security"},
            "context": None,
            "metadata": {"category": "account", "difficulty": "easy"},
            "tags": ["auth", "howto"],
            "sort_order": 0,
        },
        {
            "input": {"query": "What are your pricing plans?"},
            "expected_output": {"answer": "Free and Pro"},
            "context": None,
            "metadata": {"category": "billing", "difficulty": "hard"},
            "tags": [],
            "sort_order": 1,
        },
        {
            "input": {"query": {"nested": [1, 2]}},
            "expected_output": {"answer": ["a", "b"]},
            "context": None,
            "metadata": {},
            "tags": ["pricing"],
            "sort_order": 2,
        },
    ]


def test_import_appends_a_version_to_an_existing_dataset(store: Store) -> None:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items("qa", [ItemCreate(input="first")])
    change = import_stream(
        store,
        io.BytesIO(b'{"input": "second"}\n{"input": "third"}\n'),
        format="jsonl",
        dataset="qa",
    )
    assert (change.version, change.added, change.item_count) == (2, 2, 3)
    assert [(i.input, i.sort_order) for i in store.datasets.iter_items("qa")] == [
        ("first", 0),
        ("second", 1),
        ("third", 2),
    ]
    assert [i["input"] for i in content(store, "qa", version=1)] == ["first"]


def test_import_into_a_missing_dataset_without_create(store: Store) -> None:
    with pytest.raises(NotFound, match="dataset 'nope' not found"):
        import_stream(store, io.BytesIO(b"input\nq\n"), format="csv", dataset="nope")
    assert store.datasets.list().items == []


def test_json_items_object_and_mapping(store: Store) -> None:
    data = orjson.dumps(
        {
            "items": [
                {
                    "question": "Why?",
                    "expectedOutput": {"answer": "Because"},
                    "sourceTraceId": "t-1",
                },
                {"question": "How?", "expected_output": "Like this", "sort_order": 10},
            ]
        }
    )
    import_stream(
        store,
        io.BytesIO(data),
        format="json",
        dataset="mapped",
        create=True,
        mapping={"question": "input.q"},
    )
    items = list(store.datasets.iter_items("mapped"))
    assert [(i.input, i.expected_output, i.source_trace_id, i.sort_order) for i in items] == [
        ({"q": "Why?"}, {"answer": "Because"}, "t-1", 0),
        ({"q": "How?"}, "Like this", None, 10),
    ]


@pytest.mark.parametrize("format", ["csv", "json", "jsonl"])
def test_round_trip(store: Store, format: Format) -> None:
    store.datasets.create(DatasetCreate(name="src"))
    store.datasets.add_items(
        "src",
        [
            ItemCreate(
                input={"q": "x", "n": 1.5, "deep": {"list": [1, None, True]}},
                expected_output={"a": "y"},
                context=["doc 1", "doc 2"],
                metadata={"k": "v", "unicode": "héllo ✓"},
                tags=["t1", "t 2"],
                source_trace_id="trace-1",
            ),
            ItemCreate(input="plain, with comma\nand newline", expected_output='say "hi"'),
            ItemCreate(input={"formula": "=1+1"}, sort_order=50),
            ItemCreate(input="last", context={"doc": "x"}, tags=["z"]),
        ],
    )
    data = export(store, "src", format)
    change = import_stream(store, io.BytesIO(data), format=format, dataset="dst", create=True)
    assert change.added == 4
    assert content(store, "dst") == content(store, "src")
    assert {i.source for i in store.datasets.iter_items("dst")} == {ItemSource.import_}


def test_csv_round_trip_limits(store: Store) -> None:
    """Formula neutralisation and text-only scalars are the documented exceptions."""
    store.datasets.create(DatasetCreate(name="edge"))
    store.datasets.add_items(
        "edge",
        [
            ItemCreate(input="=HYPERLINK()", expected_output=42),
            ItemCreate(input="[draft] note", expected_output=True),
        ],
    )
    data = export(store, "edge", "csv")
    import_stream(store, io.BytesIO(data), format="csv", dataset="edge2", create=True)
    assert [(i["input"], i["expected_output"]) for i in content(store, "edge2")] == [
        ("'=HYPERLINK()", "42"),
        ('"[draft] note"', "true"),
    ]


def test_export_at_an_old_version_and_without_archived_items(store: Store) -> None:
    store.datasets.create(DatasetCreate(name="v"))
    store.datasets.add_items("v", [ItemCreate(input="a"), ItemCreate(input="b")])
    store.datasets.add_items("v", [ItemCreate(input="c")])
    first = next(store.datasets.iter_items("v"))
    store.datasets.update_item("v", first.id, ItemUpdate(archived=True))
    assert [r["input"] for r in orjson.loads(export(store, "v", "json", version=1))] == ["a", "b"]
    assert [r["input"] for r in orjson.loads(export(store, "v", "json", version=2))] == [
        "a",
        "b",
        "c",
    ]
    assert [r["input"] for r in orjson.loads(export(store, "v", "json"))] == ["b", "c"]
    lines = export(store, "v", "jsonl", version=2).splitlines()
    assert orjson.loads(lines[0])["id"] == first.id


def test_export_of_an_empty_dataset(store: Store) -> None:
    store.datasets.create(DatasetCreate(name="empty"))
    assert export(store, "empty", "json") == b"[]\n"
    assert export(store, "empty", "jsonl") == b""
    assert export(store, "empty", "csv").startswith(b"id,input,expected_output,")


def test_export_errors_write_nothing(store: Store) -> None:
    store.datasets.create(DatasetCreate(name="d"))
    out = io.BytesIO()
    with pytest.raises(NotFound, match="dataset 'missing' not found"):
        export_dataset(store, "missing", out, format="json")
    with pytest.raises(NotFound, match="dataset 'd' has no version 3"):
        export_dataset(store, "d", out, format="csv", version=3)
    with pytest.raises(InvalidInput, match="unknown format 'xml'"):
        export_dataset(store, "d", out, format="xml")  # type: ignore[arg-type]
    assert out.getvalue() == b""


def test_export_streams_across_batches(store: Store) -> None:
    lines = b"".join(b'{"input": {"n": %d}}\n' % n for n in range(12_345))
    import_stream(store, io.BytesIO(lines), format="jsonl", dataset="big", create=True)
    data = export(store, "big", "json")
    parsed = orjson.loads(data)
    assert [p["input"]["n"] for p in parsed] == list(range(12_345))
    assert data.count(b"\n") == 12_345 + 2  # "[", one line per item, "]"


def test_schema_is_enforced_on_import(store: Store) -> None:
    store.datasets.create(
        DatasetCreate(
            name="typed",
            input_schema={
                "type": "object",
                "properties": {"q": {"type": "string"}},
                "required": ["q"],
            },
        )
    )
    import_stream(store, io.BytesIO(b'{"input": {"q": "ok"}}\n'), format="jsonl", dataset="typed")
    assert store.datasets.get("typed").item_count == 1


def test_streamed_items_equal_validated_single_reads(store: Store) -> None:
    store.datasets.create(DatasetCreate(name="s"))
    store.datasets.add_items(
        "s",
        [
            ItemCreate(input={"a": [1, {"b": None}]}, expected_output=0.5, tags=["x"]),
            ItemCreate(input="text", context="c", metadata={"k": 1}, source_trace_id="t"),
        ],
    )
    streamed = list(store.datasets.iter_items("s"))
    assert len(streamed) == 2
    for item in streamed:
        assert item == store.datasets.get_item("s", item.id)
        assert item == Item.model_validate(item.model_dump())
        assert item.model_dump_json()
        with pytest.raises(ValidationError):
            item.sort_order = 5  # type: ignore[misc]


def test_iteration_as_of_a_version_with_later_changes(store: Store) -> None:
    """Items closed after the requested version still belong to it, in sort order."""
    store.datasets.create(DatasetCreate(name="h"))
    store.datasets.add_items("h", [ItemCreate(input=f"v1-{n}") for n in range(7)])
    items = list(store.datasets.iter_items("h"))
    store.datasets.update_item("h", items[1].id, ItemUpdate(input="changed"))
    store.datasets.delete_item("h", items[4].id)
    store.datasets.add_items("h", [ItemCreate(input="v4", sort_order=4)])
    as_of_1 = [i.input for i in store.datasets.iter_items("h", version=1, batch_size=2)]
    assert as_of_1 == [f"v1-{n}" for n in range(7)]
    as_of_3 = [i.input for i in store.datasets.iter_items("h", version=3, batch_size=2)]
    assert as_of_3 == ["v1-0", "changed", "v1-2", "v1-3", "v1-5", "v1-6"]
    current = [(i.sort_order, i.input) for i in store.datasets.iter_items("h", batch_size=2)]
    assert current == [
        (0, "v1-0"),
        (1, "changed"),
        (2, "v1-2"),
        (3, "v1-3"),
        (4, "v4"),
        (5, "v1-5"),
        (6, "v1-6"),
    ]

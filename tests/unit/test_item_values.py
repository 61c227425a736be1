"""Plain rows: new items the bulk paths write as they are, exactly as the validator would."""

from __future__ import annotations

from typing import Any

import pytest

from assay.domain import ItemCreate, ItemSource, item_content_hash
from assay.domain.item_values import (
    MAX_DEPTH,
    is_plain_item,
    item_fields,
    new_item_hash,
    record_of,
)


class Text(str):
    pass


_PLAIN: list[dict[str, Any]] = [
    {"input": "q"},
    {"input": ""},
    {"input": {"q": " kept as it is ", "n": [1, {"x": " y "}]}},  # input values: any
    {"input": {"q": "x"}, "expected_output": "a", "context": None},
    {"input": "q", "expected_output": {"k": [1, 2.5, True, None, {"n": "v"}]}},
    {"input": "q", "expected_output": float("inf"), "context": [1, "two"]},
    {"input": "q", "metadata": {"k": " v "}, "tags": ["a", "b" * 100]},
    {"input": "q", "metadata": {}, "tags": []},
    {"tags": ["b"], "input": "order of keys differs"},
    {"input": "q", "source": ItemSource.trace, "source_trace_id": "t1", "sort_order": 7},
    {"input": "q", "source_trace_id": None, "sort_order": None},
    # Python's str.strip() strips U+001C..U+001F; the validator keeps them.
    {"input": "\x1cq\x1f", "source_trace_id": "\x1dt\x1e", "tags": ["\x1ca"]},
    {
        "input": {"\x1ck": 1},
        "metadata": {"k\x1f": 1},
        "context": {"\x1dk": ["\x1e", {"j": "\x1c"}]},
    },
]


@pytest.mark.parametrize("row", _PLAIN)
def test_plain_rows_are_the_items_the_validator_makes(row: dict[str, Any]) -> None:
    assert is_plain_item(row)
    item = record_of(row)
    validated = ItemCreate(**row)
    assert item == validated
    assert repr(item) == repr(validated)
    assert item.model_fields_set == validated.model_fields_set
    assert item.model_dump_json() == validated.model_dump_json()
    expected = item_content_hash(
        validated.input,
        validated.expected_output,
        validated.context,
        validated.metadata,
        validated.tags,
    )
    assert new_item_hash(row) == new_item_hash(item_fields(validated)) == expected


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


_cycle: list[Any] = []
_cycle.append(_cycle)

_NOT_PLAIN: list[dict[str, Any]] = [
    {"expected_output": "no input"},
    {"input": None},
    {"input": 5},
    {"input": " padded"},
    {"input": "ends in a wide space\u3000"},
    {"input": {" q": "key to strip"}},
    {"input": {1: "key not text"}},
    {"input": Text("a str subclass")},
    {"input": "q", "expected_output": "padded "},
    {"input": "q", "expected_output": {"k ": 1}},
    {"input": "q", "expected_output": (1, 2)},
    {"input": "q", "context": [" x"]},
    {"input": "q", "context": ["x", ["y", "z\u2028"]]},
    {"input": "q", "expected_output": {"k": "v", "j": {"i": "\xa0w"}}},
    {"input": "q", "context": _nested(MAX_DEPTH + 1)},
    {"input": "q", "context": _cycle},
    {"input": "q", "metadata": None},
    {"input": "q", "metadata": {" k": 1}},
    {"input": "q", "tags": None},
    {"input": "q", "tags": ("a",)},
    {"input": "q", "tags": [""]},
    {"input": "q", "tags": ["a" * 101]},
    {"input": "q", "tags": [" a"]},
    {"input": "q", "source": "trace"},
    {"input": "q", "source_trace_id": " t"},
    {"input": "q", "sort_order": True},
    {"input": "q", "sort_order": 2.0},
    {"input": "q", "expectedOutput": "an alias"},
    {"input": "q", "unknown": 1},
]


@pytest.mark.parametrize("row", _NOT_PLAIN)
def test_rows_the_validator_changes_or_refuses_are_not_plain(row: dict[str, Any]) -> None:
    assert not is_plain_item(row)


def test_deep_values_within_the_limit_are_plain() -> None:
    row = {"input": "q", "context": _nested(MAX_DEPTH - 1)}
    assert is_plain_item(row)
    assert record_of(row) == ItemCreate(**row)


def test_a_record_is_its_own_item() -> None:
    item = ItemCreate(input=" q ", expectedOutput=" a ")  # type: ignore[call-arg]
    assert record_of(item) is item
    assert item_fields(item) == item.__dict__
    assert new_item_hash(item_fields(item)) == item_content_hash("q", "a", None, {}, [])

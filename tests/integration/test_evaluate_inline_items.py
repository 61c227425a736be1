"""An inline list is read as items row by row: every row is checked before anything is saved,
an unchanged list saves nothing, and a changed one becomes a new version."""

from __future__ import annotations

import pytest

import assay
from assay.errors import InvalidInput, NotFound
from assay.scorers import exact_match
from assay.store import Store


def _task(x: dict[str, str]) -> str:
    return x["q"]


def test_a_bad_row_late_in_the_list_saves_nothing(store: Store) -> None:
    rows: list[object] = [{"input": {"q": f"q{i}"}, "expected_output": f"q{i}"} for i in range(50)]
    rows[41] = {"expected_output": "no input"}
    with pytest.raises(InvalidInput) as caught:
        assay.evaluate(rows, _task, [exact_match()], store=store, name="late", quiet=True)
    assert caught.value.row == 42
    with pytest.raises(NotFound):
        store.datasets.get("late")


def test_an_unchanged_list_is_not_saved_again_and_a_changed_one_is_versioned(
    store: Store,
) -> None:
    rows = [{"input": {"q": f"q{i}"}, "expected_output": f"q{i}"} for i in range(20)]
    first = assay.evaluate(rows, _task, [exact_match()], store=store, name="inline", quiet=True)
    dataset = store.datasets.get("inline")
    again = assay.evaluate(list(reversed(rows)), _task, store=store, name="inline", quiet=True)
    assert store.datasets.get("inline").version == dataset.version  # nothing saved
    assert again.experiment.dataset_version == first.experiment.dataset_version
    changed = [*rows[:10], {"input": {"q": "other"}, "expected_output": "other"}]
    third = assay.evaluate(changed, _task, store=store, name="inline", quiet=True)
    after = store.datasets.get("inline")
    assert after.version == dataset.version + 1
    assert third.experiment.dataset_version == after.version
    assert after.item_count == 11
    kept = {r.item_id for r in first.rows if r.input in [c["input"] for c in changed]}
    assert kept <= {r.item_id for r in third.rows}  # unchanged items keep their ids


def _stored(store: Store, dataset: str) -> list[tuple[object, ...]]:
    return [
        (i.input, i.expected_output, i.context, i.metadata, i.tags, i.source, i.sort_order)
        for i in store.datasets.list_items(dataset, limit=500).items
    ]


def test_plain_rows_rows_to_clean_and_records_save_the_same_content(store: Store) -> None:
    from assay.domain import ItemCreate
    from assay.evaluation.datasets import dataset_ref

    plain = [
        {"input": {"q": f"q{i}"}, "expected_output": f"a{i}", "tags": ["b", "a"]} for i in range(30)
    ]
    to_clean = [  # what the validator strips and renames, on every row
        {"input": {" q": f"q{i}"}, "expectedOutput": f" a{i}\n", "tags": [" b", "a"]}
        for i in range(30)
    ]
    records = [ItemCreate(**row) for row in plain]
    mixed = [
        plain[i] if i % 3 == 0 else to_clean[i] if i % 3 == 1 else records[i] for i in range(30)
    ]

    dataset, version, created, _ = dataset_ref(plain, store, "plain")
    assert (version, created) == (1, True)
    for same in (to_clean, records, mixed):  # the same content: found, not saved again
        assert dataset_ref(same, store, "other") == (dataset, 1, False, None)
    for rows, name in ((to_clean, "cleaned"), (mixed, "mixed")):
        dataset_ref(rows, store, name, dataset=name)  # saved into a dataset of its own
        assert _stored(store, name) == _stored(store, "plain")
    assert _stored(store, "plain") == [
        (r.input, r.expected_output, None, {}, ["b", "a"], r.source, n)
        for n, r in enumerate(records)
    ]


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({"input": {"q": "x"}, "tags": ["ok", ""]}, "tags.1", "row 31: tags.1: String should"),
        ({"input": "x", "sort_order": "first"}, "sort_order", "row 31: sort_order: Input"),
        ({"input": "x", "expected_output": (1,)}, "expected_output", "row 31: expected_output"),
        ({"input": "x", "source_trace_id": "t" * 65}, None, "row 31: cannot store item"),
    ],
)
def test_a_bad_row_is_named_with_its_field_and_nothing_is_saved(
    store: Store, bad: dict[str, object], field: str | None, message: str
) -> None:
    from assay.evaluation.datasets import dataset_ref

    rows: list[dict[str, object]] = [{"input": {"q": f"q{i}"}} for i in range(40)]
    rows[30] = bad
    with pytest.raises(InvalidInput) as caught:
        dataset_ref(rows, store, "bad")
    assert caught.value.message.startswith(message)
    assert (caught.value.row, caught.value.field) == (31, field)
    with pytest.raises(NotFound):
        store.datasets.get("bad")


def test_a_changed_list_matches_stored_items_whatever_their_keys_order(store: Store) -> None:
    from assay.evaluation.datasets import dataset_ref

    def row(i: int, reverse: bool) -> dict[str, object]:
        keys = ["zz", "a", "mmm"]  # PostgreSQL orders an object's keys by length first
        ordered = list(reversed(keys)) if reverse else keys
        nested = {k: {"y": i, "b": [k, {"d": 1, "c": 2}]} for k in ordered}
        return {
            "input": nested,
            "expected_output": nested,
            "context": [nested],
            "metadata": nested,
            "tags": ["a", "b"] if reverse else ["b", "a"],
        }

    first = [row(i, reverse=False) for i in range(12)]
    dataset, version, _, _ = dataset_ref(first, store, "keys")
    ids = {i.input["zz"]["y"]: i.id for i in store.datasets.list_items(dataset).items}
    changed = [row(i, reverse=True) for i in range(1, 12)] + [row(99, reverse=True)]
    _, changed_version, created, _ = dataset_ref(changed, store, "keys")
    assert (changed_version, created) == (version + 1, False)
    change = store.datasets.versions(dataset)[0]
    assert (change.added, change.removed, change.item_count) == (1, 1, 12)
    after = {i.input["zz"]["y"]: i.id for i in store.datasets.list_items(dataset).items}
    assert sorted(after) == [*range(1, 12), 99]
    assert [after[i] for i in range(1, 12)] == [ids[i] for i in range(1, 12)]  # same ids

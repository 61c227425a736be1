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

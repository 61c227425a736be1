"""Run listings in every documented order, page by page, runs without a value last."""

from __future__ import annotations

from typing import Any

import pytest

import assay
from assay.domain import EXPERIMENT_SORT_FIELDS, DatasetCreate, ExperimentSort, ItemCreate
from assay.errors import InvalidInput
from assay.scorers import exact_match
from assay.store import Store
from assay.store.sql import encode_cursor


def echo(x: dict[str, str]) -> str:
    return x["q"]


def half(x: dict[str, str]) -> str:
    return x["q"] if x["q"] in ("a", "b") else "wrong"


@pytest.fixture
def runs(store: Store) -> dict[str, str]:
    store.datasets.create(DatasetCreate(name="letters"))
    store.datasets.add_items(
        "letters", [ItemCreate(input={"q": q}, expected_output=q) for q in "abcd"]
    )
    ids = {}
    for name, task, scorers in (
        ("b-all", echo, [exact_match()]),
        ("a-half", half, [exact_match()]),
        ("c-unscored", echo, []),
    ):
        ids[name] = assay.evaluate("letters", task, scorers, name=name, store=store).id
    return ids


def _names(store: Store, sort: Any, limit: int = 50) -> list[str]:
    """Every run in ``sort`` order, read ``limit`` at a time through the cursors."""
    names: list[str] = []
    cursor = None
    while True:
        page = store.experiments.list(sort=sort, limit=limit, cursor=cursor)
        names += [e.name for e in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return names


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-created_at", ["c-unscored", "a-half", "b-all"]),
        ("created_at", ["b-all", "a-half", "c-unscored"]),
        ("name", ["a-half", "b-all", "c-unscored"]),
        ("-name", ["c-unscored", "b-all", "a-half"]),
        ("pass_rate", ["a-half", "b-all", "c-unscored"]),  # no pass rate: last both ways
        ("-pass_rate", ["b-all", "a-half", "c-unscored"]),
    ],
)
def test_sorted_pages_agree_with_one_page(
    store: Store, runs: dict[str, str], sort: ExperimentSort, expected: list[str]
) -> None:
    assert _names(store, sort) == expected
    assert _names(store, sort, limit=1) == expected


@pytest.mark.parametrize("field", EXPERIMENT_SORT_FIELDS)
def test_every_field_pages_in_both_directions(
    store: Store, runs: dict[str, str], field: str
) -> None:
    for sort in (field, f"-{field}"):
        whole = _names(store, sort)
        assert sorted(whole) == sorted(runs)
        assert _names(store, sort, limit=1) == whole
        assert _names(store, sort, limit=2) == whole


def test_unknown_order_and_foreign_cursor_are_refused(store: Store, runs: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match="sort: 'size' is not one of created_at, name"):
        store.experiments.list(sort="size")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="malformed pagination cursor"):
        store.experiments.list(sort="pass_rate", cursor=encode_cursor("x", "id"))

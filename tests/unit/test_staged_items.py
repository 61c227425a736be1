"""A staged list's items are made from its rows a slice at a time, as a stored dataset gives
them back: every way of taking them yields the same items in dataset order."""

from __future__ import annotations

from assay.domain import DatasetCreate
from assay.store.plan_stream import PAGE
from assay.store.planning import planned_from_json
from assay.store.staged_list import stage_list


def test_items_are_made_lazily_and_alike_however_they_are_taken() -> None:
    n = 2 * PAGE + 345
    rows = [{"input": {"q": f"q{i}", "pair": (i, 2)}, "expected_output": f"a{i}"} for i in range(n)]
    staged = stage_list("project", rows, DatasetCreate(name="lazy"), None)
    items = staged.items
    eager = planned_from_json((i, *r[:5]) for i, r in zip(items.ids, staged.rows, strict=True))
    assert len(items) == n
    assert list(items) == eager  # whole pages, then the rest
    assert items[PAGE - 2 : PAGE + 3] == eager[PAGE - 2 : PAGE + 3]
    assert items[n - 1] == eager[-1]
    assert items[7].input == {"q": "q7", "pair": [7, 2]}  # as stored: the tuple is a list
    assert items[7].raw == ('{"q":"q7","pair":[7,2]}', '"a7"')
    assert [item.id for item in eager] == items.ids

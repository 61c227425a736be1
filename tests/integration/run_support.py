"""A small stored run with what frame readers must handle: a failed result, two trials, two
scorers."""

from __future__ import annotations

import assay
from assay.domain import DatasetCreate, ItemCreate
from assay.scorers import contains, exact_match
from assay.store import Store


def mixed_run(store: Store, n: int) -> str:
    """Run ``n`` items of a new dataset ``qa``, two trials each; ``q2`` raises, ``q1`` passes
    exact_match, the others pass only contains."""
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa", [ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}") for i in range(n)]
    )

    def answer(x: dict[str, str]) -> str:
        if x["q"] == "q2":
            raise RuntimeError("no answer for q2")
        return x["q"] if x["q"] == "q1" else x["q"].upper()

    run = assay.evaluate(
        "qa", answer, [exact_match(), contains("Q")], trials=2, store=store, quiet=True
    )
    return run.id

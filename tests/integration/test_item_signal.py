"""``assay items signal``, ``GET /datasets/{id}/item-signal/`` and
``client.datasets.item_signal``: a constructed history where the answer is known.

The dataset: 40 easy items every system answers, 20 no system answers, 40 hard items only
the better systems answer, and one copy of easy item 3 with a "!" (a near-duplicate). Run
``a`` answers the easy items; ``b`` and ``c`` also the hard ones (c differs from b only on
items nobody passes). So a -> b is better, b -> c inconclusive; 61 items never discriminate;
and with McNemar's exact test six hard items are the fewest that keep a -> b better
(two-sided p = 2 / 2^6 = 0.031; five give 0.0625).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

import assay
from assay.analysis.item_signal import item_signal
from assay.client import Assay, AsyncAssay
from assay.config import Settings
from assay.domain import Verdict
from assay.errors import InvalidInput, NotFound
from assay.store import Store
from tests.integration.test_gate_cli import Cli

ITEMS: list[dict[str, Any]] = (
    [{"input": f"easy question number {i} about billing", "expected_output": "ok"}
     for i in range(40)]
    + [{"input": f"impossible riddle {i} zeta", "expected_output": "ok"} for i in range(20)]
    + [{"input": f"hard case {i} needs a reasoning step", "expected_output": "ok"}
       for i in range(40)]
    + [{"input": "easy question number 3 about billing!", "expected_output": "ok"}]
)  # fmt: skip


def a(q: str) -> str:
    return "ok" if q.startswith("easy") else "no"


def b(q: str) -> str:
    return "ok" if q.startswith(("easy", "hard")) else "no"


def c(q: str) -> str:
    return "ok" if q.startswith(("easy", "hard")) else "nope"


@pytest.fixture
def history(store: Store) -> dict[str, str]:
    runs = {}
    for task in (a, b, c):
        run = assay.evaluate(
            ITEMS, task, ["exact_match"], store=store, dataset="sig", name=task.__name__, quiet=True
        )
        runs[task.__name__] = run.id
    return runs


def _ids(store: Store) -> dict[str, str]:
    return {str(i.input): i.id for i in store.datasets.iter_items("sig")}


def test_the_known_answer(store: Store, history: dict[str, str]) -> None:
    signal = item_signal(store, "sig", min_items=1, method="token_jaccard")
    ids = _ids(store)
    assert signal.runs == [history["c"], history["b"], history["a"]]
    assert signal.items_total == signal.items_seen == 101
    assert signal.never_discriminating == 61  # easy, impossible and the copy
    assert signal.duplicates == 1
    assert signal.similarity_method == "token_jaccard"
    copy = next(i for i in signal.items if i.item_id == ids[ITEMS[-1]["input"]])
    assert copy.duplicate_of == ids[ITEMS[3]["input"]]
    assert copy.similarity == 1.0
    hard = {ids[x["input"]] for x in ITEMS[60:100]}
    assert {i.item_id for i in signal.items if i.discriminating} == hard
    assert signal.subset_size == 6
    assert set(signal.subset) <= hard
    assert [(p.full, p.subset) for p in signal.pairs] == [
        (Verdict.better, Verdict.better),
        (Verdict.inconclusive, Verdict.inconclusive),
    ]
    assert [(p.n_full, p.n_subset) for p in signal.pairs] == [(101, 6), (101, 6)]
    assert signal.verdict_agreement == 1.0
    assert signal.verdicts_kept
    assert sum(i.in_subset for i in signal.items) == 6
    # A floor keeps more items, still only ones that carry signal first.
    floored = item_signal(store, "sig", min_items=30, method="token_jaccard")
    assert floored.subset_size == 30
    assert set(floored.subset) <= hard


def test_runs_of_one_configuration_count_once(store: Store, history: dict[str, str]) -> None:
    again = assay.evaluate(ITEMS, b, ["exact_match"], store=store, dataset="sig", quiet=True)
    signal = item_signal(store, "sig", min_items=1, method="token_jaccard")
    assert again.id in signal.runs
    assert history["b"] not in signal.runs
    assert len(signal.runs) == 3


def test_tagging_the_subset_makes_it_a_selection(
    store: Store, settings: Settings, history: dict[str, str]
) -> None:
    cli = Cli(store, settings)
    out = cli.inproc(
        "items", "signal", "sig", "--min-items", "1", "--method", "token_jaccard",
        "--tag", "fast-check",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "Suggested subset: 6 of 101 items; verdict agreement 100% (2 pairs)" in out.output
    assert "select: {tags: [fast-check]}" in " ".join(out.output.split())  # wrapped to the terminal
    tagged = [i.id for i in store.datasets.iter_items("sig") if "fast-check" in i.tags]
    assert len(tagged) == 6
    assert store.datasets.get("sig").version == 2
    run = assay.evaluate("sig", b, ["exact_match"], store=store, tags=["fast-check"], quiet=True)
    assert sorted(r.item_id for r in store.experiments.iter_results(run.id)) == sorted(tagged)
    # The same subset again writes nothing; a smaller one moves the tag.
    store.datasets.tag_items("sig", "fast-check", tagged)
    assert store.datasets.get("sig").version == 2
    store.datasets.tag_items("sig", "fast-check", tagged[:2])
    assert store.datasets.get("sig").version == 3
    assert sum("fast-check" in i.tags for i in store.datasets.iter_items("sig")) == 2
    with pytest.raises(InvalidInput, match="not in dataset") as caught:
        store.datasets.tag_items("sig", "fast-check", ["nope"])
    assert caught.value.field == "item_ids"
    assert store.datasets.get("sig").version == 3
    as_json = json.loads(cli.inproc("items", "signal", "sig", "--json").output)
    assert as_json["subset_size"] == len(as_json["subset"])


def test_bad_input_names_the_field(store: Store, history: dict[str, str]) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"metric": "nope"}, "metric"),
        ({"method": "soundex"}, "method"),
        ({"threshold": 1.5}, "threshold"),
        ({"min_items": 0}, "min_items"),
    ]
    for kwargs, field in cases:
        with pytest.raises(InvalidInput) as caught:
            item_signal(store, "sig", **kwargs)
        assert caught.value.field == field
    with pytest.raises(NotFound):
        item_signal(store, "no-such-dataset")


def test_api_and_sdk(
    store: Store, history: dict[str, str], http: TestClient, client: Assay
) -> None:
    dataset_id = store.datasets.get("sig").id
    params = {"min_items": 1, "method": "token_jaccard"}
    got = http.get(f"/api/v1/datasets/{dataset_id}/item-signal/", params=params)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["subset_size"] == 6
    assert body["never_discriminating"] == 61
    assert body["pairs"][0]["full"] == "better"
    by_name = client.datasets.item_signal("sig", min_items=1, method="token_jaccard")
    assert by_name.subset == body["subset"]
    assert by_name.verdict_agreement == 1.0
    bad = http.get(f"/api/v1/datasets/{dataset_id}/item-signal/", params={"metric": "nope"})
    assert bad.status_code in (400, 422)
    assert "metric" in bad.text
    assert http.get("/api/v1/datasets/missing/item-signal/").status_code == 404


async def test_async_sdk(store: Store, history: dict[str, str], aclient: AsyncAssay) -> None:
    signal = await aclient.datasets.item_signal("sig", min_items=1, method="token_jaccard")
    assert signal.subset_size == 6
    assert signal.duplicates == 1

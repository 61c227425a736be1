"""Comparisons and gates over experiments run by the engine, on each database."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

import assay
from assay.analysis import (
    compare_experiments,
    dataset_policy,
    gate_experiment,
    load_run,
    resolve_baseline,
    set_dataset_policy,
)
from assay.analysis.frame import COMPLETED, FAILED, RunFrame
from assay.domain import DatasetCreate, ItemCreate, RegressionPolicy
from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_id
from assay.scorers import exact_match, scorer
from assay.store import Store
from assay.store.tables import scores

N = 40


@scorer
def length_ratio(output: Any, expected_output: Any) -> float:
    return min(len(str(output)), 20) / 20


@pytest.fixture
def dataset(store: Store) -> str:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa",
        [
            ItemCreate(
                input={"q": f"q{i}"}, expected_output=f"Q{i}", tags=["odd" if i % 2 else "even"]
            )
            for i in range(N)
        ],
    )
    return "qa"


def good(x: dict[str, str]) -> str:
    return x["q"].upper()


def worse(x: dict[str, str]) -> str:
    k = int(x["q"][1:])
    if k == 3:
        raise RuntimeError("target broke")
    return x["q"].upper() if k % 4 else x["q"]  # every fourth item now fails


def run(store: Store, task: Any, name: str, tag: str | None = None) -> str:
    result = assay.evaluate(
        "qa", task, [exact_match(), length_ratio()], name=name, run_tag=tag, store=store
    )
    assert result.status == "completed"
    return result.id


def _row(frame: RunFrame, item_id: str) -> int:
    row = frame.row_of(item_id)
    assert row is not None
    return row


def test_load_run_reads_columns_from_sql(store: Store, dataset: str) -> None:
    rid = run(store, worse, "worse")
    frame = load_run(store, "worse")
    assert frame.run_id == rid
    assert len(frame) == N
    assert frame.dataset_version == store.datasets.get("qa").version
    assert set(frame.scores) == {"exact_match", "length_ratio"}
    row = _row(frame, frame.id_list()[3])
    assert frame.status[row] == FAILED
    assert frame.errors is not None
    assert "target broke" in (frame.errors[row] or "")
    ok = _row(frame, frame.id_list()[1])
    assert frame.status[ok] == COMPLETED
    assert frame.outputs is not None
    assert frame.outputs[ok] == "Q1"
    assert frame.scores["exact_match"].is_pass_fail
    assert frame.scores["length_ratio"].value[ok] == pytest.approx(0.1)
    # item 0 is a fourth item: output "q0" fails exact match
    zero = _row(frame, frame.id_list()[0])
    assert frame.passed[zero] == 0.0
    assert math.isnan(frame.judge_cost[ok])
    lean = load_run(store, rid, outputs=False)
    assert lean.outputs is None
    assert np.array_equal(lean.passed, frame.passed, equal_nan=True)


def test_later_score_sources_overrule_evaluators(store: Store, dataset: str) -> None:
    rid = run(store, good, "good")
    first = store.experiments.results(rid, limit=1).results[0]
    now = datetime.now(UTC)
    with store.db.write() as conn:  # a person overrules the evaluator on one result
        conn.execute(
            scores.insert().values(
                id=new_id(),
                project_id=store.project_id,
                experiment_id=rid,
                result_id=first.id,
                name="exact_match",
                data_type="boolean",
                numeric_value=0.0,
                passed=False,
                source="human",
                cost=0.25,
                metadata={},
                created_at=now,
                updated_at=now,
            )
        )
    frame = load_run(store, rid)
    row = _row(frame, first.item_id or "")
    assert frame.scores["exact_match"].passed[row] == 0.0
    assert frame.judge_cost[row] == pytest.approx(0.25)
    other = _row(frame, frame.id_list()[1 if row == 0 else 0])
    assert frame.scores["exact_match"].passed[other] == 1.0


def test_compare_experiments_end_to_end(store: Store, dataset: str) -> None:
    base = run(store, good, "good")
    cand = run(store, worse, "worse")
    cmp = compare_experiments(store, [base, cand], only="regressions")
    assert cmp.baseline_id == base
    # items 0, 4, 8, ... now fail exact match and item 3 failed in the target
    assert cmp.regressions[cand] == 11
    assert cmp.items_total == 11
    passed = cmp.metric("passed")
    assert passed is not None
    assert passed.means[base] == 1.0
    contrast = passed.contrast(cand)
    assert contrast is not None
    assert contrast.difference == pytest.approx(-11 / 40)
    assert contrast.verdict.value == "worse"
    assert all(row.tags for row in cmp.items)
    odd = compare_experiments(store, [base, cand], tag="odd")
    assert {r.item_id for r in odd.items} <= {
        r.item_id for r in compare_experiments(store, [base, cand]).items
    }
    assert all(r.tags == ["odd"] for r in odd.items)
    stats = compare_experiments(store, ["good", "worse"], items=False)
    assert stats.items == []
    assert stats.metric("exact_match") is not None


@pytest.mark.parametrize("only", [None, "regressions", "improvements", "failed", "changed"])
def test_a_page_reads_only_its_rows_yet_matches_the_whole_comparison(
    store: Store, dataset: str, only: Any
) -> None:
    base = run(store, good, "good")
    cand = run(store, worse, "worse")
    whole = compare_experiments(store, [base, cand], only=only)
    pages = [
        compare_experiments(store, [base, cand], only=only, offset=k, limit=4)
        for k in range(0, whole.items_total + 4, 4)
    ]
    assert all(p.items_total == whole.items_total for p in pages)
    paged = [row for p in pages for row in p.items]
    assert [r.model_dump() for r in paged] == [r.model_dump() for r in whole.items]
    if only in ("regressions", "failed"):
        assert any(r.cells[cand] and r.cells[cand].output for r in paged)  # outputs were read
        assert any(r.cells[cand] and r.cells[cand].error for r in paged)
        assert all(r.tags for r in paged)


def test_compare_rejects_bad_references(store: Store, dataset: str) -> None:
    base = run(store, good, "good")
    with pytest.raises(InvalidInput):
        compare_experiments(store, [base])
    with pytest.raises(NotFound):
        compare_experiments(store, [base, "nope"])
    with pytest.raises(InvalidInput, match="listed twice"):
        compare_experiments(store, [base, base])


def test_gate_against_a_pinned_baseline(store: Store, dataset: str) -> None:
    base = run(store, good, "good")
    cand = run(store, worse, "worse")
    verdict = gate_experiment(store, cand, baseline=base)
    assert not verdict.passed
    assert verdict.baseline_id == base
    assert any("pass rate" in r for r in verdict.reasons)
    assert len(verdict.items) == N
    assert sum(i.regressed for i in verdict.items) == 11
    same = gate_experiment(store, base, baseline=cand, policy=RegressionPolicy(max_drop=None))
    assert same.passed


def test_gate_baseline_tag_picks_latest_completed_run_on_dataset(
    store: Store, dataset: str
) -> None:
    old = run(store, worse, "main-old", tag="main")
    new = run(store, good, "main-new", tag="main")
    run(store, good, "untagged")
    cand = run(store, good, "feature", tag="main")  # tagged too: never its own baseline
    found = resolve_baseline(store, store.experiments.get(cand), baseline_tag="main")
    assert found is not None
    assert found.id == new
    verdict = gate_experiment(store, cand, baseline_tag="main")
    assert verdict.passed
    assert verdict.baseline_id == new
    # the oldest run, gated against the tag, compares with the newest other one
    assert gate_experiment(store, old, baseline_tag="main").baseline_id == cand
    with pytest.raises(NotFound, match="no completed run tagged 'release'"):
        gate_experiment(store, cand, baseline_tag="release")
    with pytest.raises(InvalidInput, match="not both"):
        gate_experiment(store, cand, baseline=new, baseline_tag="main")
    with pytest.raises(InvalidInput, match="run being gated"):
        gate_experiment(store, cand, baseline=cand)


def test_stored_policy_applies_and_a_call_overrides_it(store: Store, dataset: str) -> None:
    base = run(store, good, "base", tag="main")
    cand = run(store, worse, "cand")
    assert dataset_policy(store, "qa") is None
    stored = set_dataset_policy(
        store,
        "qa",
        "min_pass_rate: 0.5\nmax_drop: 0.5\nbaseline_tag: main\n"
        "scorers:\n  length_ratio: {threshold: 0.01}\n",
    )
    assert dataset_policy(store, "qa") == stored
    verdict = gate_experiment(store, cand)
    assert verdict.baseline_id == base  # the stored policy names the baseline tag
    assert verdict.passed, verdict.reasons
    assert any(c.name == "threshold:length_ratio" for c in verdict.checks)
    strict = gate_experiment(store, cand, policy=RegressionPolicy(min_pass_rate=0.9))
    assert not strict.passed
    assert strict.baseline_id is None
    with pytest.raises(InvalidInput, match="min_pass_rate"):
        set_dataset_policy(store, "qa", {"min_pass_rate": 3})
    assert dataset_policy(store, "qa") == stored  # a bad policy leaves the stored one alone
    assert store.policies.clear("qa") is True
    assert store.policies.clear("qa") is False
    assert dataset_policy(store, "qa") is None
    with pytest.raises(NotFound):
        store.policies.get("nope")


def test_gate_refuses_unfinished_runs(store: Store, dataset: str) -> None:
    from assay.engine import plan
    from assay.targets import FunctionTarget

    planned = plan(store, dataset="qa", target=FunctionTarget(good), name="pending")
    assert store.experiments.get(planned.experiment.id).status.value == "pending"
    with pytest.raises(Conflict, match="needs a completed run"):
        gate_experiment(store, planned.experiment.id)
    base = run(store, good, "good")
    with pytest.raises(Conflict, match="needs a completed run"):
        gate_experiment(store, base, baseline=planned.experiment.id)
    with pytest.raises(Conflict, match="still pending"):
        compare_experiments(store, [base, planned.experiment.id])

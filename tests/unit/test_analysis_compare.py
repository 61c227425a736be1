"""Comparison of runs built from stored result records."""

from __future__ import annotations

import numpy as np
import pytest

from assay.analysis import RunFrame, compare_runs, filter_items, word_diff
from assay.analysis.frame import align, item_codes
from assay.analysis.items import item_rows
from assay.domain import Comparison, ResultStatus, ScoreSource, Verdict
from assay.errors import InvalidInput
from tests.unit.analysis_support import experiment, frame, result, score


def _run(run_id: str, rows: list, **kw: object) -> RunFrame:
    return RunFrame.from_results(rows, run_id=run_id, name=f"run {run_id}", **kw)  # type: ignore[arg-type]


def _two_runs() -> tuple[RunFrame, RunFrame]:
    a = _run(
        "A",
        [
            result("A", "i1", passed=True, output="the cat sat", scores=[score("acc", 0.5)]),
            result("A", "i2", passed=True, output="yes", scores=[score("acc", 0.9)]),
            result("A", "i3", passed=False, output="no", scores=[score("acc", 0.1)]),
        ],
        dataset_id="d",
        dataset_version=3,
    )
    b = _run(
        "B",
        [
            result("B", "i2", passed=False, output="no", scores=[score("acc", 0.4)]),
            result("B", "i3", passed=True, output="no", scores=[score("acc", 0.6)]),
            result("B", "i4", passed=True, output="new", scores=[score("acc", 1.0)]),
        ],
        dataset_id="d",
        dataset_version=4,
    )
    return a, b


def test_alignment_with_missing_items_changes_and_warnings() -> None:
    a, b = _two_runs()
    cmp = compare_runs([a, b], item_tags={"i2": ["billing"]})
    assert [(r.item_id, r.changes["B"]) for r in cmp.items] == [
        ("i1", "missing"),
        ("i2", "regression"),
        ("i3", "improvement"),
        ("i4", "missing"),
    ]
    i1, i2 = cmp.items[0], cmp.items[1]
    assert i1.cells["B"] is None
    assert i1.cells["A"] is not None
    assert i1.cells["A"].output == "the cat sat"
    assert i2.deltas["B"] == {"acc": pytest.approx(-0.5)}
    assert i2.tags == ["billing"]
    assert cmp.regressions == {"B": 1}
    assert cmp.improvements == {"B": 1}
    codes = {w.code for w in cmp.warnings}
    assert codes == {"dataset_version", "item_set"}
    item_set = next(w for w in cmp.warnings if w.code == "item_set")
    assert "1 only in the baseline, 1 only in 'run B'" in item_set.message
    passed = cmp.metric("passed")
    assert passed is not None
    assert passed.means == {"A": pytest.approx(2 / 3), "B": pytest.approx(2 / 3)}
    assert passed.contrasts[0].n == 2  # only i2 and i3 are in both runs
    acc = cmp.metric("acc")
    assert acc is not None
    assert acc.kind == "numeric"
    assert acc.contrasts[0].difference == pytest.approx(((0.4 - 0.9) + (0.6 - 0.1)) / 2)
    assert acc.contrasts[0].test == "permutation_exact"


def test_filters() -> None:
    a, b = _two_runs()
    rows = compare_runs([a, b], item_tags={"i2": ["billing"], "i3": ["billing"]}).items
    assert [r.item_id for r in filter_items(rows, only="regressions")] == ["i2"]
    assert [r.item_id for r in filter_items(rows, only="improvements")] == ["i3"]
    assert [r.item_id for r in filter_items(rows, only="failed")] == ["i2", "i3"]
    assert [r.item_id for r in filter_items(rows, only="failed", run_id="B")] == ["i2"]
    assert [r.item_id for r in filter_items(rows, only="changed")] == ["i2", "i3"]
    assert [r.item_id for r in filter_items(rows, tag="billing", only="improvements")] == ["i3"]
    assert filter_items(rows, tag="nope") == []
    with pytest.raises(InvalidInput, match="unknown filter"):
        filter_items(rows, only="broken")  # type: ignore[arg-type]


def test_word_diff_of_changed_outputs() -> None:
    a = _run("A", [result("A", "i1", output="the cat sat on the mat")])
    b = _run("B", [result("B", "i1", output="the dog sat on the mat")])
    c = _run("C", [result("C", "i1", output="the cat sat on the mat")])
    row = compare_runs([a, b, c]).items[0]
    assert [(d.op, d.text) for d in row.diffs["B"]] == [
        ("equal", "the "),
        ("delete", "cat"),
        ("insert", "dog"),
        ("equal", " sat on the mat"),
    ]
    assert "C" not in row.diffs  # identical output: nothing to show
    assert compare_runs([a, b], diffs=False).items[0].diffs == {}


@pytest.mark.parametrize(
    ("before", "after"),
    [("", "new text"), ("a b  c", "a  b c\nd"), ("same", "same"), ("x y z", "")],
)
def test_word_diff_rebuilds_both_sides(before: str, after: str) -> None:
    ops = word_diff(before, after)
    assert "".join(o.text for o in ops if o.op != "insert") == before
    assert "".join(o.text for o in ops if o.op != "delete") == after


def test_json_outputs_diff_as_sorted_json() -> None:
    a = _run("A", [result("A", "i1", output={"b": 1, "a": 2})])
    b = _run("B", [result("B", "i1", output={"a": 2, "b": 3})])
    ops = compare_runs([a, b]).items[0].diffs["B"]
    assert ("delete", "1") in [(o.op, o.text) for o in ops]
    assert ("insert", "3") in [(o.op, o.text) for o in ops]


def test_repetitions_give_pass_rates_and_flaky_items() -> None:
    rows_a = [result("A", i, repetition=r, passed=True) for i in ("x", "y") for r in range(3)]
    outcomes = {("x", 0): True, ("x", 1): False, ("x", 2): True}
    rows_b = [
        result("B", i, repetition=r, passed=outcomes.get((i, r), True))
        for i in ("x", "y")
        for r in range(3)
    ]
    cmp = compare_runs([_run("A", rows_a), _run("B", rows_b)])
    assert len(cmp.items) == 6
    assert cmp.flaky_items == ["x"]
    x = cmp.reliability[0]
    assert x.pass_rates == {"A": 1.0, "B": pytest.approx(2 / 3)}
    assert x.trials == {"A": 3, "B": 3}
    assert x.flaky_in == ["B"]
    assert [r.item_id for r in cmp.reliability] == ["x", "y"]
    passed = cmp.metric("passed")
    assert passed is not None
    contrast = passed.contrasts[0]
    assert contrast.n == 2  # two items, not six rows
    assert contrast.test == "permutation_exact"  # repetitions: McNemar's pairs are not independent
    assert contrast.difference == pytest.approx((2 / 3 - 1) / 2)


def test_pass_fail_scorer_usage_and_unfinished_rows() -> None:
    a = _run(
        "A",
        [
            result(
                "A", "i1", latency_ms=100, cost=0.01, scores=[score("ok", True, True, cost=0.5)]
            ),
            result("A", "i2", latency_ms=300, cost=0.03, scores=[score("ok", False, False)]),
            result("A", "i3", status=ResultStatus.pending, passed=None, latency_ms=None, cost=None),
        ],
    )
    b = _run(
        "B",
        [
            result("B", "i1", latency_ms=200, cost=0.02, scores=[score("ok", True, True)]),
            result("B", "i2", latency_ms=200, cost=0.02, scores=[score("ok", True, True)]),
            result(
                "B", "i3", status=ResultStatus.failed, passed=None, error="timeout", latency_ms=200
            ),
        ],
    )
    cmp = compare_runs([a, b])
    ok = cmp.metric("ok")
    assert ok is not None
    assert ok.kind == "pass_fail"
    assert ok.means == {"A": 0.5, "B": 1.0}
    assert ok.contrasts[0].test == "mcnemar_exact"
    passed = cmp.metric("passed")
    assert passed is not None
    assert passed.counts == {"A": 2, "B": 3}  # the pending row does not count; failed counts
    assert passed.means["B"] == pytest.approx(2 / 3)
    latency = next(u for u in cmp.usage if u.name == "latency_ms")
    assert latency.runs["A"].total == 400
    assert latency.runs["A"].count == 2
    assert latency.deltas[0].mean == pytest.approx(200 - 200)
    assert latency.deltas[0].total == pytest.approx(600 - 400)
    judge = next(u for u in cmp.usage if u.name == "judge_cost")
    assert judge.runs["A"].total == 0.5
    assert judge.runs["B"].count == 0
    assert [w.code for w in cmp.warnings] == ["unfinished"]
    i3 = cmp.items[2]
    assert i3.cells["B"] is not None
    assert i3.cells["B"].error == "timeout"
    assert i3.changes["B"] == "missing"


def test_clear_difference_gets_a_verdict_and_direction_is_respected() -> None:
    n = 60
    rng = np.random.default_rng(1)
    base = rng.random(n)
    a = frame("A", np.ones(n), scores={"latency_judge": base})
    b = frame("B", np.ones(n), scores={"latency_judge": base + 0.3})
    higher = compare_runs([a, b]).metric("latency_judge")
    lower = compare_runs([a, b], directions={"latency_judge": "lower"}).metric("latency_judge")
    assert higher is not None
    assert lower is not None
    assert higher.contrasts[0].verdict is Verdict.better
    assert lower.contrasts[0].verdict is Verdict.worse
    assert lower.direction == "lower"
    c = higher.contrasts[0]
    assert c.ci_low is not None
    assert c.ci_high is not None
    assert c.ci_low <= 0.3 <= c.ci_high


def test_three_runs_each_against_the_baseline() -> None:
    n = 40
    a = frame("A", np.ones(n))
    b = frame("B", np.r_[np.zeros(30), np.ones(10)])
    c = frame("C", np.ones(n))
    cmp = compare_runs([a, b, c])
    passed = cmp.metric("passed")
    assert passed is not None
    assert [(x.run_id, x.verdict) for x in passed.contrasts] == [
        ("B", Verdict.worse),
        ("C", Verdict.inconclusive),
    ]
    assert cmp.regressions == {"B": 30, "C": 0}
    assert cmp.baseline_id == "A"


def test_comparison_round_trips_through_json() -> None:
    a, b = _two_runs()
    cmp = compare_runs([a, b])
    again = Comparison.model_validate_json(cmp.model_dump_json())
    assert again == cmp


def test_scores_by_source_and_results_without_items() -> None:
    a = _run(
        "A",
        [
            result(
                "A",
                "i1",
                scores=[
                    score("acc", 1.0, source=ScoreSource.human),
                    score("acc", 0.2, source=ScoreSource.evaluator),
                ],
            ),
            result("A", None),
        ],
    )
    assert a.scores["acc"].value.tolist() == [1.0]  # people overrule the evaluator
    assert a.unaligned == 1
    b = _run("B", [result("B", "i1", scores=[score("other", 1.0)])])
    codes = sorted(w.code for w in compare_runs([a, b]).warnings)
    assert codes == ["scorer_missing", "scorer_missing", "unaligned"]


def test_bad_input_is_named() -> None:
    with pytest.raises(InvalidInput) as err:
        _run("A", [result("A", "i1"), result("A", "i1")])
    assert err.value.row == 1
    assert "two results for item i1" in err.value.message
    with pytest.raises(InvalidInput, match="belongs to run B"):
        _run("A", [result("B", "i1")])
    a, b = _two_runs()
    with pytest.raises(InvalidInput, match="at least two runs"):
        compare_runs([a])
    with pytest.raises(InvalidInput, match="listed twice"):
        compare_runs([a, a])
    with pytest.raises(InvalidInput, match="resamples"):
        compare_runs([a, b], resamples=10)
    with pytest.raises(InvalidInput, match="alpha"):
        compare_runs([a, b], alpha=1.5)
    with pytest.raises(InvalidInput) as bad:
        compare_runs([a, b], directions={"acc": "up"})  # type: ignore[dict-item]
    assert bad.value.field == "directions.acc"
    with pytest.raises(InvalidInput, match="column passed has 1 rows"):
        RunFrame(
            run_id="x",
            name="x",
            item_ids=np.array(["a", "b"]),
            repetition=np.zeros(2, dtype=np.int64),
            status=np.zeros(2, dtype=np.int8),
            passed=np.ones(1),
            latency_ms=np.ones(2),
            cost=np.ones(2),
            judge_cost=np.ones(2),
            scores={},
        )


def _mixed_runs() -> list[RunFrame]:
    rng = np.random.default_rng(5)
    runs = []
    for name in ("A", "B", "C"):
        rows = []
        for k in range(60):
            if rng.random() < 0.1:
                continue  # some items missing in some runs
            status = ResultStatus.failed if rng.random() < 0.1 else ResultStatus.completed
            rows.append(
                result(
                    name,
                    f"i{k}",
                    status=status,
                    passed=None if status == ResultStatus.failed else bool(rng.random() < 0.6),
                    output=f"answer {int(rng.integers(0, 3))}",
                    scores=[score("acc", float(rng.integers(0, 3)) / 2)],
                )
            )
        runs.append(_run(name, rows))
    return runs


@pytest.mark.parametrize("only", [None, "regressions", "improvements", "changed", "failed"])
@pytest.mark.parametrize("run_id", [None, "B"])
@pytest.mark.parametrize("tag", [None, "even"])
def test_filters_before_building_match_filters_after(
    only: str | None, run_id: str | None, tag: str | None
) -> None:
    runs = _mixed_runs()
    tags = {f"i{k}": ["even"] for k in range(0, 60, 2)}
    everything = compare_runs(runs, item_tags=tags, diffs=False).items
    expected = filter_items(everything, only=only, tag=tag, run_id=run_id)  # type: ignore[arg-type]
    rows, total = item_rows(runs, tags, diffs=False, only=only, tag=tag, run_id=run_id)  # type: ignore[arg-type]
    assert rows == expected
    assert total == len(expected)
    if only is not None:
        assert 0 < total < len(everything)


def test_item_pages() -> None:
    runs = _mixed_runs()
    whole = compare_runs(runs, only="changed", diffs=False)
    page = compare_runs(runs, only="changed", diffs=False, offset=5, limit=10)
    assert page.items == whole.items[5:15]
    assert page.items_total == whole.items_total == len(whole.items)
    assert page.metrics == whole.metrics  # statistics always cover every item
    assert compare_runs(runs, items=False).items == []
    with pytest.raises(InvalidInput, match="negative"):
        compare_runs(runs, offset=-1)
    with pytest.raises(InvalidInput, match="not part of the comparison"):
        item_rows(runs, {}, run_id="Z")


def test_from_experiment_uses_name_version_and_selection() -> None:
    a = RunFrame.from_experiment(experiment("A"), [result("A", "i1"), result("A", "i2")])
    # B selected three items but has results for two: the selection is its item set.
    b = RunFrame.from_experiment(
        experiment("B", selection={"item_ids": ["i1", "i2", "i3"]}),
        [result("B", "i1"), result("B", "i2")],
    )
    assert (a.name, a.dataset_version, a.selection, a.item_count) == ("exp A", 1, None, 2)
    assert (b.selection, b.item_count) == (frozenset({"i1", "i2", "i3"}), 3)
    warning = compare_runs([a, b]).warnings[0]
    assert warning.code == "item_set"
    assert "0 only in the baseline, 1 only in 'exp B'" in warning.message


def test_align_same_plan_and_different_orders() -> None:
    a = frame("A", [1, 0, 1, 1], items=["i1", "i1", "i2", "i3"], repetition=[0, 1, 0, 0])
    same = frame("B", [0, 0, 1, 1], items=["i1", "i1", "i2", "i3"], repetition=[0, 1, 0, 0])
    rows_a, rows_b = align(a, same)
    assert rows_a.tolist() == rows_b.tolist() == [0, 1, 2, 3]
    shuffled = frame("C", [1, 1, 0], items=["i3", "i9", "i1"], repetition=[0, 0, 1])
    rows_a, rows_c = align(a, shuffled)
    assert rows_a.tolist() == [1, 3]  # (i1, 1) and (i3, 0), in the baseline's order
    assert rows_c.tolist() == [2, 0]
    assert item_codes(a).tolist() == [0, 0, 1, 2]  # trials of one item share a code
    assert item_codes(frame("D", [1, 1], items=["i9", "i3"])).tolist() == [0, 1]


def test_duplicate_trial_is_named() -> None:
    with pytest.raises(InvalidInput) as err:
        frame("A", [1, 1, 1], items=["i1", "i1", "i1"], repetition=[0, 1, 1])
    assert err.value.row == 2
    assert "item i1 repetition 1" in err.value.message


def test_many_rows_and_pages_build_the_same_rows() -> None:
    rng = np.random.default_rng(3)
    n = 1500  # above the size where columns are converted to lists at once
    a = frame("A", rng.random(n) < 0.7, scores={"sim": rng.random(n)})
    b = frame("B", rng.random(n) < 0.7, scores={"sim": rng.random(n)})
    whole = compare_runs([a, b], resamples=200)
    assert len(whole.items) == n
    paged = [
        row
        for k in range(0, n, 400)
        for row in compare_runs([a, b], resamples=200, offset=k, limit=400).items
    ]
    assert [r.model_dump() for r in paged] == [r.model_dump() for r in whole.items]
    first = whole.items[0]
    assert first.cells["A"] is not None
    assert first.cells["A"].scores["sim"] == pytest.approx(float(a.scores["sim"].value[0]))

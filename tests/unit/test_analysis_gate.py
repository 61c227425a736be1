"""Regression policy, gate verdicts and their JUnit / Markdown renderings."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from assay.analysis import (
    RunFrame,
    compare_runs,
    evaluate_gate,
    render_comparison_markdown,
    render_junit,
    render_markdown,
)
from assay.domain import RegressionPolicy, ResultStatus
from assay.errors import InvalidInput
from tests.unit.analysis_support import frame, result, score

N = 200


def _runs(drop: int, *, acc_shift: float = 0.0) -> tuple[RunFrame, RunFrame]:
    """Baseline passes everything; the candidate fails its first ``drop`` items."""
    rng = np.random.default_rng(3)
    acc = rng.random(N)
    base = frame("base", np.ones(N), scores={"acc": acc})
    cand = frame("cand", np.r_[np.zeros(drop), np.ones(N - drop)], scores={"acc": acc + acc_shift})
    return base, cand


def test_policy_parses_yaml_json_and_dicts() -> None:
    text = """
    min_pass_rate: 0.9
    max_drop: 0.02
    block_inconclusive: true
    min_items: 50
    scorers:
      latency_judge: {direction: lower, threshold: 0.3}
      acc: {threshold: 0.5, max_drop: 0.05}
    """
    policy = RegressionPolicy.parse(text)
    assert policy.min_pass_rate == 0.9
    assert policy.scorers["latency_judge"].direction == "lower"
    assert policy.scorers["acc"].max_drop == 0.05
    assert RegressionPolicy.parse('{"min_items": 3}').min_items == 3
    assert RegressionPolicy.parse({"alpha": 0.01}).alpha == 0.01
    assert RegressionPolicy.parse("") == RegressionPolicy()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"min_pass_rate": 2}, "min_pass_rate", "less than or equal to 1"),
        ({"scorers": {"acc": {"direction": "up"}}}, "scorers.acc.direction", "'higher' or"),
        ({"max_dorp": 0.1}, "max_dorp", "Extra inputs"),
        ({"scorers": {"acc": {"max_drop": -1}}}, "scorers.acc.max_drop", "greater than"),
    ],
)
def test_policy_errors_name_the_field(data: dict, field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        RegressionPolicy.parse(data, source="gate.yaml")
    assert err.value.field == field
    assert message in err.value.message
    assert err.value.message.startswith(f"gate.yaml: {field}:")


def test_policy_rejects_non_mappings_and_bad_yaml() -> None:
    with pytest.raises(InvalidInput, match="must be a mapping"):
        RegressionPolicy.parse("- a\n- b")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        RegressionPolicy.parse("a: [1, 2")


def test_gate_without_baseline_checks_absolute_limits() -> None:
    _, cand = _runs(30)
    policy = RegressionPolicy.parse(
        {
            "min_pass_rate": 0.9,
            "min_items": 10,
            "scorers": {"acc": {"threshold": 0.4}, "cost_judge": {"threshold": 1}},
        }
    )
    verdict = evaluate_gate(cand, None, policy)
    assert not verdict.passed
    outcome = {c.name: c.passed for c in verdict.checks}
    assert outcome == {
        "min_items": True,
        "min_pass_rate": False,  # 85 %
        "threshold:acc": True,
        "threshold:cost_judge": False,  # no scores at all
    }
    assert verdict.means["passed"] == pytest.approx(0.85)
    assert verdict.reasons[0] == "pass rate 85.0%; at least 90.0% required"
    assert "cost_judge: no scores" in verdict.reasons[1]
    assert verdict.comparison is None
    lower = RegressionPolicy.parse({"scorers": {"acc": {"direction": "lower", "threshold": 0.4}}})
    assert not evaluate_gate(cand, None, lower).passed  # mean about 0.5 > 0.4
    assert not evaluate_gate(cand, None, RegressionPolicy(min_items=500)).passed
    assert evaluate_gate(cand, None).passed


def test_significant_drop_blocks() -> None:
    base, cand = _runs(30)
    verdict = evaluate_gate(cand, base)
    assert not verdict.passed
    drop = next(c for c in verdict.checks if c.name == "drop:passed")
    assert drop.observed == pytest.approx(0.15)
    assert "significantly worse" in drop.message
    assert sum(i.regressed for i in verdict.items) == 30
    allowed = evaluate_gate(cand, base, RegressionPolicy(max_drop=0.2))
    assert allowed.passed
    assert evaluate_gate(cand, base, RegressionPolicy(max_drop=None)).passed


def test_inconclusive_drop_blocks_only_when_asked() -> None:
    base, cand = _runs(2)  # 2 of 200: McNemar p = 0.5
    assert evaluate_gate(cand, base).passed
    strict = evaluate_gate(cand, base, RegressionPolicy(block_inconclusive=True))
    assert not strict.passed
    assert "not significant; the policy blocks inconclusive drops" in strict.reasons[0]


def test_scorer_drop_uses_direction_and_its_own_allowance() -> None:
    base, cand = _runs(0, acc_shift=-0.05)
    assert evaluate_gate(cand, base).passed  # only the pass rate is gated by default
    policy = {"scorers": {"acc": {}}}
    assert not evaluate_gate(cand, base, RegressionPolicy.parse(policy)).passed
    loose = {"scorers": {"acc": {"max_drop": 0.1}}}
    assert evaluate_gate(cand, base, RegressionPolicy.parse(loose)).passed
    lower = {"scorers": {"acc": {"direction": "lower"}}}
    assert evaluate_gate(cand, base, RegressionPolicy.parse(lower)).passed  # lower is better


def _stored_runs() -> tuple[RunFrame, RunFrame]:
    base = RunFrame.from_results(
        [result("b", f"i{k}", passed=True) for k in range(4)], run_id="b", name="main"
    )
    cand = RunFrame.from_results(
        [
            result("c", "i0", passed=True, latency_ms=1500),
            result(
                "c",
                "i1",
                passed=False,
                scores=[score("exact", False, False), score("acc", 0.2, None)],
            ),
            result(
                "c",
                "i2",
                status=ResultStatus.failed,
                passed=None,
                error='bad <tag> & "quote"\x00\x1b',
            ),
            result("c", "i3", status=ResultStatus.cancelled, passed=None),
            result("c", "i4", repetition=1, passed=False),
        ],
        run_id="c",
        name="feature | branch",
    )
    return base, cand


def test_junit_has_one_case_per_item_and_escapes() -> None:
    base, cand = _stored_runs()
    verdict = evaluate_gate(cand, base, RegressionPolicy(block_inconclusive=True))
    xml = render_junit(verdict)
    root = ET.fromstring(xml)  # parses: control characters replaced, markup escaped
    gate, run = root.findall("testsuite")
    assert gate.get("name") == "assay.gate"
    assert int(gate.get("tests", "0")) == len(verdict.checks)
    # Two items newly fail: too few to be significant, but the policy blocks inconclusive drops.
    assert int(gate.get("failures", "0")) == 1
    assert gate.find("testcase[@name='drop:passed']/failure") is not None
    cases = run.findall("testcase")
    assert [c.get("name") for c in cases] == ["i0", "i1", "i2", "i3", "i4"]  # one per item
    assert (run.get("tests"), run.get("failures"), run.get("errors"), run.get("skipped")) == (
        "5",
        "2",
        "1",
        "1",
    )
    assert cases[0].get("time") == "1.500"
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("type") == "regression"
    assert failure.get("message") == "failing scores: exact (passed in the baseline)"
    error = cases[2].find("error")
    assert error is not None
    assert error.get("message") == 'bad <tag> & "quote"\ufffd\ufffd'
    assert cases[3].find("skipped") is not None
    assert root.get("tests") == str(len(verdict.checks) + 5)


def test_an_item_regressed_in_several_trials_is_listed_once() -> None:
    """Three trials per item: i0 regressed in two, i1 in all three, i2 in none."""
    items = [f"i{k}" for k in range(3) for _ in range(3)]
    reps = [0, 1, 2] * 3
    base = frame("base", np.ones(9), items=items, repetition=reps)
    cand = frame("cand", [0, 1, 0, 0, 0, 0, 1, 1, 1], items=items, repetition=reps)
    verdict = evaluate_gate(cand, base)
    assert [(r.item_id, r.regressed, r.trials) for r in verdict.regressions] == [
        ("i0", 2, 3),
        ("i1", 3, 3),
    ]
    assert len(verdict.items) == 9  # the per-trial outcomes stay available

    md = render_markdown(verdict)
    assert (
        "**Regressions** (2, passed in the baseline): `i0` (2 of 3 trials), `i1` (3 of 3 trials)"
        in md
    )
    assert "i0[" not in md

    run = ET.fromstring(render_junit(verdict)).findall("testsuite")[1]
    cases = run.findall("testcase")
    assert [c.get("name") for c in cases] == ["i0", "i1", "i2"]
    assert (run.get("tests"), run.get("failures")) == ("3", "2")
    failure = cases[0].find("failure")
    assert failure is not None
    assert failure.get("type") == "regression"
    assert failure.get("message") == (
        "did not pass (2 of 3 trials did not pass); 2 of 3 trials regressed "
        "(passed in the baseline)"
    )
    assert cases[2].find("failure") is None


def test_markdown_summary_for_a_pull_request() -> None:
    base, cand = _runs(30)
    md = render_markdown(evaluate_gate(cand, base))
    assert md.startswith("## ❌ Gate failed: **cand** vs baseline **base**")
    assert "| pass rate | 100.0% | 85.0% | -15.0 pp |" in md
    assert "🔴 worse" in md
    assert "**Regressions** (30, passed in the baseline): `i0`, `i1`" in md
    assert "and 10 more" in md
    assert "| min_items | pass |" in md
    ok = render_markdown(evaluate_gate(base, None))
    assert ok.startswith("## ✅ Gate passed: **base**")
    assert "| pass rate | 100.0% |" in ok


def test_markdown_escapes_table_cells() -> None:
    base, cand = _stored_runs()
    md = render_markdown(evaluate_gate(cand, base))
    assert "feature \\| branch" in md


def test_comparison_markdown_lists_runs_and_warnings() -> None:
    base, cand = _runs(30)
    other = frame("other", np.ones(N - 10), scores={"acc": np.ones(N - 10)})
    md = render_comparison_markdown(compare_runs([base, cand, other]))
    assert "### cand vs base" in md
    assert "### other vs base" in md
    assert "30 regressions (pass → fail), 0 improvements (fail → pass)." in md
    assert "**Warnings**" in md
    assert "10 only in the baseline" in md


def test_policy_can_tune_the_pass_rate_like_a_scorer() -> None:
    base, cand = _runs(30)
    policy = RegressionPolicy.parse({"scorers": {"passed": {"max_drop": 0.2, "threshold": 0.8}}})
    verdict = evaluate_gate(cand, base, policy)
    assert verdict.passed
    assert [c.name for c in verdict.checks] == ["min_items", "threshold:passed", "drop:passed"]


def test_policy_example_in_the_docs_parses() -> None:
    docs = Path(__file__).parents[2] / "docs" / "statistics.md"
    block = re.search(r"```yaml\n(.*?)```", docs.read_text(), re.S)
    assert block is not None
    policy = RegressionPolicy.parse(block.group(1), source="docs")
    assert policy.scorers["toxicity"].direction == "lower"
    assert policy.min_items == 100

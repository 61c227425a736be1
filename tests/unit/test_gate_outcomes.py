"""A gate's per-item outcomes made from the runs' columns on demand: counted with NumPy, listed
up to a limit, every one yielded in chunks, and the JUnit report written as they come.

The oracle is the implementation this replaced (one record per result, built at once, and the
report built as one ElementTree), kept here verbatim so that the two can be compared."""

from __future__ import annotations

import copy
import io
import math
import pickle
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from assay.analysis import RunFrame, ScoreColumn, evaluate_gate, render_junit, render_markdown
from assay.analysis import gate_items as gate_items_module
from assay.analysis import report as report_module
from assay.analysis.frame import STATUSES, align
from assay.analysis.gate_items import GateOutcomes
from assay.analysis.report import _case_outcome, _xml_text, write_junit
from assay.domain import GateVerdict, ItemOutcome, ItemRegression, RegressionPolicy, ResultStatus
from assay.errors import InvalidInput
from assay.testing import gate_message
from tests.unit.analysis_support import frame


# ---------------------------------------------------------------- the implementation replaced
def old_items(candidate: RunFrame, baseline: RunFrame | None) -> list[ItemOutcome]:
    ok = candidate.pass_metric() == 1.0
    regressed = np.zeros(len(candidate), dtype=np.bool_)
    if baseline is not None:
        rows_b, rows_c = align(baseline, candidate)
        regressed[rows_c] = baseline.pass_metric()[rows_b] == 1.0
        regressed &= ~ok
    status = np.array([s.value for s in STATUSES], dtype=object)[candidate.status].tolist()
    latency = [None if math.isnan(v) else v for v in candidate.latency_ms.tolist()]
    failing: list[list[str]] = [[] for _ in range(len(candidate))]
    for name, col in candidate.scores.items():
        for row in np.flatnonzero(col.passed == 0.0).tolist():
            failing[row].append(name)
    errors = candidate.errors or [None] * len(candidate)
    keys = candidate.keys()
    return [
        ItemOutcome(
            item_id=key[0],
            repetition=key[1],
            status=status[row],
            passed=passed,
            error=errors[row],
            failing_scores=failing[row],
            latency_ms=latency[row],
            regressed=worse,
        )
        for row, (key, passed, worse) in enumerate(
            zip(keys, ok.tolist(), regressed.tolist(), strict=True)
        )
    ]


def old_regressions(
    candidate: RunFrame, baseline: RunFrame | None, items: list[ItemOutcome]
) -> list[ItemRegression]:
    if baseline is None:
        return []
    compared: dict[str, int] = {}
    _, rows_c = align(baseline, candidate)
    for item_id in candidate.id_list(rows_c):
        compared[item_id] = compared.get(item_id, 0) + 1
    regressed: dict[str, int] = {}
    for item in items:
        if item.regressed:
            regressed[item.item_id] = regressed.get(item.item_id, 0) + 1
    return [
        ItemRegression(item_id=item_id, regressed=count, trials=compared[item_id])
        for item_id, count in regressed.items()
    ]


def old_junit(verdict: GateVerdict, items: list[ItemOutcome], suite: str = "assay") -> str:
    root = ET.Element("testsuites", name=_xml_text(suite))
    gate = ET.SubElement(root, "testsuite", name=_xml_text(f"{suite}.gate"))
    gate_failures = 0
    for check in verdict.checks:
        case = ET.SubElement(gate, "testcase", classname=f"{suite}.gate", name=check.name)
        if not check.passed:
            gate_failures += 1
            failure = ET.SubElement(case, "failure", message=_xml_text(check.message))
            failure.set("type", "policy")
            failure.text = _xml_text(check.message)
    gate.set("tests", str(len(verdict.checks)))
    gate.set("failures", str(gate_failures))
    gate.set("errors", "0")
    classname = _xml_text(f"{suite}.{verdict.run_name}")
    run = ET.SubElement(root, "testsuite", name=classname)
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    trials: dict[str, list[ItemOutcome]] = {}
    for item in items:
        trials.setdefault(item.item_id, []).append(item)
    for item_id, outcomes in trials.items():
        case = ET.SubElement(run, "testcase", classname=classname, name=_xml_text(item_id))
        latencies = [o.latency_ms for o in outcomes if o.latency_ms is not None]
        if latencies:
            case.set("time", f"{sum(latencies) / 1000:.3f}")
            total_time += sum(latencies) / 1000
        outcome = _case_outcome(outcomes)
        if outcome is not None:
            kind, kind_type, message = outcome
            counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[kind]] += 1
            element = ET.SubElement(case, kind, message=_xml_text(message))
            if kind != "skipped":
                element.set("type", kind_type)
                element.text = _xml_text(message)
    run.set("tests", str(len(trials)))
    for key, value in counts.items():
        run.set(key, str(value))
    run.set("time", f"{total_time:.3f}")
    root.set("tests", str(len(verdict.checks) + len(trials)))
    root.set("failures", str(gate_failures + counts["failures"]))
    root.set("errors", str(counts["errors"]))
    root.text = "\n  "
    suites = list(root)
    for k, suite_ in enumerate(suites):
        suite_.tail = "\n" if k == len(suites) - 1 else "\n  "
        cases = list(suite_)
        if cases:
            suite_.text = "\n    "
            for case in cases:
                case.tail = "\n    "
            cases[-1].tail = "\n  "
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# ---------------------------------------------------------------- runs with every kind of row
_CODE = {s: i for i, s in enumerate(STATUSES)}
_ODD_IDS = ["plain", 'q"uote', "a<b>&c", "tab\there", "nl\nline", "ctl\x01\x1f", "ünï€ode", "cr\r"]


def runs(seed: int, items: int, trials: int, *, interleaved: bool) -> tuple[RunFrame, RunFrame]:
    """A baseline and a candidate of ``items`` items with ``trials`` trials each: statuses of
    every kind, target errors, two pass/fail scorers, missing latencies, ids that XML must
    escape, a baseline missing some rows and holding others the candidate lacks; with
    ``interleaved``, an item's trials are not next to each other."""
    rng = np.random.default_rng(seed)
    names = [_ODD_IDS[k % len(_ODD_IDS)] + f"-{k}" for k in range(items)]
    if interleaved:
        keys = [(names[k], t) for t in range(trials) for k in range(items)]
    else:
        keys = [(names[k], t) for k in range(items) for t in range(trials)]
    order = rng.permutation(len(keys)) if seed % 2 else np.arange(len(keys))
    keys = [keys[i] for i in order]

    def build(run_id: str, kept: list[tuple[str, int]], p_pass: float) -> RunFrame:
        n = len(kept)
        status = rng.choice(
            [_CODE[ResultStatus.completed]] * 8
            + [_CODE[ResultStatus.failed], _CODE[ResultStatus.cancelled]],
            n,
        ).astype(np.int8)
        done = status == _CODE[ResultStatus.completed]
        a = np.where(done, (rng.random(n) < p_pass).astype(float), np.nan)
        b = np.where(done, (rng.random(n) < p_pass).astype(float), np.nan)
        passed = np.where(done, np.minimum(a, b), np.nan)
        latency = np.where(rng.random(n) < 0.2, np.nan, rng.gamma(2.0, 300.0, n))
        errors = [
            f'boom <{k}> & "x"\x00\n\tend' if s == _CODE[ResultStatus.failed] else None
            for k, s in enumerate(status.tolist())
        ]
        return RunFrame(
            run_id=run_id,
            name=f'{run_id} | <run> & "name"',
            item_ids=[k[0] for k in kept],
            repetition=np.array([k[1] for k in kept], dtype=np.int64),
            status=status,
            passed=passed,
            latency_ms=latency,
            cost=np.full(n, np.nan),
            judge_cost=np.full(n, np.nan),
            scores={"exact": ScoreColumn(a.copy(), a), "judge": ScoreColumn(b.copy(), b)},
            errors=errors,
        )

    base_keys = [k for k in keys if rng.random() > 0.1] + [("only-in-base", 0)]
    return build("base", base_keys, 0.9), build("cand", keys, 0.7)


CASES = [
    pytest.param(seed, trials, interleaved, id=f"seed{seed}-trials{trials}-{'inter' * interleaved}")
    for seed in (1, 2)
    for trials, interleaved in ((1, False), (3, False), (3, True))
]


@pytest.mark.parametrize(("seed", "trials", "interleaved"), CASES)
def test_outcomes_and_counts_match_the_lists_built_before(
    seed: int, trials: int, interleaved: bool
) -> None:
    base, cand = runs(seed, 60, trials, interleaved=interleaved)
    before = old_items(cand, base)
    regressions = old_regressions(cand, base, before)
    assert regressions  # the runs do regress

    whole = evaluate_gate(cand, base, limit=None)
    assert whole.items == before
    assert whole.regressions == regressions
    assert whole.items_total == len(before)
    assert whole.items_failing == sum(1 for i in before if not i.passed)
    assert whole.regressions_total == len(regressions)

    listed = evaluate_gate(cand, base, limit=5)
    assert listed.items == before[:5]
    assert listed.regressions == regressions[:5]
    assert (listed.items_total, listed.items_failing, listed.regressions_total) == (
        whole.items_total,
        whole.items_failing,
        whole.regressions_total,
    )
    assert list(listed.iter_items()) == before
    assert list(listed.iter_regressions()) == regressions
    grouped: dict[str, list[ItemOutcome]] = {}
    for item in before:
        grouped.setdefault(item.item_id, []).append(item)
    assert list(listed.iter_trials()) == list(grouped.values())
    assert (listed.passed, listed.reasons, listed.checks) == (
        whole.passed,
        whole.reasons,
        whole.checks,
    )


@pytest.mark.parametrize(("seed", "trials", "interleaved"), CASES)
@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_junit_written_as_it_goes_is_the_report_built_before(
    seed: int,
    trials: int,
    interleaved: bool,
    chunk: int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(gate_items_module, "CHUNK", chunk)
    base, cand = runs(seed, 40, trials, interleaved=interleaved)
    verdict = evaluate_gate(cand, base, RegressionPolicy(block_inconclusive=True), limit=3)
    expected = old_junit(verdict, old_items(cand, base))
    assert render_junit(verdict) == expected
    assert render_junit(verdict, suite='s<"&>') == old_junit(
        verdict, old_items(cand, base), suite='s<"&>'
    )
    monkeypatch.setattr(report_module, "_SPOOL", 64)  # the cases spill to a temporary file
    path = tmp_path / "junit.xml"
    with path.open("w", encoding="utf-8") as out:
        write_junit(verdict, out)
    assert path.read_text(encoding="utf-8") == expected
    ET.fromstring(expected.encode())  # well-formed


def test_junit_of_a_run_without_results_or_checks() -> None:
    empty = frame("empty", np.zeros(0))
    verdict = evaluate_gate(empty, None, RegressionPolicy(min_items=0))
    assert render_junit(verdict) == old_junit(verdict, [])
    no_checks = verdict.model_copy(update={"checks": []})
    assert render_junit(no_checks) == old_junit(no_checks, [])


def test_markdown_is_the_same_whatever_the_verdict_lists() -> None:
    base, cand = runs(1, 60, 3, interleaved=True)
    whole = render_markdown(evaluate_gate(cand, base, limit=None))
    assert render_markdown(evaluate_gate(cand, base, limit=0)) == whole
    assert render_markdown(evaluate_gate(cand, base, limit=2)) == whole
    before = old_items(cand, base)
    regressions = old_regressions(cand, base, before)
    failing = sum(1 for i in before if not i.passed)
    assert f"{failing} of {len(before)} results did not pass." in whole
    assert f"**Regressions** ({len(regressions)}, passed in the baseline): " in whole
    assert f"and {len(regressions) - 20} more" in whole


def test_without_outcomes_nothing_is_listed_but_all_is_counted() -> None:
    base, cand = runs(2, 30, 1, interleaved=False)
    verdict = evaluate_gate(cand, base, outcomes=False)
    assert (verdict.items, verdict.regressions) == ([], [])
    assert verdict.items_total == len(cand)
    assert verdict.regressions_total == len(old_regressions(cand, base, old_items(cand, base)))
    with pytest.raises(InvalidInput, match="limit must be at least 0") as err:
        evaluate_gate(cand, base, limit=-1)
    assert err.value.field == "limit"


def test_a_verdict_read_back_from_json() -> None:
    base, cand = runs(1, 20, 2, interleaved=False)
    whole = evaluate_gate(cand, base, limit=None)
    parsed = GateVerdict.model_validate_json(whole.model_dump_json())
    assert parsed == whole  # the outcome source is no part of the record
    assert parsed.source is None
    assert parsed.complete
    assert list(parsed.iter_items()) == whole.items
    assert list(parsed.iter_regressions()) == whole.regressions
    assert list(parsed.iter_trials()) == list(whole.iter_trials())

    listed = GateVerdict.model_validate_json(evaluate_gate(cand, base, limit=3).model_dump_json())
    assert not listed.complete
    with pytest.raises(InvalidInput, match="lists 3 of its 40 items") as err:
        list(listed.iter_items())
    assert err.value.field == "items"
    with pytest.raises(InvalidInput, match="gate/regressions/"):
        listed.iter_regressions()
    with pytest.raises(InvalidInput):
        render_junit(listed)  # a report of some of the items would be wrong

    listed = evaluate_gate(cand, base, limit=3)
    pickled = pickle.loads(pickle.dumps(listed))  # the record, without the columns
    assert pickled == listed
    assert pickled.source is None
    copied = copy.deepcopy(listed)
    assert copied.source is listed.source
    assert list(copied.iter_items()) == whole.items

    # A server from before the counts listed every outcome: the counts come from the lists.
    old = whole.model_dump(mode="json")
    for key in ("items_total", "items_failing", "regressions_total"):
        del old[key]
    counted = GateVerdict.model_validate(old)
    assert (counted.items_total, counted.items_failing, counted.regressions_total) == (
        whole.items_total,
        whole.items_failing,
        whole.regressions_total,
    )


def test_assertion_message_stays_bounded() -> None:
    items = [f"i{k}" for k in range(30) for _ in range(2)]
    reps = [0, 1] * 30
    base = frame("base", np.ones(60), items=items, repetition=reps)
    cand = frame("cand", np.zeros(60), items=items, repetition=reps)
    for limit in (None, 3, 0):
        message = gate_message(evaluate_gate(cand, base, limit=limit))
        line = message.splitlines()[-1]
        assert line.startswith("  regressions (30): i0 (2 of 2 trials), i1 (2 of 2 trials)")
        assert line.endswith("i9 (2 of 2 trials) and 20 more")


def test_a_large_gate_builds_records_only_for_what_it_lists() -> None:
    """50,000 results: the records of every outcome took about 150 MB; the columns need a few."""
    n = 50_000
    base = frame("base", np.ones(n))
    cand = frame("cand", (np.arange(n) % 4 != 0).astype(float))
    tracemalloc.start()
    try:
        verdict = evaluate_gate(cand, base)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 25 << 20, f"peak {peak / 2**20:.0f} MB"
    assert (len(verdict.items), verdict.items_total) == (1000, n)
    assert (verdict.regressions_total, verdict.items_failing) == (n // 4, n // 4)
    out = io.StringIO()
    write_junit(verdict, out)
    run = ET.fromstring(out.getvalue()).findall("testsuite")[1]
    assert (run.get("tests"), run.get("failures")) == (str(n), str(n // 4))


# ------------------------------------------------------------------ failing outcomes only
@pytest.mark.parametrize(("seed", "trials", "interleaved"), CASES)
@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_failing_outcomes_are_those_that_did_not_pass_in_run_order(
    seed: int, trials: int, interleaved: bool, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gate_items_module, "CHUNK", chunk)
    base, cand = runs(seed, 30, trials, interleaved=interleaved)
    expected = [i for i in old_items(cand, base) if not i.passed]
    assert 0 < len(expected) < len(cand)
    found = GateOutcomes(cand, base)
    assert found.failing_total == len(expected)
    assert list(found.failing()) == expected
    n = len(expected)
    for start, stop in ((0, 1), (0, 8), (3, 17), (n - 2, n), (n - 1, None), (n, None), (5, 3)):
        assert list(found.failing(start, stop)) == expected[start:stop], (start, stop)
    assert list(found.failing(0, n + 100)) == expected
    rows = found.failing_rows
    assert rows is found.failing_rows  # found once
    assert rows.dtype.kind == "i"
    assert rows.size == n
    assert np.all(np.diff(rows) > 0)

    verdict = evaluate_gate(cand, base, limit=4, only="failing")
    assert (verdict.items, verdict.items_only) == (expected[:4], "failing")
    assert verdict.items_total == len(cand)
    assert verdict.items_failing == n
    assert list(verdict.iter_items()) == old_items(cand, base)  # every outcome, as before
    assert verdict.regressions == evaluate_gate(cand, base, limit=4).regressions
    assert render_junit(verdict) == render_junit(evaluate_gate(cand, base, limit=None))


def test_a_failing_only_verdict_read_back_from_json_does_not_stand_for_every_item() -> None:
    base, cand = runs(1, 20, 2, interleaved=False)
    verdict = evaluate_gate(cand, base, limit=None, only="failing")
    failing = verdict.items_failing
    parsed = GateVerdict.model_validate_json(verdict.model_dump_json())
    assert parsed == verdict
    assert len(parsed.items) == failing < parsed.items_total
    with pytest.raises(InvalidInput, match=f"lists only failing outcomes \\({failing} of") as err:
        list(parsed.iter_items())
    assert err.value.field == "items"
    with pytest.raises(InvalidInput, match="only failing outcomes"):
        render_junit(parsed)
    everything_fails = frame("all-fail", np.zeros(6))
    parsed = GateVerdict.model_validate_json(
        evaluate_gate(everything_fails, None, only="failing").model_dump_json()
    )
    assert len(list(parsed.iter_items())) == 6  # its failing outcomes are all of them
    with pytest.raises(InvalidInput, match="only must be 'all' or 'failing', not 'failed'") as err:
        evaluate_gate(cand, base, only="failed")  # type: ignore[arg-type]
    assert err.value.field == "only"


def test_failing_outcomes_are_made_a_chunk_at_a_time() -> None:
    """200,000 results, 50,000 failing: their records held at once take about 60 MB; listed
    a chunk at a time, the failing rows and one chunk of records stay far below that."""
    n = 200_000
    found = GateOutcomes(frame("cand", (np.arange(n) % 4 != 0).astype(float)), None)
    tracemalloc.start()
    try:
        count = sum(1 for outcome in found.failing() if not outcome.passed)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == found.failing_total == n // 4
    assert peak < 25 << 20, f"peak {peak / 2**20:.0f} MB"
    assert found.failing_rows.nbytes == (n // 4) * found.failing_rows.itemsize

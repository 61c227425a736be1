"""Margins, multiplicity, judge agreement and the cost/quality frontier over stored runs:
``assay compare --margin``, ``assay gate`` with margin and agreement rules, ``assay
evaluators agreement``, ``assay frontier`` and their API routes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import cohen_kappa_score

import assay
from assay.domain import DatasetCreate, EvaluatorCreate, ItemCreate, ScoreCreate, ScoreSource
from assay.scorers import exact_match
from assay.store import Store
from tests.integration.test_gate_cli import Cli

N = 40


def good(x: dict[str, str]) -> str:
    return x["q"].upper()


def worse(x: dict[str, str]) -> str:
    k = int(x["q"][1:])
    return x["q"] if k % 3 == 0 else x["q"].upper()


@pytest.fixture
def runs(store: Store) -> dict[str, str]:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa", [ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}") for i in range(N)]
    )
    out = {}
    for name, task, tag in (("base", good, "main"), ("cand", worse, None), ("same", good, None)):
        result = assay.evaluate("qa", task, [exact_match()], name=name, run_tag=tag, store=store)
        out[name] = result.id
    return out


@pytest.fixture
def cli(store: Store, settings: Any) -> Cli:
    return Cli(store, settings)


def test_compare_margin_in_the_cli_and_the_api(
    cli: Cli, runs: dict[str, str], http: TestClient
) -> None:
    data = json.loads(
        cli.inproc("compare", "base", "same", "cand", "--margin", "10", "--format", "json").output
    )
    rate = next(m for m in data["metrics"] if m["name"] == "passed")
    same, cand = rate["contrasts"]
    assert same["margin"]["margin"] == pytest.approx(0.10)  # points for a pass rate
    assert same["margin"]["method"] == "tango_score"
    assert same["margin"]["non_inferiority"] == "non_inferior"
    assert same["margin"]["equivalence"] == "equivalent"
    assert cand["margin"]["non_inferiority"] == "not_shown"
    assert cand["margin"]["ci_high"] < 0
    assert data["p_adjust"] == "holm"
    assert cand["p_adjusted"] >= cand["p_value"]
    table = cli.inproc("compare", "base", "cand", "--margin", "10", "--p-adjust", "bh")
    assert table.exit_code == 0, table.output
    assert "Within the margin" in table.output
    assert "not shown" in table.output
    assert "p (BH)" in table.output
    md = cli.inproc("compare", "base", "same", "--margin", "10", "--format", "markdown").output
    assert "| Non-inferiority | Equivalence |" in md
    assert "p (Holm-adjusted)" in md
    bad = cli.inproc("compare", "base", "cand", "--margin", "-1")
    assert bad.exit_code != 0
    assert "margin must be a positive number" in str(bad.exception)

    body = {"experiment_ids": [runs["base"], runs["cand"]], "margin": 10, "p_adjust": "none"}
    got = http.post("/api/v1/experiments/compare/", json=body)
    assert got.status_code == 200, got.text
    stats = got.json()["statistics"]
    assert stats["p_adjust"] == "none"
    contrast = stats["metrics"][0]["contrasts"][0]
    assert contrast["margin"]["non_inferiority"] == "not_shown"
    assert contrast["p_adjusted"] == contrast["p_value"]
    per_metric = {**body, "margins": {"exact_match": 0.5}}
    exact = http.post("/api/v1/experiments/compare/", json=per_metric).json()["statistics"]
    em = next(m for m in exact["metrics"] if m["name"] == "exact_match")
    assert em["contrasts"][0]["margin"]["margin"] == 0.5
    assert em["contrasts"][0]["margin"]["non_inferiority"] == "non_inferior"
    for wrong in ({"margin": 0}, {"margin": -2}, {"margins": {"x": 0}}, {"p_adjust": "bonf"}):
        refused = http.post(
            "/api/v1/experiments/compare/",
            json={"experiment_ids": [runs["base"], runs["cand"]], **wrong},
        )
        assert refused.status_code == 422, wrong
    linked = http.get(
        "/api/v1/experiments/compare/",
        params={"experiment_ids": f"{runs['base']},{runs['same']}", "margin": 10},
    )
    assert linked.json()["statistics"]["metrics"][0]["contrasts"][0]["margin"]["equivalence"] == (
        "equivalent"
    )


def test_gate_with_margin_rules(cli: Cli, runs: dict[str, str], tmp_path: Path) -> None:
    policy = tmp_path / "gate.yaml"
    policy.write_text(
        "max_drop: null\nnon_inferiority: {margin: 0.1}\n"
        "scorers:\n  exact_match: {equivalence: {margin: 0.1}}\n"
    )
    ok = cli("gate", "same", "--baseline", "base", "--policy", str(policy), "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    checks = {c["name"]: c for c in json.loads(ok.stdout)["checks"]}
    assert checks["non_inferiority:passed"]["passed"]
    assert "margin 10 pp" in checks["non_inferiority:passed"]["message"]
    assert checks["equivalence:exact_match"]["passed"]
    failed = cli("gate", "cand", "--baseline", "base", "--policy", str(policy))
    assert failed.returncode == 1
    assert "non-inferior not shown" in failed.stdout
    alone = cli("gate", "cand", "--policy", str(policy), "--json")
    assert alone.returncode == 1
    assert "needs a baseline" in alone.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("scorers:\n  exact_match: {non_inferiority: {margin: 0}}\n")
    refused = cli("gate", "cand", "--baseline", "base", "--policy", str(bad))
    assert refused.returncode == 2
    assert "scorers.exact_match.non_inferiority.margin" in refused.stderr
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("p_adjust: bonferroni\n")
    refused = cli("gate", "cand", "--baseline", "base", "--policy", str(wrong))
    assert refused.returncode == 2
    assert "p_adjust" in refused.stderr


def _judge_and_humans(store: Store, run_id: str, judge: list[str], human: list[str]) -> str:
    evaluator = store.evaluators.create(EvaluatorCreate(name="tone", kind="exact_match", params={}))
    results = store.experiments.results(run_id, limit=1000).results
    scored = {
        r.id: [ScoreCreate(name="tone", value=j, evaluator_id=evaluator.id, evaluator_version=1)]
        for r, j in zip(results, judge, strict=False)
    }
    store.scores.replace(run_id, scored)
    for r, h in zip(results, human, strict=False):
        store.scores.upsert(
            ScoreCreate(name="tone", value=h, source=ScoreSource.human), result_id=r.id
        )
    return evaluator.id


def test_judge_agreement_cli_api_and_gate(
    cli: Cli, runs: dict[str, str], store: Store, http: TestClient, tmp_path: Path
) -> None:
    labels = ["polite", "rude", "neutral"]
    judge = [labels[i % 3] for i in range(30)]
    human = [labels[(i % 3) if i % 4 else (i + 1) % 3] for i in range(30)]
    evaluator_id = _judge_and_humans(store, runs["cand"], judge, human)
    shown = json.loads(cli.inproc("evaluators", "agreement", "tone", "--json").output)
    assert len(shown) == 1
    assert shown[0]["n"] == 30
    assert shown[0]["kind"] == "categorical"
    assert shown[0]["version"] == 1
    assert shown[0]["cohen_kappa"] == pytest.approx(cohen_kappa_score(judge, human))
    table = cli.inproc("evaluators", "agreement", "tone")
    assert table.exit_code == 0, table.output
    assert "Kappa" in table.output
    api = http.get(f"/api/v1/evaluators/{evaluator_id}/agreement/")
    assert api.status_code == 200, api.text
    assert api.json()[0]["cohen_kappa"] == pytest.approx(shown[0]["cohen_kappa"])
    assert http.get("/api/v1/evaluators/nope/agreement/").status_code == 404

    strict = tmp_path / "strict.yaml"
    strict.write_text("max_drop: null\nscorers:\n  tone: {min_judge_agreement: 0.9}\n")
    refused = cli("gate", "cand", "--policy", str(strict), "--json")
    assert refused.returncode == 1
    check = next(
        c for c in json.loads(refused.stdout)["checks"] if c["name"] == "judge_agreement:tone"
    )
    assert check["observed"] == pytest.approx(cohen_kappa_score(judge, human))
    assert "does not rely on this judge" in check["message"]
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("max_drop: null\nmin_judge_agreement: 0.5\nscorers:\n  tone: {}\n")
    assert cli("gate", "cand", "--policy", str(lenient)).returncode == 0
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("max_drop: null\nscorers:\n  exact_match: {min_judge_agreement: 0.5}\n")
    proc = cli("gate", "cand", "--policy", str(unknown), "--json")
    assert proc.returncode == 1
    assert "no result has both a judge and a human score" in proc.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("min_judge_agreement: 2\n")
    assert cli("gate", "cand", "--policy", str(bad)).returncode == 2


def test_numeric_agreement_is_a_correlation(cli: Cli, runs: dict[str, str], store: Store) -> None:
    judge = [float(i % 5) for i in range(20)]
    human = [v + (0.5 if i % 2 else 0.0) for i, v in enumerate(judge)]
    _judge_and_humans(store, runs["base"], judge, human)  # type: ignore[arg-type]
    shown = json.loads(cli.inproc("evaluators", "agreement", "tone", "--json").output)
    from scipy import stats

    assert shown[0]["kind"] == "numeric"
    assert shown[0]["pearson"] == pytest.approx(stats.pearsonr(judge, human).statistic)
    assert shown[0]["spearman"] == pytest.approx(stats.spearmanr(judge, human).statistic)


def test_frontier_marks_the_cheapest_run_at_each_quality(
    cli: Cli, runs: dict[str, str], store: Store, http: TestClient
) -> None:
    # Judge costs per run: base expensive, same cheap (same quality), cand cheapest but worse.
    for name, cost in (("base", 0.01), ("same", 0.002), ("cand", 0.001)):
        for r in store.experiments.results(runs[name], limit=1000).results:
            store.scores.upsert(
                ScoreCreate(name="judge", value=1.0, cost=cost, source=ScoreSource.api),
                result_id=r.id,
            )
    got = http.get("/api/v1/datasets/qa/frontier/")
    assert got.status_code == 200, got.text
    points = {p["name"]: p for p in got.json()["points"]}
    assert [p["name"] for p in got.json()["points"]] == ["cand", "same", "base"]
    assert points["cand"]["on_front"]
    assert points["same"]["on_front"]
    assert not points["base"]["on_front"]
    assert points["base"]["dominated_by"] == runs["same"]
    assert points["same"]["quality"] == 1.0
    assert points["cand"]["ci_low"] < points["cand"]["quality"] < points["cand"]["ci_high"]
    assert points["base"]["cost_per_item"] == pytest.approx(0.01)
    out = cli.inproc("frontier", "qa")
    assert out.exit_code == 0, out.output
    assert "★" in out.output
    assert "dominated by same" in out.output
    shown = json.loads(cli.inproc("frontier", "qa", "--json").output)
    assert shown["points"] == got.json()["points"]
    assert http.get("/api/v1/datasets/nope/frontier/").status_code == 404
    assert http.get("/api/v1/datasets/qa/frontier/", params={"limit": 0}).status_code == 422


def test_compare_page_tests_a_margin(runs: dict[str, str], http: TestClient) -> None:
    url = f"/compare?runs={runs['base']}&runs={runs['same']}&runs={runs['cand']}"
    plain = http.get(url)
    assert plain.status_code == 200
    assert "p (Holm)" in plain.text
    assert 'name="margin"' in plain.text
    assert "Within ±margin" not in plain.text
    page = http.get(url + "&margin=10")
    assert page.status_code == 200, page.text
    cells = re.findall(r'data-non-inferiority="(\w*)" data-equivalence="(\w*)"', page.text)
    # passed and exact_match, for same then cand
    assert cells[:2] == [("non_inferior", "equivalent"), ("not_shown", "not_shown")]
    assert "±10 pp" in page.text
    assert 'name="margin" min="0" step="any" size="6" value="10.0"' in page.text
    bad = http.get(url + "&margin=ten")
    assert bad.status_code in (400, 422)
    assert "margin must be a number" in bad.text
    assert "margin must be a positive number" in http.get(url + "&margin=-3").text

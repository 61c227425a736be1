"""Judge cost: LLM-judge calls (on the fake provider) count toward ``max_cost`` and show
apart from the target's cost in summaries, run tables, ``assay runs show`` and gate reports;
the run form's estimate fragment."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

import assay
from assay.domain import DatasetCreate, ItemCreate
from assay.engine import llm_judge
from assay.formatting import usd
from assay.scorers import exact_match
from assay.store import Store
from tests.fakes.provider import FakeProvider
from tests.integration.test_gate_cli import Cli

N = 30
HX = {"HX-Request": "true"}


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def upper(x: dict[str, str]) -> str:
    return x["q"].upper()


@pytest.fixture
def judge(fake: FakeProvider) -> Any:
    fake.reply = lambda text: json.dumps({"reason": "fine", "choice": "A"})
    # Each judge call costs about 0.1 (hundreds of prompt tokens at 1,000 USD per 1M).
    return llm_judge(
        model="judge",
        base_url=fake.openai_url,
        api_key="k",
        price={"input": 1000, "output": 1000},
    )


@pytest.fixture
def qa(store: Store) -> str:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa", [ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}") for i in range(N)]
    )
    return "qa"


def test_judge_cost_counts_toward_the_budget(
    store: Store, qa: str, judge: Any, fake: FakeProvider
) -> None:
    result = assay.evaluate(
        qa, upper, [exact_match(), judge], concurrency=1, max_cost=0.5, store=store
    )
    assert result.status == "failed"
    assert "cost budget of 0.5 reached" in (result.experiment.error or "")
    summary = result.summary
    assert summary.total_cost == 0  # the function target costs nothing
    assert summary.judge_cost >= 0.5
    assert 1 <= summary.completed < N
    assert summary.cancelled == N - summary.completed
    calls = len(fake.requests)
    assert calls == summary.completed
    one_call = summary.judge_cost / calls
    assert summary.judge_cost < 0.5 + 2 * one_call  # stopped within a call or so


def test_judge_cost_in_summaries_tables_and_gate(
    store: Store, qa: str, judge: Any, http: TestClient, settings: Any
) -> None:
    base = assay.evaluate(qa, upper, [exact_match()], name="base", store=store)
    judged = assay.evaluate(qa, upper, [exact_match(), judge], name="judged", store=store)
    spent = judged.summary.judge_cost
    assert spent > 0
    assert judged.summary.total_cost == 0
    summary = http.get(f"/api/v1/experiments/{judged.id}/").json()["summary"]
    assert summary["judge_cost"] == pytest.approx(spent)
    assert summary["total_cost"] == 0
    cli = Cli(store, settings)
    shown = cli.inproc("runs", "show", judged.id)
    assert shown.exit_code == 0, shown.output
    assert "judge cost" in shown.output
    per_item = usd(spent / N)
    page = _text(http.get("/datasets/qa/runs").text)
    assert page.count(f"judge {per_item}") == 1  # the judged run only
    runs_page = _text(http.get("/runs").text)
    assert runs_page.count(f"judge {per_item}") == 1
    run_page = _text(http.get(f"/runs/{judged.id}").text)
    assert "for judge calls" in run_page
    gate = cli("gate", "judged", "--baseline", "base", "--json")
    verdict = json.loads(gate.stdout)
    assert verdict["judge_cost"] == pytest.approx(spent)
    assert verdict["target_cost"] is None  # no target cost recorded
    printed = cli("gate", "judged", "--baseline", "base")
    assert "judge calls" in printed.stdout
    assert base.summary.judge_cost == 0


def test_run_form_estimate(store: Store, qa: str, http: TestClient) -> None:
    form = http.get("/datasets/qa/runs").text
    assert 'hx-get="/datasets/qa/runs/estimate"' in form
    assert 'name="trials"' in form
    empty = _text(http.get("/datasets/qa/runs/estimate", headers=HX).text)
    assert "no finished run yet" in empty

    def costly(x: dict[str, str]) -> assay.TargetOutput:
        return assay.TargetOutput(output=x["q"].upper(), tokens_in=100, tokens_out=50, cost=0.01)

    assay.evaluate(qa, costly, [exact_match()], store=store, concurrency=3)
    one = _text(
        http.get("/datasets/qa/runs/estimate", params={"concurrency": "2", "trials": "1"}).text
    )
    assert f"Estimate for {N} items \u00d7 1 trial:" in one
    assert "cost $0.3000" in one  # 30 calls at 0.01
    assert "at concurrency 2" in one
    assert "no detectable difference can be sized yet" in one  # every item passed: no spread
    more = _text(http.get("/datasets/qa/runs/estimate", params={"trials": "2"}).text)
    assert "cost $0.6000" in more
    priced = _text(
        http.get(
            "/datasets/qa/runs/estimate", params={"model": "gpt-4o-mini", "provider": "openai"}
        ).text
    )
    assert "at openai:gpt-4o-mini prices" in priced
    expected = N * (100 * 0.15 + 50 * 0.60) / 1_000_000
    assert f"cost ${expected:.4f}" in priced
    unknown = _text(http.get("/datasets/qa/runs/estimate", params={"model": "nope"}).text)
    assert "No price for nope" in unknown
    bad = _text(http.get("/datasets/qa/runs/estimate", params={"trials": "0"}).text)
    assert "trials: a whole number from 1 to 20" in bad

"""An LLM judge grading each output several times (on the fake provider), and what a
comparison says about the judge's own noise (API and CLI)."""

from __future__ import annotations

import json
import random
import statistics
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

import assay
from assay.domain import DatasetCreate, ItemCreate
from assay.engine import llm_judge
from assay.store import Store
from tests.fakes.provider import FakeProvider
from tests.integration.test_gate_cli import Cli

N = 40
K = 3


def noisy_judge(seed: int) -> Any:
    """Grades a correct answer A (else C), flipping a fifth of its verdicts at random."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def reply(text: str) -> str:
        response = text.split("[RESPONSE]")[1].split("Choose")[0]
        right = "RIGHT" in response
        with lock:
            flip = rng.random() < 0.2
        return json.dumps({"reason": "r", "choice": "A" if right != flip else "C"})

    return reply


def right(x: dict[str, int]) -> str:
    return "RIGHT"


def half(x: dict[str, int]) -> str:
    return "RIGHT" if x["k"] % 2 else "WRONG"


@pytest.fixture
def judged(store: Store, fake: FakeProvider) -> dict[str, str]:
    fake.reply = noisy_judge(1)
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa", [ItemCreate(input={"k": i}, expected_output="RIGHT") for i in range(N)]
    )
    judge = llm_judge(
        model="judge", base_url=fake.openai_url, api_key="k", repetitions=K, name="judge"
    )
    return {
        name: assay.evaluate("qa", task, [judge], name=name, store=store, concurrency=2).id
        for name, task in (("base", right), ("same", right), ("half", half))
    }


def test_repeated_verdicts_are_stored_with_their_spread(
    store: Store, judged: dict[str, str], fake: FakeProvider
) -> None:
    assert len(fake.requests) == 3 * N * K
    results = list(store.experiments.iter_results(judged["base"]))
    spreads = []
    for r in results:
        [score] = r.scores
        meta = score.metadata
        assert meta["repetitions"] == K
        assert len(meta["values"]) == K
        assert score.numeric_value == pytest.approx(statistics.mean(meta["values"]))
        assert meta["std"] == pytest.approx(statistics.stdev(meta["values"]))
        assert score.passed == (sum(v == 1.0 for v in meta["values"]) * 2 > K)
        assert score.tokens_in is not None
        spreads.append(meta["std"])
    assert any(s > 0 for s in spreads)  # the judge did flip some verdicts


def test_compare_reports_the_share_of_judge_noise(
    judged: dict[str, str], http: TestClient, store: Store, settings: Any
) -> None:
    body = {"experiment_ids": [judged["base"], judged["same"], judged["half"]]}
    got = http.post("/api/v1/experiments/compare/", json=body)
    assert got.status_code == 200, got.text
    noise = {n["run_id"]: n for n in got.json()["statistics"]["judge_noise"]}
    same, half = noise[judged["same"]], noise[judged["half"]]
    for n in (same, half):
        assert n["metric"] == "judge"
        assert n["repetitions"] == {judged["base"]: K, n["run_id"]: K}
        assert 0 < n["judge_variance"] < 0.5
        assert 0 <= n["judge_share"] <= 1
    # Identical systems: every per-item difference is judge noise.
    assert same["explained"] is True
    assert same["judge_share"] > 0.5
    # Half the answers wrong: a real difference, far beyond the judge's noise.
    assert half["explained"] is False
    assert half["difference"] < -0.2
    assert half["judge_share"] < same["judge_share"]
    assert "does not explain it" in half["message"]
    assert "could explain it" in same["message"]
    # The estimate agrees with the stored scores: mean std^2 over both runs.
    variances = []
    for run in (judged["base"], judged["half"]):
        variances += [r.scores[0].metadata["std"] ** 2 for r in store.experiments.iter_results(run)]
    assert half["judge_variance"] == pytest.approx(statistics.mean(variances), rel=0.05)
    shown = Cli(store, settings).inproc("compare", "base", "half", "--limit", "0")
    assert shown.exit_code == 0, shown.output
    assert "Judge noise: judge (half vs baseline)" in shown.output


def test_repetitions_are_checked() -> None:
    for wrong in (0, 21, 2.5, True):
        with pytest.raises(assay.errors.InvalidInput, match="repetitions"):
            llm_judge(model="m", base_url="http://127.0.0.1:9", api_key="k", repetitions=wrong)

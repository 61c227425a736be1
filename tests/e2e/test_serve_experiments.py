"""Seed 004's experiment calls against a real ``assay serve`` whose provider is a fake
OpenAI-compatible server (``OPENAI_BASE_URL``); the server's own worker runs the experiments."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.test_serve import SEED_ITEMS, env, start  # noqa: F401  (env is a fixture)
from tests.fakes.provider import FakeProvider

pytestmark = pytest.mark.e2e


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture
def server(env: dict[str, str], fake: FakeProvider) -> Iterator[str]:  # noqa: F811
    env = {
        **env,
        "OPENAI_BASE_URL": fake.openai_url,
        "OPENAI_API_KEY": "sk-fake",
        "ASSAY_WORKER_POLL_INTERVAL": "0.1",
    }
    proc, base = start(env)
    yield base
    proc.terminate()
    proc.wait(timeout=60)


def wait_finished(http: httpx.Client, url: str) -> dict[str, object]:
    deadline = time.monotonic() + 300  # generous: a loaded machine is only slower
    while time.monotonic() < deadline:
        body: dict[str, object] = http.get(url).json()
        if body["status"] in ("completed", "failed", "cancelled"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{url} did not finish within 300 s")


def test_seed_004_experiments(server: str, fake: FakeProvider) -> None:
    api = f"{server}/api/v1"
    with httpx.Client(timeout=60, headers={"X-Assay-Client": "tests"}) as http:
        dataset_id = http.post(f"{api}/datasets/", json={"name": "Support Agent QA"}).json()["id"]
        http.post(f"{api}/datasets/{dataset_id}/import/", json={"items": SEED_ITEMS})
        for template in (
            "Answer briefly: {{ input.query }}",
            "Answer in detail: {{ input.query }}",
        ):
            http.post(
                f"{api}/prompts/",
                json={
                    "name": "support-system-prompt",
                    "template": template,
                    "labels": ["production"],
                },
            )
        evaluator = http.post(
            f"{api}/evaluators/",
            json={"name": "helpfulness", "kind": "contains", "params": {"value": "Answer"}},
        ).json()

        ids = []
        for model in ("gpt-4o", "gpt-4o-mini"):
            created = http.post(
                f"{api}/experiments/",
                json={
                    "name": f"{model} on Support QA",
                    "dataset_id": dataset_id,
                    "config": {
                        "prompt_name": "support-system-prompt",
                        "prompt_label": "production",
                        "model": model,
                        "temperature": 0.3,
                    },
                    "evaluator_ids": [evaluator["id"]],
                    "metadata": {"hypothesis": "GPT-4o should outperform mini"},
                },
            )
            assert created.status_code == 201, created.text
            exp = created.json()
            assert exp["status"] == "pending"
            started = http.post(f"{api}/experiments/{exp['id']}/start/").json()
            assert started["runs_created"] == 3
            assert started["status"] == "running"
            ids.append(exp["id"])

        for exp_id in ids:
            results = wait_finished(http, f"{api}/experiments/{exp_id}/results/")
            assert results["status"] == "completed", results
            assert results["dataset_name"] == "Support Agent QA"
            summary = results["summary"]
            assert isinstance(summary, dict)
            assert summary["completed"] == 3
            rows = results["results"]
            assert isinstance(rows, list)
            assert rows[0]["output"] == "echo: Answer in detail: How do I reset my password?"
            assert rows[0]["scores"][0]["name"] == "helpfulness"
            assert rows[0]["tokens_in"] > 0
        assert sorted({r.body["model"] for r in fake.requests}) == ["gpt-4o", "gpt-4o-mini"]
        assert len(fake.requests) == 6

        compared = http.post(f"{api}/experiments/compare/", json={"experiment_ids": ids}).json()
        assert set(compared["experiments"]) == set(ids)
        assert len(compared["comparisons"]) == 3
        assert compared["comparisons"][0]["results"][ids[1]]["status"] == "completed"

        pair = http.post(
            f"{api}/datasets/{dataset_id}/compare-prompt-versions/",
            json={
                "prompt_name": "support-system-prompt",
                "version_a": 1,
                "version_b": 2,
                "model": "gpt-4o-mini",
                "evaluator_ids": [evaluator["id"]],
            },
        ).json()
        assert pair["experiment_a"]["name"] == "support-system-prompt-v1-vs-v2-a"
        for side in ("experiment_a", "experiment_b"):
            wait_finished(http, f"{api}/experiments/{pair[side]['id']}/")
        linked = http.get(f"{server}{pair['compare_url']}").json()
        outputs = {e: c["output"] for e, c in linked["comparisons"][0]["results"].items()}
        assert outputs[pair["experiment_a"]["id"]].startswith("echo: Answer briefly")
        assert outputs[pair["experiment_b"]["id"]].startswith("echo: Answer in detail")

        gate = http.get(f"{api}/experiments/{ids[1]}/gate/", params={"baseline": ids[0]}).json()
        assert gate["baseline_id"] == ids[0]
        pending = http.post(
            f"{api}/experiments/",
            json={
                "name": "never started",
                "dataset_id": dataset_id,
                "config": {"prompt_name": "support-system-prompt", "model": "gpt-4o"},
            },
        ).json()
        cancelled = http.post(f"{api}/experiments/{pending['id']}/cancel/").json()
        assert cancelled["status"] == "cancelled"

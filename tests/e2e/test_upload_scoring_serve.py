"""Uploaded runs scored in the background against a real ``assay serve`` and a second
``assay worker`` on the same database: the SDK flow of the docs (``dataset_runs.create_items``
with traces), items carrying their own scores and a CSV upload are queued, the two workers
apply the dataset's attached evaluators (an LLM judge with the server's key among them) once
per result, and the run's summary and dashboard page show the scores."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from assay.client import Assay
from tests.e2e.test_serve import env, start  # noqa: F401  (env is a fixture)
from tests.e2e.test_workers import worker
from tests.fakes.provider import FakeProvider

pytestmark = pytest.mark.e2e

KEY = "sk-judge-on-the-server"


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(delay=0.05, reply=lambda _: '{"reason": "ok", "choice": "A"}') as server:
        yield server


@pytest.fixture
def served(
    env: dict[str, str],  # noqa: F811
    db_url: str,
    fake: FakeProvider,
) -> Iterator[tuple[str, dict[str, str]]]:
    """``assay serve`` (with its worker) and one more ``assay worker``, one project."""
    values = {
        **env,
        "ASSAY_DATABASE_URL": db_url,
        "ASSAY_PROJECT": f"uploads-{uuid.uuid4().hex[:10]}",
        "ASSAY_WORKER_POLL_INTERVAL": "0.2",
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": fake.openai_url,
    }
    proc, base = start(values)
    other = worker(values, capture=False)
    yield base, values
    for p in (other, proc):
        p.terminate()
        p.wait(timeout=15)


def _scored(client: Assay, run_id: str) -> Any:
    deadline = time.monotonic() + 120  # generous: a loaded machine is only slower
    while (run := client.dataset_runs.get(run_id)).scoring.pending:
        assert time.monotonic() < deadline, f"still scoring: {run.scoring}"
        time.sleep(0.2)
    return run


def test_uploads_are_scored_by_the_workers(
    served: tuple[str, dict[str, str]], fake: FakeProvider
) -> None:
    base, _ = served
    with Assay(base_url=base, max_retries=0) as client:
        _check(base, client, fake)


def _check(base: str, client: Assay, fake: FakeProvider) -> None:
    client.datasets.create(name="trivia-set", description="Trivia QA dataset")
    questions = [f"Question {i}?" for i in range(20)]
    client.datasets.create_items(
        dataset_name="trivia-set",
        items=[{"input": {"q": q}, "expectedOutput": {"a": q.upper()}} for q in questions],
    )
    client.evaluators.create("judge", "llm_judge", params={"model": "judge-model"})
    client.evaluators.create("mentions", "contains", params={"value": "QUESTION"})
    client.evaluators.attach("trivia-set", "judge")
    client.evaluators.attach("trivia-set", "mentions")

    # The SDK flow of the docs: a trace per item, then the item linked to it.
    run = client.dataset_runs.create(dataset_name="trivia-set", name="gpt-4o-eval-run")
    queued = 0
    for i, q in enumerate(questions):
        trace = client.trace(name="trivia-answer", input={"q": q})
        trace.update(output={"answer": q.upper()})
        item: dict[str, Any] = {"input": {"q": q}, "output": {"answer": q.upper()}}
        if i < 5:  # the pipeline scored these itself: kept as they are
            item["scores"] = [
                {"name": "mentions", "value": False, "passed": False, "reason": "own check"}
            ]
        added = client.dataset_runs.create_items(
            dataset_name="trivia-set", dataset_run_id=run.id, items=[item]
        )
        queued += added.queued
    client.flush()
    assert queued == 20 + 15

    csv = "input,output\n" + "".join(f'"{{""q"": ""{q}""}}",{q.upper()}\n' for q in questions[:4])
    uploaded = httpx.post(
        f"{base}/api/v1/dataset-runs/upload/",
        params={"dataset_name": "trivia-set", "tag": "csv"},
        content=csv,
        headers={"content-type": "text/csv"},
        timeout=30,
    )
    assert uploaded.status_code == 200, uploaded.text
    csv_run = uploaded.json()["dataset_run"]["id"]
    assert uploaded.json()["written"]["queued"] == 8

    done = _scored(client, run.id)
    assert (done.scoring.pending, done.scoring.done) == (0, 35)
    assert _scored(client, csv_run).scoring.done == 8
    assert len(fake.requests) == 24  # one judge call per result, across both workers
    assert {r.headers.get("authorization") for r in fake.requests} == {f"Bearer {KEY}"}

    summary = client.experiments.get(run.id).summary
    stats = {s.name: s for s in summary.scores}
    assert (stats["judge"].count, stats["judge"].passed) == (20, 20)
    assert (stats["mentions"].passed, stats["mentions"].failed) == (15, 5)  # 5 sent as failed
    rows = client.experiments.results(run.id, limit=100).results
    own = [s for r in rows for s in r.scores if s.name == "mentions" and s.reason == "own check"]
    assert len(own) == 5
    assert sum(1 for r in rows if r.trace_id) == 20  # each output linked to its trace

    page = httpx.get(f"{base}/runs/{run.id}", timeout=30)
    assert page.status_code == 200
    assert "judge" in page.text
    assert "results…" not in page.text

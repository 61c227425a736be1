"""The SDK's experiments, dataset_runs and evaluators namespaces, as the docs call them."""

from __future__ import annotations

from assay.client import Assay, AsyncAssay
from assay.config import Settings
from assay.domain import Result, ResultsPage
from assay.store import Store
from tests.fakes.provider import FakeProvider
from tests.integration.experiment_support import run_worker


def test_dataset_runs_as_documented(client: Assay, store: Store, qa: str) -> None:
    run = client.dataset_runs.create(
        dataset_name="Support Agent QA",
        name="gpt-4o-run-1",
        description="GPT-4o baseline evaluation",
        tag="production-v1",
    )
    assert run["id"] == run.id
    assert run["tags"][0]["id"] == run.tags[0].id
    written = client.dataset_runs.create_items(
        dataset_name="Support Agent QA",
        dataset_run_id=run["id"],
        items=[
            {
                "input": {"query": "reset password"},
                "expectedOutput": {"answer": "Settings"},
                "output": "Go to Settings",
                "traceId": "trace-id-abc",
                "observationId": "gen-id-xyz",
            }
        ],
    )
    assert (written.created, written.updated) == (1, 0)
    assert client.dataset_runs.get(run.id).item_count == 1
    page = client.dataset_runs.results(run.id)
    assert isinstance(page, ResultsPage)
    assert page.total == 1
    assert page.summary is not None
    assert page.summary.completed == 1
    (result,) = page.results
    assert isinstance(result, Result)
    assert (result.item_id, result.input, result.expected_output) == (
        store.datasets.list_items(qa).items[0].id,
        {"query": "reset password"},
        {"answer": "Settings"},  # what was uploaded with it
    )
    assert (result.trace_id, result.observation_id) == ("trace-id-abc", "gen-id-xyz")
    assert page.results == store.experiments.results(run.id).results  # the store's record
    assert page == client.experiments.results(run.id)
    score = client.scores.create(
        "helpful", 4, result_id=written.result_ids[0], source="human", reason="clear"
    )
    assert (score.numeric_value, score.reason) == (4.0, "clear")
    assert [s.id for s in client.scores.list(result_id=written.result_ids[0]).items] == [score.id]
    client.scores.delete(score.id)
    assert client.scores.list(result_id=written.result_ids[0]).items == []
    listed = client.dataset_runs.list(dataset_name="Support Agent QA")
    assert [r.id for r in listed.items] == [run.id]


def test_experiments_and_evaluators_namespaces(
    client: Assay, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    saved = client.evaluators.create("says-echo", "contains", params={"value": "echo"})
    client.evaluators.attach(qa, saved.name)
    config = {"prompt_name": "support-system-prompt", "model": "m", "base_url": fake.openai_url}
    created = client.experiments.create("sdk run", qa, config)
    assert created.evaluator_ids == [saved.id]
    started = client.experiments.start(created.id)
    assert (started.runs_created, started.status) == (3, "running")
    run_worker(store, api_settings)
    page = client.experiments.results(created.id, limit=2)
    assert page.summary.completed == 3
    assert len(page.results) == 2
    assert page.results[0].scores[0].name == "says-echo"
    assert client.experiments.get(created.id).status == "completed"
    assert client.experiments.export(created.id).count(b"\n") == 3
    assert client.experiments.set_notes(created.id, "ok").notes == "ok"
    other = client.experiments.create("sdk run 2", qa, config)
    client.experiments.start(other.id)
    run_worker(store, api_settings)
    compared = client.experiments.compare([created.id, other.id])
    assert compared["total_items"] == 3
    assert client.experiments.gate(other.id, baseline=created.id)["passed"] is True
    assert [e.id for e in client.experiments.list(status="completed").items] == [
        other.id,
        created.id,
    ]
    oldest_first = client.experiments.list(sort="created_at").items
    assert [e.id for e in oldest_first] == [created.id, other.id]
    assert client.experiments.get(created.id).runs[0].status == "completed"
    awaiting = client.experiments.create("uploaded later", qa)
    assert (awaiting.status, awaiting.external) == ("pending", True)
    client.experiments.delete(awaiting.id)
    client.evaluators.detach(qa, saved.name)
    client.experiments.delete(other.id)
    assert len(client.experiments.list().items) == 1


async def test_async_namespaces(aclient: AsyncAssay, qa: str) -> None:
    run = await aclient.dataset_runs.create(dataset_name="Support Agent QA", name="async run")
    written = await aclient.dataset_runs.create_items(
        dataset_run_id=run.id, items=[{"input": {"query": "reset password"}, "output": "ok"}]
    )
    score = await aclient.scores.create("helpful", True, result_id=written.result_ids[0])
    assert score.data_type == "boolean"
    saved = await aclient.evaluators.create("says-ok", "contains", params={"value": "ok"})
    assert (await aclient.evaluators.get("says-ok")).id == saved.id
    listed = await aclient.experiments.list(dataset_id=qa)
    assert [e.id for e in listed.items] == [run.id]
    results = await aclient.experiments.results(run.id)
    assert results.results[0].output == "ok"
    assert isinstance(results.results[0], Result)
    rest = await aclient.dataset_runs.results(run.id, include_summary=False, limit=1)
    assert (rest.summary, rest.total, rest.next_cursor) == (None, 1, None)
    assert rest.results == results.results

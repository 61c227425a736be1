"""Sequential early stopping wired into runs: ``evaluate(..., sequential=...)``, run configs
and API experiments stop once the comparison with the baseline is settled, and record why."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import assay
from assay.config import Settings
from assay.domain import DatasetCreate, ExperimentStatus, ItemCreate, PromptCreate, ResultStatus
from assay.engine.sequential import draw_order
from assay.errors import InvalidInput
from assay.store import Store
from assay.store.tables import experiments, results, scores
from tests.fakes.provider import FakeProvider
from tests.integration.experiment_support import run_worker
from tests.integration.test_gate_cli import Cli

N = 200


def _items(n: int = N) -> list[dict[str, Any]]:
    return [{"input": f"q{i}", "expected_output": f"a{i}"} for i in range(n)]


def _right(question: str) -> str:
    return "a" + question[1:]


async def _right_slowly(question: str) -> str:
    await asyncio.sleep(0.001)  # one item per call: the stop lands between items
    return _right(question)


def _baseline(store: Store, task: Any = _right, name: str = "baseline") -> str:
    run = assay.evaluate(
        _items(), task, ["exact_match"], store=store, dataset="seq", name=name, quiet=True
    )
    return run.id


def test_a_large_difference_stops_early_and_says_why(store: Store) -> None:
    base = _baseline(store, task=lambda q: "wrong")
    run = assay.evaluate(
        "seq",
        _right_slowly,
        ["exact_match"],
        store=store,
        name="fixed",
        concurrency=2,
        quiet=True,
        sequential={"baseline": base, "alpha": 0.05},
    )
    experiment = store.experiments.get(run.id)
    assert experiment.status is ExperimentStatus.completed
    assert experiment.error is None
    recorded = experiment.metadata["sequential"]
    assert recorded["baseline"] == base
    assert recorded["metric"] == "pass_rate"
    assert isinstance(recorded["seed"], int)
    outcome = recorded["outcome"]
    assert outcome["stopped"] is True
    assert outcome["verdict"] == "better"
    assert outcome["reason"] == f"stopped early at n={outcome['n']}: better"
    assert 5 <= outcome["n"] < 40
    assert outcome["lower"] > 0
    summary = store.experiments.summary(run.id)
    assert summary.completed < N
    assert summary.cancelled == N - summary.completed
    assert summary.pending == 0


def test_within_the_margin_stops_as_non_inferior(store: Store) -> None:
    base = _baseline(store)
    run = assay.evaluate(
        "seq",
        _right_slowly,
        ["exact_match"],
        store=store,
        name="same",
        concurrency=1,
        quiet=True,
        sequential={"baseline": base, "margin": 0.3},
    )
    outcome = store.experiments.get(run.id).metadata["sequential"]["outcome"]
    assert outcome["verdict"] == "non_inferior"
    assert outcome["reason"] == f"stopped early at n={outcome['n']}: non-inferior (margin 0.3)"
    assert store.experiments.summary(run.id).completed < N


def test_no_difference_and_no_margin_runs_to_the_end(store: Store) -> None:
    base = _baseline(store)
    run = assay.evaluate(
        "seq",
        _right,
        ["exact_match"],
        store=store,
        name="again",
        quiet=True,
        sequential={"baseline": base},
    )
    experiment = store.experiments.get(run.id)
    assert experiment.status is ExperimentStatus.completed
    outcome = experiment.metadata["sequential"]["outcome"]
    assert outcome["stopped"] is False
    assert outcome["verdict"] == "open"
    assert outcome["n"] == N
    assert outcome["mean_difference"] == 0.0
    assert outcome["lower"] < 0 < outcome["upper"]
    assert store.experiments.summary(run.id).completed == N


def test_the_item_order_is_reproducible_from_the_recorded_seed(store: Store) -> None:
    base = _baseline(store)
    order: list[str] = []

    def record(question: str) -> str:
        order.append(question)
        return _right(question)

    run = assay.evaluate(
        "seq",
        record,
        ["exact_match"],
        store=store,
        name="ordered",
        concurrency=1,
        quiet=True,
        sequential={"baseline": base},
    )
    seed = store.experiments.get(run.id).metadata["sequential"]["seed"]
    by_input = {r.input: r.item_id for r in store.experiments.iter_results(run.id)}
    ran = [by_input[q] for q in order]
    assert ran == draw_order(ran, seed)
    assert ran != sorted(ran)  # not the dataset order
    again: list[str] = []
    assay.evaluate(
        "seq",
        lambda q: again.append(q) or _right(q),
        ["exact_match"],
        store=store,
        name="same seed",
        concurrency=1,
        quiet=True,
        sequential={"baseline": base, "seed": seed},
    )
    assert again == order


_CALLS: list[str] = []


def _right_counted(question: str) -> str:
    _CALLS.append(question)
    return _right(question)


def test_a_resumed_run_counts_what_finished_before_it_stopped(store: Store) -> None:
    base = _baseline(store)
    settings = {"baseline": base, "metric": "exact_match"}  # a scorer's values, read back
    run = assay.evaluate(
        "seq", _right_counted, ["exact_match"], store=store, quiet=True, sequential=settings
    )
    # As if the runner had died with its last 40 results unwritten and no outcome recorded.
    lost = [r.id for r in run.rows[-40:]]
    experiment = store.experiments.get(run.id)
    spec = {k: v for k, v in experiment.metadata["sequential"].items() if k != "outcome"}
    with store.db.write() as conn:
        conn.execute(scores.delete().where(scores.c.result_id.in_(lost)))
        conn.execute(
            results.update().where(results.c.id.in_(lost)).values(status="pending", output=None)
        )
        conn.execute(
            experiments.update()
            .where(experiments.c.id == run.id)
            .values(metadata={**experiment.metadata, "sequential": spec})
        )
    _CALLS.clear()
    assay.evaluate(None, _right_counted, ["exact_match"], resume=run.id, store=store, quiet=True)
    assert len(_CALLS) == 40
    outcome = store.experiments.get(run.id).metadata["sequential"]["outcome"]
    # every item paired: the 160 that finished before (read back with their scores) and the 40
    assert outcome["n"] == N
    assert outcome["results"] == 40
    assert outcome["mean_difference"] == 0.0


def test_bad_sequential_settings_name_the_field_and_store_nothing(store: Store) -> None:
    base = _baseline(store)
    before = store.experiments.list(limit=100).items
    cases: list[tuple[dict[str, Any], str]] = [
        ({"baseline": "no-such-run"}, "sequential.baseline"),
        ({"baseline": base, "metric": "nope"}, "sequential.metric"),
        ({"baseline": base, "margin": -1}, "sequential.margin"),
        ({"baseline": base, "alpha": 2}, "sequential.alpha"),
    ]
    for settings, field in cases:
        with pytest.raises(InvalidInput) as caught:
            assay.evaluate(
                "seq", _right, ["exact_match"], store=store, quiet=True, sequential=settings
            )
        assert caught.value.field == field
    store.datasets.create(DatasetCreate(name="other"))
    store.datasets.add_items("other", [ItemCreate(input="q0", expected_output="a0")])
    with pytest.raises(InvalidInput, match="another dataset") as caught:
        assay.evaluate(
            "other", _right, ["exact_match"], store=store, quiet=True, sequential={"baseline": base}
        )
    assert caught.value.field == "sequential.baseline"
    assert len(store.experiments.list(limit=100).items) == len(before)


def test_assay_run_stops_early_and_runs_show_says_why(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    base = _baseline(store, task=lambda q: "wrong")
    config = tmp_path / "run.yaml"
    config.write_text(
        "dataset: seq\nname: from config\n"
        "target: {type: function, function: 'tests.integration.seq_targets:right'}\n"
        "scorers: [exact_match]\nconcurrency: 1\n"
        f"sequential: {{baseline: {base}, margin: 0.02}}\n"
    )
    cli = Cli(store, settings)
    ran = cli.inproc("run", str(config), "--json")
    assert ran.exit_code == 0, ran.output
    experiment = json.loads(ran.output)["experiment"]
    outcome = experiment["metadata"]["sequential"]["outcome"]
    assert experiment["status"] == "completed"
    assert outcome["stopped"] is True
    assert outcome["verdict"] == "non_inferior"
    shown = cli.inproc("runs", "show", experiment["id"])
    assert shown.exit_code == 0, shown.output
    assert "sequential vs baseline (pass_rate, alpha 0.05, margin 0.02" in shown.output
    assert f"stopped early at n={outcome['n']}: non-inferior (margin 0.02)" in shown.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text().replace("margin: 0.02", "margin: 2"))
    refused = cli.inproc("run", str(bad))
    assert refused.exit_code == 1
    assert "sequential.margin" in str(refused.exception)


def _prompt_dataset(store: Store) -> str:
    dataset = store.datasets.create(DatasetCreate(name="api-seq"))
    store.datasets.add_items(
        dataset.id,
        [ItemCreate(input={"query": f"q{i}"}, expected_output="x") for i in range(120)],
    )
    store.prompts.create(
        PromptCreate(name="p", template="Answer: {{ input.query }}", labels=["production"])
    )
    return dataset.id


def _body(dataset_id: str, fake: FakeProvider, needle: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"contains {needle}",
        "dataset_id": dataset_id,
        "config": {
            "prompt_name": "p",
            "prompt_label": "production",
            "model": "gpt-4o",
            "base_url": fake.openai_url,
        },
        "scorers": [{"name": "contains", "params": {"value": needle}}],
        "concurrency": 2,
        **extra,
    }


def test_an_api_experiment_stops_early(
    http: TestClient, store: Store, api_settings: Settings, fake: FakeProvider
) -> None:
    dataset_id = _prompt_dataset(store)
    base = http.post("/api/v1/experiments/", json=_body(dataset_id, fake, "nowhere")).json()
    http.post(f"/api/v1/experiments/{base['id']}/start/")
    run_worker(store, api_settings)
    bad = http.post(
        "/api/v1/experiments/",
        json=_body(dataset_id, fake, "echo", sequential={"baseline": "missing"}),
    )
    assert bad.status_code == 422
    assert "sequential.baseline" in bad.text
    created = http.post(
        "/api/v1/experiments/",
        json=_body(dataset_id, fake, "Answer", sequential={"baseline": base["id"]}),
    ).json()
    seed = created["metadata"]["sequential"]["seed"]
    assert created["config"]["options"]["sequential"] == {"baseline": base["id"], "seed": seed}
    http.post(f"/api/v1/experiments/{created['id']}/start/")
    run_worker(store, api_settings)
    shown = http.get(f"/api/v1/experiments/{created['id']}/").json()
    assert shown["status"] == "completed"
    outcome = shown["metadata"]["sequential"]["outcome"]
    assert outcome["verdict"] == "better"
    assert outcome["reason"].startswith("stopped early at n=")
    results = store.experiments.iter_results(created["id"])
    assert any(r.status is ResultStatus.cancelled for r in results)
    page = http.get(f"/runs/{created['id']}").text
    details = page.split('id="run-details"')[1].split("</details>")[0]
    assert "Sequential stop" in details
    assert outcome["reason"] in details
    assert f'href="/runs/{base["id"]}"' in details

"""One target spec and one set of run settings on every surface: a stored prompt by label and a
saved endpoint run from ``assay run CONFIG``, ``evaluate()`` and ``POST /experiments/``, with
the same options reaching the runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import assay
from assay.cli.main import app
from assay.config import Settings
from assay.domain import DatasetCreate, EndpointCreate, ItemCreate, PromptCreate
from assay.engine import RunOptions
from assay.engine.runner import Runner
from assay.errors import InvalidInput, NotFound
from assay.store import Store, open_store
from tests.fakes.provider import FakeProvider
from tests.integration.experiment_support import run_worker

QUESTIONS = ("reset password", "pricing plans")
#: The same run settings given on every surface, and what the runner must receive.
SETTINGS: dict[str, Any] = {
    "concurrency": 3,
    "timeout": 7.5,
    "max_retries": 2,
    "backoff": {"base": 0.01, "max": 0.1},
    "rpm": 6000,
}
EXPECTED = {
    "concurrency": 3,
    "timeout": 7.5,
    "max_retries": 2,
    "backoff_base": 0.01,
    "backoff_max": 0.1,
    "rpm": 6000,
}


def seed(store: Store, fake: FakeProvider) -> None:
    """A dataset, the prompt ``support-answer`` (v1 labelled production, v2 newer), and the
    saved endpoint ``my-bot`` with a secret header."""
    store.datasets.create(DatasetCreate(name="support"))
    store.datasets.add_items(
        "support", [ItemCreate(input={"query": q}, expected_output=f"echo: {q}") for q in QUESTIONS]
    )
    store.prompts.create(
        PromptCreate(
            name="support-answer",
            template="Answer: {{ input.query }}",
            labels=["production"],
            model_config={"model": "gpt-4o-mini", "temperature": 0.2},
        )
    )
    store.prompts.create(PromptCreate(name="support-answer", template="Draft: {{ input.query }}"))
    store.endpoints.create(
        EndpointCreate(
            name="my-bot",
            url=f"{fake.url}/echo",
            secret_headers={"Authorization": "Bearer s3cret"},
            body_template='{"q": "{{ input.query }}"}',
            output_path="answer",
        )
    )


def prompt_spec(fake: FakeProvider) -> dict[str, Any]:
    return {
        "type": "prompt",
        "prompt": "support-answer",
        "label": "production",
        "base_url": fake.openai_url,
    }


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[RunOptions]:
    """The options of every runner built while the test runs."""
    seen: list[RunOptions] = []
    original = Runner.__init__

    def spy(self: Runner, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        seen.append(self.options)

    monkeypatch.setattr(Runner, "__init__", spy)
    return seen


def assert_options(options: RunOptions) -> None:
    got = {key: getattr(options, key) for key in EXPECTED}
    assert got == EXPECTED


def authorizations(fake: FakeProvider) -> set[str | None]:
    return {
        {k.lower(): v for k, v in r.headers.items()}.get("authorization") for r in fake.requests
    }


def sent_prompts(fake: FakeProvider) -> list[str]:
    return sorted(r.body["messages"][-1]["content"] for r in fake.requests)


# ------------------------------------------------------------------ evaluate()


def test_evaluate_runs_a_stored_prompt_by_label(
    store: Store, fake: FakeProvider, runs: list[RunOptions]
) -> None:
    seed(store, fake)
    result = assay.evaluate(
        "support", prompt_spec(fake), ["exact_match"], store=store, trials=2, **SETTINGS
    )
    assert result.status == "completed"
    assert_options(runs[-1])
    assert len(result.rows) == 4  # two items, two trials
    assert sent_prompts(fake) == ["Answer: pricing plans"] * 2 + ["Answer: reset password"] * 2
    assert fake.requests[0].body["model"] == "gpt-4o-mini"  # the prompt's own model settings
    assert fake.requests[0].body["temperature"] == 0.2
    assert result.pass_rate == 0.0  # echo: "Answer: ..." is not the expected "echo: ..."
    config = result.experiment.config
    assert config["source"] == {"prompt": "support-answer", "version": 1, "label": "production"}
    assert result.experiment.target_label == "support-answer · gpt-4o-mini"


def test_evaluate_runs_a_saved_endpoint(
    store: Store, fake: FakeProvider, runs: list[RunOptions]
) -> None:
    seed(store, fake)
    spec = {"type": "endpoint", "endpoint": "my-bot"}
    result = assay.evaluate("support", spec, ["exact_match"], store=store, **SETTINGS)
    assert result.status == "completed"
    assert result.pass_rate == 1.0
    assert_options(runs[-1])
    assert authorizations(fake) == {"Bearer s3cret"}
    assert "s3cret" not in json.dumps(result.experiment.config)


def test_unknown_prompt_label_version_or_endpoint_names_the_field(
    store: Store, fake: FakeProvider
) -> None:
    seed(store, fake)
    cases = [
        ({**prompt_spec(fake), "prompt": "nope"}, "target.prompt", "'nope' not found"),
        ({**prompt_spec(fake), "prompt": "nope", "label": "x"}, "target.prompt", "not found"),
        ({**prompt_spec(fake), "label": "staging"}, "target.label", "no label 'staging'"),
        ({**prompt_spec(fake), "label": None, "version": 9}, "target.version", "version 9"),
        ({"type": "endpoint", "endpoint": "nope"}, "target.endpoint", "'nope' not found"),
        ({**prompt_spec(fake), "messages": []}, "target.messages", "its own messages"),
        ({**prompt_spec(fake), "temperature": 5}, "target.temperature", "less than or equal"),
    ]
    for spec, field, message in cases:
        with pytest.raises((NotFound, InvalidInput)) as caught:
            assay.evaluate("support", spec, store=store)
        assert caught.value.details.get("field") == field, spec
        assert message in caught.value.message, caught.value.message
    with pytest.raises(InvalidInput) as bad:
        assay.evaluate("support", prompt_spec(fake), store=store, timeout=0)
    assert bad.value.field == "timeout"
    assert store.experiments.list().items == []


def test_a_spec_without_a_store_or_a_model_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"target\.endpoint: a stored endpoint needs a store"):
        assay.targets.create_target({"type": "endpoint", "endpoint": "my-bot"})
    with pytest.raises(InvalidInput, match=r"target\.model: required"):
        assay.targets.create_target({"type": "prompt", "prompt": "hi", "base_url": "http://x"})


# ------------------------------------------------------------------ REST API


def create(http: TestClient, config: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = http.post(
        "/api/v1/experiments/",
        json={"name": "spec run", "dataset_id": "support", "config": config, **body},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_api_runs_a_stored_prompt_spec_with_the_run_settings(
    http: TestClient,
    store: Store,
    api_settings: Settings,
    fake: FakeProvider,
    runs: list[RunOptions],
) -> None:
    seed(store, fake)
    exp = create(http, prompt_spec(fake), trials=2, **SETTINGS)
    assert exp["config"]["version"] == 1  # the label pinned to its version
    assert exp["config"]["label"] == "production"
    assert exp["config"]["options"] == {k: v for k, v in SETTINGS.items() if k != "concurrency"}
    assert (exp["concurrency"], exp["trials"]) == (3, 2)
    store.prompts.create(  # moving the label after creation changes nothing
        PromptCreate(
            name="support-answer", template="Moved: {{ input.query }}", labels=["production"]
        )
    )
    assert http.post(f"/api/v1/experiments/{exp['id']}/start/").status_code == 200
    assert run_worker(store, api_settings).runs == 1
    assert_options(runs[-1])
    assert sent_prompts(fake) == ["Answer: pricing plans"] * 2 + ["Answer: reset password"] * 2
    summary = http.get(f"/api/v1/experiments/{exp['id']}/results/").json()["summary"]
    assert (summary["total"], summary["completed"]) == (4, 4)


def test_api_runs_a_saved_endpoint_spec(
    http: TestClient,
    store: Store,
    api_settings: Settings,
    fake: FakeProvider,
    runs: list[RunOptions],
) -> None:
    seed(store, fake)
    endpoint = store.endpoints.get("my-bot")
    exp = create(http, {"type": "endpoint", "endpoint": "my-bot"}, scorers=[], **SETTINGS)
    assert exp["config"]["endpoint"] == endpoint.id
    assert http.post(f"/api/v1/experiments/{exp['id']}/start/").status_code == 200
    assert run_worker(store, api_settings).runs == 1
    assert_options(runs[-1])
    assert authorizations(fake) == {"Bearer s3cret"}
    results = http.get(f"/api/v1/experiments/{exp['id']}/results/").json()
    assert sorted(r["output"] for r in results["results"]) == [
        f"echo: {q}" for q in sorted(QUESTIONS)
    ]


def test_api_refuses_bad_specs_naming_the_field(
    http: TestClient, store: Store, fake: FakeProvider
) -> None:
    seed(store, fake)
    cases: list[tuple[dict[str, Any], dict[str, Any], int, str]] = [
        ({**prompt_spec(fake), "label": "staging"}, {}, 404, "target.label"),
        ({**prompt_spec(fake), "prompt": "nope"}, {}, 404, "target.prompt"),
        ({"type": "endpoint", "endpoint": "nope"}, {}, 404, "target.endpoint"),
        ({"type": "function", "function": "os:getcwd"}, {}, 422, "config.type"),
        (prompt_spec(fake), {"max_retries": -1}, 422, "max_retries"),
        (prompt_spec(fake), {"backoff": {"base": -1}}, 422, "backoff"),
    ]
    for config, body, status, field in cases:
        response = http.post(
            "/api/v1/experiments/",
            json={"name": "bad", "dataset_id": "support", "config": config, **body},
        )
        assert response.status_code == status, (config, response.text)
        assert field in str(response.json()["error"]["details"].get("field")), response.text
    assert store.experiments.list().items == []


# ------------------------------------------------------------------ assay run CONFIG


def test_assay_run_runs_a_stored_prompt_from_a_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeProvider,
    runs: list[RunOptions],
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("ASSAY_DATABASE_URL", url)
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    store = open_store(url=url)
    seed(store, fake)
    store.close()
    config = tmp_path / "run.yaml"
    body = {
        "name": "cli spec run",
        "dataset": "support",
        "target": prompt_spec(fake),
        "scorers": ["exact_match"],
        "trials": 2,
        **SETTINGS,
        "max_retries": 9,
    }
    config.write_text(json.dumps(body))  # JSON is YAML
    done = CliRunner().invoke(app, ["run", str(config), "--max-retries", "2", "--json", "-q"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["summary"]["total"] == 4
    assert_options(runs[-1])  # the flag overrode the file's max_retries
    assert sent_prompts(fake) == ["Answer: pricing plans"] * 2 + ["Answer: reset password"] * 2
    bad = CliRunner().invoke(app, ["run", str(config), "--timeout", "0"])
    assert isinstance(bad.exception, InvalidInput)  # the entry point prints it and exits 1
    assert bad.exception.field == "timeout"

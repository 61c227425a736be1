"""Evaluators (seed 001's evaluators tab) and API endpoints from the dashboard."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from assay.config import Settings
from assay.domain import DatasetCreate, EndpointCreate, ItemCreate
from assay.scoring.registry import available
from assay.store import Store
from tests.fakes.provider import FakeProvider
from tests.integration.experiment_support import run_worker

HX = {"HX-Request": "true"}


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
def qa(store: Store) -> str:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa",
        [ItemCreate(input={"q": f"q{i}"}, expected_output={"a": f"Q{i}"}) for i in range(3)],
    )
    return "qa"


def test_every_library_scorer_has_a_form(http: TestClient, qa: str) -> None:
    for kind in available():
        form = http.get(f"/datasets/{qa}/evaluators/new", params={"kind": kind}, headers=HX)
        assert form.status_code == 200, kind
        assert f'<option value="{kind}" selected>' in form.text
    judge = http.get(f"/datasets/{qa}/evaluators/new", params={"kind": "llm_judge"}).text
    for param in ("rubric", "criteria", "choices", "pass_choices", "model", "provider"):
        assert f'name="param.{param}"' in judge
    assert 'name="param.api_key"' not in judge  # keys come from the server, never a form
    length = http.get(f"/datasets/{qa}/evaluators/new", params={"kind": "length"}).text
    assert "<option>words</option>" in length  # a Literal parameter is a choice


def test_create_edit_and_attach_an_evaluator(
    http: TestClient, store: Store, qa: str, fake: FakeProvider
) -> None:
    url = f"/datasets/{qa}/evaluators/new"
    fields = {
        "kind": "contains",
        "name": "mentions",
        "param.value": '["Q"]',
        "param.ignore_case": "true",
        "mapping": "expected_output = expected_output.a",
        "rule": "gte",
        "value": "0.5",
        "gating": "on",
        "attach": "on",
    }
    assert http.post(url, data=fields).status_code == 403
    for bad, message in (
        ({"param.ignore_case": "maybe"}, "params.ignore_case: true or false"),
        ({"mapping": "expected_output"}, "mapping: line 1 is not 'variable = path'"),
        ({"mapping": "x = nowhere.a"}, "must start with one of"),
        ({"rule": "gte", "value": "high"}, "threshold.gte: 'high' is not a number"),
        ({"kind": "cost"}, "params.max: required for cost"),
        ({"kind": "llm_judge", "param.choices": "[oops"}, "params.choices: not valid JSON"),
    ):
        refused = http.post(url, data={**fields, **bad}, headers=HX)
        assert refused.status_code == 422, bad
        assert message in html.unescape(refused.text), refused.text
    assert store.evaluators.list() == []  # nothing saved

    created = http.post(url, data=fields, headers=HX)
    assert created.headers["HX-Redirect"] == f"/datasets/{qa}/evaluators"
    saved = store.evaluators.get("mentions")
    assert (saved.kind, saved.params, saved.mapping, saved.threshold) == (
        "contains",
        {"value": ["Q"], "ignore_case": True},
        {"expected_output": "expected_output.a"},
        {"gte": 0.5},
    )
    assert [e.id for e in store.evaluators.defaults(qa)] == [saved.id]
    tab = http.get(f"/datasets/{qa}/evaluators").text
    assert f"/evaluators/{saved.id}/edit" in tab

    edit = http.get(f"/datasets/{qa}/evaluators/{saved.id}/edit").text
    assert "expected_output = expected_output.a" in html.unescape(edit)
    assert "saving makes version 2" in edit
    changed = http.post(
        f"/datasets/{qa}/evaluators/{saved.id}/edit",
        data={"mapping": "output = output", "rule": "in", "value": "1, 0.5", "gating": ""},
        headers=HX,
    )
    assert changed.status_code == 200, changed.text
    latest = store.evaluators.get("mentions")
    assert latest.version == 2
    assert latest.params == saved.params  # kind and parameters kept
    assert latest.mapping == {"output": "output"}
    assert latest.threshold == {"in": [1, 0.5], "gating": False}
    assert [e.id for e in store.evaluators.defaults(qa)] == [latest.id]  # attachment moved

    judge = http.post(
        url,
        data={
            "kind": "llm_judge",
            "name": "polite",
            "param.rubric": "custom",
            "param.criteria": "Is the answer polite?",
            "param.choices": '["polite", "rude"]',
            "param.model": "gpt-4o-mini",
            "param.base_url": fake.openai_url,
            "param.temperature": "0",
            "rule": "in",
            "value": "polite",
            "gating": "on",
        },
        headers=HX,
    )
    assert judge.status_code == 200, judge.text
    polite = store.evaluators.get("polite")
    assert polite.params["choices"] == ["polite", "rude"]
    assert polite.threshold == {"in": ["polite"]}
    assert [e.name for e in store.evaluators.defaults(qa)] == ["mentions"]  # not attached


def test_endpoints_secrets_are_write_only(http: TestClient, store: Store) -> None:
    fields = {
        "name": "bot",
        "url": "https://bot.example.com/answer",
        "method": "POST",
        "headers": "X-Team: search",
        "secret_headers": "Authorization: Bearer s3cret",
        "body_template": '{"q": "{{ input.q }}"}',
        "output_path": "answer",
        "timeout_s": "10",
    }
    assert http.post("/endpoints", data=fields).status_code == 403
    for bad, message in (
        ({"url": "http://169.254.169.254/latest/"}, "169.254.169.254"),
        ({"headers": "no colon here"}, "headers: line 1 is not 'Name: value'"),
        ({"timeout_s": "soon"}, "timeout_s: 'soon' is not a number"),
        ({"method": "TRACE"}, "method"),
    ):
        refused = http.post("/endpoints", data={**fields, **bad}, headers=HX)
        assert refused.status_code == 422, bad
        assert message in html.unescape(refused.text)
        assert "s3cret" not in refused.text
    assert store.endpoints.list().items == []

    created = http.post("/endpoints", data=fields, headers=HX)
    endpoint_id = created.headers["HX-Redirect"].removeprefix("/endpoints/")
    assert store.endpoints.secrets(endpoint_id) == {"Authorization": "Bearer s3cret"}
    for page in (http.get("/endpoints").text, http.get(f"/endpoints/{endpoint_id}").text):
        assert "s3cret" not in page
        assert "Authorization: ••••••" in page

    kept = http.post(f"/endpoints/{endpoint_id}", data={**fields, "secret_headers": ""}, headers=HX)
    assert kept.status_code == 200, kept.text
    assert store.endpoints.secrets(endpoint_id) == {"Authorization": "Bearer s3cret"}
    added = http.post(
        f"/endpoints/{endpoint_id}",
        data={**fields, "secret_headers": "X-Key: k2", "name": "bot-v2"},
        headers=HX,
    )
    assert "s3cret" not in added.text
    assert store.endpoints.secrets(endpoint_id) == {
        "Authorization": "Bearer s3cret",
        "X-Key": "k2",
    }
    assert store.endpoints.get(endpoint_id).name == "bot-v2"
    http.post(
        f"/endpoints/{endpoint_id}",
        data={**fields, "secret_headers": "", "remove_secrets": "X-Key"},
        headers=HX,
    )
    assert store.endpoints.secrets(endpoint_id) == {"Authorization": "Bearer s3cret"}
    moved = http.post(
        f"/endpoints/{endpoint_id}",
        data={**fields, "secret_headers": "", "url": "https://other.example.com/"},
        headers=HX,
    )
    assert "were dropped" in moved.text
    assert store.endpoints.secrets(endpoint_id) == {}  # a secret never follows a new URL
    deleted = http.post(f"/endpoints/{endpoint_id}/delete", headers=HX)
    assert deleted.headers["HX-Redirect"] == "/endpoints"


def test_endpoint_test_and_api_record_run(
    http: TestClient, store: Store, api_settings: Settings, fake: FakeProvider, qa: str
) -> None:
    saved = store.endpoints.create(
        EndpointCreate(
            name="echo",
            url=f"{fake.url}/echo",
            body_template='{"q": "{{ input.q }}"}',
            output_path="answer",
            secret_headers={"Authorization": "Bearer s3cret"},
        )
    )
    tried = http.post(f"/endpoints/{saved.id}/test", data={"sample": '{"q": "hi"}'}, headers=HX)
    assert tried.status_code == 200, tried.text
    text = _text(tried.text)
    assert "The endpoint answered (HTTP 200)" in text
    assert '"echo": {"q": "hi"}' in html.unescape(tried.text)  # the raw response
    output = re.search(r'<pre id="trial-output">(.*?)</pre>', tried.text, re.S)
    assert output is not None
    assert output[1].strip() == "echo: hi"
    assert fake.requests[-1].headers["Authorization"] == "Bearer s3cret"
    assert "s3cret" not in tried.text
    empty = http.post(f"/endpoints/{saved.id}/test", data={"sample": " "}, headers=HX)
    assert empty.status_code == 422

    internal = store.endpoints.create(
        EndpointCreate(name="metadata", url="http://169.254.169.254/latest/", output_path="a")
    )
    refused = http.post(f"/endpoints/{internal.id}/test", data={"sample": "x"}, headers=HX)
    assert refused.status_code == 200
    assert "Refused or failed" in refused.text
    assert "169.254.169.254" in html.unescape(refused.text)

    form = http.get(f"/datasets/{qa}/runs").text
    assert "API Record: a saved API endpoint" in form
    assert f'<option value="{saved.id}"' in form
    started = http.post(
        f"/datasets/{qa}/runs",
        data={"run_name": "api run", "target": "endpoint", "endpoint_id": saved.id},
        headers=HX,
    )
    run_id = started.headers["HX-Redirect"].removeprefix("/runs/")
    assert run_worker(store, api_settings).runs == 1
    outputs = sorted(r.output for r in store.experiments.iter_results(run_id))
    assert outputs == ["echo: q0", "echo: q1", "echo: q2"]

"""Authentication, route declarations, project isolation, error envelope and limits."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assay.client import Assay
from assay.config import Settings
from assay.domain import ApiKeyCreated, KeyRole
from assay.errors import Unauthorized
from assay.server import create_app
from assay.server.auth import served_routes, undeclared_routes
from assay.store import Store, open_store
from tests.integration.conftest import CLIENT_HEADER

BASE = "http://testserver"


def basic(key: ApiKeyCreated) -> dict[str, str]:
    token = base64.b64encode(f"{key.key.public_key}:{key.secret_key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def keyed(keyed_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(keyed_app, base_url=BASE, headers=CLIENT_HEADER) as http:
        yield http


@pytest.fixture
def other_store(settings: Settings) -> Iterator[Store]:
    s = open_store(settings, project=f"other-{uuid.uuid4().hex[:12]}")
    yield s
    s.close()


def test_every_route_declares_its_requirement(app: FastAPI) -> None:
    assert undeclared_routes(app) == []
    api_routes = [r for r in served_routes(app) if r.path.startswith("/api/v1/")]
    assert len(api_routes) > 20


def test_an_undeclared_route_is_caught(app: FastAPI) -> None:
    @app.get("/api/v1/sneaky/")
    def sneaky() -> dict[str, str]:
        return {}

    assert undeclared_routes(app) == ["['GET'] /api/v1/sneaky/"]


def test_no_route_creates_keys(app: FastAPI, http: TestClient) -> None:
    assert not [r for r in served_routes(app) if "key" in r.path]
    assert http.post("/api/v1/keys/", json={}).status_code == 404


def test_credentials_required_and_checked(keyed: TestClient, store: Store) -> None:
    key = store.keys.create("ci")
    missing = keyed.get("/api/v1/datasets/")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert missing.headers["www-authenticate"].startswith("Basic")
    wrong = keyed.get("/api/v1/datasets/", headers={"Authorization": "Bearer sk-wrong"})
    assert wrong.status_code == 401
    forged = basic(ApiKeyCreated(key=key.key, secret_key="sk-forged"))
    assert keyed.get("/api/v1/datasets/", headers=forged).status_code == 401
    assert keyed.get("/api/v1/datasets/", headers={"Authorization": "Basic !!"}).status_code == 401
    assert keyed.get("/api/v1/datasets/", headers=basic(key)).status_code == 200
    bearer = {"Authorization": f"Bearer {key.secret_key}"}
    assert keyed.get("/api/v1/datasets/", headers=bearer).status_code == 200
    assert keyed.get("/health").json()["auth"] == "keys"

    store.keys.revoke(key.key.public_key)
    assert keyed.get("/api/v1/datasets/", headers=basic(key)).status_code == 401
    assert keyed.get("/api/v1/datasets/", headers=bearer).status_code == 401


def test_keys_list_and_last_used(keyed: TestClient, store: Store) -> None:
    key = store.keys.create("ci")
    assert [k.public_key for k in store.keys.list()] == [key.key.public_key]
    keyed.get("/api/v1/projects/current/", headers=basic(key))
    (listed,) = store.keys.list()
    assert listed.last_used_at is not None
    store.keys.revoke(key.key.id)
    assert store.keys.list() == []
    assert len(store.keys.list(include_revoked=True)) == 1


def test_sdk_reads_credentials_from_the_environment(
    keyed: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = store.keys.create()
    monkeypatch.setenv("ASSAY_URL", BASE)
    monkeypatch.setenv("ASSAY_PUBLIC_KEY", key.key.public_key)
    monkeypatch.setenv("ASSAY_SECRET_KEY", key.secret_key)
    client = Assay(http_client=keyed)
    assert client.project().id == store.project_id
    monkeypatch.setenv("ASSAY_SECRET_KEY", "sk-nope")
    with pytest.raises(Unauthorized):
        Assay(http_client=keyed).project()


# ---------------------------------------------------------------------- isolation
def _bodies(names: dict[str, str]) -> dict[tuple[str, str], Any]:
    fresh = uuid.uuid4().hex
    return {
        ("POST", "/api/v1/datasets/"): {"name": f"b-set-{fresh}"},
        ("PUT", "/api/v1/datasets/{dataset_id}/"): {"description": "changed by b"},
        ("POST", "/api/v1/datasets/{dataset_id}/items/"): {"input": "b"},
        ("PUT", "/api/v1/datasets/{dataset_id}/items/{item_id}/"): {"input": "b"},
        ("POST", "/api/v1/datasets/{dataset_id}/import/"): {"items": [{"input": "b"}]},
        ("POST", "/api/v1/datasets/{dataset_id}/from-run/"): {"run_id": names["trace_id"]},
        ("POST", "/api/v1/datasets/{dataset_id}/items/from-traces/"): {
            "trace_ids": [names["trace_id"]]
        },
        ("POST", "/api/v1/dataset-items/"): {
            "datasetName": names["dataset_name"],
            "items": [{"input": "b"}],
        },
        ("POST", "/api/v1/prompts/"): {"name": f"b-prompt-{fresh}", "template": "b"},
        ("PUT", "/api/v1/prompts/{name}/versions/{version}/labels/"): {"labels": ["b"]},
        ("POST", "/api/v1/endpoints/"): {"name": f"b-ep-{fresh}", "url": "https://93.184.215.14/"},
        ("PUT", "/api/v1/endpoints/{endpoint_id}/"): {"name": "b"},
        ("POST", "/api/v1/traces/"): {"traces": [{"id": f"b-{uuid.uuid4().hex}"}]},
        ("POST", "/api/public/otel/v1/traces"): {"resourceSpans": []},
        ("POST", "/api/v1/experiments/"): {
            "name": "b",
            "dataset_id": names["dataset_id"],
            "config": {"prompt_name": names["name"], "model": "m"},
        },
        ("PUT", "/api/v1/experiments/{experiment_id}/notes/"): {"notes": "b"},
        ("POST", "/api/v1/experiments/compare/"): {
            "experiment_ids": [names["experiment_id"], names["dataset_run_id"]]
        },
        ("POST", "/api/v1/datasets/{dataset_id}/compare-prompt-versions/"): {
            "prompt_name": names["name"],
            "version_a": 1,
            "version_b": 2,
            "model": "m",
        },
        ("POST", "/api/v1/evaluators/"): {"name": f"b-eval-{fresh}", "kind": "contains"},
        ("POST", "/api/v1/datasets/{dataset_id}/evaluators/"): {
            "evaluator_id": names["evaluator_id"]
        },
        ("POST", "/api/v1/dataset-runs/"): {"datasetName": names["dataset_name"], "name": "b"},
        ("POST", "/api/v1/dataset-runs/{dataset_run_id}/items/"): {"items": [{"input": "b"}]},
        ("POST", "/api/v1/scores/"): {"trace_id": names["trace_id"], "name": "b", "value": 1},
        ("POST", "/api/v1/online-rules/"): {
            "name": f"b-rule-{fresh}",
            "evaluators": [{"evaluator": names["evaluator_id"]}],
        },
        ("PUT", "/api/v1/online-rules/{rule_id}/"): {"enabled": False},
    }


def _params(names: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        ("GET", "/api/v1/experiments/compare/"): {
            "experiment_ids": f"{names['experiment_id']},{names['dataset_run_id']}"
        },
        ("GET", "/api/v1/dataset-runs/"): {"dataset_name": names["dataset_name"]},
        ("POST", "/api/v1/dataset-runs/upload/"): {
            "dataset_name": names["dataset_name"],
            "tag": "b",
        },
    }


#: Routes whose body names another project's resource and answer that it is not found as a
#: field of the body (422 naming the field), like any unknown name.
_BODY_FIELDS_NOT_FOUND = {("POST", "/api/v1/online-rules/")}

#: Routes without path parameters whose body names another project's resource.
_BODY_REFERENCES = {
    ("POST", "/api/v1/dataset-items/"),
    ("POST", "/api/v1/experiments/"),
    ("POST", "/api/v1/experiments/compare/"),
    ("GET", "/api/v1/experiments/compare/"),
    ("POST", "/api/v1/dataset-runs/"),
    ("GET", "/api/v1/dataset-runs/"),
    ("POST", "/api/v1/dataset-runs/upload/"),
    ("POST", "/api/v1/scores/"),
}


def test_another_projects_key_reaches_nothing(
    keyed_app: FastAPI, keyed: TestClient, store: Store, other_store: Store
) -> None:
    # B holds an admin key: every route (admin ones too) must still find nothing of A's.
    a_key, b_key = store.keys.create("a"), other_store.keys.create("b", role=KeyRole.admin)
    a = Assay(base_url=BASE, secret_key=a_key.secret_key, http_client=keyed, max_retries=0)
    secret = f"secret-{uuid.uuid4().hex}"
    dataset = a.datasets.create(f"a-set-{secret}")
    item = a.datasets.create_item(dataset.id, {"input": secret})
    prompt = a.prompts.create(f"a-prompt-{secret}", template=secret, labels=["production"])
    endpoint = a.endpoints.create(f"a-ep-{secret}", "https://93.184.215.14/", headers={"X": secret})
    trace_id = f"a-trace-{secret}"
    a.traces.ingest([{"id": trace_id, "input": secret, "output": secret}])
    experiment = keyed.post(
        "/api/v1/experiments/",
        headers=basic(a_key),
        json={
            "name": f"a-exp-{secret}",
            "dataset_id": dataset.id,
            "config": {
                "prompt_name": prompt.name,
                "model": "m",
                "base_url": "https://93.184.215.14/v1",
            },
        },
    ).json()
    run = keyed.post(
        "/api/v1/dataset-runs/",
        headers=basic(a_key),
        json={"datasetName": dataset.name, "name": f"a-run-{secret}", "tag": secret},
    ).json()
    evaluator = keyed.post(
        "/api/v1/evaluators/",
        headers=basic(a_key),
        json={"name": f"a-eval-{secret}", "kind": "contains", "params": {"value": secret}},
    ).json()
    score = keyed.post(
        "/api/v1/scores/",
        headers=basic(a_key),
        json={"trace_id": trace_id, "name": "a-score", "value": secret},
    ).json()
    rule = keyed.post(
        "/api/v1/online-rules/",
        headers=basic(a_key),
        json={"name": f"a-rule-{secret}", "evaluators": [{"evaluator": evaluator["name"]}]},
    ).json()
    before = (a.datasets.get(dataset.id), a.prompts.versions(prompt.name), a.traces.get(trace_id))

    ids = {
        "dataset_id": dataset.id,
        "item_id": item.id,
        "endpoint_id": endpoint.id,
        "trace_id": trace_id,
        "name": prompt.name,
        "version": "1",
        "dataset_name": dataset.name,
        "experiment_id": experiment["id"],
        "dataset_run_id": run["id"],
        "evaluator_id": evaluator["id"],
        "score_id": score["id"],
        "rule_id": rule["id"],
    }
    by_name = {
        **ids,
        "dataset_id": dataset.name,
        "endpoint_id": endpoint.name,
        "experiment_id": experiment["name"],
        "evaluator_id": evaluator["name"],
        "rule_id": rule["name"],
    }
    checked = 0
    for values in (ids, by_name):
        for route in served_routes(keyed_app):
            if not route.path.startswith("/api/"):
                continue
            params = re.findall(r"{(\w+)}", route.path)
            for method in sorted(route.methods - {"HEAD"}):
                url = route.path.format(**{k: values[k] for k in params})
                response = keyed.request(
                    method,
                    url,
                    headers=basic(b_key),
                    json=_bodies(ids).get((method, route.path)),
                    params={"from": 0}
                    if url.endswith("/diff/")
                    else _params(ids).get((method, route.path)),
                )
                where = f"{method} {url}: {response.status_code} {response.text[:200]}"
                # Errors may echo what B itself sent; anything else of A's is a leak.
                seen = response.text
                for sent in sorted(set(values.values()), key=len, reverse=True):
                    seen = seen.replace(sent, "")
                assert secret not in seen, where
                assert dataset.id not in seen, where
                assert item.id not in seen, where
                if (method, route.path) in _BODY_FIELDS_NOT_FOUND:
                    assert response.status_code == 422, where
                    assert "not found" in response.json()["error"]["message"], where
                elif params or (method, route.path) in _BODY_REFERENCES:
                    assert response.status_code == 404, where
                    assert response.json()["error"]["code"] == "not_found", where
                else:
                    assert response.status_code < 400, where
                checked += 1
    assert checked > 40
    after = (a.datasets.get(dataset.id), a.prompts.versions(prompt.name), a.traces.get(trace_id))
    assert after == before
    assert a.endpoints.get(endpoint.id) == endpoint
    kept = keyed.get(f"/api/v1/experiments/{experiment['id']}/", headers=basic(a_key)).json()
    assert (kept["status"], kept["notes"]) == ("pending", None)


def test_trace_ids_belong_to_each_project(
    keyed: TestClient, store: Store, other_store: Store
) -> None:
    """The same trace id in two projects is two traces: no collision, nothing revealed."""
    a_key, b_key = store.keys.create(), other_store.keys.create()
    a = Assay(base_url=BASE, secret_key=a_key.secret_key, http_client=keyed, max_retries=0)
    b = Assay(base_url=BASE, secret_key=b_key.secret_key, http_client=keyed, max_retries=0)
    trace_id = f"t-{uuid.uuid4().hex}"
    a.traces.ingest([{"id": trace_id, "input": "a-only", "observations": [{"id": "o-1"}]}])
    result = b.traces.ingest([{"id": trace_id, "input": "b-own", "observations": [{"id": "o-1"}]}])
    assert (result.created, result.updated) == (1, 0)
    assert a.traces.get(trace_id).input == "a-only"
    assert b.traces.get(trace_id).input == "b-own"
    assert [o.id for o in a.traces.get(trace_id).observations] == ["o-1"]
    b_set = b.datasets.create("b-set")
    assert b.datasets.from_run(b_set.id, trace_id).input == "b-own"


# ---------------------------------------------------------------------- envelope & limits
def test_error_envelope_for_framework_errors(http: TestClient) -> None:
    for response, status, code in (
        (http.get("/api/v1/nothing-here/"), 404, "not_found"),
        (http.patch("/api/v1/datasets/"), 405, "method_not_allowed"),
        (
            http.post(
                "/api/v1/datasets/", content=b"[", headers={"content-type": "application/json"}
            ),
            422,
            "invalid_input",
        ),
    ):
        assert response.status_code == status
        body = response.json()
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message", "details"}
        assert body["error"]["code"] == code
    assert http.patch("/api/v1/datasets/").headers["allow"] == "GET, POST"
    broken = http.post(
        "/api/v1/datasets/", content=b"[", headers={"content-type": "application/json"}
    )
    assert broken.json()["error"]["details"]["field"] == "body"


def test_request_size_limit(settings: Settings, store: Store) -> None:
    from assay.store.projects import get_project

    name = get_project(store.db, store.project_id).name
    # no in-process worker: it would take up runs other tests of this module left queued
    limited = {"project": name, "max_request_bytes": 2048, "serve_worker": False}
    app = create_app(settings.model_copy(update=limited))
    try:
        with TestClient(app, base_url=BASE) as http:
            big = {"name": "x" * 4096}
            response = http.post("/api/v1/datasets/", json=big)
            assert response.status_code == 413
            assert response.json()["error"]["code"] == "payload_too_large"

            def chunks() -> Iterator[bytes]:
                yield b'{"name": "'
                yield b"y" * 4096
                yield b'"}'

            response = http.post(
                "/api/v1/datasets/", content=chunks(), headers={"content-type": "application/json"}
            )
            assert response.status_code == 413
            small = http.post("/api/v1/datasets/", json={"name": "fits"})
            assert small.status_code == 201
    finally:
        app.state.assay.db.dispose()

"""Secrets are sealed at rest with the server key, and masked in every read path."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from assay.config import Settings
from assay.domain import EndpointCreate, EvaluatorCreate
from assay.domain.redaction import MASK, redact
from assay.store import Database, Store
from assay.store.keys import authenticate, hash_secret
from assay.store.migrate import downgrade, upgrade
from assay.store.sealing import KEY_FILE, Keyring, load_keyring, server_key
from assay.store.tables import (
    api_keys,
    connections,
    endpoints,
    evaluators,
    experiments,
    projects,
)
from assay.store.types import utcnow
from tests.fakes.provider import FakeProvider
from tests.integration.experiment_support import run_worker

SECRET = "sk-live-0123456789abcdefWXYZ"


def raw(store: Store, column: object, where: object) -> object:
    with store.db.read() as conn:
        return conn.execute(select(column).where(where)).scalar_one()  # type: ignore[arg-type]


def test_endpoint_secret_headers_and_connection_keys_are_sealed(store: Store) -> None:
    endpoint = store.endpoints.create(
        EndpointCreate(
            name="agent", url="https://agent.test/", secret_headers={"X-Api-Key": SECRET}
        )
    )
    stored = raw(store, endpoints.c.secret_headers, endpoints.c.id == endpoint.id)
    assert SECRET not in str(stored)
    assert store.endpoints.secrets("agent") == {"X-Api-Key": SECRET}

    store.connections.create("openai", "openai", api_key=SECRET)
    mine = (connections.c.name == "openai") & (connections.c.project_id == store.project_id)
    assert SECRET not in str(raw(store, connections.c.api_key, mine))
    assert store.connections.credentials("openai").api_key == SECRET
    assert store.connections.get("openai").has_api_key


def test_a_judges_api_key_is_sealed_and_never_served(store: Store, http: TestClient) -> None:
    saved = store.evaluators.create(
        EvaluatorCreate(name="judge", kind="contains", params={"value": "x", "api_key": SECRET})
    )
    assert SECRET not in str(raw(store, evaluators.c.params, evaluators.c.id == saved.id))
    assert store.evaluators.get("judge").params["api_key"] == SECRET  # for the scorer
    for path in (f"/api/v1/evaluators/{saved.id}/", "/api/v1/evaluators/"):
        body = http.get(path)
        assert body.status_code == 200
        assert SECRET not in body.text
        assert "sk-…WXYZ" in body.text


def test_an_inline_endpoints_authorization_is_sealed_and_masked(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    config = {
        "endpoint": {
            "url": f"{fake.url}/echo",
            "headers": {"Authorization": f"Bearer {SECRET}", "Accept": "application/json"},
            "body": {"q": "{{ input.query }}"},
            "output_path": "answer",
        }
    }
    created = http.post(
        "/api/v1/experiments/", json={"name": "r", "dataset_id": qa, "config": config}
    )
    assert created.status_code == 201, created.text
    run = created.json()
    assert SECRET not in created.text
    assert run["config"]["endpoint"]["headers"]["Authorization"] == "Bearer sk-…WXYZ"
    assert run["config"]["endpoint"]["headers"]["Accept"] == "application/json"
    assert SECRET not in str(raw(store, experiments.c.config, experiments.c.id == run["id"]))
    for path in (f"/api/v1/experiments/{run['id']}/", "/api/v1/experiments/"):
        assert SECRET not in http.get(path).text

    http.post(f"/api/v1/experiments/{run['id']}/start/")
    run_worker(store, api_settings)  # the worker still sends the real header
    sent = {
        {k.lower(): v for k, v in r.headers.items()}.get("authorization") for r in fake.requests
    }
    assert sent == {f"Bearer {SECRET}"}


def test_the_dashboard_masks_evaluator_parameters(store: Store, http: TestClient, qa: str) -> None:
    saved = store.evaluators.create(
        EvaluatorCreate(name="judge", kind="contains", params={"value": "x", "api_key": SECRET})
    )
    store.evaluators.attach(qa, saved.id)
    page = http.get("/datasets/Support Agent QA/evaluators")
    assert page.status_code == 200
    assert "judge" in page.text
    assert SECRET not in page.text


def test_api_key_hashes_are_peppered_and_old_hashes_upgraded(store: Store) -> None:
    created = store.keys.create("ci")
    stored = raw(store, api_keys.c.secret_hash, api_keys.c.id == created.key.id)
    assert stored != hash_secret(created.secret_key)  # not a bare SHA-256 any more
    assert authenticate(store.db, public_key=None, secret=created.secret_key).id == store.project_id

    with store.db.write() as conn:  # a key hashed before the pepper
        conn.execute(
            api_keys.update()
            .where(api_keys.c.id == created.key.id)
            .values(secret_hash=hash_secret(created.secret_key))
        )
    public = created.key.public_key
    assert authenticate(store.db, public_key=public, secret=created.secret_key)
    assert raw(store, api_keys.c.secret_hash, api_keys.c.id == created.key.id) == stored


def test_the_server_key_file_is_created_once_and_private(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    first = server_key(settings)
    path = tmp_path / "home" / KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert server_key(settings) == first
    configured = Settings(home=tmp_path / "other", secret_key="from-the-environment")  # type: ignore[arg-type]
    assert server_key(configured) == "from-the-environment"
    assert not (tmp_path / "other" / KEY_FILE).exists()

    sealed = load_keyring(settings).seal(SECRET)
    assert sealed.startswith("enc:v1:")
    assert SECRET not in sealed
    assert load_keyring(settings).unseal(sealed) == SECRET
    with pytest.raises(Exception, match="cannot be decrypted"):
        Keyring("another key").unseal(sealed)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ({"api_key": SECRET}, {"api_key": "sk-…WXYZ"}),
        (
            {"headers": {"Authorization": "Basic dXNlcjpwYXNz"}},
            {"headers": {"Authorization": f"Basic {MASK}"}},
        ),
        (
            {"X-Api-Key": "k", "access_token": "t", "max_tokens": 5},
            {"X-Api-Key": MASK, "access_token": MASK, "max_tokens": 5},
        ),
        ({"secret_headers": {"X-Custom": SECRET}}, {"secret_headers": {"X-Custom": "sk-…WXYZ"}}),
        ([{"params": {"password": "hunter2"}}], [{"params": {"password": MASK}}]),
    ],
)
def test_redaction(given: object, shown: object) -> None:
    assert redact(given) == shown


def test_the_migration_seals_existing_secrets(empty_db: Database, tmp_path: Path) -> None:
    empty_db.keyring = load_keyring(Settings(home=tmp_path / "home"))
    upgrade(empty_db, "d2a7f4b9")
    now = utcnow()
    with empty_db.write() as conn:
        conn.execute(projects.insert().values(id="p", name="p", created_at=now))
        conn.execute(
            endpoints.insert().values(
                id="e",
                project_id="p",
                name="e",
                url="https://x.test/",
                method="POST",
                headers={},
                secret_headers={"Authorization": SECRET},
                timeout_s=30.0,
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            connections.insert().values(
                id="c", project_id="p", name="c", provider="openai", api_key=SECRET, created_at=now
            )
        )
        conn.execute(
            evaluators.insert().values(
                id="v",
                project_id="p",
                name="v",
                version=1,
                kind="contains",
                params={"api_key": SECRET, "value": "x"},
                mapping={},
                created_at=now,
            )
        )
    upgrade(empty_db)
    with empty_db.read() as conn:
        rows = [
            conn.execute(select(endpoints.c.secret_headers)).scalar_one(),
            conn.execute(select(connections.c.api_key)).scalar_one(),
            conn.execute(select(evaluators.c.params)).scalar_one(),
        ]
    assert SECRET not in str(rows)
    store = Store(empty_db, "p")
    assert store.endpoints.secrets("e") == {"Authorization": SECRET}
    assert store.connections.credentials("c").api_key == SECRET
    assert store.evaluators.get("v").params == {"api_key": SECRET, "value": "x"}

    downgrade(empty_db, "d2a7f4b9")  # back to plaintext for the code that came before
    with empty_db.read() as conn:
        assert conn.execute(select(connections.c.api_key)).scalar_one() == SECRET

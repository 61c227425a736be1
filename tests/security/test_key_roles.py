"""Key roles (read, write, admin), key expiry, and the audit log of deletes and key changes."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from assay.config import Settings
from assay.domain import ApiKeyCreated, DatasetCreate, KeyRole
from assay.errors import Unauthorized
from assay.server.auth import required_role, served_routes
from assay.store import Database, Store, open_store
from assay.store.keys import authenticate_key
from assay.store.migrate import upgrade
from assay.store.tables import api_keys
from assay.store.types import utcnow

BASE = "http://testserver"


def basic(key: ApiKeyCreated) -> dict[str, str]:
    token = base64.b64encode(f"{key.key.public_key}:{key.secret_key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def keyed(keyed_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(keyed_app, base_url=BASE) as http:
        yield http


# ---------------------------------------------------------------------- roles
def _status(keyed: TestClient, store: Store, key: ApiKeyCreated, kind: str) -> int:
    """The status of one read, write or admin request made with ``key``."""
    if kind == "read":
        return keyed.get("/api/v1/datasets/", headers=basic(key)).status_code
    if kind == "write":
        body = {"name": f"w-{uuid.uuid4().hex}"}
        return keyed.post("/api/v1/datasets/", headers=basic(key), json=body).status_code
    victim = store.datasets.create(DatasetCreate(name=f"d-{uuid.uuid4().hex}"))
    return keyed.delete(f"/api/v1/datasets/{victim.id}/", headers=basic(key)).status_code


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (KeyRole.read, {"read"}),
        (KeyRole.write, {"read", "write"}),
        (KeyRole.admin, {"read", "write", "admin"}),
    ],
)
def test_each_role_reaches_what_it_allows(
    keyed: TestClient, store: Store, role: KeyRole, allowed: set[str]
) -> None:
    key = store.keys.create(role.value, role=role)
    expected = {"read": 200, "write": 201, "admin": 204}
    for kind in ("read", "write", "admin"):
        status = _status(keyed, store, key, kind)
        assert status == (expected[kind] if kind in allowed else 403), (role, kind)
    audit = keyed.get("/api/v1/audit/", headers=basic(key))
    assert audit.status_code == (200 if role is KeyRole.admin else 403)


def test_forbidden_names_the_role_needed(keyed: TestClient, store: Store) -> None:
    reader, writer = store.keys.create(role=KeyRole.read), store.keys.create()
    refused = keyed.post("/api/v1/datasets/", headers=basic(reader), json={"name": "x"})
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "forbidden"
    assert "write role" in error["message"]
    assert error["details"] == {"role": "read", "required_role": "write"}
    # Refused before any lookup: the same answer whether the dataset exists or not.
    for target in ("no-such-dataset", store.datasets.create(DatasetCreate(name="kept")).id):
        gone = keyed.delete(f"/api/v1/datasets/{target}/", headers=basic(writer))
        assert gone.status_code == 403
        assert "admin role" in gone.json()["error"]["message"]
    assert store.datasets.get("kept").name == "kept"


def test_role_changes_apply_to_the_next_request(keyed: TestClient, store: Store) -> None:
    key = store.keys.create(role=KeyRole.read)
    body = {"name": f"n-{uuid.uuid4().hex}"}
    assert keyed.post("/api/v1/datasets/", headers=basic(key), json=body).status_code == 403
    assert store.keys.set_role(key.key.public_key, KeyRole.write).role is KeyRole.write
    assert keyed.post("/api/v1/datasets/", headers=basic(key), json=body).status_code == 201


def test_every_route_needs_the_role_its_method_implies(keyed_app: FastAPI) -> None:
    admin_only = {
        ("DELETE", "/api/v1/datasets/{dataset_id}/"),
        ("DELETE", "/api/v1/experiments/{experiment_id}/"),
        ("GET", "/api/v1/audit/"),
        ("POST", "/runs/{run_id}/delete"),
        ("POST", "/run-actions/{run_id}/delete"),
    }
    seen = set()
    for route in served_routes(keyed_app):
        for method in route.methods - {"HEAD"}:
            needed = required_role(route, method)
            if needed is None:
                continue
            if (method, route.path) in admin_only:
                seen.add((method, route.path))
                assert needed is KeyRole.admin, route.path
            elif method == "GET":
                assert needed is KeyRole.read, route.path
            else:
                assert needed is KeyRole.write, (method, route.path)
    assert seen == admin_only


def test_keys_created_before_roles_become_write_keys(empty_db: Database) -> None:
    upgrade(empty_db, "e8b3c6a1")
    with empty_db.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO projects (id, name, created_at) VALUES ('p1', 'old', '2026-01-01')"
        )
        conn.exec_driver_sql(
            "INSERT INTO api_keys (id, project_id, name, public_key, secret_hash, created_at) "
            "VALUES ('k1', 'p1', 'old', 'pk-old', 'h1:x', '2026-01-01')"
        )
    upgrade(empty_db)
    with empty_db.read() as conn:
        row = conn.execute(select(api_keys.c.role, api_keys.c.expires_at)).one()
    assert (row.role, row.expires_at) == ("write", None)


# ---------------------------------------------------------------------- expiry
def test_an_expired_key_is_refused_saying_so(keyed: TestClient, store: Store) -> None:
    past = store.keys.create("old", expires_at=utcnow() - timedelta(minutes=1))
    refused = keyed.get("/api/v1/datasets/", headers=basic(past))
    assert refused.status_code == 401
    assert "expired" in refused.json()["error"]["message"]
    bearer = {"Authorization": f"Bearer {past.secret_key}"}
    assert "expired" in keyed.get("/api/v1/datasets/", headers=bearer).json()["error"]["message"]
    # A wrong secret for the same public key says nothing about expiry.
    forged = basic(ApiKeyCreated(key=past.key, secret_key="sk-forged"))
    assert "expired" not in keyed.get("/api/v1/datasets/", headers=forged).text
    future = store.keys.create("new", expires_at=utcnow() + timedelta(days=1))
    assert keyed.get("/api/v1/datasets/", headers=basic(future)).status_code == 200
    (listed,) = [k for k in store.keys.list() if k.public_key == past.key.public_key]
    assert listed.expires_at == past.key.expires_at


def test_expiry_against_an_injected_clock(store: Store) -> None:
    key = store.keys.create(expires_at=utcnow() + timedelta(hours=1))
    auth = {"public_key": key.key.public_key, "secret": key.secret_key}
    project, found = authenticate_key(store.db, **auth)
    assert (project.id, found.role) == (store.project_id, KeyRole.write)
    later = utcnow() + timedelta(hours=2)
    with pytest.raises(Unauthorized, match="expired"):
        authenticate_key(store.db, **auth, now=later)


# ---------------------------------------------------------------------- audit
def test_a_delete_writes_an_audit_entry(keyed: TestClient, store: Store) -> None:
    admin = store.keys.create("admin", role=KeyRole.admin)
    writer = store.keys.create("writer")
    dataset = store.datasets.create(DatasetCreate(name=f"gone-{uuid.uuid4().hex}"))
    assert keyed.delete(f"/api/v1/datasets/{dataset.id}/", headers=basic(admin)).status_code == 204
    page = keyed.get("/api/v1/audit/", headers=basic(admin)).json()
    newest = page["items"][0]
    assert (newest["action"], newest["target_kind"], newest["target_id"]) == (
        "dataset.delete",
        "dataset",
        dataset.id,
    )
    assert newest["actor"] == admin.key.public_key
    assert newest["project_id"] == store.project_id
    assert newest["details"]["name"] == dataset.name
    refused = keyed.get("/api/v1/audit/", headers=basic(writer))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"


def test_audit_records_deletes_and_key_changes_of_each_kind(store: Store) -> None:
    from assay.domain import EndpointCreate, EvaluatorCreate, ItemCreate

    key = store.keys.create("k")
    store.keys.set_role(key.key.id, KeyRole.admin)
    store.keys.revoke(key.key.id)
    store.keys.revoke(key.key.id)  # already revoked: nothing more to record
    dataset = store.datasets.create(DatasetCreate(name="d"))
    item = store.datasets.add_item(dataset.id, ItemCreate(input="x"))
    store.datasets.delete_item(dataset.id, item.id)
    evaluator = store.evaluators.create(EvaluatorCreate(name="e", kind="contains"))
    store.evaluators.delete(evaluator.id)
    endpoint = store.endpoints.create(EndpointCreate(name="ep", url="https://example.com/"))
    store.endpoints.delete(endpoint.id)
    store.datasets.delete(dataset.id)
    entries = list(reversed(store.audit.list().items))
    assert [(e.action, e.target_id) for e in entries] == [
        ("key.create", key.key.public_key),
        ("key.role", key.key.public_key),
        ("key.revoke", key.key.public_key),
        ("item.delete", item.id),
        ("evaluator.delete", evaluator.id),
        ("endpoint.delete", endpoint.id),
        ("dataset.delete", dataset.id),
    ]
    assert {e.actor for e in entries} == {"cli"}
    assert entries[1].details == {"previous": "write", "role": "admin"}


def test_audit_pages_with_a_cursor(keyed: TestClient, store: Store) -> None:
    admin = store.keys.create(role=KeyRole.admin)
    for _ in range(4):
        store.keys.revoke(store.keys.create().key.id)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = keyed.get("/api/v1/audit/", headers=basic(admin), params=params).json()
        seen.extend(e["id"] for e in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # the admin key's creation, then 4 (create, revoke) pairs
    assert len(seen) == len(set(seen)) == 9
    everything = store.audit.list(limit=100).items
    assert seen == [e.id for e in everything]
    only = keyed.get("/api/v1/audit/", headers=basic(admin), params={"action": "key.revoke"})
    assert len(only.json()["items"]) == 4
    bad = keyed.get("/api/v1/audit/", headers=basic(admin), params={"cursor": "!!"})
    assert bad.status_code == 422


def test_the_audit_log_is_per_project(keyed: TestClient, store: Store, settings: Settings) -> None:
    other = open_store(settings, project=f"other-{uuid.uuid4().hex[:12]}")
    try:
        other.datasets.delete(other.datasets.create(DatasetCreate(name="theirs")).id)
        admin = store.keys.create(role=KeyRole.admin)
        page = keyed.get("/api/v1/audit/", headers=basic(admin)).json()
        assert [e["action"] for e in page["items"]] == ["key.create"]
    finally:
        other.close()

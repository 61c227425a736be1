"""Endpoint records: CRUD, write-only secret headers, outbound safety with auth on."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assay.client import Assay
from assay.errors import Conflict, Forbidden, InvalidInput, NotFound
from assay.store import Store


def test_crud_and_secret_headers_are_write_only(
    client: Assay, http: TestClient, store: Store
) -> None:
    created = client.endpoints.create(
        "support-agent",
        "https://agent.example.com/v1/answer",
        headers={"X-Team": "qa"},
        secret_headers={"Authorization": "Bearer s3cret"},
        body_template='{"q": "{{input.query}}"}',
        output_path="answer",
    )
    assert created.secret_header_names == ["Authorization"]
    assert created.headers == {"X-Team": "qa"}
    raw = http.get(f"/api/v1/endpoints/{created.id}/").text
    assert "s3cret" not in raw
    assert store.endpoints.secrets(created.id) == {"Authorization": "Bearer s3cret"}

    renamed = client.endpoints.update(created.id, name="agent-v2", timeout_s=5)
    assert (renamed.name, renamed.timeout_s) == ("agent-v2", 5)
    assert renamed.secret_header_names == ["Authorization"]

    moved = client.endpoints.update(created.id, url="https://other.example.com/")
    assert moved.secret_header_names == []
    assert store.endpoints.secrets(created.id) == {}

    assert [e.name for e in client.endpoints.list().items] == ["agent-v2"]
    with pytest.raises(Conflict):
        client.endpoints.create("agent-v2", "https://x.example.com/")
    client.endpoints.delete(created.id)
    with pytest.raises(NotFound):
        client.endpoints.get(created.id)


def test_endpoint_validation(client: Assay) -> None:
    with pytest.raises(InvalidInput) as info:
        client.endpoints.create("e", "https://x.example.com/", method="TRACE")
    assert info.value.field == "method"
    with pytest.raises(InvalidInput) as info:
        client.endpoints.create("e", "https://x.example.com/", timeout_s=0)
    assert info.value.field == "timeout_s"


def test_internal_urls_refused_with_auth_on(keyed_app: FastAPI, store: Store) -> None:
    created = store.keys.create("test")
    with TestClient(keyed_app, base_url="http://testserver") as http:
        client = Assay(
            base_url="http://testserver",
            public_key=created.key.public_key,
            secret_key=created.secret_key,
            http_client=http,
            max_retries=0,
        )
        for url in ("http://127.0.0.1:8000/", "http://169.254.169.254/latest/", "http://10.0.0.8/"):
            with pytest.raises(Forbidden) as info:
                client.endpoints.create("internal", url)
            assert info.value.details["field"] == "url"
        with pytest.raises(InvalidInput):
            client.endpoints.create("ftp", "ftp://files.example.com/")
        ok = client.endpoints.create("public", "https://93.184.215.14/answer")
        with pytest.raises(Forbidden):
            client.endpoints.update(ok.id, url="http://localhost:9000/")
        assert client.endpoints.get(ok.id).url == "https://93.184.215.14/answer"


def test_allow_list_permits_named_internal_hosts(keyed_app: FastAPI, store: Store) -> None:
    settings = keyed_app.state.assay.settings
    settings.outbound_allow.append("10.0.0.0/8")
    created = store.keys.create()
    with TestClient(keyed_app, base_url="http://testserver") as http:
        client = Assay(
            base_url="http://testserver", secret_key=created.secret_key, http_client=http
        )
        assert client.endpoints.create("lan", "http://10.1.2.3/x").url == "http://10.1.2.3/x"

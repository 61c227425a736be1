"""Malformed requests answer a clear 4xx, never a 500 (on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assay.domain import DatasetCreate, ItemCreate
from assay.store import Store


@pytest.mark.parametrize(
    "header",
    [
        b"Basic \xc3\xa9t\xc3\xa9",  # UTF-8 bytes: not base64
        b"Basic \xff\xfe",  # not even UTF-8
        b"Basic w6k6w6k=",  # "é:é": well-formed, matches no key
        b"Basic /w==",  # base64 of 0xff: not UTF-8 inside
        b"Bearer \xe2\x98\x83",  # a snowman as the secret
    ],
)
def test_non_ascii_credentials_are_a_401(keyed_app: FastAPI, store: Store, header: bytes) -> None:
    with TestClient(keyed_app, raise_server_exceptions=False) as raw:
        response = raw.get("/api/v1/datasets/", headers=[(b"authorization", header)])
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "body",
    [
        b"input,output\rreset password,done\r",  # classic Mac line endings
        b"input,output\nreset password,do\rne\n",  # a bare \r inside a cell
        b"\rinput,output\n",
    ],
)
@pytest.mark.parametrize("kind", ["text/csv", "text/plain", "multipart/form-data"])
def test_csv_with_a_bare_carriage_return_is_a_422(
    http: TestClient, store: Store, body: bytes, kind: str
) -> None:
    dataset = store.datasets.create(DatasetCreate(name="crlf"))
    store.datasets.add_items(dataset.id, [ItemCreate(input="reset password")])
    url = "/api/v1/dataset-runs/upload/?dataset_name=crlf&tag=mac"
    if kind == "multipart/form-data":
        response = http.post(url, files={"file": ("outputs.csv", body, "text/csv")})
    else:
        response = http.post(url, content=body, headers={"content-type": kind})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert "carriage return" in error["message"]
    assert store.dataset_runs.tagged("crlf", "mac") is None

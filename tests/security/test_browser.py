"""What a web page in the user's browser can make the server do: nothing that changes data.

A keyless server answers only requests addressed to a loopback name (DNS rebinding sends the
attacker's ``Host``); requests that change data are refused when the browser marks them as
cross-site, and must otherwise be ones a page cannot send without a preflight (JSON, or a
custom header). Runs on SQLite and PostgreSQL, checking that nothing was written.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assay.client import Assay
from assay.domain import DatasetCreate, ItemCreate
from assay.store import Store

CSV = b"input,output\nreset password,Use the reset link\n"
EVIL = "http://evil.example"


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    """A client that sends only what a browser would: no custom header."""
    with TestClient(app, base_url="http://127.0.0.1:8000") as raw:
        yield raw


@pytest.fixture
def dataset(store: Store) -> str:
    created = store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(created.id, [ItemCreate(input="reset password")])
    return created.id


def items(store: Store, dataset_id: str) -> int:
    return store.datasets.get(dataset_id).item_count


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io", "0.0.0.0"]
)
def test_a_keyless_server_refuses_other_host_names(browser: TestClient, host: str) -> None:
    response = browser.get("/api/v1/datasets/", headers={"host": host})
    assert response.status_code == 403
    assert "localhost, 127.0.0.1 or [::1]" in response.json()["error"]["message"]
    assert browser.get("/datasets", headers={"host": host}).status_code == 403


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "127.0.0.2", "testserver"],
)
def test_loopback_host_names_are_served(browser: TestClient, host: str) -> None:
    assert browser.get("/api/v1/datasets/", headers={"host": host}).status_code == 200


def test_a_keyed_server_serves_any_host_name(keyed_app: FastAPI, store: Store) -> None:
    key = store.keys.create()
    with TestClient(keyed_app, base_url="https://assay.example.com") as raw:
        answer = raw.get("/api/v1/datasets/", headers={"authorization": f"Bearer {key.secret_key}"})
    assert answer.status_code == 200


def test_cross_site_multipart_import_writes_nothing(
    browser: TestClient, store: Store, dataset: str
) -> None:
    url = f"/api/v1/datasets/{dataset}/import/"
    files = {"file": ("qa.csv", b"input\nmalicious\n", "text/csv")}
    for headers in ({"origin": EVIL}, {"referer": f"{EVIL}/page"}, {"origin": "null"}, {}):
        response = browser.post(url, files=files, headers=headers)
        assert response.status_code == 403, (headers, response.text)
    assert items(store, dataset) == 1


def test_cross_site_text_plain_run_upload_writes_nothing(
    browser: TestClient, store: Store, dataset: str
) -> None:
    url = "/api/v1/dataset-runs/upload/?dataset_name=qa&tag=csrf"
    for headers in (
        {"content-type": "text/plain", "origin": EVIL},
        {"content-type": "text/plain"},
        {"content-type": "application/x-www-form-urlencoded"},
        {"content-type": "text/plain", "sec-fetch-site": "cross-site"},
        {"content-type": "text/plain", "sec-fetch-site": "same-site"},  # another local port
    ):
        response = browser.post(url, content=CSV, headers=headers)
        assert response.status_code == 403, (headers, response.text)
    assert store.dataset_runs.tagged("qa", "csrf") is None


def test_bodyless_posts_need_the_same_proof(browser: TestClient, store: Store) -> None:
    """``fetch(url, {method: "POST", mode: "no-cors"})`` sends no content type at all."""
    response = browser.post("/api/v1/experiments/compare/")
    assert response.status_code == 403


def test_json_from_another_origin_is_refused(browser: TestClient, dataset: str) -> None:
    body = {"name": "planted"}
    assert browser.post("/api/v1/datasets/", json=body, headers={"origin": EVIL}).status_code == 403
    blocked = browser.post("/api/v1/datasets/", json=body, headers={"sec-fetch-site": "cross-site"})
    assert blocked.status_code == 403


def test_own_pages_and_programs_still_write(
    browser: TestClient, app: FastAPI, store: Store, dataset: str
) -> None:
    same = {"origin": "http://127.0.0.1:8000", "sec-fetch-site": "same-origin"}
    url = "/api/v1/dataset-runs/upload/?dataset_name=qa&tag=ours"
    ok = browser.post(url, content=CSV, headers={"content-type": "text/plain", **same})
    assert ok.status_code == 200, ok.text
    scripted = browser.post(
        url.replace("ours", "script"),
        content=CSV,
        headers={"content-type": "text/csv", "x-assay-client": "curl"},
    )
    assert scripted.status_code == 200, scripted.text
    assert browser.post("/api/v1/datasets/", json={"name": "plain json"}).status_code == 201
    form = browser.post(
        "/datasets", data={"name": "from the dashboard"}, headers={"hx-request": "true", **same}
    )
    assert form.status_code == 200, form.text
    sdk = Assay(base_url="http://127.0.0.1:8000", http_client=browser, max_retries=0)
    upload = io.BytesIO(CSV.replace(b"output", b"expected_output"))
    imported = sdk.datasets.import_(dataset, file=upload, format="csv")
    assert imported.imported == 1


def test_safe_methods_are_not_affected(browser: TestClient, dataset: str) -> None:
    assert browser.get("/api/v1/datasets/", headers={"origin": EVIL}).status_code == 200

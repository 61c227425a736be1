"""The API reference at /docs loads Swagger UI from this server, never from a CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

EXPECTED_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def referenced(html: str) -> list[str]:
    """Every URL the page loads: scripts, stylesheets, icons and the schema."""
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    return urls + re.findall(r"url: '([^']+)'", html)


@pytest.fixture
def keyed(keyed_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(keyed_app) as http:
        yield http


def test_docs_reference_no_external_host(http: TestClient) -> None:
    page = http.get("/docs")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    urls = referenced(page.text)
    assert {urlsplit(u).path.rsplit(".", 1)[-1] for u in urls} >= {"js", "css", "png", "json"}
    assert [u for u in urls if urlsplit(u).netloc or u.startswith("//")] == []
    assert "cdn" not in page.text.lower()


def test_docs_assets_are_served(http: TestClient) -> None:
    for url in referenced(http.get("/docs").text):
        response = http.get(url)
        assert response.status_code == 200, url
        assert len(response.content) > 1000, url
        suffix = "." + url.rsplit(".", 1)[-1]
        if suffix in EXPECTED_TYPES:
            assert response.headers["content-type"].startswith(EXPECTED_TYPES[suffix]), url
    bundle = http.get("/static/swagger/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text
    assert http.get("/static/swagger/nope.js").status_code == 404
    assert http.get("/static/swagger/..%2Fcore.py").status_code == 404


def test_docs_need_no_key(keyed: TestClient) -> None:
    """Like /openapi.json, the reference and its files are public even when keys are on."""
    assert keyed.get("/api/v1/datasets/").status_code == 401
    page = keyed.get("/docs")
    assert page.status_code == 200
    for url in referenced(page.text):
        assert keyed.get(url).status_code == 200, url

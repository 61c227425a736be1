"""Failed authentications are limited per client IP, requests per API key: 429, Retry-After.

The limits' clock is a fake one, so no test depends on how fast the machine is.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assay.config import Settings
from assay.server import create_app
from assay.server.ratelimit import RateLimits
from assay.store import Store
from assay.store.projects import get_project
from tests.fakes.clock import FakeClock
from tests.integration.conftest import BASE


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limited(settings: Settings, store: Store, clock: FakeClock) -> Iterator[FastAPI]:
    name = get_project(store.db, store.project_id).name
    limited = settings.model_copy(
        update={
            "project": name,
            "auth": "keys",
            "serve_worker": False,
            "rate_limit_auth_failures": 10,
            "rate_limit_requests": 5,
        }
    )
    app = create_app(limited)
    app.state.rate_limits = RateLimits(limited, clock=clock)
    yield app
    app.state.assay.db.dispose()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_bad_keys_from_one_address_are_refused_with_429(
    limited: FastAPI, store: Store, clock: FakeClock
) -> None:
    good = store.keys.create("ci")
    with TestClient(limited, base_url=BASE) as http:
        codes = [
            http.get("/api/v1/datasets/", headers=bearer(f"sk-wrong-{n}")).status_code
            for n in range(12)
        ]
        assert codes == [401] * 10 + [429] * 2
        refused = http.get("/api/v1/datasets/", headers=bearer("sk-wrong-again"))
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) == 6  # one failure back every 6 s
        # the address is refused before its credentials are even checked
        assert http.get("/api/v1/datasets/", headers=bearer(good.secret_key)).status_code == 429

        clock.advance(6.0)
        assert http.get("/api/v1/datasets/", headers=bearer(good.secret_key)).status_code == 200
        basic = base64.b64encode(b"pk-unknown:sk-unknown").decode()
        assert (
            http.get("/api/v1/datasets/", headers={"Authorization": f"Basic {basic}"}).status_code
            == 401
        )
        assert http.get("/api/v1/datasets/").status_code == 429


def test_requests_per_key_are_limited(limited: FastAPI, store: Store, clock: FakeClock) -> None:
    one, two = store.keys.create("one"), store.keys.create("two")
    with TestClient(limited, base_url=BASE) as http:
        codes = [
            http.get("/api/v1/datasets/", headers=bearer(one.secret_key)).status_code
            for _ in range(7)
        ]
        assert codes == [200] * 5 + [429] * 2
        limited_answer = http.get("/api/v1/datasets/", headers=bearer(one.secret_key))
        assert limited_answer.headers["Retry-After"] == "12"
        assert http.get("/api/v1/datasets/", headers=bearer(two.secret_key)).status_code == 200
        clock.advance(12.0)
        assert http.get("/api/v1/datasets/", headers=bearer(one.secret_key)).status_code == 200

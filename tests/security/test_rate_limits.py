"""Failed authentications are limited per client IP and key, requests per API key: 429.

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
        assert http.get("/api/v1/datasets/").status_code == 401  # the refilled token, spent
        assert http.get("/api/v1/datasets/").status_code == 429


def basic(public_key: str, secret: str) -> dict[str, str]:
    return {
        "Authorization": "Basic " + base64.b64encode(f"{public_key}:{secret}".encode()).decode()
    }


def test_guessing_one_keys_secret_does_not_lock_out_other_keys_from_that_address(
    limited: FastAPI, store: Store
) -> None:
    victim, colleague = store.keys.create("victim"), store.keys.create("colleague")
    with TestClient(limited, base_url=BASE) as http:
        guesses = [
            http.get(
                "/api/v1/datasets/", headers=basic(victim.key.public_key, f"sk-{n}")
            ).status_code
            for n in range(11)
        ]
        assert guesses == [401] * 10 + [429]
        # the guessed key is refused from this address, even with its right secret ...
        right = basic(victim.key.public_key, victim.secret_key)
        assert http.get("/api/v1/datasets/", headers=right).status_code == 429
        # ... while another key used from the same address (one NAT, one office) still works
        other = basic(colleague.key.public_key, colleague.secret_key)
        assert http.get("/api/v1/datasets/", headers=other).status_code == 200


def test_spraying_many_keys_from_one_address_ends_at_the_address_limit(
    limited: FastAPI, store: Store
) -> None:
    good = store.keys.create("ci")
    with TestClient(limited, base_url=BASE) as http:
        # 10 failures per key, 10 keys: the address's allowance (10 x 10) is used up
        for n in range(100):
            answer = http.get("/api/v1/datasets/", headers=basic(f"pk-{n // 10}", "sk-x"))
            assert answer.status_code == 401, n
        answer = http.get("/api/v1/datasets/", headers=basic("pk-fresh", "sk-x"))
        assert answer.status_code == 429
        assert "from this address" in answer.json()["error"]["message"]
        right = basic(good.key.public_key, good.secret_key)
        assert http.get("/api/v1/datasets/", headers=right).status_code == 429


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

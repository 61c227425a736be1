"""A credential goes only to the URL it was stored with.

The operator's environment keys (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``) go only to the
provider's default URL; a stored connection's key only to its stored base_url. The attack: a
tenant names their own ``base_url`` and reads the server's key from the request.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from assay.config import Settings
from assay.engine.provider_judge import llm_judge
from assay.errors import InvalidInput
from assay.scoring import Sample
from assay.store import Store
from assay.targets.providers import resolve
from tests.fakes.provider import FakeProvider
from tests.integration.experiment_support import prompt_body, run_worker

CREDENTIAL_HEADERS = ("authorization", "x-api-key")


def credentials_sent(fake: FakeProvider) -> list[str]:
    """Every credential header value the fake provider received."""
    return [
        value
        for request in fake.requests
        for name, value in request.headers.items()
        if name.lower() in CREDENTIAL_HEADERS
    ]


def run_experiment(http: TestClient, store: Store, settings: Settings, body: dict[str, Any]) -> str:
    created = http.post("/api/v1/experiments/", json=body)
    assert created.status_code == 201, created.text
    started = http.post(f"/api/v1/experiments/{created.json()['id']}/start/")
    assert started.status_code == 200, started.text
    run_worker(store, settings)
    return str(created.json()["id"])


def test_prompt_experiment_with_a_base_url_gets_no_server_key(
    http: TestClient,
    store: Store,
    api_settings: Settings,
    qa: str,
    fake: FakeProvider,
    server_keys: dict[str, str],
) -> None:
    run_experiment(http, store, api_settings, prompt_body(qa, fake))
    assert len(fake.requests) == 3
    assert credentials_sent(fake) == []


def test_anthropic_experiment_with_a_base_url_gets_no_server_key(
    http: TestClient,
    store: Store,
    api_settings: Settings,
    qa: str,
    fake: FakeProvider,
    server_keys: dict[str, str],
) -> None:
    body = prompt_body(qa, fake)
    body["config"].update(provider="anthropic", base_url=fake.anthropic_url)
    run_experiment(http, store, api_settings, body)
    assert len(fake.requests) == 3
    assert credentials_sent(fake) == []


def test_judge_scorer_with_a_base_url_gets_no_server_key(
    http: TestClient,
    store: Store,
    api_settings: Settings,
    qa: str,
    fake: FakeProvider,
    server_keys: dict[str, str],
) -> None:
    judge = {"kind": "llm_judge", "params": {"model": "gpt-4o", "base_url": fake.openai_url}}
    run_experiment(http, store, api_settings, prompt_body(qa, fake, scorers=[judge]))
    judged = [r for r in fake.requests if "[RESPONSE]" in str(r.body)]
    assert judged, "the judge was called"
    assert credentials_sent(fake) == []


async def test_judge_in_library_use_keeps_the_rule(
    fake: FakeProvider, server_keys: dict[str, str]
) -> None:
    judge = llm_judge(model="gpt-4o", base_url=fake.openai_url, max_retries=0)
    await judge.score(Sample(input="q", output="a", expected_output="a"))
    assert fake.requests
    assert credentials_sent(fake) == []


def test_connection_key_is_never_sent_to_an_overriding_base_url(
    http: TestClient, store: Store, qa: str, fake: FakeProvider
) -> None:
    with FakeProvider() as attacker:
        store.connections.create(
            "team-openai", "openai", base_url=fake.openai_url, api_key="sk-team"
        )
        body = prompt_body(qa, attacker)
        body["config"]["connection"] = "team-openai"
        refused = http.post("/api/v1/experiments/", json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["details"]["field"] == "target.base_url"
        assert attacker.requests == []


def test_connection_without_a_url_keeps_its_key_for_the_provider(
    http: TestClient, store: Store, qa: str, fake: FakeProvider
) -> None:
    store.connections.create("vendor", "openai", api_key="sk-vendor")
    body = prompt_body(qa, fake)
    body["config"]["connection"] = "vendor"
    refused = http.post("/api/v1/experiments/", json=body)
    assert refused.status_code == 422, refused.text
    assert "sends its key only to its own URL" in refused.json()["error"]["message"]


def test_connection_key_goes_to_its_own_url(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    store.connections.create("team", "openai", base_url=fake.openai_url + "/", api_key="sk-team")
    body = prompt_body(qa, fake)
    body["config"]["connection"] = "team"  # the same URL (trailing slash aside) is fine
    run_experiment(http, store, api_settings, body)
    assert credentials_sent(fake) == ["Bearer sk-team"] * 3


OPENAI = {"OPENAI_API_KEY": "env"}
GATEWAY = {"OPENAI_API_KEY": "env", "OPENAI_BASE_URL": "http://gw/v1"}


@pytest.mark.parametrize(
    ("provider", "base_url", "env", "key"),
    [
        ("openai", None, OPENAI, "env"),
        ("openai", "https://api.openai.com/v1/", OPENAI, "env"),
        ("openai", "http://gw.example/v1", OPENAI, None),
        ("openai", None, GATEWAY, "env"),  # the operator's gateway is the default URL
        ("openai", "http://gw/v1", GATEWAY, "env"),
        ("openai", "https://api.openai.com/v1", GATEWAY, None),
        ("anthropic", None, {"ANTHROPIC_API_KEY": "env"}, "env"),
        ("anthropic", "http://proxy.example", {"ANTHROPIC_API_KEY": "env"}, None),
    ],
)
def test_environment_keys_go_only_to_the_default_url(
    provider: str, base_url: str | None, env: dict[str, str], key: str | None
) -> None:
    if key is None and base_url and "api.openai.com" in base_url:
        with pytest.raises(InvalidInput):  # the provider itself, without its key: say so
            resolve(provider, base_url=base_url, env=env)
        return
    assert resolve(provider, base_url=base_url, env=env).api_key == key


def test_a_key_given_with_a_url_goes_there() -> None:
    endpoint = resolve("openai", base_url="http://gw.example/v1", api_key="mine", env={})
    assert (endpoint.base_url, endpoint.api_key, endpoint.default) == (
        "http://gw.example/v1",
        "mine",
        False,
    )

"""Prompt versions and labels over HTTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from assay.client import Assay
from assay.errors import InvalidInput, NotFound


def test_versions_count_up_and_labels_move(client: Assay) -> None:
    v1 = client.prompts.create(
        "support-system-prompt",
        template="Answer {{question}} politely.",
        model_config={"model": "gpt-4o-mini", "temperature": 0.3},
        labels=["production"],
    )
    v2 = client.prompts.create(
        "support-system-prompt",
        messages=[
            {"role": "system", "content": "You are a support agent."},
            {"role": "user", "content": "{{question}}"},
        ],
        labels=["staging"],
    )
    assert (v1.version, v2.version) == (1, 2)
    assert v1.model_config_ == {"model": "gpt-4o-mini", "temperature": 0.3}
    assert client.prompts.get("support-system-prompt").version == 2
    assert client.prompts.get("support-system-prompt", label="production").version == 1
    assert client.prompts.get("support-system-prompt", version=1).template == v1.template

    v3 = client.prompts.create("support-system-prompt", template="v3", labels=["production"])
    assert v3.labels == ["production"]
    assert client.prompts.get("support-system-prompt", version=1).labels == []
    assert client.prompts.get("support-system-prompt", label="production").version == 3
    assert [p.version for p in client.prompts.versions("support-system-prompt")] == [3, 2, 1]


def test_set_labels(client: Assay) -> None:
    for text in ("a", "b"):
        client.prompts.create("p", template=text)
    labelled = client.prompts.set_labels("p", 1, ["production", "stable"])
    assert labelled.labels == ["production", "stable"]
    moved = client.prompts.set_labels("p", 2, ["production"])
    assert moved.labels == ["production"]
    assert client.prompts.get("p", version=1).labels == ["stable"]
    assert client.prompts.set_labels("p", 1, []).labels == []
    with pytest.raises(NotFound):
        client.prompts.set_labels("p", 7, ["x"])


def test_list_newest_version_per_name(client: Assay) -> None:
    for name in ("beta", "alpha", "gamma", "alpha"):
        client.prompts.create(name, template=name)
    page = client.prompts.list(limit=2)
    assert [(p.name, p.version) for p in page.items] == [("alpha", 2), ("beta", 1)]
    rest = client.prompts.list(limit=2, cursor=page.next_cursor)
    assert [p.name for p in rest.items] == ["gamma"]
    assert rest.next_cursor is None
    assert [p.name for p in client.prompts.list(search="amm").items] == ["gamma"]


def test_prompt_errors(client: Assay, http: TestClient) -> None:
    with pytest.raises(InvalidInput):
        client.prompts.create("p")  # neither template nor messages
    with pytest.raises(InvalidInput) as info:
        client.prompts.create("p", messages=[{"content": "no role"}])
    assert info.value.field == "messages"
    with pytest.raises(NotFound):
        client.prompts.get("missing")
    client.prompts.create("p", template="x")
    with pytest.raises(NotFound):
        client.prompts.get("p", label="production")
    response = http.get("/api/v1/prompts/p/", params={"version": 1, "label": "x"})
    assert response.status_code == 422

"""Deleting prompts and prompt versions (API and dashboard), comparing two versions, and
starting a run of a version from its page."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi.testclient import TestClient

from assay.domain import PromptCreate
from assay.store import Store
from tests.fakes.provider import FakeProvider

HX = {"HX-Request": "true"}
PROMPT = "support-system-prompt"  # version 1, labelled production, made by the qa fixture


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _second_version(store: Store) -> None:
    store.prompts.create(
        PromptCreate(
            name=PROMPT,
            template="Answer in one sentence: {{ input.query }}",
            model_config_={"model": "gpt-4o", "temperature": 0.2, "api_key": "sk-hidden"},
            labels=["staging"],
        )
    )


def _run(http: TestClient, qa: str, fake: FakeProvider, **pin: Any) -> str:
    """A run of the prompt through the API (config pinned to the version it ran)."""
    config = {"type": "prompt", "prompt": PROMPT, "model": "gpt-4o-mini", **pin}
    config["base_url"] = fake.openai_url
    body = {"name": f"run {pin}", "dataset_id": qa, "config": config}
    response = http.post("/api/v1/experiments/", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_delete_a_version_and_the_prompt_over_the_api(
    http: TestClient, store: Store, qa: str
) -> None:
    _second_version(store)
    store.prompts.create(PromptCreate(name=PROMPT, template="third"))
    gone = http.delete(f"/api/v1/prompts/{PROMPT}/versions/2/")
    assert gone.status_code == 204
    assert [p.version for p in store.prompts.versions(PROMPT)] == [3, 1]
    labels = http.get(f"/api/v1/prompts/{PROMPT}/", params={"label": "staging"})
    assert labels.status_code == 404  # the label went with its version
    assert http.get(f"/api/v1/prompts/{PROMPT}/", params={"version": 2}).status_code == 404
    assert (
        http.get(f"/api/v1/prompts/{PROMPT}/", params={"label": "production"}).json()["version"]
        == 1
    )

    missing = http.delete(f"/api/v1/prompts/{PROMPT}/versions/9/")
    assert missing.status_code == 404
    assert "version 9" in missing.json()["error"]["message"]

    assert http.delete(f"/api/v1/prompts/{PROMPT}/").status_code == 204
    assert http.get(f"/api/v1/prompts/{PROMPT}/").status_code == 404
    assert http.get("/api/v1/prompts/").json()["items"] == []
    assert http.delete(f"/api/v1/prompts/{PROMPT}/").status_code == 404


def test_a_version_a_run_refers_to_cannot_be_deleted(
    http: TestClient, store: Store, qa: str, fake: FakeProvider
) -> None:
    _second_version(store)
    run_id = _run(http, qa, fake, label="production")  # pinned to version 1
    assert store.prompts.used_by(PROMPT) == [(run_id, 1)]
    refused = http.delete(f"/api/v1/prompts/{PROMPT}/versions/1/")
    assert refused.status_code == 409
    message = refused.json()["error"]["message"]
    assert "version 1" in message
    assert run_id in message
    whole = http.delete(f"/api/v1/prompts/{PROMPT}/")
    assert whole.status_code == 409
    assert [p.version for p in store.prompts.versions(PROMPT)] == [2, 1]  # nothing went

    # Version 2 has no run: it goes. Once the run is deleted, so can the rest.
    assert http.delete(f"/api/v1/prompts/{PROMPT}/versions/2/").status_code == 204
    store.experiments.delete(run_id)
    assert http.delete(f"/api/v1/prompts/{PROMPT}/").status_code == 204


def test_dashboard_deletes_with_confirmation(http: TestClient, store: Store, qa: str) -> None:
    _second_version(store)
    page = http.get(f"/prompts/{PROMPT}").text
    assert 'hx-post="/prompts/support-system-prompt/versions/2/delete"' in page
    assert 'hx-confirm="Delete version 2 of support-system-prompt and its labels staging?' in page
    assert 'hx-confirm="Delete prompt support-system-prompt with all its 2 versions' in page

    assert http.post(f"/prompts/{PROMPT}/versions/2/delete").status_code == 403  # not HTMX
    deleted = http.post(f"/prompts/{PROMPT}/versions/2/delete", headers=HX)
    assert deleted.headers["HX-Redirect"] == f"/prompts/{PROMPT}"
    assert [p.version for p in store.prompts.versions(PROMPT)] == [1]
    last = http.post(f"/prompts/{PROMPT}/versions/1/delete", headers=HX)
    assert last.headers["HX-Redirect"] == "/prompts"  # its last version: the prompt is gone
    assert http.get(f"/prompts/{PROMPT}").status_code == 404


def test_dashboard_refuses_deleting_what_a_run_ran(
    http: TestClient, store: Store, qa: str, fake: FakeProvider
) -> None:
    run_id = _run(http, qa, fake, version=1)
    page = http.get(f"/prompts/{PROMPT}").text
    assert "Runs refer to version 1: delete them to delete it." in _text(page)
    assert "/versions/1/delete" not in page
    refused = http.post(f"/prompts/{PROMPT}/delete", headers=HX)
    assert refused.status_code == 409
    assert refused.headers["HX-Retarget"] == "#flash"
    assert run_id in _text(refused.text)
    assert store.prompts.versions(PROMPT)


def test_compare_two_versions(http: TestClient, store: Store, qa: str, fake: FakeProvider) -> None:
    _second_version(store)
    first = _run(http, qa, fake, version=1)
    second = _run(http, qa, fake, label="staging")
    page = http.get(f"/prompts/{PROMPT}").text
    assert f'href="/prompts/{PROMPT}/compare?a=1&amp;b=2"' in page

    compared = http.get(f"/prompts/{PROMPT}/compare", params={"a": 1, "b": 2})
    assert compared.status_code == 200
    diff = compared.text.split('id="template-diff"')[1].split("</pre>")[0]
    added = " ".join(re.findall(r"<ins>(.*?)</ins>", diff))
    removed = " ".join(re.findall(r"<del>(.*?)</del>", diff))
    assert "sentence:" in added
    assert "Answer:" in removed
    assert "input.query" not in added + removed  # unchanged text is shown once, unmarked
    assert _text(diff).count("{{ input.query }}") == 1
    changed = {
        key: bool(flag)
        for flag, key in re.findall(
            r'<tr class="config-row( changed)?" data-key="([^"]+)"', compared.text
        )
    }
    assert changed == {"api_key": True, "model": True, "temperature": True}
    assert "sk-hidden" not in compared.text
    runs = compared.text.split('id="version-runs"')[1]
    version_1, version_2 = runs.split('data-version="2"')
    assert f'href="/runs/{first}"' in version_1
    assert f'href="/runs/{second}"' in version_2
    assert f'href="/compare?runs={first}&amp;runs={second}"' in compared.text

    # Defaults: the newest version against the one before; bad versions are named.
    assert "version 1 vs version 2" in _text(http.get(f"/prompts/{PROMPT}/compare").text)
    missing = http.get(f"/prompts/{PROMPT}/compare", params={"a": 1, "b": 7})
    assert missing.status_code == 404
    assert "has no version 7" in _text(missing.text)


def test_run_a_version_on_a_dataset(http: TestClient, store: Store, qa: str) -> None:
    _second_version(store)
    name = store.datasets.get(qa).name
    jump = http.get(
        f"/prompts/{PROMPT}/run",
        params={"version": 1, "dataset": name},
        follow_redirects=False,
    )
    assert jump.status_code == 303
    assert jump.headers["location"].endswith(f"/runs?prompt={PROMPT}&version=1#create-run-box")
    form = http.get(jump.headers["location"]).text
    assert '<details class="card" id="create-run-box" open>' in form
    assert f"<option selected>{PROMPT}</option>" in form
    assert 'name="prompt_version" min="1" value="1"' in form

    both = http.post(
        f"/datasets/{name}/runs",
        data={"prompt_name": PROMPT, "prompt_label": "production", "prompt_version": "2"},
        headers=HX,
    )
    assert both.status_code == 422
    assert "give a label or a version, not both" in _text(both.text)
    unknown = http.get(f"/prompts/{PROMPT}/run", params={"version": 5, "dataset": name})
    assert unknown.status_code == 404

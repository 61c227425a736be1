"""Dashboard pages through the app on each database: content, HTMX fragments, forms, errors."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import assay
from assay.analysis import dataset_policy, set_dataset_policy
from assay.config import Settings
from assay.domain import (
    DatasetCreate,
    EvaluatorCreate,
    ItemCreate,
    ItemUpdate,
    PromptCreate,
    TraceCreate,
)
from assay.errors import AllItemsFailedWarning, NotFound
from assay.scorers import exact_match, scorer
from assay.store import Store
from tests.fakes.provider import FakeProvider
from tests.integration.conftest import BASE
from tests.integration.experiment_support import run_worker

N = 20
WRONG = {3, 7, 11}  # items the candidate gets wrong: three regressions
HX = {"HX-Request": "true"}


def right(x: dict[str, str]) -> str:
    return x["q"].upper()


def cand(x: dict[str, str]) -> str:
    return f"{x['q']} lower" if int(x["q"][1:]) in WRONG else x["q"].upper()


@pytest.fixture
def seeded(store: Store) -> dict[str, Any]:
    store.datasets.create(DatasetCreate(name="qa", description="capital letters"))
    store.datasets.add_items(
        "qa",
        [
            ItemCreate(
                input={"q": f"q{i}"}, expected_output=f"Q{i}", tags=["odd" if i % 2 else "even"]
            )
            for i in range(N)
        ],
    )
    base = assay.evaluate("qa", right, [exact_match()], name="base", run_tag="main", store=store)
    other = assay.evaluate("qa", cand, [exact_match()], name="cand", store=store)
    store.prompts.create(PromptCreate(name="greet", template="Hello {{ name }}"))
    store.prompts.create(
        PromptCreate(name="greet", template="Hi {{ name }}!", labels=["production"])
    )
    store.traces.ingest(
        [
            TraceCreate.model_validate(
                {
                    "id": "trace-1",
                    "name": "chat turn",
                    "input": {"m": "hi"},
                    "output": "hello",
                    "observations": [
                        {
                            "id": "root",
                            "name": "agent",
                            "type": "span",
                            "start_time": "2026-11-01T00:00:00Z",
                            "end_time": "2026-11-01T00:00:02Z",
                        },
                        {
                            "id": "llm",
                            "parent_id": "root",
                            "name": "llm call",
                            "type": "generation",
                            "model": "gpt-test",
                            "start_time": "2026-11-01T00:00:01Z",
                            "end_time": "2026-11-01T00:00:02Z",
                        },
                    ],
                }
            )
        ]
    )
    return {"base": base.id, "cand": other.id}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_datasets_items_runs_and_analytics(http: TestClient, seeded: dict[str, Any]) -> None:
    home = http.get("/")
    assert home.status_code == 200
    assert home.url.path == "/datasets"
    assert 'href="/datasets/qa"' in home.text
    assert "capital letters" in home.text

    items = http.get("/datasets/qa")
    assert items.status_code == 200
    assert items.text.count('<tr id="item-') == N
    odd = http.get("/datasets/qa", params={"tag": "odd"})
    assert odd.text.count('<tr id="item-') == N // 2

    runs = _text(http.get("/datasets/qa/runs").text)
    for column in ("Run name", "Version", "Status", "Error", "Created at", "Count run items"):
        assert column in runs
    assert "Avg latency" in runs
    assert "Avg total cost" in runs
    assert "100.0 %" in runs  # base
    assert f"{(N - len(WRONG)) / N * 100:.1f} %" in runs  # cand

    analytics = http.get("/datasets/qa/analytics").text
    first_chart = analytics.split("</svg>")[0]
    assert first_chart.count('<circle class="dot"') == 2
    # base and cand are two systems: the three items they disagree on are not flaky
    assert re.search(r'id="flaky">\s*0\s*<', analytics)


def test_htmx_requests_get_only_the_fragment(http: TestClient, seeded: dict[str, Any]) -> None:
    page = http.get("/datasets", params={"q": "capital"}, headers=HX)
    assert page.text.lstrip().startswith('<div id="datasets">')
    assert "<html" not in page.text
    assert "qa" in page.text
    none = http.get("/datasets", params={"q": "nothing like it"}, headers=HX)
    assert "No dataset matches" in none.text
    results = http.get(
        f"/runs/{seeded['cand']}",
        params={"outcome": "failed"},
        headers={**HX, "HX-Target": "results"},
    )
    assert results.text.lstrip().startswith('<div id="results">')
    assert results.text.count('<tr class="result"') == len(WRONG)


def test_run_page_shows_summary_results_and_filters(
    http: TestClient, store: Store, seeded: dict[str, Any]
) -> None:
    page = http.get(f"/runs/{seeded['cand']}")
    assert page.status_code == 200
    pass_rate = re.search(r'id="pass-rate">([^<]+)<', page.text)
    assert pass_rate is not None
    assert pass_rate.group(1) == f"{(N - len(WRONG)) / N * 100:.1f} %"
    assert page.text.count('<tr class="result"') == N
    assert 'id="scorer-stats"' in page.text
    assert "q3 lower" in page.text
    first = next(store.experiments.iter_results(seeded["cand"]))
    assert f'href="/traces/{first.trace_id}">View trace</a>' in page.text
    trace = http.get(f"/traces/{first.trace_id}").text
    assert f'Recorded by run <a href="/runs/{seeded["cand"]}">cand</a>' in trace
    assert f"/items/{first.item_id}" in trace
    assert http.get(f"/datasets/qa/items/{first.item_id}").status_code == 200
    passed = http.get(f"/runs/{seeded['cand']}", params={"outcome": "passed"})
    assert passed.text.count('<tr class="result"') == N - len(WRONG)
    assert "q3 lower" not in passed.text


def broken(x: dict[str, str]) -> str:
    raise RuntimeError(f"no answer for {x['q']}")


@scorer
def unscoreable(output: str) -> float:
    raise ValueError("judge unavailable")


def test_a_run_where_everything_failed_opens_and_says_why(
    http: TestClient, store: Store, seeded: dict[str, Any]
) -> None:
    with pytest.warns(AllItemsFailedWarning):
        errored = assay.evaluate("qa", broken, [exact_match()], name="errored", store=store)
    unscored = assay.evaluate("qa", right, [unscoreable()], name="unscored", store=store)
    page = http.get(f"/runs/{errored.id}")
    assert page.status_code == 200
    text = _text(page.text)
    assert "no result completed, so there is no latency to draw" in text
    assert "no answer for q1" in text
    errors = http.get(f"/runs/{errored.id}", params={"outcome": "errors"})
    assert errors.text.count('<tr class="result"') == N
    failed = http.get(f"/runs/{errored.id}", params={"outcome": "failed"})
    assert failed.text.count('<tr class="result"') == 0  # no output was scored
    assert "No results that failed." in failed.text
    scored = http.get(f"/runs/{seeded['cand']}", params={"outcome": "errors"})
    assert "No results with errors." in scored.text  # wrong answers are failures, not errors
    page = http.get(f"/runs/{unscored.id}")
    assert page.status_code == 200
    assert "unscoreable scores: no values" in _text(page.text)


def test_runs_list_filters(http: TestClient, store: Store, seeded: dict[str, Any]) -> None:
    everything = http.get("/runs").text
    assert f'href="/runs/{seeded["base"]}"' in everything
    assert f'href="/runs/{seeded["cand"]}"' in everything
    assert "test_web:right" in everything  # the function the run evaluated
    by_name = http.get("/runs", params={"q": "cand"}).text
    assert f'href="/runs/{seeded["cand"]}"' in by_name
    assert f'href="/runs/{seeded["base"]}"' not in by_name
    by_tag = http.get("/runs", params={"q": "main"}).text
    assert f'href="/runs/{seeded["base"]}"' in by_tag
    failed = http.get("/runs", params={"status": "failed"}).text
    assert "No run matches" in failed
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert "No run matches" in http.get("/runs", params={"since": tomorrow}).text
    assert "No run matches" not in http.get("/runs", params={"until": tomorrow}).text
    blank = http.get("/runs", params={"q": "cand", "status": "", "since": "", "until": ""})
    assert blank.status_code == 200  # empty filter fields mean "any"
    assert f'href="/runs/{seeded["cand"]}"' in blank.text
    bad = http.get("/runs", params={"status": "nope"})
    assert bad.status_code == 422
    assert "status: &#39;nope&#39; is not one of pending" in bad.text
    flash = http.get("/runs", params={"since": "yesterday"}, headers=HX)
    assert flash.status_code == 422
    assert flash.headers["HX-Retarget"] == "#flash"  # shown above the table, not instead of it
    assert flash.text.strip().startswith('<p class="error-box" role="alert">since:')
    assert "<html" not in flash.text


def _run_order(page: str, seeded: dict[str, Any]) -> list[str]:
    found = {name: page.find(f'href="/runs/{run_id}"') for name, run_id in seeded.items()}
    return sorted(found, key=found.__getitem__)


def test_runs_list_shows_dataset_and_target_and_sorts_by_column(
    http: TestClient, seeded: dict[str, Any]
) -> None:
    newest = http.get("/runs").text
    assert _run_order(newest, seeded) == ["cand", "base"]
    row = _text(newest[newest.index(f'href="/runs/{seeded["base"]}"') :])
    assert row.split("base", 1)[1].split()[:2] == ["tests.integration.test_web:right", "qa"]
    # The headers link to their order; the active one says which way it sorts.
    assert 'data-sort="pass_rate" href="/runs?sort=pass_rate"' in newest
    assert 'aria-sort="descending"' in newest  # newest first: started at, descending
    by_rate = http.get("/runs", params={"sort": "pass_rate"}).text
    assert _run_order(by_rate, seeded) == ["cand", "base"]  # 85 % before 100 %
    assert 'aria-sort="ascending"' in by_rate
    assert 'data-sort="-pass_rate"' in by_rate  # a second click reverses it
    assert _run_order(http.get("/runs", params={"sort": "-pass_rate"}).text, seeded) == [
        "base",
        "cand",
    ]
    assert _run_order(http.get("/runs", params={"sort": "name"}).text, seeded) == ["base", "cand"]
    # The filters keep the order, and the order keeps the filters.
    filtered = http.get("/runs", params={"q": "a", "sort": "-name"}).text
    assert 'name="sort" value="-name"' in filtered
    assert 'href="/runs?q=a&sort=name"' in filtered
    bad = http.get("/runs", params={"sort": "size"})
    assert bad.status_code == 422
    assert "sort: &#39;size&#39; is not one of" in bad.text


def test_compare_page_statistics_gate_and_item_filters(
    http: TestClient, store: Store, seeded: dict[str, Any]
) -> None:
    set_dataset_policy(store, "qa", {"min_pass_rate": 0.9})
    url = f"/compare?runs={seeded['base']}&runs={seeded['cand']}"
    from_table = http.get(
        f"/compare?runs={seeded['cand']}&runs={seeded['base']}&order=oldest",
        follow_redirects=False,
    )
    assert from_table.status_code == 303
    assert from_table.headers["location"] == url  # the oldest selected run is the baseline
    page = http.get(url)
    assert page.status_code == 200
    row = re.search(r'<tr data-metric="passed">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert ">inconclusive<" in row.group(1)  # 3 regressions of 20: McNemar p = 0.25
    gate = re.search(rf'id="gate-{seeded["cand"]}">(.*?)</div>', page.text, re.S)
    assert gate is not None
    assert "FAILED" in gate.group(1)  # 85 % passed, the dataset's policy asks for 90 %
    assert "pass rate" in gate.group(1)
    assert f"{len(WRONG)} regressions" in _text(gate.group(1))
    assert page.text.count('class="item-row"') == N

    regressions = http.get(url + "&only=regressions", headers=HX)
    assert regressions.text.count('class="item-row"') == len(WRONG)
    assert regressions.text.count('data-changes="regression"') == len(WRONG)
    assert "<ins>" in regressions.text or "<del>" in regressions.text
    assert "q3" in regressions.text  # the item's input is shown next to its row
    tagged = http.get(url + "&only=regressions&tag=odd", headers=HX)
    assert tagged.text.count('class="item-row"') == len(WRONG)  # 3, 7 and 11 are odd
    assert http.get(url + "&tag=even", headers=HX).text.count('class="item-row"') == N // 2
    everything = http.get(url + "&only=&tag=", headers=HX)  # the filter form's "all items"
    assert everything.text.count('class="item-row"') == N


def test_traces_and_prompts(http: TestClient, seeded: dict[str, Any]) -> None:
    traces = http.get("/traces").text
    assert 'href="/traces/trace-1"' in traces
    trace = http.get("/traces/trace-1").text
    spans = re.findall(r'class="wf-row span[^"]*" data-depth="(\d)"', trace)
    assert spans == ["0", "1"]  # the generation sits under the agent span
    assert "gpt-test" in trace
    assert "margin-left: 50.0%" in trace  # it starts halfway through the trace
    prompts = http.get("/prompts").text
    assert 'href="/prompts/greet"' in prompts
    prompt = http.get("/prompts/greet").text
    assert 'id="version-2"' in prompt
    assert 'id="version-1"' in prompt
    assert "production" in prompt


def test_add_item_form_validates_and_is_all_or_nothing(
    http: TestClient, store: Store, seeded: dict[str, Any]
) -> None:
    version = store.datasets.get("qa").version
    refused = http.post("/datasets/qa/items", data={"input": "hello"})
    assert refused.status_code == 403  # not sent by the dashboard's own pages
    bad = http.post(
        "/datasets/qa/items", data={"input": "hello", "metadata": "{not json"}, headers=HX
    )
    assert bad.status_code == 422
    assert "metadata: not valid JSON" in bad.text
    assert "{not json" in bad.text  # what was typed is kept
    empty = http.post("/datasets/qa/items", data={"input": "  "}, headers=HX)
    assert empty.status_code == 422
    assert "input" in empty.text
    not_object = http.post(
        "/datasets/qa/items", data={"input": "x", "metadata": "[1, 2]"}, headers=HX
    )
    assert not_object.status_code == 422
    assert store.datasets.get("qa").version == version

    added = http.post(
        "/datasets/qa/items",
        data={
            "input": '{"q": "new"}',
            "expected_output": "NEW",
            "metadata": '{"origin": "form"}',
            "tags": "fresh, manual",
        },
        headers=HX,
    )
    assert added.status_code == 200
    assert "Added item" in added.text
    dataset = store.datasets.get("qa")
    assert dataset.version == version + 1
    newest = store.datasets.list_items("qa", tag="fresh").items
    assert len(newest) == 1
    assert newest[0].input == {"q": "new"}
    assert newest[0].metadata == {"origin": "form"}
    assert newest[0].tags == ["fresh", "manual"]


def test_page_errors_are_html(http: TestClient, seeded: dict[str, Any]) -> None:
    missing = http.get("/datasets/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "dataset &#39;nope&#39; not found" in missing.text  # escaped
    one = http.get(f"/compare?runs={seeded['base']}")
    assert one.status_code == 422
    assert "at least two runs" in one.text
    assert http.get("/runs/no-such-run").status_code == 404
    assert http.get("/no/such/page").status_code == 404
    api = http.get("/api/v1/datasets/nope")
    assert api.headers["content-type"].startswith("application/json")  # the API keeps JSON


def test_static_files_are_served_and_nothing_else(http: TestClient) -> None:
    css = http.get("/static/assay.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    js = http.get("/static/htmx-2.0.11.min.js")
    assert js.status_code == 200
    assert "htmx" in js.text[:200]
    assert http.get("/static/..%2Fapp.py").status_code == 404
    assert http.get("/static/missing.js").status_code == 404
    icon = http.get("/static/favicon.svg")
    assert icon.headers["content-type"].startswith("image/svg+xml")


def test_pages_need_a_key_when_keys_are_on(keyed_app: FastAPI) -> None:
    with TestClient(keyed_app, base_url=BASE) as client:
        page = client.get("/datasets")
        assert page.status_code == 401
        assert page.headers["www-authenticate"].startswith("Basic")
        assert page.headers["content-type"].startswith("text/html")
        assert client.get("/static/assay.css").status_code == 200  # no project data


def test_create_a_run_from_the_dashboard(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    """The runs tab's form creates and starts a prompt run; the server's worker executes it."""
    dataset = store.datasets.get(qa).name
    url = f"/datasets/{dataset}/runs"
    form = http.get(url).text
    assert 'id="run-form"' in form
    assert "support-system-prompt" in form  # the prompt library is offered

    fields = {
        "run_name": "echo run",
        "target": "prompt",
        "prompt_name": "support-system-prompt",
        "prompt_label": "production",
        "model": "gpt-4o",
        "base_url": fake.openai_url,
        "concurrency": "3",
        "run_tag": "candidate",
    }
    for bad, message in (
        ({"concurrency": "50"}, "concurrency: a whole number from 1 to 10"),
        ({"temperature": "warm"}, "temperature: 'warm' is not a number"),
        ({"prompt_name": "no-such-prompt"}, "no-such-prompt"),
        ({"target": "endpoint", "endpoint_id": "nope"}, "nope"),
    ):
        refused = http.post(url, data={**fields, **bad}, headers=HX)
        assert refused.status_code == 422
        assert message in html.unescape(refused.text)
        assert 'value="echo run"' in refused.text  # the form keeps what was typed
    assert store.experiments.list(dataset=qa).items == []  # nothing was created

    created = http.post(url, data=fields, headers=HX)
    assert created.status_code == 200
    run_id = created.headers["HX-Redirect"].removeprefix("/runs/")
    run = store.experiments.get(run_id)
    assert (run.name, run.status.value, run.run_tag, run.concurrency) == (
        "echo run",
        "running",
        "candidate",
        3,
    )
    live = http.get(f"/runs/{run_id}").text
    # the page follows the run until it ends: progress, rows and summary poll
    assert f'hx-get="/runs/{run_id}/progress" hx-trigger="every 1s"' in live
    assert 'id="results" hx-get=' in live
    assert "Cancel run" in live

    second = http.post(url, data={**fields, "run_name": "cancelled run"}, headers=HX)
    second_id = second.headers["HX-Redirect"].removeprefix("/runs/")
    assert http.post(f"/runs/{second_id}/cancel", headers=HX).headers["HX-Redirect"] == (
        f"/runs/{second_id}"
    )
    assert store.experiments.get(second_id).status.value == "cancelled"

    assert run_worker(store, api_settings).runs == 1  # the cancelled run is not executed
    assert len(fake.requests) == 3
    done = http.get(f"/runs/{run_id}").text
    assert "hx-trigger" not in done.split('id="outcome-tabs"')[1]  # rows no longer refresh
    assert 'hx-trigger="every' not in done
    assert "echo: Answer: reset password" in done
    assert "Delete run" in done


def test_human_scores_cancel_and_delete(
    http: TestClient, store: Store, seeded: dict[str, Any]
) -> None:
    run_id = seeded["cand"]
    result = next(store.experiments.iter_results(run_id))
    url = f"/runs/{run_id}/results/{result.id}/scores"
    assert http.post(url, data={"name": "tone", "value": "4"}).status_code == 403
    empty = http.post(url, data={"name": "tone", "value": " "}, headers=HX)
    assert empty.status_code == 422
    assert "value: give a number" in empty.text
    saved = http.post(url, data={"name": "tone", "value": "4", "comment": "polite"}, headers=HX)
    assert saved.status_code == 200
    assert saved.text.lstrip().startswith(f'<td id="scores-{result.id}">')
    assert "(human)" in saved.text
    assert "polite" in saved.text
    flag = http.post(url, data={"name": "safe", "value": "pass"}, headers=HX)
    assert flag.status_code == 200
    human = {s.name: s for s in store.scores.list(result_id=result.id, source="human")}
    assert human["tone"].numeric_value == 4.0
    assert human["tone"].reason == "polite"
    assert human["safe"].passed is True

    finished = http.post(f"/runs/{run_id}/cancel", headers=HX)
    assert finished.status_code == 409  # a finished run has nothing to cancel
    assert store.experiments.get(run_id).status.value == "completed"
    deleted = http.post(f"/runs/{run_id}/delete", headers=HX)
    assert deleted.headers["HX-Redirect"] == "/runs"
    assert http.get(f"/runs/{run_id}").status_code == 404


def test_create_a_dataset_and_import_a_file(http: TestClient, store: Store) -> None:
    assert http.post("/datasets", data={"name": "support"}).status_code == 403
    created = http.post("/datasets", data={"name": "support", "description": "tickets"}, headers=HX)
    assert created.headers["HX-Redirect"] == "/datasets/support"
    twice = http.post("/datasets", data={"name": "support"}, headers=HX)
    assert twice.status_code == 422
    assert "support" in twice.text
    assert 'value="support"' in twice.text

    good = "question,answer,tags\nHow do I reset?,Settings,account\nPricing?,Three plans,billing\n"
    mapping = "question=input.query\nanswer=expected_output"
    previewed = http.post(
        "/datasets/support/import",
        files={"file": ("tickets.csv", good.encode(), "text/csv")},
        data={"mapping": mapping},
        headers=HX,
    )
    assert previewed.status_code == 200, previewed.text
    assert store.datasets.list_items("support").items == []  # a preview writes nothing
    data = re.search(r'name="data" value="([^"]+)"', previewed.text)
    assert data is not None
    imported = http.post(
        "/datasets/support/import",
        data={"mapping": mapping, "step": "commit", "data": data[1], "filename": "tickets.csv"},
        headers=HX,
    )
    assert imported.status_code == 200, imported.text
    assert "Imported 2 items" in imported.text
    items = store.datasets.list_items("support").items
    assert [i.input for i in items] == [{"query": "How do I reset?"}, {"query": "Pricing?"}]
    version = store.datasets.get("support").version

    bad = '{"input": "fine"}\n{"input": "ok", "expected_output": "x", "nope": 1}\n'
    refused = http.post(
        "/datasets/support/import",
        files={"file": ("more.jsonl", bad.encode(), "application/x-ndjson")},
        headers=HX,
    )
    assert refused.status_code == 422
    assert "Nothing was imported" in refused.text
    assert "2" in _text(refused.text)  # the bad line is named
    assert "nope" in refused.text
    missing = http.post("/datasets/support/import", data={"mapping": ""}, headers=HX)
    assert missing.status_code == 422
    assert "choose a CSV, JSON or JSONL file" in missing.text
    unknown = http.post(
        "/datasets/support/import",
        files={"file": ("notes.txt", b"hello", "text/plain")},
        headers=HX,
    )
    assert unknown.status_code == 422
    assert store.datasets.get("support").version == version  # nothing half-imported


def test_versions_diff_and_old_items(
    http: TestClient, store: Store, seeded: dict[str, Any]
) -> None:
    first = store.datasets.list_items("qa").items[0]
    store.datasets.update_item("qa", first.id, ItemUpdate(expected_output="changed"))
    latest = store.datasets.get("qa").version
    page = http.get("/datasets/qa/versions").text
    assert page.count("<tr") == latest + 1  # a header row and one row per version
    diff = http.get("/datasets/qa/versions", params={"diff": latest}).text
    assert diff.count('<tr class="change" data-kind="changed">') == 1
    assert "expected_output" in diff
    assert "changed" in diff
    too_far = http.get("/datasets/qa/versions", params={"diff": latest + 1})
    assert too_far.status_code == 422
    old = http.get("/datasets/qa", params={"version": latest - 1})
    assert 'id="old-version"' in old.text
    assert 'id="add-item-box"' not in old.text  # an old version is read only
    assert old.text.count('<tr id="item-') == N
    assert 'id="old-version"' not in http.get("/datasets/qa", params={"version": latest}).text


def test_attach_and_detach_evaluators(
    http: TestClient, store: Store, seeded: dict[str, Any]
) -> None:
    saved = store.evaluators.create(EvaluatorCreate(name="exact", kind="exact_match"))
    page = http.get("/datasets/qa/evaluators").text
    assert "No evaluators attached" in page
    assert f'<option value="{saved.id}">exact (exact_match, v1)</option>' in page
    assert http.post("/datasets/qa/evaluators", data={"attach": saved.id}).status_code == 403
    attached = http.post("/datasets/qa/evaluators", data={"attach": saved.id}, headers=HX)
    assert attached.status_code == 200
    assert attached.text.count('<tr class="evaluator">') == 1
    assert [e.id for e in store.evaluators.defaults("qa")] == [saved.id]
    unknown = http.post("/datasets/qa/evaluators", data={"attach": "nope"}, headers=HX)
    assert unknown.status_code == 422
    assert "nope" in unknown.text
    detached = http.post("/datasets/qa/evaluators", data={"detach": saved.id}, headers=HX)
    assert "No evaluators attached" in detached.text
    assert store.evaluators.defaults("qa") == []


def test_item_history_across_runs(http: TestClient, store: Store, seeded: dict[str, Any]) -> None:
    items = {i.input["q"]: i for i in store.datasets.list_items("qa").items}  # type: ignore[index]
    flaky = items["q3"]  # right in base, wrong in cand
    page = http.get(f"/datasets/qa/items/{flaky.id}")
    assert page.status_code == 200
    rows = re.findall(r'<tr class="history-row" data-passed="(\w*)">', page.text)
    assert rows == ["false", "true"]  # newest run first
    assert "q3 lower" in page.text
    assert "Passed in 1 of 2" in page.text
    assert "flaky" not in page.text  # two different systems disagreeing
    steady = http.get(f"/datasets/qa/items/{items['q2'].id}").text
    assert "Passed in 2 of 2" in steady
    assert "flaky" not in steady
    listing = http.get("/datasets/qa").text
    assert f'href="/datasets/qa/items/{flaky.id}"' in listing
    compared = http.get(f"/compare?runs={seeded['base']}&runs={seeded['cand']}").text
    assert f'href="/datasets/qa/items/{flaky.id}"' in compared
    again = assay.evaluate("qa", right, [exact_match()], name="base again", store=store)
    assert again.summary.passed == N  # right again: base's configuration passed it twice
    assert "flaky" not in http.get(f"/datasets/qa/items/{flaky.id}").text
    assay.evaluate("qa", cand, [exact_match()], name="cand again", run_tag="main", store=store)
    # cand is now tagged main like base: one configuration that passed and failed q3
    assert "flaky</strong>" in http.get(f"/datasets/qa/items/{flaky.id}").text
    assert http.get("/datasets/qa/items/no-such-item").status_code == 404


def test_gate_tab_edits_the_policy(http: TestClient, store: Store, seeded: dict[str, Any]) -> None:
    page = http.get("/datasets/qa/gate").text
    assert "No policy is stored" in page
    assert "min_pass_rate: null" in page  # the defaults are shown
    newest = re.search(r'id="newest-verdict">(.*?)</div>', page, re.S)
    assert newest is not None
    assert "cand" in newest.group(1)
    assert "PASSED" in newest.group(1)

    url = "/datasets/qa/gate"
    assert http.post(url, data={"policy": "min_pass_rate: 0.9"}).status_code == 403
    bad = http.post(url, data={"policy": "min_pass_rate: 2"}, headers=HX)
    assert bad.status_code == 422
    assert "min_pass_rate" in bad.text
    assert "min_pass_rate: 2" in bad.text  # what was typed is kept
    assert dataset_policy(store, "qa") is None
    broken = http.post(url, data={"policy": "min_pass_rate: [1"}, headers=HX)
    assert broken.status_code == 422
    assert "not valid YAML or JSON" in broken.text

    saved = http.post(url, data={"policy": "min_pass_rate: 0.9\nbaseline_tag: main"}, headers=HX)
    assert saved.status_code == 200
    assert "This dataset has a stored policy" in saved.text
    assert "FAILED" in saved.text  # the newest run, 85 % passed, now fails the gate
    policy = dataset_policy(store, "qa")
    assert policy is not None
    assert (policy.min_pass_rate, policy.baseline_tag) == (0.9, "main")

    cleared = http.post(url, data={"policy": "", "clear": "1"}, headers=HX)
    assert "No policy is stored" in cleared.text
    assert dataset_policy(store, "qa") is None


def test_edit_and_delete_an_item(http: TestClient, store: Store, seeded: dict[str, Any]) -> None:
    item = store.datasets.list_items("qa").items[0]
    page = http.get(f"/datasets/qa/items/{item.id}").text
    assert 'id="edit-item"' in page
    assert "&#34;q&#34;: &#34;q0&#34;" in page  # the input, as JSON, ready to edit
    url = f"/datasets/qa/items/{item.id}"
    version = store.datasets.get("qa").version
    assert http.post(url, data={"input": "x"}).status_code == 403
    bad = http.post(url, data={"input": '{"q": "q0"}', "metadata": "[1]"}, headers=HX)
    assert bad.status_code == 422
    assert "metadata" in bad.text
    assert store.datasets.get("qa").version == version
    saved = http.post(
        url,
        data={"input": '{"q": "q0"}', "expected_output": "Q0!", "tags": "even, edited"},
        headers=HX,
    )
    assert saved.headers["HX-Redirect"] == url
    changed = store.datasets.get_item("qa", item.id)
    assert (changed.expected_output, changed.tags) == ("Q0!", ["even", "edited"])
    assert store.datasets.get("qa").version == version + 1

    deleted = http.post(f"{url}/delete", headers=HX)
    assert deleted.headers["HX-Redirect"] == "/datasets/qa"
    assert store.datasets.get("qa").item_count == N - 1
    assert http.get(url).status_code == 404  # gone from the newest version
    old = store.datasets.get_item("qa", item.id, version=version + 1)
    assert old.expected_output == "Q0!"  # older versions keep it


def test_prompt_versions_and_labels_from_the_dashboard(
    http: TestClient, store: Store, seeded: dict[str, Any]
) -> None:
    assert http.post("/prompts", data={"name": "triage", "template": "x"}).status_code == 403
    bad = http.post("/prompts", data={"name": "triage", "messages": "[{'role'"}, headers=HX)
    assert bad.status_code == 422
    assert "messages: not valid JSON" in bad.text
    neither = http.post("/prompts", data={"name": "triage"}, headers=HX)
    assert neither.status_code == 422
    with pytest.raises(NotFound):
        store.prompts.get("triage")

    created = http.post(
        "/prompts",
        data={
            "name": "triage",
            "messages": '[{"role": "system", "content": "Sort {{ q }}"}]',
            "config": '{"model": "gpt-4o-mini"}',
            "labels": "staging",
        },
        headers=HX,
    )
    assert created.headers["HX-Redirect"] == "/prompts/triage#version-1"
    first = store.prompts.get("triage", label="staging")
    assert (first.version, first.model_config_) == (1, {"model": "gpt-4o-mini"})

    page = http.get("/prompts/triage").text
    assert "Sort {{ q }}" in html.unescape(page)  # the new-version form starts from the newest
    http.post("/prompts", data={"name": "triage", "template": "Sort: {{ q }}"}, headers=HX)
    moved = http.post(
        "/prompts/triage/labels", data={"version": "2", "labels": "staging, production"}, headers=HX
    )
    assert moved.headers["HX-Redirect"] == "/prompts/triage#version-2"
    assert store.prompts.get("triage", label="staging").version == 2
    assert store.prompts.get("triage", label="production").version == 2
    refused = http.post(
        "/prompts/triage/labels", data={"version": "2", "labels": "has space"}, headers=HX
    )
    assert refused.status_code == 422
    assert refused.headers["HX-Retarget"] == "#flash"

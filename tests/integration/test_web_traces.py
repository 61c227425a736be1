"""Trace, session and *Add to dataset* pages through the app, on each database."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from assay.client import Assay
from assay.domain import DatasetCreate, ItemCreate
from assay.store import Store
from tests.integration.trace_support import seed_traces

HX = {"HX-Request": "true"}


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_traces(store)
    store.datasets.create(DatasetCreate(name="golden"))
    store.datasets.add_items("golden", [ItemCreate(input={"q": "seed"})])
    return store


def listed(text: str) -> list[str]:
    return re.findall(r'<tr class="trace[^"]*" data-id="([^"]+)"', text)


def test_list_filters_in_the_url(http: TestClient, seeded: Store) -> None:
    page = http.get("/traces")
    assert page.status_code == 200
    assert listed(page.text) == ["t4", "t3", "t2", "t1", "t0"]
    assert 'id="filters"' in page.text
    assert 'id="add-to-dataset"' in page.text
    # each filter by its URL field; an HTMX request gets the table alone
    cases = {
        "q=sear": ["t3"],
        "name=chat&user=u1": ["t1"],
        "session=s1": ["t2", "t1"],
        "tag=prod,+geo": ["t1"],
        "model=gpt-4o-mini": ["t2"],
        "errors=1": ["t3", "t2"],
        "score=helpfulness&score_min=0.5": ["t1"],
        "score=helpfulness&score_max=0.5": ["t3"],
        "from=2026-03-01T00:00&to=2026-03-02T00:00": ["t2", "t1"],
        "range=1h": ["t4"],  # recorded just now, without a start time
        "name=nothing": [],
    }
    for query, expected in cases.items():
        fragment = http.get(f"/traces?{query}", headers=HX)
        assert fragment.status_code == 200, query
        assert listed(fragment.text) == expected, query
        assert "<html" not in fragment.text
    empty = http.get("/traces?name=nothing").text
    assert "No traces match" in empty
    assert 'value="nothing"' in empty  # the field shows what was typed


def test_list_columns(http: TestClient, seeded: Store) -> None:
    text = http.get("/traces?session=s1").text
    row = text[text.index('data-id="t1"') :]
    row = row[: row.index("</tr>")]
    assert '<a href="/sessions/s1">s1</a>' in row
    assert "prod" in row
    assert "geo" in row
    assert "u1" in row
    assert "3.00 s" in row  # latency
    assert ">15<" in row  # tokens in + out
    assert "$0.0125" in row
    assert "helpfulness" in row
    assert "0.90" in row
    failed = text[text.index('data-id="t2"') :]
    assert 'class="trace error"' in text
    assert "ERROR" in failed[: failed.index("</tr>")]


def test_list_paging_keeps_filters(http: TestClient, seeded: Store) -> None:
    # 5 traces, 50 per page: page through with the API's cursor to check the links' shape
    first = http.get("/traces?name=chat").text
    assert "next page" not in first
    assert "previous page" not in first
    api = http.get("/api/v1/traces/", params={"name": "chat", "limit": 1}).json()
    second = http.get(f"/traces?name=chat&cursor={api['next_cursor']}", headers=HX).text
    assert listed(second) == ["t2", "t1"]
    prev = re.search(r'href="([^"]+)"[^>]*rel="prev"', second)
    assert prev is not None
    back = http.get(html.unescape(prev.group(1)), headers=HX).text
    assert listed(back) == ["t4"]  # the previous page: what comes before t2
    assert "next page" in back
    assert "previous page" not in back


def test_bad_filters_say_which_field(http: TestClient, seeded: Store) -> None:
    for query, field in (
        ("from=yesterday", "from"),
        ("score_min=high&score=x", "score_min"),
        ("score_min=1", "score_min and score_max need score_name"),
        ("range=1y", "range"),
        ("cursor=garbage", "cursor"),
    ):
        response = http.get(f"/traces?{query}", headers=HX)
        assert response.status_code == 422, query
        assert field in html.unescape(response.text), query


def test_trace_waterfall_and_details(http: TestClient, seeded: Store) -> None:
    text = http.get("/traces/t1").text
    rows = re.findall(r'class="wf-row span[^"]*" data-depth="(\d)" data-id="([^"]+)"', text)
    assert rows == [("0", "t1-root"), ("1", "t1-gen")]
    assert 'aria-expanded="true" aria-controls="wf-under-t1-root"' in text  # children collapse
    assert 'href="/sessions/s1"' in text
    totals = text[text.index('id="trace-totals"') : text.index('class="grid2"')]
    assert "3.00 s" in totals
    assert "10 / 5" in totals
    assert "$0.0125" in totals
    assert "helpfulness" in totals
    assert 'class="bubble role-user"' in text  # the trace's input is a chat message
    assert "Select an observation" in text
    # the generation's panel, as HTMX fetches it and as a link opens it
    panel = http.get("/traces/t1/observations/t1-gen", headers=HX).text
    for page in (panel, http.get("/traces/t1?observation=t1-gen").text):
        assert 'class="obs-model">gpt-4o<' in page
        assert 'class="obs-tokens">10 / 5<' in page
        assert 'class="obs-cost">$0.0125<' in page
        assert "temperature" in page
        assert 'class="bubble role-system"' in page
        assert "You answer geography" in page
        assert 'class="bubble role-assistant"' in page  # the output message
        assert re.search(r"Show all \(3,?0\d\d characters\)", page)  # the long value, cut
    assert 'class="wf-row span selected"' in http.get("/traces/t1?observation=t1-gen").text
    missing = http.get("/traces/t1?observation=nope")
    assert missing.status_code == 404


def test_failure_paths_render(http: TestClient, seeded: Store) -> None:
    failed = http.get("/traces/t2?observation=t2-gen").text
    assert "badge-failed" in failed
    assert 'class="wf-row span error selected"' in failed
    assert "RateLimitError: slow down" in failed
    no_obs = http.get("/traces/t3")
    assert no_obs.status_code == 200
    assert "This trace has no observations." in no_obs.text
    assert "badge-failed" in no_obs.text  # its metadata says ERROR
    orphan = http.get("/traces/t4")
    assert orphan.status_code == 200
    assert 'data-id="t4-lost"' in orphan.text
    assert "no parent" in orphan.text
    assert http.get("/traces/unknown").status_code == 404


def test_run_trace_links_to_its_result(http: TestClient, store: Store, client: Assay) -> None:
    import assay
    from assay.scorers import exact_match

    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items("qa", [ItemCreate(input={"q": "a"}, expected_output="A")])

    def task(x: dict[str, str]) -> str:
        return x["q"].upper()

    run = assay.evaluate("qa", task, [exact_match()], name="upper", store=store)
    result = store.experiments.results(run.id).results[0]
    assert result.trace_id is not None
    text = http.get(f"/traces/{result.trace_id}").text
    assert f'Recorded by run <a href="/runs/{run.id}">upper</a>' in text
    assert f"/items/{result.item_id}" in text
    assert f'href="/sessions/{run.id}"' in text


def test_sessions_pages(http: TestClient, seeded: Store) -> None:
    text = http.get("/sessions").text
    sessions = re.findall(r'<tr class="session">\s*<td><a href="/sessions/([^"]+)"', text)
    assert sessions == ["s2", "s1"]
    row = text[text.index('href="/sessions/s1"') :]
    row = row[: row.index("</tr>")]
    assert ">2<" in row
    assert "$0.0135" in row
    assert ">22<" in row
    assert "s1" in http.get("/sessions?user=u2", headers=HX).text
    assert "s2" not in http.get("/sessions?user=u2", headers=HX).text
    one = http.get("/sessions/s1").text
    turns = re.findall(r'<li class="turn[^"]*" data-id="([^"]+)"', one)
    assert turns == ["t1", "t2"]  # in order, like a conversation
    assert "Capital of Japan?" in one
    assert "Tokyo" in one
    assert "And of France?" in one
    assert 'href="/traces/t2"' in one
    assert http.get("/sessions/nope").status_code == 404


def add(http: TestClient, **form: str | list[str]) -> tuple[int, str]:
    data = {"dataset": "golden", "input_field": "input", "expected_field": "output", **form}
    response = http.post("/traces/add-to-dataset", data=data, headers=HX)
    return response.status_code, html.unescape(response.text)


def test_add_selected_and_filtered(http: TestClient, seeded: Store, client: Assay) -> None:
    status, text = add(http, scope="selected", trace_ids=["t1", "t3"])
    assert status == 200, text
    assert "2 added" in text
    assert "golden version 2" in text
    assert 'href="/datasets/golden/versions?diff=2"' in text
    items = client.datasets.items("golden").items
    assert {i.source_trace_id for i in items} == {None, "t1", "t3"}
    # all that match the filter: t1 is there already, t2 comes in
    status, text = add(http, scope="filter", session="s1")
    assert status == 200, text
    assert "1 added, 1 already present" in text
    assert "version 3" in text
    status, text = add(http, scope="selected", trace_ids=["t1"])
    assert "0 added, 1 already present" in text
    assert "stays at" in text
    assert seeded.datasets.get("golden").version == 3


def test_add_from_a_span(http: TestClient, seeded: Store) -> None:
    status, text = add(
        http,
        scope="selected",
        trace_ids="t1",
        input_span="answer",
        input_field="input",
        expected_span="answer",
        expected_field="output",
    )
    assert status == 200
    assert "1 added" in text
    item = seeded.datasets.list_items("golden").items[-1]
    assert item.source_trace_id == "t1"
    assert item.expected_output == {"role": "assistant", "content": "Tokyo"}


def test_add_errors_inline(http: TestClient, seeded: Store) -> None:
    before = seeded.datasets.get("golden").version
    for form, message in (
        ({"scope": "selected"}, "select at least one trace"),
        ({"scope": "filter", "name": "nothing"}, "no trace matches the filter"),
        (
            {"scope": "selected", "trace_ids": "t1", "input_span": "nope"},
            "input_span: the trace has no observation named 'nope'",
        ),
        (
            {"scope": "selected", "trace_ids": ["t1", "t2"], "expected_span": "nope"},
            "none of the 2 traces has an observation named 'nope'",
        ),
        ({"scope": "selected", "trace_ids": "t1", "dataset": ""}, "dataset: choose a dataset"),
        ({"scope": "selected", "trace_ids": "t1", "dataset": "missing"}, "missing"),
        ({"scope": "selected", "trace_ids": "gone"}, "no trace 'gone'"),
        ({"scope": "selected", "trace_ids": "t1", "input_field": "x"}, "input_field"),
    ):
        status, text = add(http, **form)  # type: ignore[arg-type]
        assert status == 422, form
        assert 'class="error-box"' in text, form
        assert message in text, (form, text)
    assert seeded.datasets.get("golden").version == before
    refused = http.post("/traces/add-to-dataset", data={"trace_ids": "t1", "dataset": "golden"})
    assert refused.status_code == 403  # only from the dashboard's own pages


def test_api_and_sdk_filters(client: Assay, seeded: Store) -> None:
    page = client.traces.list(model="gpt-4o-mini")
    assert [t.id for t in page.items] == ["t2"]
    assert page.items[0].error
    assert [t.id for t in client.traces.list(tags=["prod", "geo"]).items] == ["t1"]
    assert [t.id for t in client.traces.list(errors=True, user_id="u1").items] == ["t3"]
    scored = client.traces.list(score_name="helpfulness", score_min=0.5)
    assert [t.id for t in scored.items] == ["t1"]
    assert scored.items[0].scores[0].numeric_value == 0.9
    first = client.traces.list(name="chat", limit=2)
    second = client.traces.list(name="chat", limit=2, cursor=first.next_cursor)
    assert [t.id for t in second.items] == ["t1"]
    assert second.prev_cursor
    back = client.traces.list(name="chat", limit=2, cursor=second.prev_cursor)
    assert [t.id for t in back.items] == ["t4", "t2"]
    assert [s.session_id for s in client.traces.sessions().items] == ["s2", "s1"]


def test_api_rejects_bad_filters(http: TestClient, seeded: Store) -> None:
    response = http.get("/api/v1/traces/", params={"score_min": 1})
    assert response.status_code == 422
    assert "score_name" in response.json()["error"]["message"]

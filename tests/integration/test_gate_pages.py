"""A gate's outcomes and regressions over the API and the SDK: the verdict lists the first
``limit``, counts them all, and its cursors page the rest exactly once; bad parameters and
runs changed under a cursor get precise errors. ``assay gate`` writes its reports from every
outcome whatever the verdict lists."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

import assay
from assay.analysis import compare_experiments, gate_experiment, render_junit, render_markdown
from assay.analysis.service import gate_frames, gate_runs
from assay.cli.main import app
from assay.client import Assay
from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate, ItemOutcome, ItemRegression, ScoreCreate
from assay.errors import InvalidInput
from assay.scorers import exact_match
from assay.service.compare import gate_items
from assay.store import Store, open_store
from assay.store.sql import encode_cursor
from assay.store.tables import projects

N, TRIALS = 25, 2


@pytest.fixture
def runs(store: Store) -> dict[str, str]:
    """``base`` answers every item; ``cand`` fails items 0, 3, 6… in both trials and items
    5, 10… in one trial of two (whichever is asked first)."""
    store.datasets.create(DatasetCreate(name="pages"))
    store.datasets.add_items(
        "pages", [ItemCreate(input={"q": f"q{k}"}, expected_output=f"Q{k}") for k in range(N)]
    )
    asked: Counter[str] = Counter()
    lock = threading.Lock()

    def good(x: dict[str, str]) -> str:
        return x["q"].upper()

    def worse(x: dict[str, str]) -> str:
        k = int(x["q"][1:])
        with lock:
            asked[x["q"]] += 1
            first = asked[x["q"]] == 1
        if k % 3 == 0 or (k % 5 == 0 and first):
            return x["q"]
        return x["q"].upper()

    out = {}
    for name, task, tag in (("base", good, "main"), ("cand", worse, None)):
        result = assay.evaluate(
            "pages", task, [exact_match()], name=name, run_tag=tag, trials=TRIALS, store=store
        )
        out[name] = result.id
    return out


def _walk(http: TestClient, url: str, cursor: str | None, **params: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while True:
        response = http.get(url, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["total"] is not None
        assert page["items"] or page["next_cursor"] is None  # no page is empty but the last
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_verdict_lists_a_page_and_cursors_page_the_rest_exactly_once(
    http: TestClient, store: Store, runs: dict[str, str]
) -> None:
    cand = runs["cand"]
    whole = gate_experiment(store, cand, baseline_tag="main", limit=None)
    every_item = [i.model_dump(mode="json") for i in whole.items]
    every_regression = [r.model_dump(mode="json") for r in whole.regressions]
    assert len(every_item) == N * TRIALS
    regressed = [k for k in range(N) if k % 3 == 0 or k % 5 == 0]
    assert len(every_regression) == len(regressed)
    assert sorted(r["regressed"] for r in every_regression) == sorted(
        1 if k % 3 else 2 for k in regressed
    )

    url = f"/api/v1/experiments/{cand}/gate/"
    full = http.get(url, params={"baseline_tag": "main"}).json()  # default limit: all of them
    assert full["items"] == every_item
    assert full["regressions"] == every_regression
    assert (full["items_next_cursor"], full["regressions_next_cursor"]) == (None, None)
    assert full["items_total"] == N * TRIALS
    assert full["items_failing"] == sum(1 for i in every_item if not i["passed"])
    assert full["regressions_total"] == len(every_regression)

    verdict = http.get(url, params={"baseline_tag": "main", "limit": 7}).json()
    assert verdict["items"] == every_item[:7]
    assert verdict["regressions"] == every_regression[:7]
    assert (verdict["items_total"], verdict["regressions_total"]) == (
        full["items_total"],
        full["regressions_total"],
    )
    for key in ("passed", "reasons", "checks", "means", "comparison"):
        assert verdict[key] == full[key]

    # From the verdict's cursors (without naming the baseline again: the cursor keeps it).
    rest = _walk(http, f"{url}items/", verdict["items_next_cursor"], limit=9)
    assert verdict["items"] + rest == every_item
    rest = _walk(http, f"{url}regressions/", verdict["regressions_next_cursor"], limit=2)
    assert verdict["regressions"] + rest == every_regression
    # From the start, naming the baseline on every page.
    pages = _walk(http, f"{url}items/", None, limit=11, baseline_tag="main")
    assert pages == every_item
    keys = [(i["item_id"], i["repetition"]) for i in pages]
    assert len(set(keys)) == len(keys) == N * TRIALS  # every outcome exactly once
    assert _walk(http, f"{url}regressions/", None, baseline="base") == every_regression

    nothing = http.get(url, params={"baseline_tag": "main", "limit": 0}).json()
    assert (nothing["items"], nothing["regressions"]) == ([], [])
    assert nothing["items_next_cursor"] is not None
    assert _walk(http, f"{url}items/", nothing["items_next_cursor"]) == every_item

    alone = _walk(http, f"{url}items/", None, limit=50)  # no baseline: nothing regressed
    assert not any(i["regressed"] for i in alone)
    assert http.get(f"{url}regressions/").json() == {
        "items": [],
        "next_cursor": None,
        "prev_cursor": None,
        "total": 0,
    }


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_bad_limits_and_cursors_are_refused_precisely(
    http: TestClient, store: Store, runs: dict[str, str]
) -> None:
    cand, base = runs["cand"], runs["base"]
    url = f"/api/v1/experiments/{cand}/gate/"
    for path, limit in (("", -1), ("", 10_001), ("items/", 0), ("regressions/", 10_001)):
        _error(http.get(f"{url}{path}", params={"limit": limit}), 422)
    verdict = http.get(url, params={"baseline": base, "limit": 1}).json()
    items_cursor = verdict["items_next_cursor"]

    for garbage in ("nope", encode_cursor("items", None, "x"), encode_cursor("items", 1, "x", 0)):
        error = _error(http.get(f"{url}items/", params={"cursor": garbage}), 422)
        assert error["message"] == "malformed pagination cursor"
        assert error["details"]["field"] == "cursor"
    negative = encode_cursor("items", base, "abc", -1)
    assert _error(http.get(f"{url}items/", params={"cursor": negative}), 422)["message"] == (
        "malformed pagination cursor"
    )

    error = _error(http.get(f"{url}regressions/", params={"cursor": items_cursor}), 422)
    assert "this cursor pages the gate's items, not its regressions" in error["message"]
    error = _error(http.get(f"{url}items/", params={"cursor": items_cursor, "baseline": cand}), 422)
    assert error["message"] == "the baseline is the run being gated"
    other = http.get(f"{url}items/", params={"cursor": encode_cursor("items", None, "d", 1)})
    assert other.status_code == 409  # no baseline now: other outcomes than the digest's
    same = http.get(f"{url}items/", params={"cursor": items_cursor, "baseline_tag": "main"})
    assert same.status_code == 200, same.text  # the tag names the cursor's baseline
    mismatch = encode_cursor("items", cand, "d", 1)  # issued against another baseline
    error = _error(http.get(f"{url}items/", params={"cursor": mismatch, "baseline": base}), 422)
    assert error["message"] == (
        f"this cursor was issued against baseline {cand}, not {base}: page with the same baseline"
    )
    _error(http.get("/api/v1/experiments/nope/gate/items/"), 404)

    # The candidate changes between two pages: the next page is refused, not shifted.
    first = store.experiments.results(cand, limit=1000).results
    passing = next(r for r in first if r.passed)
    store.scores.replace(
        cand, {passing.id: [ScoreCreate(name="exact_match", value=False, passed=False)]}
    )
    error = _error(http.get(f"{url}items/", params={"cursor": items_cursor}), 409)
    assert error["message"].startswith("the runs' results or scores changed since this cursor")
    assert error["details"]["field"] == "cursor"
    fresh = http.get(url, params={"baseline": base, "limit": 1}).json()
    assert _walk(http, f"{url}items/", fresh["items_next_cursor"])  # a new cursor pages again


def test_sdk_pages_the_gate(client: Assay, store: Store, runs: dict[str, str]) -> None:
    cand, base = runs["cand"], runs["base"]
    whole = gate_experiment(store, cand, baseline=base, limit=None)
    verdict = client.experiments.gate(cand, baseline=base, limit=4)
    assert verdict.items == whole.items[:4]
    assert (verdict.items_total, verdict.regressions_total) == (
        whole.items_total,
        whole.regressions_total,
    )
    items = list(verdict.items)
    cursor = verdict.items_next_cursor
    while cursor is not None:
        page = client.experiments.gate_items(cand, cursor=cursor, limit=13)
        assert all(isinstance(i, ItemOutcome) for i in page.items)
        assert page.total == whole.items_total
        items += page.items
        cursor = page.next_cursor
    assert items == whole.items
    page = client.experiments.gate_regressions(cand, baseline=base, limit=10_000)
    assert all(isinstance(r, ItemRegression) for r in page.items)
    assert (page.items, page.next_cursor) == (whole.regressions, None)


def _cli_env(store: Store, settings: Settings) -> dict[str, str]:
    """The environment for ``assay`` to open this test's store and project."""
    with store.db.read() as conn:
        project = conn.execute(
            select(projects.c.name).where(projects.c.id == store.project_id)
        ).scalar_one()
    return {
        **os.environ,
        "ASSAY_DATABASE_URL": settings.resolved_database_url,
        "ASSAY_PROJECT": project,
    }


def test_cli_reports_cover_every_item_whatever_the_json_lists(
    store: Store, settings: Settings, runs: dict[str, str], tmp_path: Path
) -> None:
    env = _cli_env(store, settings)
    junit, md = tmp_path / "junit.xml", tmp_path / "gate.md"
    argv = ["gate", "cand", "--baseline-tag", "main", "--json", "--limit", "3"]
    argv += ["--junit", str(junit), "--markdown", str(md)]
    done = CliRunner().invoke(app, argv, env=env, catch_exceptions=False)
    assert done.exit_code in (0, 1), done.output
    shown = json.loads(done.output)
    whole = gate_experiment(store, runs["cand"], baseline_tag="main", limit=None)
    assert [i["item_id"] for i in shown["items"]] == [i.item_id for i in whole.items[:3]]
    assert shown["items_total"] == N * TRIALS
    assert shown["items_next_cursor"] is not None
    assert junit.read_text(encoding="utf-8") == render_junit(whole)
    assert md.read_text(encoding="utf-8") == render_markdown(whole)


def test_runs_of_the_same_items_share_their_id_column(store: Store, runs: dict[str, str]) -> None:
    """Read from their snapshots, the candidate holds the baseline's ids, not a copy."""
    frame, base = gate_frames(store, gate_runs(store, runs["cand"], baseline="base"))
    assert base is not None
    assert frame.item_ids is base.item_ids
    compared = compare_experiments(store, [runs["base"], runs["cand"]], items=False)
    assert compared.runs[1].results == N * TRIALS


def test_a_cursor_naming_another_projects_run_reads_nothing_of_it(
    http: TestClient, store: Store, settings: Settings, runs: dict[str, str]
) -> None:
    """A forged cursor's baseline is looked up in the caller's project only: another
    project's run id is refused like an id nobody holds, and none of its outcomes is read."""
    other = open_store(settings, project=f"other-{uuid.uuid4().hex[:12]}")
    try:
        other.datasets.create(DatasetCreate(name="theirs"))
        other.datasets.add_items("theirs", [ItemCreate(input={"q": "secret"})])
        theirs = assay.evaluate("theirs", lambda x: "secret answer", store=other).id
    finally:
        other.close()
    url = f"/api/v1/experiments/{runs['cand']}/gate/items/"
    nobody = str(uuid.uuid4())
    forged = http.get(url, params={"cursor": encode_cursor("items", theirs, "d", 0)})
    unknown = http.get(url, params={"cursor": encode_cursor("items", nobody, "d", 0)})
    assert forged.status_code == unknown.status_code == 404
    refused = _error(forged, 404)
    assert refused == _error(unknown, 404) | {"message": refused["message"]}
    assert refused["message"].replace(theirs, "ID") == (
        _error(unknown, 404)["message"].replace(nobody, "ID")
    )
    assert "secret" not in forged.text
    # Nor does naming it as the baseline outright.
    named = http.get(f"/api/v1/experiments/{runs['cand']}/gate/", params={"baseline": theirs})
    assert named.status_code == 404
    assert "secret" not in named.text


# ------------------------------------------------------------------ failing outcomes only
#: Items 0, 3, … 24 fail in both trials; 5, 10 and 20 in one trial of two.
FAILING = 2 * len(range(0, N, 3)) + len([k for k in range(N) if k % 5 == 0 and k % 3])


def _failing(whole: Any) -> list[dict[str, Any]]:
    return [i.model_dump(mode="json") for i in whole.items if not i.passed]


@pytest.mark.parametrize("limit", [1, 4, FAILING, 10_000])
def test_failing_pages_list_every_failing_outcome_once_in_run_order(
    http: TestClient, store: Store, runs: dict[str, str], limit: int
) -> None:
    cand, base = runs["cand"], runs["base"]
    whole = gate_experiment(store, cand, baseline=base, limit=None)
    failing = _failing(whole)
    assert len(failing) == whole.items_failing == FAILING < whole.items_total
    assert len({i["item_id"] for i in failing}) < FAILING  # some items fail in both trials
    url = f"/api/v1/experiments/{cand}/gate/"

    first = http.get(f"{url}items/", params={"only": "failing", "limit": limit, "baseline": base})
    assert first.status_code == 200, first.text
    assert first.json()["total"] == FAILING
    assert first.json()["items"] == failing[:limit]
    pages = _walk(http, f"{url}items/", None, only="failing", limit=limit, baseline=base)
    assert pages == failing
    keys = [(i["item_id"], i["repetition"]) for i in pages]
    assert len(set(keys)) == len(keys)
    assert all(not i["passed"] for i in pages)
    assert any(i["regressed"] for i in pages)

    # The verdict lists the first page of the same listing; its cursor continues it.
    verdict = http.get(url, params={"baseline": base, "limit": limit, "only": "failing"}).json()
    assert verdict["items_only"] == "failing"
    assert verdict["items"] == failing[:limit]
    assert (verdict["items_total"], verdict["items_failing"]) == (N * TRIALS, FAILING)
    regressions = [r.model_dump(mode="json") for r in whole.regressions]
    assert verdict["regressions"] == regressions[:limit]  # the regressions are listed as ever
    if limit >= FAILING:
        assert verdict["items_next_cursor"] is None
    else:
        rest = _walk(http, f"{url}items/", verdict["items_next_cursor"], only="failing")
        assert verdict["items"] + rest == failing
    assert http.get(url, params={"baseline": base}).json()["items_only"] == "all"


def test_failing_pages_without_a_baseline(
    http: TestClient, store: Store, runs: dict[str, str]
) -> None:
    cand = runs["cand"]
    whole = gate_experiment(store, cand, limit=None)
    assert whole.baseline_id is None
    url = f"/api/v1/experiments/{cand}/gate/items/"
    pages = _walk(http, url, None, only="failing", limit=5)
    assert pages == _failing(whole)
    assert len(pages) == FAILING
    assert not any(i["regressed"] for i in pages)
    assert _walk(http, url, None, only="all", limit=20) == _walk(http, url, None, limit=20)


def test_a_cursor_pages_only_the_listing_it_was_issued_for(
    http: TestClient, runs: dict[str, str]
) -> None:
    cand, base = runs["cand"], runs["base"]
    url = f"/api/v1/experiments/{cand}/gate/"
    verdict = http.get(url, params={"baseline": base, "limit": 1}).json()
    items_cursor, regressions_cursor = (
        verdict["items_next_cursor"],
        verdict["regressions_next_cursor"],
    )
    page = http.get(f"{url}items/", params={"baseline": base, "limit": 1, "only": "failing"}).json()
    failing_cursor = page["next_cursor"]
    assert None not in (items_cursor, regressions_cursor, failing_cursor)

    error = _error(http.get(f"{url}items/", params={"cursor": failing_cursor}), 422)
    assert error["message"] == (
        "this cursor pages the gate's failing items, not its items: pass it to "
        "/gate/items/?only=failing (or start items without a cursor)"
    )
    assert error["details"]["field"] == "cursor"
    for cursor, listing in ((items_cursor, "items"), (regressions_cursor, "regressions")):
        params = {"cursor": cursor, "only": "failing"}
        error = _error(http.get(f"{url}items/", params=params), 422)
        assert error["message"] == (
            f"this cursor pages the gate's {listing}, not its failing items: pass it to "
            f"/gate/{listing}/ (or start failing items without a cursor)"
        )
        assert error["details"]["field"] == "cursor"
    error = _error(http.get(f"{url}regressions/", params={"cursor": failing_cursor}), 422)
    assert error["message"].startswith(
        "this cursor pages the gate's failing items, not its regressions: pass it to "
        "/gate/items/?only=failing"
    )
    # Each cursor still pages its own listing.
    assert http.get(f"{url}items/", params={"cursor": failing_cursor, "only": "failing"}).is_success
    assert http.get(f"{url}items/", params={"cursor": items_cursor, "only": "all"}).is_success

    for path in ("", "items/"):
        error = _error(http.get(f"{url}{path}", params={"only": "failed"}), 422)
        assert error["details"]["field"] == "only"
        assert error["message"].startswith("only: ")


def test_failing_pages_refuse_a_run_rescored_between_pages(
    http: TestClient, store: Store, runs: dict[str, str]
) -> None:
    cand = runs["cand"]
    url = f"/api/v1/experiments/{cand}/gate/items/"
    first = http.get(url, params={"baseline_tag": "main", "only": "failing", "limit": 3}).json()
    cursor = first["next_cursor"]
    assert cursor is not None
    results = store.experiments.results(cand, limit=1000).results
    failed = next(r for r in results if r.passed is False)
    store.scores.replace(
        cand, {failed.id: [ScoreCreate(name="exact_match", value=True, passed=True)]}
    )
    error = _error(http.get(url, params={"cursor": cursor, "only": "failing"}), 409)
    assert error["message"].startswith("the runs' results or scores changed since this cursor")
    assert error["details"]["field"] == "cursor"
    again = _walk(http, url, None, only="failing", limit=3, baseline_tag="main")
    assert len(again) == FAILING - 1  # from the start, the rescored outcome passes
    assert (failed.item_id, failed.repetition) not in {
        (i["item_id"], i["repetition"]) for i in again
    }


def test_sdk_pages_the_failing_outcomes(client: Assay, store: Store, runs: dict[str, str]) -> None:
    cand, base = runs["cand"], runs["base"]
    whole = gate_experiment(store, cand, baseline=base, limit=None)
    failing = [i for i in whole.items if not i.passed]
    verdict = client.experiments.gate(cand, baseline=base, limit=2, only="failing")
    assert verdict.items_only == "failing"
    assert verdict.items == failing[:2]
    items = list(verdict.items)
    cursor = verdict.items_next_cursor
    while cursor is not None:
        page = client.experiments.gate_items(cand, cursor=cursor, limit=4, only="failing")
        assert all(isinstance(i, ItemOutcome) for i in page.items)
        assert page.total == FAILING
        assert page.items  # a cursor points at outcomes still to list
        items += page.items
        cursor = page.next_cursor
    assert items == failing
    page = client.experiments.gate_items(cand, baseline=base, only="failing", limit=10_000)
    assert (page.items, page.next_cursor, page.total) == (failing, None, FAILING)
    with pytest.raises(InvalidInput, match="not its failing items"):
        client.experiments.gate_items(cand, cursor=verdict.regressions_next_cursor, only="failing")


def test_cli_lists_failing_outcomes_only_and_the_reports_do_not_change(
    store: Store, settings: Settings, runs: dict[str, str], tmp_path: Path
) -> None:
    env = _cli_env(store, settings)
    whole = gate_experiment(store, runs["cand"], baseline_tag="main", limit=None)
    failing = _failing(whole)
    for limit in (3, 1000):
        junit, md = tmp_path / f"junit{limit}.xml", tmp_path / f"gate{limit}.md"
        argv = ["gate", "cand", "--baseline-tag", "main", "--json", "--only", "failing"]
        argv += ["--limit", str(limit), "--junit", str(junit), "--markdown", str(md)]
        done = CliRunner().invoke(app, argv, env=env, catch_exceptions=False)
        assert done.exit_code == 1, done.output  # the candidate regressed
        shown = json.loads(done.output)
        assert shown["items"] == failing[:limit]
        assert shown["items_only"] == "failing"
        assert (shown["items_total"], shown["items_failing"]) == (N * TRIALS, FAILING)
        assert junit.read_text(encoding="utf-8") == render_junit(whole)
        assert md.read_text(encoding="utf-8") == render_markdown(whole)
        cursor = shown["items_next_cursor"]
        if limit >= FAILING:
            assert cursor is None
            continue
        rest = gate_items(store, "cand", cursor=cursor, only="failing", limit=10_000)
        assert shown["items"] + [i.model_dump(mode="json") for i in rest.items] == failing
    done = CliRunner().invoke(app, ["gate", "cand", "--only", "failed"], env=env)
    assert done.exit_code == 2
    assert "failed" in done.output

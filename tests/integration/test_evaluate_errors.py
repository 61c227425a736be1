"""evaluate() never fails silently: errored items are counted, quoted and warned about, and
errors in runs show in the summary, the run list and the API record."""

from __future__ import annotations

import traceback
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

import assay
from assay.cli.main import app
from assay.config import Settings
from assay.errors import AllItemsFailedWarning, InvalidInput
from assay.scorers import exact_match
from assay.scoring import scorer
from assay.store import Store
from assay.store.tables import projects

ROWS = [{"input": {"q": f"q{i}"}, "expected_output": f"Q{i}"} for i in range(6)]


def answer(question: dict[str, str]) -> str:
    return my_agent(question["q"])  # type: ignore[name-defined]  # noqa: F821


def shaky(question: dict[str, str]) -> str:
    if question["q"] in ("q1", "q4"):
        raise ValueError(f"cannot answer {question['q']}")
    return question["q"].upper()


@scorer
def exploding(output: Any) -> float:
    raise RuntimeError("scorer blew up")


def env_for(store: Store, settings: Settings) -> dict[str, str]:
    with store.db.read() as conn:
        project = conn.execute(
            select(projects.c.name).where(projects.c.id == store.project_id)
        ).scalar_one()
    return {
        "ASSAY_DATABASE_URL": settings.resolved_database_url,
        "ASSAY_PROJECT": project,
        "COLUMNS": "250",
    }


def test_every_item_failing_warns_and_reports(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSAY_QUIET", raising=False)
    with pytest.warns(AllItemsFailedWarning, match="my_agent"):
        result = assay.evaluate(ROWS, answer, [exact_match()], name="agent-v2", store=store)
    err = capsys.readouterr().err
    assert f"run {result.id} ('agent-v2') failed: 6 of 6 items failed" in err
    assert err.count("task: NameError: name 'my_agent' is not defined") == 3  # first three
    assert "... 3 more: result.errors" in err
    assert "every item failed" in err
    assert "no running event loop" not in err
    assert result.summary.errors == 6
    assert len(result.errors) == 6
    assert result.errors[0].scorer is None
    assert "NameError" in result.errors[0].error


def test_some_failures_and_scorer_errors_are_counted_without_a_warning(
    store: Store, capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    result = assay.evaluate(ROWS, shaky, [exact_match(), exploding()], name="shaky", store=store)
    assert result.status == "completed"
    s = result.summary
    assert (s.failed, s.scorer_errors, s.errors) == (2, 4, 6)
    err = capsys.readouterr().err
    assert "completed: 2 of 6 items failed, 4 scores could not be computed" in err
    assert "task: ValueError: cannot answer q1" in err
    kinds = [(e.scorer, e.error.split(":")[0]) for e in result.errors]
    assert kinds.count((None, "ValueError")) == 2
    assert kinds.count(("exploding", "scorer error")) == 4

    cli = CliRunner()
    env = env_for(store, settings)
    listed = cli.invoke(app, ["runs", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "completed with 6 errors" in listed.output
    shown = cli.invoke(app, ["runs", "show", result.id], env=env)
    assert "completed with 6 errors" in shown.output
    assert "errors (failed results + scorer errors)" in shown.output


def test_quiet_silences_the_report(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assay.evaluate(ROWS, shaky, store=store, quiet=True)
    monkeypatch.setenv("ASSAY_QUIET", "1")
    assay.evaluate(ROWS, shaky, store=store)
    assert capsys.readouterr().err == ""


def test_errors_raised_by_evaluate_carry_no_event_loop_context(store: Store) -> None:
    with pytest.raises(InvalidInput) as caught:
        assay.evaluate(ROWS, shaky, [exact_match], store=store)  # a factory, not a scorer
    assert caught.value.__context__ is None
    text = "".join(traceback.format_exception(caught.value))
    assert "no running event loop" not in text
    assert "During handling" not in text


def test_the_api_record_counts_errors(store: Store, http: TestClient) -> None:
    result = assay.evaluate(ROWS, shaky, [exact_match()], store=store, quiet=True)
    body = http.get(f"/api/v1/experiments/{result.id}/").json()
    listed = http.get("/api/v1/experiments/").json()
    assert body["status"] == "completed"
    assert body["errors"] == 2
    assert body["summary"]["errors"] == 2
    assert [e["errors"] for e in listed["items"] if e["id"] == result.id] == [2]

"""Pairwise judging with position swaps, judge cost apart from target cost, and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate
from assay.engine import RunOptions, llm_judge, pairwise_judge, plan
from assay.errors import InvalidInput
from assay.store import Store
from assay.store.tables import projects
from assay.targets import FunctionTarget, PromptTarget
from tests.fakes.provider import FakeProvider, Fault

FAST = {"backoff_base": 0.001, "backoff_max": 0.01}


def _section(prompt: str, name: str) -> str:
    found = re.search(rf"\[{name}\]\n(.*?)\n\n", prompt + "\n\n", re.S)
    return found.group(1).strip() if found else ""


def fair(prompt: str) -> str:
    """Prefers the response equal to the reference, wherever it stands."""
    ref, a, b = (_section(prompt, n) for n in ("REFERENCE", "RESPONSE A", "RESPONSE B"))
    winner = "tie" if (a == ref) == (b == ref) else "A" if a == ref else "B"
    return json.dumps({"reason": f"picked {winner}", "winner": winner})


def biased(prompt: str) -> str:
    """Always prefers whatever is shown first."""
    return '{"reason": "the first one reads better", "winner": "A"}'


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProvider]:
    with FakeProvider() as running:
        yield running


@pytest.fixture
def fake(server: FakeProvider) -> FakeProvider:
    server.requests.clear()
    server._queue.clear()
    server._rules.clear()
    server.reply = fair
    return server


def two_runs(store: Store) -> tuple[str, str]:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa", [ItemCreate(input=f"q{i}", expected_output=f"Q{i}") for i in range(6)]
    )

    def good(x: str) -> str:
        return x.upper()

    def worse(x: str) -> str:  # right on q0 and q1 only
        return x.upper() if x in ("q0", "q1") else "dunno"

    ids = []
    for fn in (good, worse):
        prepared = plan(
            store,
            dataset="qa",
            target=FunctionTarget(fn),
            name=fn.__name__,
            options=RunOptions(poll_interval=0.05),
        )
        ids.append(asyncio.run(prepared.run()).id)
    return ids[0], ids[1]


def judge(fake: FakeProvider) -> object:
    return llm_judge(
        model="judge", base_url=fake.openai_url, api_key="k", price={"input": 1, "output": 1}
    ).model


def test_fair_judge_picks_the_better_run_both_ways(store: Store, fake: FakeProvider) -> None:
    a, b = two_runs(store)
    report = pairwise_judge(store, a, b, judge=judge(fake))  # type: ignore[arg-type]
    assert (report.wins_a, report.wins_b, report.ties, report.errors) == (4, 0, 2, 0)
    assert report.win_rate_a == pytest.approx((4 + 1) / 6)
    assert report.inconsistent == 0
    assert len(fake.requests) == 12  # every pair asked twice
    by_item = {i.input: i for i in report.items}
    assert by_item["q3"].winner == "a"
    assert by_item["q3"].verdicts == ["a", "a"]
    assert by_item["q0"].winner == "tie"
    assert by_item["q3"].reasons == ["picked A", "picked B"]  # the swap showed A's output second
    assert report.cost == pytest.approx((report.tokens_in + report.tokens_out) / 1e6)
    # the same comparison the other way round mirrors it
    back = pairwise_judge(store, b, a, judge=judge(fake))  # type: ignore[arg-type]
    assert (back.wins_a, back.wins_b, back.ties) == (0, 4, 2)


def test_position_biased_judge_comes_out_as_a_tie(store: Store, fake: FakeProvider) -> None:
    fake.reply = biased
    a, b = two_runs(store)
    report = pairwise_judge(store, a, b, judge=judge(fake))  # type: ignore[arg-type]
    assert (report.wins_a, report.wins_b, report.ties) == (0, 0, 6)
    assert report.inconsistent == 6
    assert all(i.verdicts == ["a", "b"] for i in report.items)
    assert report.win_rate_a == 0.5


def test_failed_and_malformed_asks_are_errors_on_their_item(
    store: Store, fake: FakeProvider
) -> None:
    a, b = two_runs(store)
    fake.when("RESPONSE A]\\nQ4", Fault(400))
    fake.reply = lambda p: "hmm" if "q5" in p else fair(p)
    model = llm_judge(model="judge", base_url=fake.openai_url, api_key="k", **FAST).model  # type: ignore[arg-type]
    report = pairwise_judge(store, a, b, judge=model, concurrency=2)
    assert report.errors == 2
    errors = {i.input: i.error for i in report.items if i.winner is None}
    assert set(errors) == {"q4", "q5"}
    assert "400" in (errors["q4"] or "")
    assert "no JSON verdict" in (errors["q5"] or "")
    assert report.wins_a + report.wins_b + report.ties == 4


def test_pairwise_input_errors(store: Store, fake: FakeProvider) -> None:
    a, _ = two_runs(store)
    with pytest.raises(InvalidInput, match="two different"):
        pairwise_judge(store, a, a, judge=judge(fake))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="needs a model"):
        pairwise_judge(store, a, "worse", judge={"provider": "openai"})
    with pytest.raises(InvalidInput, match=r"judge\.colour: Extra inputs"):
        pairwise_judge(store, a, "worse", judge={"model": "m", "colour": "red"})


def test_judge_cost_is_recorded_apart_from_the_prompt_targets(
    store: Store, fake: FakeProvider
) -> None:
    fake.reply = lambda p: '{"choice": "A", "reason": "ok"}' if "[RESPONSE]" in p else "echo"
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items("qa", [ItemCreate(input={"q": "hello"}, expected_output="echo")])
    target = PromptTarget(
        model="target-model",
        prompt="{{ q }}",
        base_url=fake.openai_url,
        api_key="k",
        price={"input": 10, "output": 10},
    )
    grader = llm_judge(
        model="judge-model", base_url=fake.openai_url, api_key="k", price={"input": 1, "output": 1}
    )
    prepared = plan(store, dataset="qa", target=target, scorers=[grader], options=RunOptions())
    experiment = asyncio.run(prepared.run())
    [row] = list(store.experiments.iter_results(experiment.id))
    [score] = row.scores
    target_tokens = (row.tokens_in or 0) + (row.tokens_out or 0)
    judge_tokens = (score.tokens_in or 0) + (score.tokens_out or 0)
    assert row.cost == pytest.approx(target_tokens * 10 / 1e6)
    assert score.cost == pytest.approx(judge_tokens / 1e6)
    assert judge_tokens > target_tokens  # the judge prompt is longer: they are not the same call
    summary = store.experiments.summary(experiment.id)
    assert summary.total_cost == pytest.approx(row.cost)  # the target's spend only


def _env(store: Store, settings: Settings) -> dict[str, str]:
    with store.db.read() as conn:
        project = conn.execute(
            select(projects.c.name).where(projects.c.id == store.project_id)
        ).scalar_one()
    return {
        **os.environ,
        "ASSAY_DATABASE_URL": settings.resolved_database_url,
        "ASSAY_PROJECT": str(project),
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assay", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_score_and_judge_pairwise(store: Store, settings: Settings, fake: FakeProvider) -> None:
    a, b = two_runs(store)
    env = _env(store, settings)
    lenient = json.dumps({"kind": "exact_match", "name": "exact", "params": {"ignore_case": True}})
    for _ in range(2):  # the second time replaces the scores of the first
        done = _cli(env, "score", b, "--scorer", "exact_match", "--scorer", lenient, "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert (report["results"], report["scores"], report["passed"]) == (6, 12, 2)
    rows = list(store.experiments.iter_results(b))
    assert all(len(r.scores) == 2 for r in rows)  # run twice: replaced, not duplicated

    table = _cli(env, "score", "worse", "--scorer", "exact_match")
    assert table.returncode == 0, table.stderr
    assert "re-scored 6 results" in table.stdout
    bad = _cli(env, "score", b, "--scorer", "{not json")
    assert bad.returncode == 1
    assert "invalid JSON" in bad.stderr

    pair = _cli(
        env, "judge-pairwise", a, b, "--model", "judge", "--base-url", fake.openai_url, "--json"
    )
    assert pair.returncode == 0, pair.stderr
    out = json.loads(pair.stdout)
    assert (out["wins_a"], out["wins_b"], out["ties"]) == (4, 0, 2)


def test_cli_tables(store: Store, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from assay.cli.main import app

    a, b = two_runs(store)
    monkeypatch.setattr("assay.cli.context.open_store", lambda settings: store)
    runner = CliRunner()
    shown = runner.invoke(
        app, ["judge-pairwise", a, b, "--model", "judge", "--base-url", fake.openai_url]
    )
    assert shown.exit_code == 0, shown.output
    assert "4 wins" in shown.output
    assert "position flips 0" in shown.output
    none = runner.invoke(app, ["score", b])
    assert isinstance(none.exception, InvalidInput)
    assert "at least one scorer" in none.exception.message


async def test_blocking_pairwise_judge_inside_a_running_loop(
    store: Store, fake: FakeProvider
) -> None:
    a, b = await asyncio.to_thread(two_runs, store)
    # called from the loop: it runs on a helper thread
    report = pairwise_judge(store, a, b, judge=judge(fake))  # type: ignore[arg-type]
    assert (report.wins_a, report.wins_b, report.ties, report.errors) == (4, 0, 2, 0)

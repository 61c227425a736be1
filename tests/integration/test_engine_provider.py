"""The engine against a real local HTTP server speaking the OpenAI and Anthropic shapes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from assay.config import Settings
from assay.domain import DatasetCreate, ExperimentStatus, ItemCreate, ResultStatus
from assay.engine import RunOptions, plan
from assay.scorers import exact_match
from assay.store import Store
from assay.targets import HttpTarget, PromptTarget
from tests.fakes.clock import FakeClock
from tests.fakes.provider import FakeProvider, Fault

FAST = {"backoff_base": 0.001, "backoff_max": 0.01, "poll_interval": 0.05}


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


def dataset(store: Store, n: int, name: str = "qa") -> str:
    store.datasets.create(DatasetCreate(name=name))
    store.datasets.add_items(
        name,
        [ItemCreate(input={"q": f"item {i}"}, expected_output=f"echo: item {i}") for i in range(n)],
    )
    return name


def openai(fake: FakeProvider, **kw: object) -> PromptTarget:
    return PromptTarget(
        model="gpt-4o-mini",
        prompt="{{ q }}",
        base_url=fake.openai_url,
        api_key="sk-test",
        **kw,  # type: ignore[arg-type]
    )


def run(store: Store, target: object, n: int = 3, **options: object) -> tuple[str, object]:
    ds = dataset(store, n)
    prepared = plan(
        store,
        dataset=ds,
        target=target,  # type: ignore[arg-type]
        scorers=[exact_match()],
        options=RunOptions(**{**FAST, **options}),  # type: ignore[arg-type]
    )
    experiment = asyncio.run(prepared.run())
    return experiment.id, experiment


def by_input(store: Store, experiment_id: str) -> dict[str, object]:
    return {r.input["q"]: r for r in store.experiments.iter_results(experiment_id)}  # type: ignore[index]


def test_openai_target_output_tokens_cost_and_auth(store: Store, fake: FakeProvider) -> None:
    target = openai(fake, system="Be brief.", price={"input": 1.0, "output": 2.0})
    exp_id, experiment = run(store, target, n=3)
    assert experiment.status == ExperimentStatus.completed  # type: ignore[attr-defined]
    rows = by_input(store, exp_id)
    row = rows["item 1"]
    assert row.output == "echo: item 1"  # type: ignore[attr-defined]
    assert row.passed is True  # type: ignore[attr-defined]
    # prompt "Be brief. item 1" = 4 words in, "echo: item 1" = 3 words out
    assert (row.tokens_in, row.tokens_out) == (4, 3)  # type: ignore[attr-defined]
    assert row.cost == pytest.approx((4 * 1.0 + 3 * 2.0) / 1_000_000)  # type: ignore[attr-defined]
    first = fake.requests[0]
    assert first.path == "/v1/chat/completions"
    assert first.headers["authorization"] == "Bearer sk-test"
    assert first.body["messages"][0] == {"role": "system", "content": "Be brief."}
    summary = store.experiments.summary(exp_id)
    assert summary.tokens_in == 12
    assert summary.tokens_out == 9


def test_anthropic_target_moves_system_and_reads_usage(store: Store, fake: FakeProvider) -> None:
    target = PromptTarget(
        provider="anthropic",
        model="claude-3-5-haiku-latest",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{q}}"}],
        base_url=fake.anthropic_url,
        api_key="ak-test",
    )
    exp_id, experiment = run(store, target, n=2)
    assert experiment.status == ExperimentStatus.completed  # type: ignore[attr-defined]
    request = fake.requests[0]
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "ak-test"
    assert request.body["system"] == "Be brief."
    assert all(m["role"] != "system" for m in request.body["messages"])
    row = by_input(store, exp_id)["item 0"]
    assert row.output == "echo: item 0"  # type: ignore[attr-defined]
    assert row.tokens_in == 4
    assert row.tokens_out == 3
    # shipped price table: claude-3-5-haiku at 0.80 / 4.00 per 1M tokens (prefix match)
    assert row.cost == pytest.approx((4 * 0.8 + 3 * 4.0) / 1_000_000)  # type: ignore[attr-defined]


def test_retries_429_then_succeeds_and_honours_retry_after(
    store: Store, fake: FakeProvider
) -> None:
    fake.when("item 0", Fault(429, retry_after_ms=150), Fault(429, retry_after=0.2))
    exp_id, _ = run(store, openai(fake), n=2)
    row = by_input(store, exp_id)["item 0"]
    assert row.status == ResultStatus.completed  # type: ignore[attr-defined]
    assert row.attempts == 3  # type: ignore[attr-defined]
    times = [r.at for r in fake.requests_for("item 0")]
    assert len(times) == 3
    # the backoff ceiling is 10 ms here: only Retry-After can explain these gaps
    assert times[1] - times[0] >= 0.15
    assert times[2] - times[1] >= 0.2


def test_5xx_and_529_are_retried_up_to_the_limit(store: Store, fake: FakeProvider) -> None:
    fake.when("item 0", Fault(500), Fault(529))
    fake.when("item 1", *[Fault(503)] * 10)
    exp_id, experiment = run(store, openai(fake), n=3, max_retries=3)
    rows = by_input(store, exp_id)
    assert rows["item 0"].attempts == 3
    assert rows["item 0"].status == ResultStatus.completed
    assert rows["item 1"].status == ResultStatus.failed  # type: ignore[attr-defined]
    assert rows["item 1"].attempts == 4  # type: ignore[attr-defined]  # 1 + 3 retries
    assert "HTTP 503" in rows["item 1"].error  # type: ignore[attr-defined]
    assert len(fake.requests_for("item 1")) == 4
    assert experiment.status == ExperimentStatus.completed  # type: ignore[attr-defined]


def test_non_retryable_4xx_is_tried_once(store: Store, fake: FakeProvider) -> None:
    fake.when("item 1", Fault(400, body={"error": {"message": "bad request: nope"}}))
    exp_id, _ = run(store, openai(fake), n=2)
    row = by_input(store, exp_id)["item 1"]
    assert row.status == ResultStatus.failed  # type: ignore[attr-defined]
    assert row.attempts == 1  # type: ignore[attr-defined]
    assert "HTTP 400" in row.error
    assert "bad request: nope" in row.error
    assert len(fake.requests_for("item 1")) == 1


def test_per_attempt_timeout_then_retry(store: Store, fake: FakeProvider) -> None:
    # A hung request never answers before the server closes (a minute at most), so only the
    # timeout can end it; 3 s is far more than a healthy call takes on a loaded machine.
    fake.when("item 0", Fault(hang=True))
    fake.when("item 1", Fault(hang=True), Fault(hang=True))
    exp_id, _ = run(store, openai(fake), n=2, timeout=3.0, max_retries=1)
    rows = by_input(store, exp_id)
    assert rows["item 0"].status == ResultStatus.completed
    assert rows["item 0"].attempts == 2
    assert rows["item 1"].status == ResultStatus.failed
    assert rows["item 1"].attempts == 2
    assert "timed out after 3s" in rows["item 1"].error  # type: ignore[attr-defined]
    assert len(fake.requests_for("item 1")) == 2


def test_connection_errors_are_retried(store: Store, fake: FakeProvider) -> None:
    fake.when("item 0", Fault(drop=True))
    exp_id, _ = run(store, openai(fake), n=1)
    row = by_input(store, exp_id)["item 0"]
    assert row.status == ResultStatus.completed
    assert row.attempts == 2


def test_in_flight_never_exceeds_the_concurrency_limit(store: Store) -> None:
    with FakeProvider(delay=0.02) as slow:
        _, experiment = run(store, openai(slow), n=40, concurrency=4)
        assert experiment.status == ExperimentStatus.completed  # type: ignore[attr-defined]
        assert 1 <= slow.max_in_flight <= 4
        assert len(slow.requests) == 40


def test_rate_limits_halve_adaptive_concurrency(store: Store, fake: FakeProvider) -> None:
    fake.script(*[Fault(429, retry_after_ms=1)] * 3)
    ds = dataset(store, 6)
    prepared = plan(
        store,
        dataset=ds,
        target=openai(fake),
        options=RunOptions(concurrency=8, **FAST),  # type: ignore[arg-type]
    )
    asyncio.run(prepared.run())
    assert prepared.runner.gate.limit < 8


def test_http_endpoint_target_body_template_and_output_path(
    store: Store, fake: FakeProvider
) -> None:
    target = HttpTarget(
        f"{fake.url}/echo",
        headers={"x-team": "qa"},
        body={"q": "{{ input.q }}", "n": "{{ input.q | length }}", "raw": "{{ input }}"},
        output_path="answer",
    )
    exp_id, experiment = run(store, target, n=2)
    assert experiment.status == ExperimentStatus.completed  # type: ignore[attr-defined]
    assert by_input(store, exp_id)["item 1"].output == "echo: item 1"  # type: ignore[attr-defined]
    sent = fake.requests_for("item 1")[0]
    assert sent.body == {"q": "item 1", "n": 6, "raw": {"q": "item 1"}}
    assert sent.headers["x-team"] == "qa"


def test_cancel_in_process_keeps_finished_results(store: Store) -> None:
    with FakeProvider(delay=0.05) as slow:
        ds = dataset(store, 60)
        prepared = plan(
            store,
            dataset=ds,
            target=openai(slow),
            options=RunOptions(concurrency=2, **FAST),  # type: ignore[arg-type]
        )

        async def go() -> object:
            task = asyncio.create_task(prepared.run())
            while prepared.runner.progress.done < 4:
                await asyncio.sleep(0.01)
            prepared.runner.cancel(force=True)
            return await task

        experiment = asyncio.run(go())
    assert experiment.status == ExperimentStatus.cancelled  # type: ignore[attr-defined]
    summary = store.experiments.summary(prepared.experiment.id)
    assert summary.completed >= 4
    assert summary.cancelled > 0
    assert summary.completed + summary.cancelled == 60
    assert summary.pending == 0


def test_cancel_from_another_process(store: Store, settings: Settings) -> None:
    with FakeProvider(delay=0.05) as slow:
        ds = dataset(store, 200)
        prepared = plan(
            store,
            dataset=ds,
            target=openai(slow),
            options=RunOptions(concurrency=2, **FAST),  # type: ignore[arg-type]
        )
        env = {
            **os.environ,
            "ASSAY_DATABASE_URL": settings.resolved_database_url,
            "ASSAY_PROJECT": _project_name(store),
        }

        async def go() -> tuple[object, subprocess.CompletedProcess[str]]:
            task = asyncio.create_task(prepared.run())
            while prepared.runner.progress.done < 2:
                await asyncio.sleep(0.01)
            # from now on no call returns: only the cancel can end the run, however long the
            # other process takes to start
            slow.hold = True
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "assay", "runs", "cancel", prepared.experiment.id],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            return await task, done

        experiment, proc = asyncio.run(go())
    assert proc.returncode == 0, proc.stderr
    assert "cancel requested" in proc.stdout
    assert experiment.status == ExperimentStatus.cancelled  # type: ignore[attr-defined]
    summary = store.experiments.summary(prepared.experiment.id)
    assert 2 <= summary.completed < 200
    assert summary.completed + summary.cancelled == 200
    assert summary.pending == 0


def _project_name(store: Store) -> str:
    from sqlalchemy import select

    from assay.store.tables import projects

    with store.db.read() as conn:
        return str(
            conn.execute(select(projects.c.name).where(projects.c.id == store.project_id)).scalar()
        )


def test_stored_connection_supplies_url_and_key(store: Store, fake: FakeProvider) -> None:
    from assay.targets import BuildContext, create_target

    created = store.connections.create(
        "local", "openai", base_url=fake.openai_url, api_key="sk-stored"
    )
    assert created.has_api_key
    assert "sk-stored" not in created.model_dump_json()
    assert all(not hasattr(c, "api_key") for c in store.connections.list())
    target = create_target(
        {"type": "prompt", "model": "gpt-4o-mini", "prompt": "{{ q }}", "connection": "local"},
        BuildContext(store=store),
    )
    assert "sk-stored" not in str(target.spec())
    _, experiment = run(store, target, n=1)
    assert experiment.status == ExperimentStatus.completed  # type: ignore[attr-defined]
    assert fake.requests[0].headers["authorization"] == "Bearer sk-stored"


def test_requests_per_minute_limit_spaces_calls(
    store: Store, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine asks the provider's limiter before every call (exact times on a fake clock)."""
    from assay.engine import limits

    clock = FakeClock(start=1000.0)
    target = openai(fake, rpm=2)
    limiter = limits.RateLimiter(2, None, clock=clock, sleep=clock.sleep)
    monkeypatch.setattr(limits, "_LIMITERS", {(target.rate_key, 2, None): limiter})
    _, experiment = run(store, target, n=6, concurrency=6)
    assert experiment.status == ExperimentStatus.completed  # type: ignore[attr-defined]
    assert len(fake.requests) == 6
    # two requests per (fake) minute, the next pair a whole window later
    granted = sorted(event[0] for event in limiter._events)
    assert granted == [1120.0, 1120.0]  # the last pair; the earlier ones left the window
    assert clock.sleeps == [60.0, 60.0]
    assert clock.now == 1120.0


def test_requests_per_minute_limit_holds_back_a_real_run(
    store: Store, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the real clock: 6 calls at 2 per window cannot finish sooner than two windows."""
    from assay.engine import limits

    window = 0.4
    monkeypatch.setattr(limits.RateLimiter, "WINDOW", window)  # a 0.4 s "minute"
    monkeypatch.setattr(limits, "_LIMITERS", {})
    started = time.monotonic()
    _, experiment = run(store, openai(fake, rpm=2), n=6, concurrency=6)
    elapsed = time.monotonic() - started
    assert experiment.status == ExperimentStatus.completed  # type: ignore[attr-defined]
    assert len(fake.requests) == 6
    # the 5th and 6th calls wait for the 3rd and 4th to leave the window, which waited for the
    # 1st and 2nd: a lower bound only, a loaded machine makes the run slower, never faster
    assert elapsed >= 2 * window

"""Engine building blocks without a database: retries, limits, targets, templates, configs."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.domain import WorkItem
from assay.engine import AdaptiveLimit, RateLimiter, RetryPolicy, build_scorers, classify
from assay.engine.run_config import load_run_config, parse_run_config
from assay.errors import InvalidInput
from assay.ids import sequential_ids
from assay.scorers import exact_match
from assay.store.planning import PlannedItem, select_items, select_read
from assay.targets import (
    FunctionTarget,
    PriceTable,
    PromptTarget,
    TargetError,
    TargetOutput,
    create_target,
)
from assay.targets.http import retry_after
from assay.targets.providers import resolve
from assay.targets.templating import RenderError, extract, render_json, render_text, variables
from tests.fakes.clock import FakeClock


def item(value: Any = None, **kw: Any) -> WorkItem:
    return WorkItem("r1", "i1", 0, value if value is not None else {"q": "hi", "n": 2}, "HI", **kw)


# ---------------------------------------------------------------- retries
def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(max_retries=5, base=2.0, cap=60.0, rng=random.Random(1))
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (6, 60.0), (10, 60.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # it really spreads over the whole range
        assert min(delays) < ceiling * 0.2


def test_retry_after_is_a_floor_and_retry_limit() -> None:
    policy = RetryPolicy(max_retries=2, base=0.001, cap=0.001)
    assert policy.delay(1, retry_after=3.0) == 3.0
    failure = classify(TargetError("x", retryable=True))
    assert policy.should_retry(1, failure)
    assert policy.should_retry(2, failure)
    assert not policy.should_retry(3, failure)
    assert not policy.should_retry(1, classify(TargetError("bad request")))


def test_classify_exceptions() -> None:
    assert classify(TimeoutError(), 1.5).message == "timed out after 1.5s"
    assert classify(TimeoutError()).retryable
    assert classify(ConnectionResetError("reset")).retryable
    assert classify(httpx.ConnectError("refused")).retryable
    plain = classify(ValueError("bad"))
    assert not plain.retryable
    assert plain.message == "ValueError: bad"
    limited = classify(TargetError("slow down", retryable=True, retry_after=2, status=429))
    assert limited.rate_limited
    assert limited.retry_after == 2


def test_retry_after_headers() -> None:
    assert retry_after(httpx.Headers({"retry-after": "3"})) == 3.0
    assert retry_after(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    assert retry_after(httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after(httpx.Headers({})) is None


# ---------------------------------------------------------------- limits
def test_rate_limiter_window_arithmetic() -> None:
    limiter = RateLimiter(rpm=2, tpm=100)
    limiter._events.extend([[0.0, 40.0], [10.0, 40.0]])
    limiter._tokens = 80.0
    assert limiter._wait_time(20.0, 0.0) == pytest.approx(40.0)  # third request: oldest expires
    limiter.rpm = 10
    assert limiter._wait_time(20.0, 10.0) == 0.0
    assert limiter._wait_time(20.0, 30.0) == pytest.approx(40.0)  # needs the first 40 tokens back
    limiter._expire(60.5)
    assert len(limiter._events) == 1
    assert limiter._tokens == 40.0


async def test_rate_limiter_acquire_and_settle() -> None:
    limiter = RateLimiter(rpm=5)
    event = await limiter.acquire(10)
    limiter.settle(event, 25)
    assert limiter._tokens == 25


async def test_rate_limiter_spaces_requests_a_window_apart_on_a_fake_clock() -> None:
    clock = FakeClock(start=100.0)
    limiter = RateLimiter(rpm=2, clock=clock, sleep=clock.sleep)
    granted = [event[0] for event in await asyncio.gather(*(limiter.acquire() for _ in range(6)))]
    # two per minute: the 3rd waits for the 1st to leave the window, the 5th for the 3rd
    assert granted == [100.0, 100.0, 160.0, 160.0, 220.0, 220.0]
    assert clock.sleeps == [60.0, 60.0]


async def test_rate_limiter_frees_the_window_as_time_passes() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=2, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    clock.advance(45.0)
    await limiter.acquire()
    third = await limiter.acquire()
    assert third[0] == 60.0  # waited only for the first one's remaining 15 s
    assert clock.sleeps == [15.0]
    clock.advance(60.0)
    assert (await limiter.acquire())[0] == 120.0  # the window is empty again: no wait
    assert clock.sleeps == [15.0]


async def test_rate_limiter_tokens_per_minute_on_a_fake_clock() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tpm=100, clock=clock, sleep=clock.sleep)
    first = await limiter.acquire(30)
    clock.advance(10.0)
    second = await limiter.acquire(30)
    limiter.settle(first, 60)  # the first call really used 60 tokens: 90 in the window
    clock.advance(10.0)
    third = await limiter.acquire(30)  # 120 > 100: waits until the first 60 leave (t=60)
    assert (second[0], third[0]) == (10.0, 60.0)
    assert clock.sleeps == [40.0]
    assert limiter._tokens == 60.0  # 30 (second) + 30 (third)
    # a single request larger than the whole budget is let through once the window is empty
    clock.advance(70.0)
    assert (await limiter.acquire(500))[0] == 130.0


async def test_rate_limiter_serves_waiters_in_arrival_order() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=1, clock=clock, sleep=clock.sleep)
    order: list[int] = []

    async def call(n: int) -> None:
        await limiter.acquire()
        order.append(n)

    await asyncio.gather(*(call(n) for n in range(4)))
    assert order == [0, 1, 2, 3]
    assert [e[0] for e in limiter._events] == [180.0]
    assert clock.now == 180.0


async def test_adaptive_limit_halves_on_429_and_recovers() -> None:
    gate = AdaptiveLimit(8, cooldown=0.0)
    gate.on_rate_limited()
    assert gate.limit == 4
    gate.on_rate_limited()
    assert gate.limit == 2
    for _ in range(2):
        gate.on_success()
    assert gate.limit == 3
    for _ in range(200):
        gate.on_success()
    assert gate.limit == 8
    off = AdaptiveLimit(8, enabled=False)
    off.on_rate_limited()
    assert off.limit == 8


def test_adaptive_limit_cuts_once_per_cooldown_on_its_clock() -> None:
    clock = FakeClock()
    gate = AdaptiveLimit(16, cooldown=1.0, clock=clock)
    gate.on_rate_limited()
    assert gate.limit == 8
    clock.advance(0.999)
    gate.on_rate_limited()  # an answer to a call sent before the cut: no second cut
    assert gate.limit == 8
    clock.advance(0.001)
    gate.on_rate_limited()
    assert gate.limit == 4
    for _ in range(4):
        gate.on_success()
    assert gate.limit == 5
    clock.advance(0.5)
    gate.on_rate_limited()
    assert gate.limit == 5
    clock.advance(10.0)
    gate.on_rate_limited()
    assert gate.limit == 2


async def test_adaptive_limit_blocks_at_the_limit() -> None:
    gate = AdaptiveLimit(1)
    await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    gate.release()
    await asyncio.wait_for(waiter, 1)
    assert gate.in_use == 1
    assert gate.peak == 1


# ---------------------------------------------------------------- templates
def test_templates_fill_from_the_item() -> None:
    values = variables(item())
    assert render_text("Q: {{ q }} / {{ input.q }} / {{ expected_output }}", values) == (
        "Q: hi / hi / HI"
    )
    body = render_json({"x": "{{ input.n }}", "s": "n={{ n }}", "l": ["{{ input }}"]}, values)
    assert body == {"x": 2, "s": "n=2", "l": [{"q": "hi", "n": 2}]}
    with pytest.raises(RenderError, match="undefined"):
        render_text("{{ missing }}", values)
    with pytest.raises(RenderError):
        render_text("{{ ''.__class__.__mro__ }}", values)  # sandboxed


def test_output_paths() -> None:
    payload = {"choices": [{"message": {"content": "hi"}}], "data": {"a-b": 1}}
    assert extract(payload, "choices[0].message.content") == "hi"
    assert extract(payload, "$.choices.0.message.content") == "hi"
    assert extract(payload, "data.a-b") == 1
    assert extract(payload, None) is payload
    with pytest.raises(RenderError, match="no 'nope'"):
        extract(payload, "data.nope")
    with pytest.raises(RenderError, match="out of range"):
        extract(payload, "choices[3]")


# ---------------------------------------------------------------- targets
def test_function_target_signatures_and_outputs() -> None:
    def plain(x: Any) -> Any:
        return x["q"]

    def with_item(x: Any, item: WorkItem) -> Any:
        return (x["q"], item.expected_output)

    def only_item(item: WorkItem) -> Any:
        return item.result_id

    @dataclass
    class Reply:
        output: str
        usage: dict[str, int]

    def usage(x: Any) -> Reply:
        return Reply("ok", {"prompt_tokens": 3, "completion_tokens": 4})

    assert FunctionTarget(plain).call_sync(item()).output == "hi"
    assert FunctionTarget(with_item).call_sync(item()).output == ("hi", "HI")
    assert FunctionTarget(only_item).call_sync(item()).output == "r1"
    out = FunctionTarget(usage).call_sync(item())
    assert (out.output, out.tokens_in, out.tokens_out) == ("ok", 3, 4)
    assert FunctionTarget(plain).spec()["function"].endswith("plain")

    async def coro(x: Any) -> TargetOutput:
        return TargetOutput("a", cost=0.1)

    target = FunctionTarget(coro)
    assert target.is_async
    assert not hasattr(target, "call_sync")
    assert asyncio.run(target.call(item())).cost == 0.1
    with pytest.raises(InvalidInput, match="takes no argument"):
        FunctionTarget(lambda *, k: k)


def test_registry_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"target\.type: unknown target type 'x'"):
        create_target({"type": "x"})
    with pytest.raises(InvalidInput, match=r"target\.timeout"):
        create_target({"type": "http", "url": "http://h/", "timeout": -1})
    with pytest.raises(InvalidInput, match=r"target\.bogus"):
        create_target({"type": "http", "url": "http://h/", "bogus": 1})
    with pytest.raises(InvalidInput, match="cannot import module"):
        create_target({"type": "function", "function": "no_such_module_xyz:f"})
    with pytest.raises(InvalidInput, match="expected 'module:attribute'"):
        create_target({"type": "function", "function": "nocolon"})
    (tmp_path / "mytask.py").write_text("def run(x):\n    return x\n")
    from assay.targets import BuildContext

    target = create_target(
        {"type": "function", "function": "mytask:run"}, BuildContext(base_dir=tmp_path)
    )
    assert target.spec() == {"type": "function", "function": "mytask:run"}


def test_prompt_target_validation_and_rendering() -> None:
    with pytest.raises(InvalidInput, match="exactly one of 'prompt' or 'messages'"):
        PromptTarget(model="m", base_url="http://x/v1")
    with pytest.raises(InvalidInput, match=r"messages\[0\]"):
        PromptTarget(model="m", messages=[{"role": "robot", "content": "x"}], base_url="http://x")
    with pytest.raises(InvalidInput, match="invalid template"):
        PromptTarget(model="m", prompt="{{ q ", base_url="http://x/v1")
    target = PromptTarget(model="m", prompt="Say {{ q }}", system="sys", base_url="http://x/v1")
    assert target.render(item()) == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "Say hi"},
    ]
    with pytest.raises(TargetError, match="undefined"):
        target.render(item({"other": 1}))
    assert "api_key" not in target.spec()


def test_provider_connections_from_env() -> None:
    env = {"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": "http://local:1/v1/"}
    assert resolve("openai", env=env).base_url == "http://local:1/v1"
    with pytest.raises(InvalidInput, match="OPENAI_API_KEY"):
        resolve("openai", env={})
    assert resolve("openai", base_url="http://ollama:11434/v1", env={}).api_key is None
    with pytest.raises(InvalidInput, match="ANTHROPIC_API_KEY"):
        resolve("anthropic", env={})
    anthropic = resolve("anthropic", env={"ANTHROPIC_API_KEY": "k"})
    assert anthropic.base_url == "https://api.anthropic.com"
    with pytest.raises(InvalidInput, match=r"target\.provider"):
        resolve("cohere", env={})


def test_price_table_prefix_match_and_override(tmp_path: Path) -> None:
    table = PriceTable.load()
    assert table.cost("openai", "gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert table.cost("openai", "gpt-4o-2024-08-06", 0, 1_000_000) == pytest.approx(10.0)
    assert table.cost("openai", "my-local-model", 10, 10) is None
    override = tmp_path / "prices.json"
    override.write_text('{"openai": {"my-local-model": {"input": 1, "output": 1}}}')
    assert PriceTable.load(override).cost("openai", "my-local-model", 500_000, 500_000) == 1.0
    override.write_text('{"openai": {"m": {"input": "cheap"}}}')
    with pytest.raises(InvalidInput, match=r"openai\.m"):
        PriceTable.load(override)


# ---------------------------------------------------------------- planning and configs
def test_selection_order_and_sampling() -> None:
    items = [PlannedItem(f"i{i}", i, None, None, {}, ["a" if i < 5 else "b"]) for i in range(10)]
    assert [i.id for i in select_items(items, None)] == [f"i{i}" for i in range(10)]
    from assay.domain import Selection

    assert len(select_items(items, Selection(tags=["b"]))) == 5
    assert [i.id for i in select_items(items, Selection(first=2))] == ["i0", "i1"]
    one = select_items(items, Selection(sample=3, seed=4))
    assert one == select_items(items, Selection(sample=3, seed=4))
    assert [i.id for i in one] == sorted((i.id for i in one), key=lambda s: int(s[1:]))
    ids = sequential_ids(1000)
    assert ids == sorted(ids)
    assert len(set(ids)) == 1000


def test_a_selection_reads_a_stream_only_as_far_as_it_needs() -> None:
    from assay.domain import Selection

    def stream(n: int, limit: int) -> Iterator[PlannedItem]:
        for i in range(n):
            assert i < limit, f"item {i} was read"
            yield PlannedItem(f"i{i}", i, None, None, {}, ["b"] if i % 3 == 0 else [])

    firsts = select_items(stream(100, 3), Selection(first=3))
    assert [i.id for i in firsts] == ["i0", "i1", "i2"]
    tagged = select_items(stream(100, 7), Selection(tags=["b"], first=3))
    assert [i.id for i in tagged] == ["i0", "i3", "i6"]
    sampled = select_items(stream(100, 10), Selection(first=10, sample=4, seed=3))
    assert sampled == select_items(list(stream(10, 10)), Selection(sample=4, seed=3))
    # ids are checked against every item (one past the first chosen is no missing id)
    picked = select_items(stream(100, 100), Selection(ids=["i50", "i1"], first=1))
    assert [i.id for i in picked] == ["i1"]
    with pytest.raises(InvalidInput, match="i100"):
        select_items(stream(100, 100), Selection(ids=["i1", "i100"], first=1))
    drawn = select_items(stream(100, 100), Selection(sample=5, seed=3))
    assert drawn == select_items(list(stream(100, 100)), Selection(sample=5, seed=3))
    assert len({i.id for i in drawn}) == 5


def test_a_sample_read_again_keeps_only_what_it_draws_and_draws_the_same() -> None:
    from assay.domain import Selection

    items = [
        PlannedItem(f"i{i}", i, None, None, {}, ["b"] if i % 3 == 0 else []) for i in range(60)
    ]
    reads: list[int] = []  # how far each read went

    def read() -> Iterator[PlannedItem]:
        reads.append(0)
        for item in items:
            reads[-1] += 1
            yield item

    rng = random.Random(7)
    for _ in range(60):
        selection = Selection(
            ids=rng.choice([None, [f"i{k}" for k in rng.sample(range(60), 20)]]),
            tags=rng.choice([None, ["b"]]),
            first=rng.choice([None, 5, 25, 100]),
            sample=rng.choice([None, 1, 3, 10, 30]),
            seed=rng.randrange(1000),
        )
        unfiltered = selection.ids is None and selection.tags is None
        counted = len(items) if unfiltered and rng.random() < 0.5 else None
        reads.clear()
        assert select_read(read, selection, counted) == select_items(items, selection), selection
        if selection.sample is not None and counted is not None:
            assert len(reads) == 1  # the count given: one read, no further than the last drawn
    # a sample of every item, counted beforehand: one read, stopping at the last drawn item
    reads.clear()
    drawn = select_read(read, Selection(sample=2, seed=1), len(items))
    assert reads == [int(drawn[-1].id[1:]) + 1]
    # without a count: the candidates are counted by a first read
    reads.clear()
    select_read(read, Selection(tags=["b"], sample=2, seed=1))
    assert len(reads) == 2


def test_run_config_validation(tmp_path: Path) -> None:
    cfg = parse_run_config(
        {"dataset": "d", "target": {"type": "function", "function": "m:f"}, "concurrency": 3}
    )
    options = cfg.options(concurrency=7)
    assert options.concurrency == 7
    assert options.max_retries == 5
    with pytest.raises(InvalidInput, match="target"):
        parse_run_config({"dataset": "d"})
    with pytest.raises(InvalidInput, match="concurrenc"):
        parse_run_config({"dataset": "d", "target": {}, "concurrenc": 3})
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: d\ntarget: [unclosed\n")
    with pytest.raises(InvalidInput, match="line"):
        load_run_config(bad)
    with pytest.raises(InvalidInput, match="cannot read"):
        load_run_config(tmp_path / "missing.yaml")


def test_scorer_specs() -> None:
    scorers, recorded = build_scorers(
        ["exact_match", {"name": "contains", "params": {"value": "x"}}]
    )
    assert [s.name for s in scorers] == ["exact_match", "contains"]
    assert recorded[1] == {"name": "contains", "params": {"value": "x"}}
    with pytest.raises(InvalidInput, match="duplicate"):
        build_scorers([exact_match(), "exact_match"])
    with pytest.raises(InvalidInput, match=r"scorers\[0\]"):
        build_scorers([{"name": "exact_match", "weight": 2}])


def test_rebuild_explains_what_cannot_be_resumed_from_storage() -> None:
    from datetime import UTC, datetime

    from assay.domain import Experiment, ExperimentStatus
    from assay.engine import rebuild
    from assay.targets import BuildContext

    def experiment(config: dict[str, Any], scorers: list[dict[str, Any]]) -> Experiment:
        return Experiment.model_construct(
            id="e", config=config, scorers=scorers, external=False,
            status=ExperimentStatus.failed, created_at=datetime.now(UTC),
        )  # fmt: skip

    with pytest.raises(InvalidInput, match="defined in a script or inline"):
        rebuild(experiment({"type": "function", "function": "__main__:task"}, []), BuildContext())
    with pytest.raises(InvalidInput, match="secret headers"):
        rebuild(
            experiment({"type": "http", "url": "http://h/", "secret_headers": ["auth"]}, []),
            BuildContext(),
        )
    with pytest.raises(InvalidInput, match="Python object"):
        rebuild(
            experiment({"type": "http", "url": "http://h/"}, [{"name": "x", "impl": "m:X"}]),
            BuildContext(),
        )
    target, scorers = rebuild(
        experiment({"type": "http", "url": "http://h/"}, [{"name": "exact_match"}]),
        BuildContext(),
    )
    assert target.kind == "http"
    assert scorers == [{"name": "exact_match"}]

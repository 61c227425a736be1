"""Online evaluation on both databases: matching, sampling, settle time, exactly-once scoring
with racing workers, failing scorers, LLM judges through the outbound guard."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import update

from assay.config import Settings
from assay.domain import EvaluatorCreate, ObservationCreate, ScoreCreate, TraceCreate
from assay.domain.online import OnlineEvaluatorRef, OnlineRuleCreate, TraceFilter
from assay.errors import InvalidInput
from assay.scoring import registry
from assay.service.online import OnlineEvaluator, create_rule
from assay.service.online_match import sampled
from assay.store import Store
from assay.store.online_queue import Evaluated, OnlineQueue
from assay.store.tables import online_pending
from tests.fakes.provider import FakeProvider, Fault


def _explodes(**_: Any) -> Any:
    class Explodes:
        name = "explodes"

        def score(self, sample: Any) -> Any:
            raise RuntimeError("the scorer broke")

    return Explodes()


@pytest.fixture(autouse=True)
def _test_scorers(monkeypatch: pytest.MonkeyPatch) -> None:
    """This module's scorers, registered only while its tests run."""
    monkeypatch.setitem(registry._REGISTRY, "test_online_explodes", _explodes)


def _settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"online_settle_s": 0.0, **changes})


def _evaluator(store: Store, name: str = "says-paris", **fields: Any) -> None:
    body = {"kind": "contains", "params": {"value": "Paris"}, **fields}
    store.evaluators.create(EvaluatorCreate(name=name, **body))


def _rule(store: Store, name: str = "capitals", *evaluators: str, **fields: Any) -> str:
    refs = [OnlineEvaluatorRef(evaluator=e) for e in evaluators or ("says-paris",)]
    return create_rule(store, OnlineRuleCreate(name=name, evaluators=refs, **fields)).id


def _trace(i: int, **fields: Any) -> TraceCreate:
    values: dict[str, Any] = {
        "id": f"t-{i}",
        "name": "chat",
        "input": {"q": f"capital {i}"},
        "output": "Paris" if i % 2 == 0 else "Lyon",
        **fields,
    }
    return TraceCreate(**values)


def _evaluate(settings: Settings, store: Store, **kw: Any) -> Any:
    online = OnlineEvaluator(_settings(settings, **kw), store.db, project_ids=[store.project_id])
    return asyncio.run(online.run_once())


def _online_scores(store: Store, trace_id: str) -> list[Any]:
    return store.scores.list(trace_id=trace_id, source="online")


def test_matching_filters_and_sampling(store: Store, settings: Settings) -> None:
    _evaluator(store)
    _rule(
        store,
        "chat-errors",
        filter=TraceFilter(
            name="ch?t*",
            tags=["prod", "eu"],
            metadata={"tier": "pro"},
            model="gpt-x",
            has_error=True,
        ),
    )
    generation = ObservationCreate(type="generation", model="gpt-x", level="ERROR")
    other_model = ObservationCreate(type="generation", model="gpt-y", level="ERROR")
    ok = ObservationCreate(type="generation", model="gpt-x")
    base = {"tags": ["prod", "eu", "x"], "metadata": {"tier": "pro", "n": 1}}
    store.traces.ingest(
        [
            _trace(0, **base, observations=[generation]),  # matches everything
            _trace(1, name="chatbot", **base, observations=[generation]),  # glob: ch?t*
            _trace(2, name="search", **base, observations=[generation]),  # wrong name
            _trace(3, tags=["prod"], metadata={"tier": "pro"}, observations=[generation]),
            _trace(4, tags=["prod", "eu"], metadata={"tier": "free"}, observations=[generation]),
            _trace(5, **base, observations=[other_model]),  # no generation with the model
            _trace(6, **base, observations=[ok]),  # no error
        ]
    )
    report = _evaluate(settings, store)
    assert (report.traces, report.matched, report.scores) == (7, 2, 2)
    scored = {f"t-{i}" for i in range(7) if _online_scores(store, f"t-{i}")}
    assert scored == {"t-0", "t-1"}
    [score] = _online_scores(store, "t-0")
    assert (score.name, score.passed, score.source.value) == ("says-paris", True, "online")
    assert score.metadata["online_rule_id"] == store.online_rules.get("chat-errors").id
    assert score.evaluator_version == 1
    assert _online_scores(store, "t-1")[0].passed is False  # "Lyon"


def test_sampling_is_deterministic_and_nested() -> None:
    ids = [f"trace-{i}" for i in range(4000)]
    tenth = {i for i in ids if sampled(i, 0.1)}
    fifth = {i for i in ids if sampled(i, 0.2)}
    assert tenth <= fifth
    assert 300 < len(tenth) < 500  # about 10 %
    assert {i for i in ids if sampled(i, 0.1)} == tenth
    assert all(sampled(i, 1.0) for i in ids[:50])
    assert not any(sampled(i, 0.0) for i in ids[:50])


def test_sampled_rule_scores_exactly_its_sample(store: Store, settings: Settings) -> None:
    _evaluator(store)
    _rule(store, sample_rate=0.3)
    store.traces.ingest([_trace(i) for i in range(60)])
    report = _evaluate(settings, store)
    expected = {f"t-{i}" for i in range(60) if sampled(f"t-{i}", 0.3)}
    got = {f"t-{i}" for i in range(60) if _online_scores(store, f"t-{i}")}
    assert got == expected
    assert report.scores == len(expected)
    assert 0 < len(expected) < 60


def test_settle_time_and_late_batches(store: Store, settings: Settings) -> None:
    _evaluator(store)
    _rule(store)
    queue = OnlineQueue(store.db)
    store.traces.ingest([_trace(0)])
    waiting = _evaluate(settings, store, online_settle_s=3600)
    assert (waiting.traces, waiting.scores) == (0, 0)  # not settled: left alone
    assert queue.pending(store.project_id) == 1
    assert _online_scores(store, "t-0") == []

    # A batch arriving while the trace is being evaluated keeps it waiting for another look.
    [claim] = queue.claim("w1", settle_s=0, lease_s=60, project_ids=[store.project_id])
    store.traces.ingest([TraceCreate(id="t-0", output="Paris, France")])
    assert queue.release("w1", claim) is False
    assert queue.pending(store.project_id) == 1

    done = _evaluate(settings, store)
    assert (done.traces, done.scores) == (1, 1)
    assert queue.pending(store.project_id) == 0
    # Ingested again after it was scored: looked at again, never scored twice.
    store.traces.ingest([TraceCreate(id="t-0", metadata={"late": True})])
    again = _evaluate(settings, store)
    assert (again.traces, again.scores, again.skipped) == (1, 0, 1)
    assert len(_online_scores(store, "t-0")) == 1


def test_nothing_waits_without_an_enabled_rule(store: Store, settings: Settings) -> None:
    _evaluator(store)
    rule = _rule(store, enabled=False)
    store.traces.ingest([_trace(0)])
    assert OnlineQueue(store.db).pending(store.project_id) == 0
    from assay.domain.online import OnlineRuleUpdate

    store.online_rules.update(rule, OnlineRuleUpdate(enabled=True))
    store.traces.ingest([_trace(1)])
    assert _evaluate(settings, store).scores == 1
    assert _online_scores(store, "t-0") == []  # ingested before the rule was on


def test_two_workers_racing_score_each_trace_once(store: Store, settings: Settings) -> None:
    _evaluator(store)
    _evaluator(store, "short", kind="length", params={}, threshold={"lte": 10})
    _rule(store, "a", "says-paris", "short")
    _rule(store, "b", "says-paris")
    store.traces.ingest([_trace(i) for i in range(40)])
    fast = _settings(settings, online_concurrency=4)
    start = threading.Barrier(2)
    reports: list[Any] = []

    def work(name: str) -> None:
        online = OnlineEvaluator(fast, store.db, worker=name, project_ids=[store.project_id])
        start.wait()
        while True:
            report = asyncio.run(online.run_once(limit=7))
            reports.append(report)
            if not report.traces:
                return

    threads = [threading.Thread(target=work, args=(f"host:1:{n}",)) for n in "xy"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.traces for r in reports) == 40  # every trace taken by exactly one worker
    for i in range(40):
        names = sorted(s.name for s in _online_scores(store, f"t-{i}"))
        assert names == ["says-paris", "says-paris", "short"]
    assert OnlineQueue(store.db).pending(store.project_id) == 0


def test_the_ledger_refuses_a_second_score_from_a_late_worker(store: Store) -> None:
    """Two workers that both evaluated one trace (a lease ran out) store one score."""
    _evaluator(store)
    rule = _rule(store)
    store.traces.ingest([_trace(0)])
    queue = OnlineQueue(store.db)
    [claim] = queue.claim("w1", settle_s=0, lease_s=60, project_ids=[store.project_id])
    score = ScoreCreate(name="says-paris", value=True, passed=True)
    results: list[tuple[int, int]] = []
    start = threading.Barrier(4)

    def write() -> None:
        start.wait()
        done = [Evaluated(rule, "says-paris", [score])]
        results.append(queue.store(store.project_id, "t-0", claim.touched_at, done))

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [(0, 1), (0, 1), (0, 1), (1, 0)]
    assert len(_online_scores(store, "t-0")) == 1


def test_a_dead_workers_claims_are_taken_back(store: Store, settings: Settings) -> None:
    _evaluator(store)
    _rule(store)
    store.traces.ingest([_trace(0)])
    queue = OnlineQueue(store.db)
    import socket

    dead = f"{socket.gethostname()}:999999999:gone"
    assert len(queue.claim(dead, settle_s=0, lease_s=3600, project_ids=[store.project_id])) == 1
    report = _evaluate(settings, store)  # the claim is unexpired, but its process is gone
    assert report.scores == 1
    store.traces.ingest([_trace(1)])
    live = queue.claim("elsewhere:1:x", settle_s=0, lease_s=3600, project_ids=[store.project_id])
    assert len(live) == 1
    assert _evaluate(settings, store).traces == 0  # another host's live claim is respected
    with store.db.write() as conn:  # its lease runs out
        conn.execute(update(online_pending).values(claimed_until=None))
    assert _evaluate(settings, store).scores == 1


def test_failing_scorers_record_errors(store: Store, settings: Settings) -> None:
    store.evaluators.create(EvaluatorCreate(name="explodes", kind="test_online_explodes"))
    _evaluator(store)
    _evaluator(store, "retrieval", params={"value": "doc"})
    create_rule(
        store,
        OnlineRuleCreate(
            name="broken",
            evaluators=[
                OnlineEvaluatorRef(evaluator="explodes"),
                OnlineEvaluatorRef(
                    evaluator="retrieval", mapping={"output": "trace.spans.retrieve.output"}
                ),
                OnlineEvaluatorRef(evaluator="says-paris"),
            ],
        ),
    )
    store.traces.ingest([_trace(0)])
    report = _evaluate(settings, store)
    assert (report.scores, report.errors) == (3, 2)
    found = {s.name: s for s in _online_scores(store, "t-0")}
    assert found["explodes"].numeric_value is None
    assert "the scorer broke" in (found["explodes"].reason or "")
    assert "scorer error: mapping" in (found["retrieval"].reason or "")
    assert "retrieve" in (found["retrieval"].reason or "")
    assert found["says-paris"].passed is True


def test_mapping_reads_spans_and_generations(store: Store, settings: Settings) -> None:
    _evaluator(store)
    _evaluator(store, "grounded", params={"value": "doc-7"})
    create_rule(
        store,
        OnlineRuleCreate(
            name="mapped",
            evaluators=[
                OnlineEvaluatorRef(
                    evaluator="says-paris", mapping={"output": "trace.generation.output.text"}
                ),
                OnlineEvaluatorRef(
                    evaluator="grounded",
                    mapping={"output": 'trace.spans["fetch docs"].output', "expected": "input"},
                ),
            ],
        ),
    )
    store.traces.ingest(
        [
            _trace(
                1,  # the trace's own output says Lyon; its generations say otherwise
                observations=[
                    ObservationCreate(id="s1", name="fetch docs", output=["doc-7", "doc-9"]),
                    ObservationCreate(id="g1", type="generation", output={"text": "Rome"}),
                    ObservationCreate(id="g2", type="generation", output={"text": "Paris"}),
                ],
            )
        ]
    )
    assert _evaluate(settings, store).scores == 2
    found = {s.name: s for s in _online_scores(store, "t-1")}
    assert found["says-paris"].passed is True
    assert found["grounded"].passed is True


def test_llm_judge_rule_cost_apart_and_outbound_guard(store: Store, settings: Settings) -> None:
    with FakeProvider() as fake:
        fake.reply = lambda prompt: (
            '{"reason": "right", "choice": "A"}'
            if "Paris" in prompt
            else '{"reason": "wrong", "choice": "D"}'
        )
        fake.when("poison", Fault(400))
        judge = {
            "rubric": "helpfulness",
            "model": "judge-model",
            "base_url": fake.openai_url,
            "api_key": "k",
            "price": {"input": 1, "output": 1},
        }
        store.evaluators.create(EvaluatorCreate(name="judge", kind="llm_judge", params=judge))
        _rule(store, "judged", "judge")
        poison = _trace(4, input={"q": "poison"})
        store.traces.ingest(
            [_trace(0, observations=[ObservationCreate(cost=0.5)]), _trace(1), poison]
        )
        report = _evaluate(settings, store)
        assert (report.scores, report.errors) == (3, 1)
        [right] = _online_scores(store, "t-0")
        [wrong] = _online_scores(store, "t-1")
        [refused] = _online_scores(store, "t-4")
        assert (right.passed, wrong.passed) == (True, False)
        assert right.cost is not None
        assert right.cost > 0
        assert right.tokens_in
        assert right.cost != 0.5  # the judge's cost, not the trace's generation
        assert store.traces.get("t-0").observations[0].cost == 0.5
        assert (refused.reason or "").startswith("scorer error")
        calls = len(fake.requests)

        # A server with keys may not call its own machine: the judge is refused, not called.
        store.traces.ingest([_trace(6)])
        guarded = _evaluate(settings, store, auth="keys")
        assert (guarded.scores, guarded.errors) == (1, 1)
        [blocked] = _online_scores(store, "t-6")
        assert blocked.numeric_value is None
        assert "scorer error" in (blocked.reason or "")
        assert len(fake.requests) == calls


def test_rule_validation(store: Store) -> None:
    _evaluator(store)

    def refused(field: str, **fields: Any) -> str:
        body: dict[str, Any] = {"name": "r", "evaluators": [{"evaluator": "says-paris"}]}
        body.update(fields)
        with pytest.raises(InvalidInput) as caught:
            create_rule(store, OnlineRuleCreate.model_validate(body))
        assert caught.value.details.get("field") == field, caught.value.message
        return caught.value.message

    assert "between 0 and 1" in refused("sample_rate", sample_rate=1.5)
    assert "between 0 and 1" in refused("sample_rate", sample_rate=-0.1)
    assert "unclosed '['" in refused("filter.name", filter={"name": "chat-[ab"})
    assert "'nope' not found" in refused(
        "evaluators[0].evaluator", evaluators=[{"evaluator": "nope"}]
    )
    assert "version 7 not found" in refused(
        "evaluators[0].evaluator", evaluators=[{"evaluator": "says-paris", "version": 7}]
    )
    assert "listed twice" in refused(
        "evaluators[1].evaluator",
        evaluators=[{"evaluator": "says-paris"}, {"evaluator": "says-paris"}],
    )
    assert "must start with one of" in refused(
        "evaluators[0].mapping.output",
        evaluators=[{"evaluator": "says-paris", "mapping": {"output": "span.output"}}],
    )
    assert "at least one evaluator" in refused("evaluators", evaluators=[])
    assert store.online_rules.list() == []

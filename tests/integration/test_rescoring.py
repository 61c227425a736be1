"""Re-scoring stored experiments, human/API scores, saved evaluators in runs (both databases)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

import assay
from assay.domain import (
    DatasetCreate,
    EvaluatorCreate,
    ItemCreate,
    ScoreCreate,
    ScoreDataType,
    ScoreSource,
    TraceCreate,
)
from assay.engine import RunOptions, plan, resume
from assay.engine.rescore import rescore_results
from assay.errors import InvalidInput, NotFound
from assay.scorers import exact_match, scorer
from assay.store import Store
from assay.targets import FunctionTarget
from tests.fakes.provider import FakeProvider

ITEMS = [
    ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}", context=f"doc {i}", metadata={"n": i})
    for i in range(5)
]


def answer(x: dict[str, str]) -> str:
    """Right on every item but q3."""
    return "wrong" if x["q"] == "q3" else x["q"].upper()


def _dataset(store: Store, name: str = "qa") -> str:
    store.datasets.create(DatasetCreate(name=name))
    store.datasets.add_items(name, ITEMS)
    return name


def _run(store: Store, scorers: list[object] | None = None, **kw: object) -> str:
    prepared = plan(
        store,
        dataset=kw.pop("dataset", None) or _dataset(store),  # type: ignore[arg-type]
        target=FunctionTarget(answer),
        scorers=scorers if scorers is not None else [],
        options=RunOptions(poll_interval=0.05),
        **kw,  # type: ignore[arg-type]
    )
    return asyncio.run(prepared.run()).id


def _scores(store: Store, experiment_id: str) -> dict[str, list[tuple[str, object, object]]]:
    out: dict[str, list[tuple[str, object, object]]] = {}
    for r in store.experiments.iter_results(experiment_id):
        out[r.item_id or ""] = sorted((s.name, s.numeric_value, s.source.value) for s in r.scores)
    return out


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProvider]:
    with FakeProvider() as running:
        yield running


def test_rescore_adds_then_replaces_and_recomputes_passed(store: Store) -> None:
    experiment_id = _run(store)
    rows = list(store.experiments.iter_results(experiment_id))
    assert all(r.scores == [] and r.passed is None for r in rows)

    report = rescore_results(store, experiment_id, ["exact_match"])
    assert (report.results, report.scores, report.errors) == (5, 5, 0)
    assert (report.passed, report.failed) == (4, 1)
    rows = list(store.experiments.iter_results(experiment_id))
    assert [r.passed for r in rows] == [True, True, True, False, True]
    assert all(len(r.scores) == 1 for r in rows)
    first_ids = {r.scores[0].id for r in rows}

    # again, now lenient about case: replaces the five scores, never duplicates
    lenient = {"kind": "exact_match", "params": {"ignore_case": True}, "threshold": {"gte": 1}}
    again = rescore_results(store, experiment_id, [lenient], concurrency=2, batch_size=2)
    assert again.results == 5
    rows = list(store.experiments.iter_results(experiment_id))
    assert all(len(r.scores) == 1 for r in rows)
    assert not first_ids & {r.scores[0].id for r in rows}
    assert store.experiments.summary(experiment_id).scores[0].count == 5

    # a second scorer adds its scores next to the first; passed needs both
    @scorer
    def mentions_doc(context: str, output: str) -> bool:
        return "Q0" in output and context == "doc 0"

    rescore_results(store, experiment_id, [mentions_doc()])
    rows = list(store.experiments.iter_results(experiment_id))
    assert all(len(r.scores) == 2 for r in rows)
    assert [r.passed for r in rows] == [True, False, False, False, False]


def test_rescore_only_completed_results_and_bad_input(store: Store) -> None:
    def flaky(x: dict[str, str]) -> str:
        if x["q"] == "q1":
            raise ValueError("boom")
        return x["q"].upper()

    prepared = plan(
        store,
        dataset=_dataset(store),
        target=FunctionTarget(flaky),
        options=RunOptions(max_retries=0, poll_interval=0.05),
    )
    experiment_id = asyncio.run(prepared.run()).id
    assert rescore_results(store, experiment_id, ["exact_match"]).results == 4
    with pytest.raises(InvalidInput, match="at least one scorer"):
        rescore_results(store, experiment_id, [])
    with pytest.raises(InvalidInput, match="unknown scorer"):
        rescore_results(store, experiment_id, [{"kind": "nope"}])
    with pytest.raises(NotFound):
        rescore_results(store, "no-such-run", ["exact_match"])
    with pytest.raises(InvalidInput, match="distinct name"):
        rescore_results(store, experiment_id, ["exact_match", {"kind": "exact_match"}])


def test_rescore_with_llm_judge_records_judge_cost_apart(
    store: Store, server: FakeProvider
) -> None:
    server.requests.clear()
    server.reply = lambda prompt: (
        '{"reason": "ok", "choice": "C"}'
        if "[RESPONSE]\nwrong" in prompt
        else '{"reason": "ok", "choice": "A"}'
    )
    experiment_id = _run(store)
    judge = {
        "kind": "llm_judge",
        "params": {
            "model": "judge-model",
            "base_url": server.openai_url,
            "api_key": "k",
            "price": {"input": 1, "output": 1},
        },
    }
    report = assay.rescore(experiment_id, [judge], store=store)
    assert (report.results, report.errors, report.passed, report.failed) == (5, 0, 4, 1)
    assert len(server.requests) == 5
    rows = list(store.experiments.iter_results(experiment_id))
    for r in rows:
        [s] = r.scores
        assert s.name == "judge_correctness"
        assert s.cost is not None
        assert s.cost > 0
        assert s.tokens_in is not None
        assert r.cost is None  # a function target has no cost: the judge's is not added to it
    assert report.cost == pytest.approx(sum(r.scores[0].cost or 0 for r in rows))


async def test_blocking_rescore_inside_a_running_loop(store: Store) -> None:
    experiment_id = await asyncio.to_thread(_run, store)
    report = rescore_results(store, experiment_id, ["exact_match"])  # on a helper thread
    assert (report.results, report.passed, report.failed) == (5, 4, 1)
    lenient = {"kind": "exact_match", "params": {"ignore_case": True}, "threshold": {"gte": 1}}
    again = assay.rescore(experiment_id, [lenient], store=store)
    assert (again.results, again.passed, again.failed) == (5, 4, 1)


def test_judge_in_a_run_malformed_reply_does_not_stop_it(
    store: Store, server: FakeProvider
) -> None:
    server.requests.clear()
    server.reply = lambda prompt: "no idea" if "Q2" in prompt else '{"choice": "A", "reason": "r"}'
    judge = assay.engine.llm_judge(model="m", base_url=server.openai_url, api_key="k")
    experiment_id = _run(store, [exact_match(), judge])
    experiment = store.experiments.get(experiment_id)
    assert experiment.status.value == "completed"
    rows = {r.item_id: r for r in store.experiments.iter_results(experiment_id)}
    assert len(rows) == 5
    broken = [s for r in rows.values() for s in r.scores if s.numeric_value is None]
    assert len(broken) == 1
    assert (broken[0].reason or "").startswith("scorer error: no JSON verdict")


def test_human_and_api_scores_on_results_and_traces(store: Store) -> None:
    experiment_id = _run(store)
    result = next(iter(store.experiments.iter_results(experiment_id)))
    human = store.scores.upsert(
        ScoreCreate(name="helpful", value=True, source=ScoreSource.human, reason="fine"),
        result_id=result.id,
    )
    assert human.data_type is ScoreDataType.boolean
    assert (human.numeric_value, human.string_value, human.result_id) == (1.0, "true", result.id)
    again = store.scores.upsert(
        ScoreCreate(name="helpful", value=False, source=ScoreSource.human), result_id=result.id
    )
    assert again.id == human.id  # re-sending replaces
    assert again.numeric_value == 0.0
    assert again.reason is None
    api = store.scores.upsert(
        ScoreCreate(name="helpful", value=0.7, source=ScoreSource.api), result_id=result.id
    )
    assert api.id != human.id  # another source is another score
    listed = store.scores.list(result_id=result.id)
    assert [(s.name, s.source.value) for s in listed] == [("helpful", "human"), ("helpful", "api")]
    assert store.scores.list(experiment_id=experiment_id, source="api") == [api]
    # feedback does not change the run's own verdict
    assert next(iter(store.experiments.iter_results(experiment_id))).passed is None

    store.traces.ingest([TraceCreate(id="trace-1", name="chat")])
    on_trace = store.scores.upsert(
        ScoreCreate(name="tone", value="friendly", source=ScoreSource.api), trace_id="trace-1"
    )
    same = store.scores.upsert(
        ScoreCreate(name="tone", value="curt", source=ScoreSource.api), trace_id="trace-1"
    )
    assert same.id == on_trace.id
    assert (same.string_value, same.data_type) == ("curt", ScoreDataType.categorical)
    assert [s.id for s in store.scores.list(trace_id="trace-1")] == [on_trace.id]
    assert store.scores.get(same.id) == same
    store.scores.delete(same.id)
    with pytest.raises(NotFound):
        store.scores.get(same.id)
    with pytest.raises(NotFound):
        store.scores.delete(same.id)


@pytest.mark.parametrize(
    ("kwargs", "target", "message", "field"),
    [
        ({"name": "x", "value": 1, "source": "evaluator"}, "result", "source must be", "source"),
        ({"name": "x", "value": None, "source": "human"}, "result", "value is required", "value"),
        (
            {"name": "x", "value": "yes", "data_type": "boolean", "source": "human"},
            "result",
            "true or false",
            "value",
        ),
        (
            {"name": "x", "value": True, "data_type": "numeric", "source": "api"},
            "result",
            "needs a number",
            "value",
        ),
        (
            {"name": "x", "value": float("nan"), "source": "api"},
            "result",
            "finite",
            "value",
        ),
        (
            {"name": "x", "value": 3, "data_type": "categorical", "source": "api"},
            "result",
            "text label",
            "value",
        ),
        ({"name": "x", "value": 1, "source": "api"}, "both", "exactly one", "result_id"),
        ({"name": "x", "value": 1, "source": "api"}, "missing-result", "not found", "result_id"),
        ({"name": "x", "value": 1, "source": "api"}, "missing-trace", "not found", "trace_id"),
    ],
)
def test_feedback_validation(
    store: Store, kwargs: dict[str, object], target: str, message: str, field: str
) -> None:
    experiment_id = _run(store)
    result = next(iter(store.experiments.iter_results(experiment_id)))
    where = {
        "result": {"result_id": result.id},
        "both": {"result_id": result.id, "trace_id": "t"},
        "missing-result": {"result_id": "nope"},
        "missing-trace": {"trace_id": "nope"},
    }[target]
    with pytest.raises((InvalidInput, NotFound), match=message) as err:
        store.scores.upsert(ScoreCreate.model_validate(kwargs), **where)
    assert err.value.details["field"] == field
    assert store.scores.list(experiment_id=experiment_id) == []


def test_result_of_another_project_is_not_found(store: Store) -> None:
    experiment_id = _run(store)
    result = next(iter(store.experiments.iter_results(experiment_id)))
    other = Store(store.db, "another-project")
    with pytest.raises(NotFound):
        other.scores.upsert(
            ScoreCreate(name="x", value=1, source=ScoreSource.api), result_id=result.id
        )


def test_dataset_defaults_and_evaluator_ids_apply_to_runs(store: Store) -> None:
    dataset = _dataset(store)
    exact = store.evaluators.create(
        EvaluatorCreate(name="exact", kind="exact_match", threshold={"equals": True})
    )
    store.evaluators.attach(dataset, "exact")
    closeness = store.evaluators.create(
        EvaluatorCreate(
            name="similar", kind="similarity", mapping={"expected_output": "expected_output"}
        )
    )
    experiment_id = _run(store, [], dataset=dataset, evaluators=["similar"])
    experiment = store.experiments.get(experiment_id)
    assert experiment.evaluator_ids == [closeness.id, exact.id]
    rows = list(store.experiments.iter_results(experiment_id))
    for r in rows:
        by_name = {s.name: s for s in r.scores}
        assert set(by_name) == {"exact", "similar"}
        assert (by_name["exact"].evaluator_id, by_name["exact"].evaluator_version) == (exact.id, 1)
        assert by_name["similar"].evaluator_id == closeness.id
    assert [r.passed for r in rows] == [True, True, True, False, True]

    # an explicit scorer of the same name wins over the default; use_defaults=False drops them
    @scorer(name="exact")
    def always(output: str) -> bool:
        return True

    mine = _run(store, [always()], dataset=dataset)
    assert store.experiments.get(mine).evaluator_ids == []
    assert all(r.passed for r in store.experiments.iter_results(mine))
    bare = _run(store, [], dataset=dataset, use_defaults=False)
    assert all(r.scores == [] for r in store.experiments.iter_results(bare))


def test_resume_rebuilds_saved_evaluators(store: Store) -> None:
    dataset = _dataset(store)
    store.evaluators.create(EvaluatorCreate(name="exact", kind="exact_match"))
    store.evaluators.attach(dataset, "exact")
    prepared = plan(store, dataset=dataset, target=FunctionTarget(answer))
    experiment_id = prepared.experiment.id  # planned, not run
    # a newer version attached later does not change what this experiment resumes with
    store.evaluators.create(
        EvaluatorCreate(name="exact", kind="exact_match", params={"ignore_case": True})
    )
    again = resume(store, experiment_id, target=FunctionTarget(answer))
    asyncio.run(again.run())
    rows = list(store.experiments.iter_results(experiment_id))
    assert all(r.scores[0].evaluator_version == 1 for r in rows)
    assert json.dumps([r.passed for r in rows]) == "[true, true, true, false, true]"


def test_concurrent_feedback_on_one_trace_keeps_one_score(store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store.traces.ingest([TraceCreate(id="busy", name="chat")])

    def send(i: int) -> str:
        data = ScoreCreate(name="rating", value=float(i), source=ScoreSource.api)
        return store.scores.upsert(data, trace_id="busy").id

    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(send, range(12)))
    [kept] = store.scores.list(trace_id="busy")
    assert ids == {kept.id}


def test_completed_results_are_read_a_page_at_a_time_by_id_range(store: Store) -> None:
    """Pages of a run's completed results go by the id range, in key order: read through the
    run's status index, each page sorted every completed result of the run again."""
    run = assay.evaluate(
        [{"input": {"q": f"q{i}"}, "expected_output": f"Q{i}"} for i in range(7)],
        answer,
        [exact_match()],
        store=store,
        quiet=True,
    )
    read = list(store.scores.completed_results(run.id, batch_size=3))  # three pages
    assert [r.result_id for r in read] == sorted(r.id for r in run.rows)
    assert [r.output for r in read] == [answer({"q": f"q{i}"}) for i in range(7)]
    if store.db.dialect != "sqlite":
        return
    from assay.store.scores import completed_page
    from assay.store.tables import results

    query = select(results.c.id).where(*completed_page(run.id, read[-1].result_id)).limit(3)
    with store.db.read() as conn:
        compiled = query.compile(dialect=conn.dialect)
        values = compiled.construct_params({"after": ""})
        params = tuple(values[k] for k in compiled.positiontup or ())
        plan = [r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)]
    assert plan == ["SEARCH results USING INDEX sqlite_autoindex_results_1 (id>? AND id<?)"]

"""Every record a repository returns matches its table, and passes full validation.

Repositories build records with ``model_construct`` (no validation, and unknown keys are
dropped), so nothing at run time notices a column that no record shows, or a field that no
column fills any more. This test does, on both databases: it stores one of everything through
the repositories, reads it back through their list and get methods, and

- validates every record again, strictly, from its Python form and from its JSON (wire) form;
- compares each record's fields with its table's columns: a column of ``store/tables.py``
  must be a field of its record or be listed in ``INTERNAL`` below (with why), and a field
  must be a column or be listed in ``DERIVED``; every table has a record or is listed in
  ``NO_RECORD``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from pydantic import BaseModel

import assay
from assay.domain import (
    DatasetCreate,
    DatasetRunCreate,
    EndpointCreate,
    EvaluatorCreate,
    ItemCreate,
    ItemUpdate,
    ObservationCreate,
    PromptCreate,
    RunItemCreate,
    ScoreCreate,
    TraceCreate,
)
from assay.domain.online import OnlineRuleCreate
from assay.scorers import exact_match
from assay.store import Store
from assay.store.projects import get_project
from assay.store.tables import metadata

#: Columns no record shows, per table, and why. A new column goes into its record, or here.
INTERNAL: dict[str, dict[str, str]] = {
    "api_keys": {"secret_hash": "a secret: only its hash is kept, and never shown"},
    "datasets": {"next_sort_order": "the position the next added item takes"},
    "dataset_items": {
        "row_id": "the row of one version of an item (items are versioned append-only)",
        "valid_from": "shown as Item.version",
        "valid_to": "the version that replaced or deleted this row",
        "input_key": "an index for matching uploaded outputs to items by input",
    },
    "experiments": {
        "cancel_requested": "the run queue: a cancel for the worker running it",
        "worker_id": "the run queue: the process running it (shown as status interrupted)",
        "heartbeat_at": "the run queue: when that process last reported",
        "lease": "the run queue: the fencing token of the runner that holds the run",
        "active_s": "summed into ExperimentSummary.duration_s",
        "resumed_at": "summed into ExperimentSummary.duration_s",
        "plan_size": "counted into ExperimentSummary.total while results are unwritten",
        "unwritten_base": "derives the rows of planned results not yet written",
        "data_revision": "invalidates the cached run frames when results or scores change",
    },
    "scores": {
        "project_id": "the scope of every query",
        "experiment_id": "denormalised from the result, for per-run aggregates",
        "updated_at": "when a re-score replaced it",
    },
    "prompts": {"model_config": "shown as Prompt.model_config_ (a name pydantic reserves)"},
    "endpoints": {"secret_headers": "secrets: only their names are shown"},
    "connections": {"api_key": "a secret: shown as has_api_key"},
    "observations": {"project_id": "the scope of every query (the trace's project)"},
}

#: Fields that are no column of the record's table: joined, computed or nested.
DERIVED: dict[str, set[str]] = {
    "dataset_items": {"version"},
    "results": {"scores"},
    "prompts": {"labels", "model_config_"},
    "endpoints": {"secret_header_names"},
    "connections": {"has_api_key"},
    "traces": {
        "observations",
        # a listed trace's totals, added up from its observations and scores
        "observation_count",
        "tokens_in",
        "tokens_out",
        "cost",
        "duration_ms",
        "error",
        "scores",
    },
}

#: Tables no repository returns records of, and where their rows show.
NO_RECORD: dict[str, str] = {
    "dataset_policies": "a dataset's regression policy, read through assay.analysis",
    "dataset_evaluators": "links: Evaluators.defaults lists a dataset's evaluators",
    "run_frames": "cached columns of a finished run for the analysis",
    "run_frame_parts": "the parts of a run_frames snapshot on PostgreSQL",
    "run_aggregates": "a stopped run's ExperimentSummary and Histograms, stored as JSON",
    "response_cache": "cached target responses (CachedResponse), never rendered",
    "prompt_labels": "shown as Prompt.labels",
    "online_pending": "traces waiting for online rules: a work queue, shown nowhere",
    "online_evaluations": "which (rule, evaluator, trace) was scored: the scores show it",
    "upload_scoring": "uploaded results waiting for evaluators: counted as DatasetRun.scoring",
}


def _answer(x: dict[str, str]) -> str:
    if x["q"] == "q2":
        raise RuntimeError("no answer for q2")
    return x["q"].upper()


def _all(records: Iterable[BaseModel]) -> list[BaseModel]:
    return list(records)


@pytest.fixture
def stored(store: Store) -> dict[str, list[BaseModel]]:
    """One of everything, read back through the repositories: records by table."""
    store.keys.create("ci")
    revoked = store.keys.create("old")
    store.keys.revoke(revoked.key.id)

    dataset = store.datasets.create(
        DatasetCreate(name="qa", description="questions", tags=["t"], metadata={"m": 1})
    )
    store.datasets.add_items(
        "qa",
        [
            ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}", tags=["x"], context="c")
            for i in range(4)
        ],
    )
    first = next(store.datasets.iter_items("qa"))
    store.datasets.update_item("qa", first.id, ItemUpdate(metadata={"edited": True}))

    evaluator = store.evaluators.create(
        EvaluatorCreate(name="mentions", kind="contains", params={"value": "Q"})
    )
    store.evaluators.attach("qa", evaluator.id)
    rule = store.online_rules.create(
        OnlineRuleCreate.model_validate(
            {
                "name": "online",
                "filter": {"name": "answer*", "metadata": {"n": 1}, "has_error": False},
                "sample_rate": 0.5,
                "evaluators": [{"evaluator": "mentions", "version": 1, "mapping": {"x": "input"}}],
            }
        )
    )

    run = assay.evaluate("qa", _answer, [exact_match()], name="base", store=store, quiet=True)
    result = next(store.experiments.iter_results(run.id))
    store.scores.upsert(ScoreCreate(name="human", value=True, source="human"), result_id=result.id)

    uploaded = store.dataset_runs.create(DatasetRunCreate(dataset_name="qa", name="up", tag="v1"))
    store.traces.ingest(
        [
            TraceCreate(
                id="trace-1",
                name="answer",
                input={"q": "q0"},
                output="Q0",
                tags=["prod"],
                session_id="s",
                user_id="u",
                observations=[
                    ObservationCreate(
                        id="gen-1",
                        type="generation",
                        name="llm",
                        model="gpt-4o",
                        model_parameters={"temperature": 0},
                        tokens_in=3,
                        tokens_out=1,
                        cost=0.001,
                    )
                ],
            )
        ]
    )
    store.dataset_runs.add_items(
        uploaded.id,
        [
            RunItemCreate(
                dataset_item_id=first.id,
                output="Q0",
                trace_id="trace-1",
                observation_id="gen-1",
                latency_ms=5.0,
                cost=0.001,
                tokens_in=3,
                tokens_out=1,
            )
        ],
    )
    store.scores.upsert(ScoreCreate(name="rating", value=0.5, source="api"), trace_id="trace-1")

    store.prompts.create(
        PromptCreate(
            name="support",
            template="Answer {{q}}",
            model_config={"model": "gpt-4o"},  # type: ignore[call-arg]
            labels=["production"],
        )
    )
    store.prompts.create(PromptCreate(name="support", messages=[{"role": "user", "content": "x"}]))
    store.prompts.set_labels("support", 2, ["staging"])
    endpoint = store.endpoints.create(
        EndpointCreate(
            name="bot",
            url="https://bot.example.com/answer",
            headers={"X-Team": "qa"},
            secret_headers={"Authorization": "Bearer s"},
            body_template='{"q": "{{input.q}}"}',
            output_path="answer",
        )
    )
    store.connections.create("openai", "openai", base_url="https://api.example.com", api_key="k")

    experiments = store.experiments
    results = experiments.results(run.id)
    return {
        "projects": [get_project(store.db, store.project_id)],
        "api_keys": _all(store.keys.list(include_revoked=True)),
        "audit_log": store.audit.list().items,
        "datasets": [store.datasets.get(dataset.id), *store.datasets.list().items],
        "dataset_versions": _all(store.datasets.versions("qa")),
        "dataset_items": [
            store.datasets.get_item("qa", first.id),
            store.datasets.get_item("qa", first.id, version=1),
            *store.datasets.list_items("qa").items,
            *store.datasets.iter_items("qa", version=1),
        ],
        "evaluators": [
            store.evaluators.get(evaluator.id),
            *store.evaluators.list(),
            *store.evaluators.versions("mentions"),
            *store.evaluators.defaults("qa"),
        ],
        "experiments": [
            experiments.get(run.id),
            experiments.get(uploaded.id),
            *experiments.list().items,
        ],
        "results": [
            *results.results,
            *experiments.iter_results(uploaded.id),
            *experiments.results_for_items(run.id, [first.id]),
            *(r for _, r in experiments.item_history("qa", first.id)),
        ],
        "scores": [
            store.scores.get(result.scores[0].id),
            *store.scores.list(experiment_id=run.id),
            *store.scores.list(trace_id="trace-1"),
        ],
        "prompts": [
            store.prompts.get("support"),
            store.prompts.get("support", label="production"),
            *store.prompts.versions("support"),
            *store.prompts.list().items,
        ],
        "endpoints": [store.endpoints.get(endpoint.id), *store.endpoints.list().items],
        "connections": [store.connections.get("openai"), *store.connections.list()],
        "traces": [store.traces.get("trace-1"), *store.traces.list().items],
        "online_rules": [store.online_rules.get(rule.id), *store.online_rules.list()],
        "observations": _all(store.traces.get("trace-1").observations),
        # shapes of their own over several tables: validated, not compared with one table
        "views": [
            results,
            experiments.results(uploaded.id, summary=False),
            store.dataset_runs.get(uploaded.id),
            *store.dataset_runs.list("qa").items,
            experiments.summary(run.id),
            *store.traces.sessions().items,
        ],
    }


def _fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_every_record_passes_strict_validation(stored: dict[str, list[BaseModel]]) -> None:
    """What ``model_construct`` built is what validation would build, in Python and on the
    wire: no value of the wrong type, no field missing."""
    for table, records in stored.items():
        assert records, f"nothing read back for {table}"
        for record in records:
            cls = type(record)
            where = f"{cls.__name__} from {table}"
            missing = _fields(cls) - record.model_fields_set - _defaults(cls)
            assert not missing, f"{where} was built without {sorted(missing)}"
            python = record.model_dump(by_alias=True)
            assert cls.model_validate(python, strict=True) == record, where
            wire = record.model_dump_json(by_alias=True)
            assert cls.model_validate_json(wire) == record, where


def _defaults(cls: type[BaseModel]) -> set[str]:
    return {name for name, f in cls.model_fields.items() if not f.is_required()}


def test_every_column_is_a_field_or_internal(stored: dict[str, list[BaseModel]]) -> None:
    """A column added to ``store/tables.py`` shows in its record, or is listed as internal."""
    tables = metadata.tables
    unlisted = set(tables) - set(stored) - set(NO_RECORD)
    assert not unlisted, (
        f"table(s) {sorted(unlisted)} have no record read back here: read one in the "
        "`stored` fixture, or list the table in NO_RECORD with where its rows show"
    )
    assert not set(NO_RECORD) & set(stored), "a table is both read and listed in NO_RECORD"
    for table, records in stored.items():
        if table == "views":
            continue
        columns = {c.name for c in tables[table].c}
        internal = set(INTERNAL.get(table, {}))
        derived = DERIVED.get(table, set())
        assert internal <= columns, (
            f"INTERNAL lists {sorted(internal - columns)} for {table}, which has no such column"
        )
        kinds = {type(r) for r in records}
        for cls in kinds:
            fields = _fields(cls)
            hidden = columns - internal - fields
            assert not hidden, (
                f"column(s) {sorted(hidden)} of table {table} are not fields of "
                f"{cls.__name__}: add them to the record (and to the repository that builds "
                f"it), or list them in INTERNAL with why"
            )
            shown = internal & fields
            assert not shown, f"{cls.__name__} shows {sorted(shown)}, listed INTERNAL for {table}"
            unbacked = fields - columns - derived
            assert not unbacked, (
                f"field(s) {sorted(unbacked)} of {cls.__name__} are no column of table {table}: "
                "restore the column, drop the field, or list it in DERIVED"
            )
        stale = derived - set().union(*(_fields(cls) for cls in kinds))
        assert not stale, f"DERIVED lists {sorted(stale)} for {table}, which no record has"


def test_results_are_filled_from_every_column(stored: dict[str, list[BaseModel]]) -> None:
    """The result record carries every column of a result row, values included."""
    results: list[Any] = stored["results"]
    uploaded = [r for r in results if r.observation_id is not None]
    assert uploaded, "the uploaded result kept its observation id"
    assert uploaded[0].trace_id == "trace-1"
    executed = [r for r in results if r.experiment_id != uploaded[0].experiment_id]
    assert all(r.trace_id for r in executed)
    assert any(r.error for r in executed)
    assert any(r.error is None for r in executed)
    assert {s.source.value for r in executed for s in r.scores} >= {"evaluator", "human"}

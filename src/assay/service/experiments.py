"""Creating, starting and resuming experiments.

Two ways to run one. A *queued* experiment (``POST /experiments/``, the dashboard's run form)
is created from an API config and started: a worker (:mod:`assay.service.worker`) takes it from
the database. An *in-process* one (``assay run``, ``assay runs resume``, ``evaluate()``) is
prepared here and run by the caller, which shows its progress. Either way the target and
scorers are built before anything is stored, so a bad config leaves no experiment behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from assay.config import Settings
from assay.domain import (
    Experiment,
    ExperimentCreate,
    JsonObject,
    RunSettings,
    Selection,
    SequentialSettings,
)
from assay.engine import Prepared, RunConfig, RunOptions, plan, rebuild, resume
from assay.engine.sequential import KEY as SEQUENTIAL
from assay.engine.sequential import plan_record
from assay.errors import InvalidInput, NotFound
from assay.service.targets import (
    build_context,
    build_scorer_list,
    build_target,
    hash_for,
    pin,
    target_from_spec,
    with_options,
)
from assay.store import Store
from assay.store.queue import RunQueue, Started
from assay.store.staged_list import StagedList
from assay.targets import Target


class ExperimentBody(RunSettings):
    """An experiment to create (``pending`` until ``start/``), with the run settings every
    surface takes (concurrency, trials, max_retries, backoff, timeout, rpm, tpm, max_cost…)."""

    name: str = Field(min_length=1, max_length=300)
    dataset_id: str = Field(min_length=1, description="Dataset id or name.")
    dataset_version: int | None = Field(default=None, ge=0, le=2**31 - 1)
    description: str | None = None
    config: JsonObject | None = Field(
        default=None,
        description="A target spec: {type: prompt, prompt: NAME, label or version, model, "
        "temperature, max_tokens, provider, ...}, {type: endpoint, endpoint: NAME or id} or "
        "{type: http, url, ...}; or the older prompt form (prompt_name, prompt_label or "
        "prompt_version, model, temperature, provider) or endpoint form (endpoint_id, or an "
        "inline endpoint). "
        "Without it the experiment runs nothing: its results await outputs uploaded with "
        "POST /dataset-runs/{id}/items/ (no evaluators, scorers or trials then).",
    )
    evaluator_ids: list[str] | None = Field(
        default=None, description="Saved evaluators; default: those attached to the dataset."
    )
    scorers: list[JsonObject] = Field(default_factory=list, description="Inline scorer specs.")
    selection: Selection | None = None
    run_tag: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: JsonObject = Field(default_factory=dict)


def _evaluator_id(store: Store, index: int, ref: str) -> str:
    try:
        return store.evaluators.get(ref).id
    except NotFound as exc:
        raise NotFound(exc.message, field=f"evaluator_ids[{index}]") from None


def _awaiting_uploads(store: Store, body: ExperimentBody) -> Experiment:
    """An experiment without ``config``: external, one pending result per item for the
    uploaded outputs to fill."""
    refused = [
        ("evaluator_ids", bool(body.evaluator_ids)),
        ("scorers", bool(body.scorers)),
        ("trials", body.trials != 1),
    ]
    for field, given in refused:
        if given:
            raise InvalidInput(
                f"{field}: needs a config; an experiment without one runs nothing and its "
                "outputs are uploaded (score them with POST /scores/ or `assay score`)",
                field=field,
            )
    data = ExperimentCreate(
        name=body.name,
        dataset=body.dataset_id,
        dataset_version=body.dataset_version,
        description=body.description,
        selection=body.selection if body.selection and not body.selection.is_empty() else None,
        concurrency=1,
        run_tag=body.run_tag,
        tags=body.tags,
        metadata=body.metadata,
    )
    experiment, _ = store.experiments.create(data, external=True)
    return experiment


def create_planned(store: Store, settings: Settings, body: ExperimentBody) -> Experiment:
    """Validate the config, evaluators and dataset, pin the versions, and plan every result
    (the experiment row alone: the worker inserts each result as it finishes)."""
    given = body.config
    if given is None:
        if body.sequential is not None:
            raise InvalidInput(
                "sequential: needs a config; an experiment without one runs nothing",
                field="sequential",
            )
        return _awaiting_uploads(store, body)
    metadata = dict(body.metadata)
    if body.sequential is not None:
        recorded = plan_record(store, body.sequential, store.datasets.get(body.dataset_id).id)
        metadata[SEQUENTIAL] = recorded
        body = body.model_copy(
            update={"sequential": body.sequential.model_copy(update={"seed": recorded["seed"]})}
        )
    config = with_options(pin(store, settings, given), body)
    if body.evaluator_ids is None:
        evaluator_ids = [e.id for e in store.evaluators.defaults(body.dataset_id)]
    else:
        evaluator_ids = [_evaluator_id(store, i, ref) for i, ref in enumerate(body.evaluator_ids)]
    target = build_target(store, settings, config)
    scorers = build_scorer_list(store, evaluator_ids, body.scorers)
    digest = hash_for(target, scorers)
    data = ExperimentCreate(
        name=body.name,
        dataset=body.dataset_id,
        dataset_version=body.dataset_version,
        description=body.description,
        config=config,
        scorers=body.scorers,
        evaluator_ids=evaluator_ids,
        selection=body.selection if body.selection and not body.selection.is_empty() else None,
        concurrency=body.concurrency,
        trials=body.trials,
        run_tag=body.run_tag,
        tags=body.tags,
        metadata=metadata,
    )
    return store.experiments.create_queued(data, config_hash=digest)


def start(store: Store, settings: Settings, experiment: Experiment) -> Started:
    """Hand a pending experiment to the workers (its target's URL checked again first)."""
    if not experiment.external:  # an external one is refused by the queue, naming why
        build_target(store, settings, experiment.config)  # the outbound check, fresh DNS
    return RunQueue(store.db).start(store.project_id, experiment.id)


def launch(store: Store, settings: Settings, body: ExperimentBody) -> Experiment:
    """Create and start at once (the dashboard's run form)."""
    experiment = create_planned(store, settings, body)
    start(store, settings, experiment)
    return experiment


def launch_pair(
    store: Store, settings: Settings, first: ExperimentBody, second: ExperimentBody
) -> tuple[Experiment, Experiment]:
    """Create two linked experiments, both or neither, then start both."""
    a = create_planned(store, settings, first)
    try:
        b = create_planned(store, settings, second)
    except Exception:
        store.experiments.delete(a.id)
        raise
    for experiment in (a, b):
        start(store, settings, experiment)
    return a, b


#: The longest run notes accepted, in characters.
NOTES_MAX = 100_000


def set_notes(store: Store, ref: str, notes: str | None) -> Experiment:
    """Replace an experiment's free-text notes (any status); None clears them."""
    if notes is not None and len(notes) > NOTES_MAX:
        raise InvalidInput(
            f"notes: at most {NOTES_MAX:,} characters (got {len(notes):,})", field="notes"
        )
    experiment = store.experiments.get(ref)
    RunQueue(store.db).set_notes(store.project_id, experiment.id, notes)
    return store.experiments.get(experiment.id)


def prepare(
    store: Store,
    target: Target,
    scorers: Sequence[Any],
    options: RunOptions,
    *,
    resume_id: str | None = None,
    dataset: str | None = None,
    name: str | None = None,
    description: str | None = None,
    dataset_version: int | None = None,
    selection: Selection | None = None,
    trials: int = 1,
    metadata: dict[str, Any] | None = None,
    tags: Sequence[str] = (),
    run_tag: str | None = None,
    evaluators: Sequence[str] = (),
    use_defaults: bool = True,
    sequential: SequentialSettings | None = None,
    staged: StagedList | None = None,
) -> Prepared:
    """An experiment to run in this process: ``resume_id`` continued (refused if the target
    or scorers changed), else a new one over ``dataset`` (or a ``staged`` list's), written as
    its run starts."""
    if resume_id is not None:
        return resume(store, resume_id, target=target, scorers=scorers, options=options)
    if dataset is None:
        raise InvalidInput("a dataset is required unless resuming", field="dataset")
    return plan(
        store,
        dataset=dataset,
        target=target,
        scorers=scorers,
        name=name,
        description=description,
        dataset_version=dataset_version,
        selection=selection,
        trials=trials,
        metadata=metadata,
        tags=tags,
        run_tag=run_tag,
        options=options,
        defer=True,
        evaluators=evaluators,
        use_defaults=use_defaults,
        sequential=sequential,
        staged=staged,
    )


def from_config(
    store: Store,
    settings: Settings,
    config: RunConfig,
    base_dir: Path,
    *,
    name: str | None = None,
    run_tag: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    retry_errors: bool = False,
    resume_id: str | None = None,
) -> Prepared:
    """``assay run CONFIG``: the config's experiment (or ``resume_id`` with its target), the
    arguments overriding the config's name, run tag and run settings (``overrides``:
    concurrency, timeout, max_retries…, validated like the file)."""
    config = config.with_settings(**(overrides or {}))
    target = target_from_spec(store, settings, config.target, base_dir)
    return prepare(
        store,
        target,
        config.scorers,
        config.options(retry_errors=retry_errors),
        resume_id=resume_id,
        dataset=config.dataset,
        name=name or config.name,
        description=config.description,
        dataset_version=config.dataset_version,
        selection=config.select,
        trials=config.trials,
        metadata=config.metadata,
        tags=config.tags,
        run_tag=run_tag or config.run_tag,
        evaluators=config.evaluators,
        use_defaults=config.default_evaluators,
        sequential=config.sequential,
    )


def resume_stored(
    store: Store,
    settings: Settings,
    ref: str,
    *,
    retry_errors: bool = False,
    concurrency: int | None = None,
    max_retries: int | None = None,
    timeout: float | None = None,
    writer: str = "auto",
) -> Prepared:
    """Continue a run with the target and scorers it stored (``assay runs resume``)."""
    if writer not in ("thread", "process", "auto"):
        raise InvalidInput("--writer must be thread, process or auto", field="writer")
    experiment = store.experiments.get(ref)
    target, scorers = rebuild(experiment, build_context(store, settings))
    options = RunOptions(
        concurrency=concurrency or experiment.concurrency, retry_errors=retry_errors, writer=writer
    )
    if max_retries is not None:
        options.max_retries = max_retries
    if timeout is not None:
        options.timeout = timeout
    return resume(store, experiment.id, target=target, scorers=scorers, options=options)

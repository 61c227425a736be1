"""Creating and starting experiments: what ``POST /experiments/`` and the dashboard's run
form share. The target and scorers are built once here, so a bad config is refused before
anything is stored."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from assay.config import Settings
from assay.domain import Experiment, ExperimentCreate, JsonObject, Selection
from assay.errors import InvalidInput, NotFound
from assay.server.resolve import build_scorer_list, build_target, hash_for, pin
from assay.store import Store
from assay.store.queue import RunQueue, Started


class ExperimentBody(BaseModel):
    """An experiment to create (``pending`` until ``start/``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300)
    dataset_id: str = Field(min_length=1, description="Dataset id or name.")
    dataset_version: int | None = Field(default=None, ge=0, le=2**31 - 1)
    description: str | None = None
    config: JsonObject | None = Field(
        default=None,
        description="Prompt form (prompt_name, prompt_label or prompt_version, model, "
        "temperature, provider) or endpoint form (endpoint_id, or an inline endpoint). "
        "Without it the experiment runs nothing: its results await outputs uploaded with "
        "POST /dataset-runs/{id}/items/ (no evaluators, scorers or trials then).",
    )
    evaluator_ids: list[str] | None = Field(
        default=None, description="Saved evaluators; default: those attached to the dataset."
    )
    scorers: list[JsonObject] = Field(default_factory=list, description="Inline scorer specs.")
    selection: Selection | None = None
    trials: int = Field(default=1, ge=1, le=1000)
    concurrency: int = Field(default=10, ge=1, le=1000)
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
    """Validate the config, evaluators and dataset, pin the versions, and plan every result."""
    if body.config is None:
        return _awaiting_uploads(store, body)
    config = pin(store, body.config)
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
        metadata=body.metadata,
    )
    experiment, _ = store.experiments.create(data, config_hash=digest)
    return experiment


def start(store: Store, settings: Settings, experiment: Experiment) -> Started:
    if not experiment.external:  # an external one is refused by the queue, naming why
        build_target(store, settings, experiment.config)  # the outbound check, fresh DNS
    return RunQueue(store.db).start(store.project_id, experiment.id)

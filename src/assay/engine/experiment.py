"""Plan a new experiment or pick one up again, ready for a :class:`Runner`.

These are the functions the SDK, the CLI and the API's worker share: they validate everything
before writing anything, so bad input leaves no experiment behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assay.domain import (
    Evaluator,
    Experiment,
    ExperimentCreate,
    Selection,
    SequentialSettings,
)
from assay.engine.options import RunOptions
from assay.engine.runner import Runner, Work
from assay.engine.sequential import KEY as SEQUENTIAL
from assay.engine.sequential import plan_record
from assay.engine.spec import build_scorers, check_resumable, config_hash
from assay.errors import InvalidInput
from assay.interpreter import relaxed_gc
from assay.scoring import Scorer, build
from assay.store import Store
from assay.store.experiment_plans import PlannedRun
from assay.store.staged_list import StagedList
from assay.targets import BuildContext, Target, create_target


@dataclass
class Prepared:
    experiment: Experiment
    work: Work | None
    runner: Runner
    planned: PlannedRun | None = None

    async def run(self) -> Experiment:
        if self.planned is not None:
            planned, self.planned = self.planned, None
            return await self.runner.run(self.experiment.id, planned=planned)
        return await self.runner.run(self.experiment.id, self.work)


def plan(
    store: Store,
    *,
    dataset: str,
    target: Target,
    scorers: Sequence[Any] = (),
    name: str | None = None,
    description: str | None = None,
    dataset_version: int | None = None,
    selection: Selection | None = None,
    trials: int = 1,
    metadata: dict[str, Any] | None = None,
    tags: Sequence[str] = (),
    run_tag: str | None = None,
    options: RunOptions | None = None,
    defer: bool = False,
    evaluators: Sequence[str] = (),
    use_defaults: bool = True,
    sequential: SequentialSettings | None = None,
    staged: StagedList | None = None,
) -> Prepared:
    """Create the experiment and its result rows; return it with a runner for it.

    With ``defer`` the rows are validated and built but written by the runner as it starts
    (one transaction, before any result), so a caller that runs at once saves a round of
    waiting; nothing is stored unless ``run()`` is called.

    Saved ``evaluators`` (ids or names) and, with ``use_defaults``, the dataset's default
    evaluators score every result too; their scores carry the evaluator id and version. An
    evaluator named like one of ``scorers`` is left out (the explicit scorer wins).

    ``sequential`` stops the run once its comparison with a baseline is settled
    (:mod:`assay.engine.sequential`); its settings and seed go into the run's metadata.

    A ``staged`` list (:mod:`assay.store.staged_list`) is the dataset, written with the plan.
    """
    options = options or RunOptions()
    built, recorded = build_scorers(scorers)
    spec = target.spec()
    found = staged.dataset if staged is not None else store.datasets.get(dataset)
    saved = [store.evaluators.get(ref) for ref in evaluators]
    if use_defaults and staged is None:  # a dataset not written yet has no defaults
        chosen = {e.name for e in saved}
        saved += [e for e in store.evaluators.defaults(found.id) if e.name not in chosen]
    extra = saved_scorers(saved, taken={s.name for s in built})
    built += [scorer for scorer, _ in extra]
    evaluator_ids = [e.id for _, e in extra]
    if sequential is not None:
        metadata = {**(metadata or {}), SEQUENTIAL: plan_record(store, sequential, found.id)}
    if name is None:
        what = str(spec.get("function") or spec.get("model") or spec.get("url") or target.kind)
        name = f"{what.rpartition(':')[2] or what} on {found.name}"
    data = ExperimentCreate(
        name=name,
        dataset=dataset,
        dataset_version=dataset_version,
        description=description,
        config=spec,
        scorers=recorded,
        evaluator_ids=evaluator_ids,
        selection=selection if selection is not None and not selection.is_empty() else None,
        concurrency=options.concurrency,
        trials=trials,
        run_tag=run_tag,
        tags=list(tags),
        metadata=metadata or {},
    )
    runner = Runner(store, target, built, options)
    runner.prewarm(found.item_count * trials)  # a writer process starts while we plan
    try:
        with relaxed_gc():
            planned = store.experiments.prepare(
                data,
                config_hash=config_hash(spec, recorded, evaluator_ids),
                stream=True,
                staged=staged,
            )
            if not defer:
                planned.commit()
    except BaseException:
        runner.discard()
        raise
    return Prepared(planned.experiment, planned.work, runner, planned if defer else None)


def saved_scorers(saved: Sequence[Evaluator], *, taken: set[str]) -> list[tuple[Scorer, Evaluator]]:
    """Scorers of saved evaluators, skipping names already ``taken`` and repeats."""
    out: list[tuple[Scorer, Evaluator]] = []
    names = set(taken)
    for evaluator in saved:
        if evaluator.name in names:
            continue
        try:
            scorer = build(evaluator)
        except InvalidInput as exc:
            raise InvalidInput(
                f"evaluator {evaluator.name!r} v{evaluator.version}: {exc.message}",
                field="evaluators",
            ) from None
        names.add(evaluator.name)
        out.append((scorer, evaluator))
    return out


def resume(
    store: Store,
    ref: str,
    *,
    target: Target,
    scorers: Sequence[Any] = (),
    options: RunOptions | None = None,
) -> Prepared:
    """Continue an experiment with the same target and scorers (refused if they changed)."""
    experiment = store.experiments.get(ref)
    built, recorded = build_scorers(scorers)
    check_resumable(experiment, config_hash(target.spec(), recorded, experiment.evaluator_ids))
    saved = [store.evaluators.get(evaluator_id) for evaluator_id in experiment.evaluator_ids]
    built += [scorer for scorer, _ in saved_scorers(saved, taken={s.name for s in built})]
    return Prepared(experiment, None, Runner(store, target, built, options or RunOptions()))


def rebuild(experiment: Experiment, context: BuildContext) -> tuple[Target, list[Any]]:
    """The target and scorer specs an experiment was run with, rebuilt from what it stored."""
    if experiment.external or not experiment.config.get("type"):
        raise InvalidInput(
            f"experiment {experiment.id} has no target configuration to run", field="config"
        )
    config = dict(experiment.config)
    function = str(config.get("function") or "")
    if function.startswith("__main__:") or "<" in function:
        raise InvalidInput(
            f"target function {function!r} was defined in a script or inline and cannot be "
            "imported again; resume from Python: assay.evaluate(None, task, scorers, resume=ID)",
            field="config",
        )
    if config.get("secret_headers"):
        raise InvalidInput(
            "the HTTP target used secret headers, which are never stored; resume from Python "
            "with the same target: assay.evaluate(None, target, scorers, resume=ID)",
            field="config",
        )
    target = create_target(config, context)
    scorers: list[Any] = []
    for spec in experiment.scorers:
        if "impl" in spec:
            raise InvalidInput(
                f"scorer {spec.get('name')!r} was given as a Python object; resume this run "
                "from Python: assay.evaluate(None, task, scorers, resume=ID)",
                field="scorers",
            )
        scorers.append(spec)
    return target, scorers

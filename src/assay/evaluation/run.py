"""The entry points: ``evaluate`` / ``evaluate_async`` (run a task over data in this
process, score it, store it and, with a server, upload it) and ``rescore``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from assay.config import Settings
from assay.domain import RunSettings, Selection, SequentialSettings
from assay.engine import Prepared, RunOptions, build_scorers
from assay.engine.rescore import RescoreReport
from assay.errors import InvalidInput, from_validation
from assay.evaluation.datasets import Data, dataset_ref
from assay.evaluation.result import EvaluationResult, report, report_interrupted
from assay.evaluation.uploads import report_upload, upload
from assay.remote import connect, fetch, local_ids, mirror
from assay.service import executors, experiments, scoring
from assay.service.targets import as_target
from assay.store import Store, open_store
from assay.sync import run_sync
from assay.targets import Target


def run_settings(**values: Any) -> RunSettings:
    """``evaluate()``'s run options validated like a run config's (errors name the field)."""
    try:
        return RunSettings(**values)
    except ValidationError as exc:
        raise from_validation(exc) from None


async def evaluate_async(
    data: Data | None,
    task: Callable[..., Any] | Target | dict[str, Any],
    scorers: Sequence[Any] = (),
    *,
    name: str | None = None,
    description: str | None = None,
    concurrency: int = 10,
    trials: int = 1,
    metadata: dict[str, Any] | None = None,
    run_tag: str | None = None,
    resume: str | None = None,
    retry_errors: bool = False,
    max_retries: int = 5,
    backoff: float | Mapping[str, float] | None = None,
    timeout: float | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    adaptive_concurrency: bool = True,
    max_cost: float | None = None,
    cache: bool = False,
    ids: list[str] | None = None,
    tags: list[str] | None = None,
    first: int | None = None,
    sample: int | None = None,
    seed: int | None = None,
    dataset_version: int | None = None,
    options: RunOptions | None = None,
    store: Store | None = None,
    settings: Settings | None = None,
    server: Any = None,
    evaluators: Sequence[str] | None = None,
    quiet: bool | None = None,
    dataset: str | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    sequential: Mapping[str, Any] | SequentialSettings | None = None,
) -> EvaluationResult:
    """Run ``task`` over ``data`` and score it; see :func:`evaluate`."""
    settings = settings or Settings()
    executors.check(executor, ray_address)
    run = run_settings(
        concurrency=concurrency,
        trials=trials,
        max_retries=max_retries,
        timeout=timeout,
        rpm=rpm,
        tpm=tpm,
        adaptive_concurrency=adaptive_concurrency,
        max_cost=max_cost,
        cache=cache,
        sequential=sequential,
        **({} if backoff is None else {"backoff": backoff}),
    )
    remote = server is not None or bool(os.environ.get("ASSAY_URL"))
    if evaluators is not None and not remote:
        raise InvalidInput(
            "evaluators= names saved evaluators on a server: give server= (or set ASSAY_URL)",
            field="evaluators",
        )
    owns_store = store is None
    store = store or open_store(settings)
    client: Any = None
    owns_client = False
    try:
        if remote:
            client, owns_client = connect(server)
        if client is not None and isinstance(data, str) and resume is None:
            # The dataset is the server's: read it (paged), run it here, upload against it.
            source = await asyncio.to_thread(fetch, client, data, dataset_version)
            data = await asyncio.to_thread(mirror, store, source, client.config.base_url)
            dataset_version = None  # the mirror holds exactly that version
            name = name or f"{getattr(task, '__name__', None) or 'evaluate'} on {source.name}"
            if ids:
                ids = local_ids(store, data, ids)
        prepared = _prepare(
            store,
            settings,
            data,
            task,
            scorers,
            name=name,
            description=description,
            trials=run.trials,
            metadata=metadata,
            run_tag=run_tag,
            resume_id=resume,
            selection=Selection(ids=ids, tags=tags, first=first, sample=sample, seed=seed),
            dataset_version=dataset_version,
            dataset_name=dataset,
            options=options or RunOptions.from_settings(run, retry_errors=retry_errors),
            sequential=run.sequential,
        )
        prepared = executors.place(prepared, executor, ray_address)
        try:
            experiment = await prepared.run()
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # Ctrl+C's cancellation landed where the run stops gracefully and returns: it
                # still ends here, as an interruption (asyncio.run then raises KeyboardInterrupt).
                raise asyncio.CancelledError
        except (asyncio.CancelledError, KeyboardInterrupt):
            report_interrupted(prepared.experiment.id, quiet)
            raise
        uploaded = None
        if client is not None:
            uploaded = await asyncio.to_thread(
                upload, store, experiment, settings, client, evaluators=evaluators
            )
            report_upload(uploaded)
    except BaseException:
        if owns_store:
            store.close()
        raise
    finally:
        if owns_client:
            client.close()
    result = EvaluationResult(store, experiment, owns_store=owns_store)
    result.upload = uploaded
    report(result, quiet=quiet)
    return result


def _prepare(
    store: Store,
    settings: Settings,
    data: Data | None,
    task: Any,
    scorers: Sequence[Any],
    *,
    name: str | None,
    description: str | None,
    trials: int,
    metadata: dict[str, Any] | None,
    run_tag: str | None,
    resume_id: str | None,
    selection: Selection,
    dataset_version: int | None,
    options: RunOptions,
    dataset_name: str | None = None,
    sequential: SequentialSettings | None = None,
) -> Prepared:
    target = as_target(task, store, settings)
    if resume_id is not None:
        return experiments.prepare(store, target, scorers, options, resume_id=resume_id)
    if data is None:
        raise InvalidInput("data is required unless resuming", field="data")
    build_scorers(scorers)  # fail on a bad scorer before saving anything
    # a new list's dataset is written with the plan, as the calls start
    dataset, version, created, staged = dataset_ref(
        data, store, name, task, dataset_name, stage=True
    )
    if version is not None and dataset_version is None:
        dataset_version = version  # the version holding exactly the inline list
    try:
        return experiments.prepare(
            store,
            target,
            scorers,
            options,
            dataset=dataset,
            staged=staged,
            name=name,
            description=description,
            dataset_version=dataset_version,
            selection=selection,
            trials=trials,
            metadata=metadata,
            run_tag=run_tag,
            sequential=sequential,
        )
    except BaseException:
        if created:  # the dataset was saved for this call only
            store.datasets.delete(dataset)
        raise


def evaluate(
    data: Data | None,
    task: Callable[..., Any] | Target | dict[str, Any],
    scorers: Sequence[Any] = (),
    **kwargs: Any,
) -> EvaluationResult:
    """Run ``task`` over every item of ``data``, score the outputs, store everything.

    ``data`` is a dataset name or id, a ``Dataset``, or a list of ``{"input": ...,
    "expected_output": ...}`` dicts (saved content-addressed: the same list runs the same
    dataset version; ``dataset=NAME`` names the dataset it is saved into). ``task`` is a
    function (sync or async) taking the item input, a target, or a target spec such as
    ``{"type": "prompt", "prompt": "support-answer", "label": "production"}`` (a stored
    prompt), ``{"type": "endpoint", "endpoint": "my-bot"}`` (a saved endpoint) or
    ``{"type": "http", "url": ...}`` (see docs/targets.md). ``resume=ID``
    continues an experiment (``data`` may then be None). Keyword options: ``name``,
    ``description``, ``metadata``, ``run_tag`` (a baseline label such as ``main`` that gates
    look up), ``retry_errors``; the run settings of a run config, validated the same way
    (:class:`~assay.domain.RunSettings`): ``concurrency``, ``trials``, ``max_retries``,
    ``backoff`` (the wait before retrying: a base in seconds, doubling up to 60 s, or
    ``{"base": 2, "max": 60}``; full jitter), ``timeout``, ``rpm``, ``tpm``,
    ``adaptive_concurrency``, ``max_cost``, ``cache``; ``sequential`` (``{"baseline": RUN,
    "metric": "pass_rate", "margin": 0.02, "alpha": 0.05}``: items run in a seeded random
    order and the run stops once its comparison with the baseline is settled, see
    docs/statistics.md); item
    selection (``ids``, ``tags``, ``first``, ``sample``, ``seed``), ``dataset_version``,
    ``options`` (a full RunOptions), ``store``, ``settings``, ``quiet`` (no error report on
    stderr; also ``ASSAY_QUIET=1``). ``executor="ray"`` runs the items as shards on a Ray
    cluster (``ray_address``, else ``RAY_ADDRESS``, else a local Ray; the ``ray`` extra; see
    docs/ray.md), with the same results as ``"local"`` (this process, the default).

    With ``server`` (an ``assay.Assay`` client or the server's URL; ``ASSAY_URL`` does the
    same) a dataset name or id in ``data`` is the server's dataset: its items are read over
    the API (at ``dataset_version``, default the current one) and run here; the outputs and
    the local scorers' scores are uploaded as a run of that dataset (journaled, so an outage
    loses nothing), then the server applies ``evaluators`` (saved evaluators by name or id;
    default the dataset's attached ones, applied in the background by the server's workers;
    ``[]`` for none) with its own keys. The result's
    ``url`` is the run's page on the dashboard, and it is printed.

    Items that error are reported on stderr (how many, the first few) and in
    ``result.errors`` / ``result.summary.errors``; when every item failed an
    :class:`~assay.errors.AllItemsFailedWarning` is issued too.
    """
    # Inside a running loop (a notebook, an async app) it runs on a helper thread.
    return run_sync(evaluate_async(data, task, scorers, **kwargs), name="assay-evaluate")


def rescore(
    run: str | EvaluationResult,
    scorers: Sequence[Any] = (),
    *,
    evaluators: Sequence[str] = (),
    concurrency: int = 8,
    store: Store | None = None,
    settings: Settings | None = None,
) -> RescoreReport:
    """Score a stored experiment again without running its target.

    ``run`` is an experiment id or name, or an :class:`EvaluationResult`. ``scorers`` are
    scorer objects, names or specs (``{"kind": "llm_judge", "params": {...}}``);
    ``evaluators`` are saved evaluators by id or name. Scores of the same name replace the old
    ones, and each result's ``passed`` is recomputed.
    """
    if isinstance(run, EvaluationResult):
        store = store or run.store
        run = run.id
    owns_store = store is None
    store = store or open_store(settings or Settings())
    try:
        return scoring.rescore_experiment(
            store, run, scorers, evaluators=evaluators, concurrency=concurrency
        )
    finally:
        if owns_store:
            store.close()

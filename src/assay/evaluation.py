"""The SDK entry point: ``assay.evaluate(data, task, scorers=[...])``.

Runs an experiment in this process against the embedded store (or the configured database) and
returns an :class:`EvaluationResult`. ``evaluate`` works from plain scripts and from code that
already runs an event loop (it then runs on a helper thread); ``await evaluate_async(...)`` is
the native form for async code.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from assay.config import Settings
from assay.domain import (
    Dataset,
    DatasetCreate,
    Experiment,
    ExperimentSummary,
    ItemCreate,
    ResultDetail,
    ScorerStats,
    Selection,
)
from assay.engine import Prepared, RunOptions, build_scorers, plan, resume
from assay.engine.rescore import RescoreReport, rescore_async
from assay.errors import InvalidInput, from_validation
from assay.store import Store, open_store
from assay.targets import BuildContext, FunctionTarget, PriceTable, Target, create_target

if TYPE_CHECKING:
    from assay.client.journal import Outcome

Data = str | Dataset | Sequence[dict[str, Any] | ItemCreate]


class EvaluationResult:
    """A finished (or stopped) experiment: ``.id``, ``.summary``, per-item ``.rows``."""

    def __init__(self, store: Store, experiment: Experiment, *, owns_store: bool) -> None:
        self._store = store
        self._owns_store = owns_store
        self.experiment = experiment
        self._summary: ExperimentSummary | None = None
        self._rows: list[ResultDetail] | None = None
        self.upload: Outcome | None = None  # what reached the server, when one is configured

    @property
    def id(self) -> str:
        return self.experiment.id

    @property
    def name(self) -> str:
        return self.experiment.name

    @property
    def status(self) -> str:
        return self.experiment.status.value

    @property
    def summary(self) -> ExperimentSummary:
        if self._summary is None:
            self._summary = self._store.experiments.summary(self.id)
        return self._summary

    @property
    def store(self) -> Store:
        """The store the experiment was written to."""
        return self._store

    @property
    def pass_rate(self) -> float | None:
        """Passed over completed results with a verdict (None when nothing was judged)."""
        return self.summary.pass_rate

    @property
    def scores(self) -> dict[str, ScorerStats]:
        """Per scorer: ``.mean``, ``.pass_rate``, ``.passed``, ``.failed`` …"""
        return {s.name: s for s in self.summary.scores}

    @property
    def rows(self) -> list[ResultDetail]:
        """Every result with its item and scores, in dataset order (loaded on first use)."""
        if self._rows is None:
            self._rows = list(self._store.experiments.iter_results(self.id))
        return self._rows

    def __iter__(self) -> Iterator[ResultDetail]:
        return iter(self.rows)

    def __len__(self) -> int:
        return self.summary.total

    def to_dicts(self) -> list[dict[str, Any]]:
        """One flat record per result; each score becomes a ``score.<name>`` column."""
        out = []
        for r in self.rows:
            record = r.export_record()
            del record["scores"]
            for name, value in r.score_values().items():
                record[f"score.{name}"] = value
            out.append(record)
        return out

    def to_pandas(self) -> Any:
        """A pandas DataFrame of :meth:`to_dicts` (``pip install 'assay[pandas]'``)."""
        try:
            import pandas as pd
        except ImportError:
            raise InvalidInput(
                "to_pandas() needs pandas: pip install 'assay[pandas]'", field="pandas"
            ) from None
        return pd.DataFrame(self.to_dicts())

    def close(self) -> None:
        if self._owns_store:
            self._store.close()

    def __repr__(self) -> str:
        s = self.summary
        rate = f", pass rate {s.pass_rate:.1%}" if s.pass_rate is not None else ""
        return (
            f"<EvaluationResult {self.id} {self.name!r} {self.status}: "
            f"{s.completed}/{s.total} completed, {s.failed} failed{rate}>"
        )


def as_target(task: Any, store: Store, settings: Settings) -> Target:
    """A target from a callable, a target object, or a spec dict (``{"type": ...}``)."""
    if isinstance(task, dict):
        prices = PriceTable.load(settings.price_table)
        return create_target(task, BuildContext(store=store, prices=prices))
    if hasattr(task, "spec") and hasattr(task, "call") and hasattr(task, "kind"):
        return task  # type: ignore[no-any-return]
    if callable(task):
        return FunctionTarget(task)
    raise InvalidInput(
        "task must be a function, a target, or a target spec like {'type': 'http', ...}",
        field="task",
    )


def _items(rows: Sequence[Any]) -> list[ItemCreate]:
    items = []
    for number, row in enumerate(rows, start=1):
        if isinstance(row, ItemCreate):
            items.append(row)
            continue
        if not isinstance(row, dict) or "input" not in row:
            raise InvalidInput(
                f"row {number}: each item needs an 'input' (got {type(row).__name__})",
                field="input",
                row=number,
            )
        try:
            items.append(ItemCreate(**row))
        except ValidationError as exc:
            raise from_validation(exc, row=number) from None
    if not items:
        raise InvalidInput("data holds no items", field="data")
    return items


def _dataset_ref(data: Data, store: Store, name: str | None) -> str:
    if isinstance(data, str):
        return store.datasets.get(data).id
    if isinstance(data, Dataset):
        return data.id
    if isinstance(data, Sequence):
        items = _items(data)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        dataset_name = f"{name or 'evaluate'} {stamp}"
        change = store.datasets.import_items(
            dataset_name,
            enumerate(items, start=1),
            create=DatasetCreate(name=dataset_name, description="Saved by assay.evaluate()"),
        )
        return change.dataset_id
    raise InvalidInput(
        "data must be a dataset name or id, a Dataset, or a list of items", field="data"
    )


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
    timeout: float | None = None,
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
) -> EvaluationResult:
    """Run ``task`` over ``data`` and score it; see :func:`evaluate`."""
    settings = settings or Settings()
    owns_store = store is None
    store = store or open_store(settings)
    try:
        prepared = _prepare(
            store,
            settings,
            data,
            task,
            scorers,
            name=name,
            description=description,
            trials=trials,
            metadata=metadata,
            run_tag=run_tag,
            resume_id=resume,
            selection=Selection(ids=ids, tags=tags, first=first, sample=sample, seed=seed),
            dataset_version=dataset_version,
            options=options
            or RunOptions(
                concurrency=concurrency,
                max_retries=max_retries,
                timeout=timeout,
                max_cost=max_cost,
                cache=cache,
                retry_errors=retry_errors,
            ),
        )
        experiment = await prepared.run()
        uploaded = None
        if server is not None or os.environ.get("ASSAY_URL"):
            uploaded = await asyncio.to_thread(upload, store, experiment, settings, server)
    except BaseException:
        if owns_store:
            store.close()
        raise
    result = EvaluationResult(store, experiment, owns_store=owns_store)
    result.upload = uploaded
    return result


def upload(store: Store, experiment: Experiment, settings: Settings, server: Any) -> Outcome:
    """Journal the finished results under ``ASSAY_HOME/uploads`` and send them to the server
    (``server``, else the client configured by ``ASSAY_URL`` and the key variables). What an
    outage leaves unsent goes with the next upload or ``assay.client.journal.replay``."""
    from assay.client import Assay
    from assay.client.journal import Journal, journal_path, replay, result_record, send

    client = server if server is not None else Assay()
    directory = settings.home.expanduser() / "uploads"
    replay(client, directory)  # earlier runs' leftovers first
    path = journal_path(directory, experiment.id)
    if not path.exists():
        dataset = store.datasets.get(str(experiment.dataset_id))
        items = [
            {"input": i.input, "expected_output": i.expected_output}
            for i in store.datasets.iter_items(dataset.id)
        ]
        header = {
            "run_id": experiment.id,
            "dataset_name": dataset.name,
            "name": experiment.name,
            "description": experiment.description,
            "metadata": experiment.metadata,
            "dataset_items": items,
        }
        finished = ("completed", "failed")
        rows = store.experiments.iter_results(experiment.id)
        Journal.create(path, header, (result_record(r) for r in rows if r.status in finished))
    return send(client, Journal(path))


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
) -> Prepared:
    if options.concurrency < 1:
        raise InvalidInput("concurrency must be at least 1", field="concurrency")
    if trials < 1:
        raise InvalidInput("trials must be at least 1", field="trials")
    target = as_target(task, store, settings)
    if resume_id is not None:
        return resume(store, resume_id, target=target, scorers=scorers, options=options)
    if data is None:
        raise InvalidInput("data is required unless resuming", field="data")
    build_scorers(scorers)  # fail on a bad scorer before saving anything
    dataset = _dataset_ref(data, store, name)
    try:
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
            run_tag=run_tag,
            options=options,
            defer=True,
        )
    except BaseException:
        if not isinstance(data, str | Dataset):  # the dataset was saved for this call only
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
    "expected_output": ...}`` dicts (saved as a new dataset). ``task`` is a function (sync or
    async) taking the item input, a target, or a target spec. ``resume=ID`` continues an
    experiment (``data`` may then be None). Keyword options: ``name``, ``description``,
    ``concurrency``, ``trials``, ``metadata``, ``run_tag`` (a baseline label such as
    ``main`` that gates look up), ``retry_errors``, ``max_retries``, ``timeout``,
    ``max_cost``, ``cache``, item selection (``ids``, ``tags``, ``first``, ``sample``,
    ``seed``), ``dataset_version``, ``options`` (a full RunOptions), ``store``, ``settings``.
    """
    coro = evaluate_async(data, task, scorers, **kwargs)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside a running loop (a notebook, an async app): run on a helper thread.
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="assay-evaluate")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: EvaluationResult = box["result"]
    return result


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
        store = store or run._store
        run = run.id
    owns_store = store is None
    store = store or open_store(settings or Settings())
    coro = rescore_async(store, run, scorers, evaluators=evaluators, concurrency=concurrency)
    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["result"] = asyncio.run(coro)
            except BaseException as exc:
                box["error"] = exc

        thread = threading.Thread(target=target, name="assay-rescore")
        thread.start()
        thread.join()
        if "error" in box:
            raise box["error"]
        report: RescoreReport = box["result"]
        return report
    finally:
        if owns_store:
            store.close()

"""The SDK entry point: ``assay.evaluate(data, task, scorers=[...])``.

Runs an experiment in this process against the embedded store (or the configured database) and
returns an :class:`EvaluationResult`. ``evaluate`` works from plain scripts and from code that
already runs an event loop (it then runs on a helper thread); ``await evaluate_async(...)`` is
the native form for async code.
"""

from __future__ import annotations

import asyncio
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from assay.config import Settings
from assay.domain import (
    Dataset,
    DatasetCreate,
    Experiment,
    ExperimentSummary,
    ItemCreate,
    Result,
    RunSettings,
    ScorerStats,
    Selection,
    SequentialSettings,
    TraceDetail,
    item_content_hash,
    list_content_hash,
)
from assay.engine import Prepared, RunOptions, build_scorers
from assay.engine.rescore import RescoreReport
from assay.errors import AllItemsFailedWarning, InvalidInput, NotFound, from_validation
from assay.remote import connect, fetch, item_map, local_ids, mirror, server_source
from assay.service import executors, experiments, scoring
from assay.service.targets import as_target
from assay.store import Store, open_store
from assay.sync import run_sync
from assay.targets import Target

if TYPE_CHECKING:
    from assay.client.journal import Outcome

Data = str | Dataset | Sequence[dict[str, Any] | ItemCreate]
#: Errors the printed report of :func:`evaluate` quotes (``result.errors`` holds them all).
REPORTED_ERRORS = 3


@dataclass(frozen=True)
class ItemError:
    """One item that errored: its target call failed, or a scorer could not score it."""

    item_id: str | None
    repetition: int
    input: Any
    error: str
    scorer: str | None = None  # the scorer that errored; None when the target call failed

    def __str__(self) -> str:
        text = repr(self.input)
        text = text if len(text) <= 60 else text[:57] + "..."
        where = f"scorer {self.scorer}" if self.scorer else "task"
        return f"item {self.item_id} {text}: {where}: {self.error}"


class EvaluationResult:
    """A finished (or stopped) experiment: ``.id``, ``.summary``, per-item ``.rows``."""

    def __init__(self, store: Store, experiment: Experiment, *, owns_store: bool) -> None:
        self._store = store
        self._owns_store = owns_store
        self.experiment = experiment
        self._summary: ExperimentSummary | None = None
        self._rows: list[Result] | None = None
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
    def url(self) -> str | None:
        """The run's page on the server's dashboard (None without a server)."""
        return self.upload.url if self.upload is not None else None

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
    def rows(self) -> list[Result]:
        """Every result with its item and scores, in dataset order (loaded on first use)."""
        if self._rows is None:
            self._rows = list(self._store.experiments.iter_results(self.id))
        return self._rows

    @property
    def errors(self) -> list[ItemError]:
        """Every item that errored (failed target calls, then scorer errors), in dataset
        order; ``summary.errors`` counts them without loading the results."""
        if not self.summary.errors:
            return []
        return list(_item_errors(self._store.experiments.iter_results(self.id)))

    def __iter__(self) -> Iterator[Result]:
        return iter(self.rows)

    def __len__(self) -> int:
        return self.summary.total

    def to_dicts(self) -> list[dict[str, Any]]:
        """One flat record per result; each score becomes a ``score.<name>`` column."""
        out = []
        for r in self.rows:
            record: dict[str, Any] = dict(r.export_record())
            for name, value in record.pop("scores").items():
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


def _item_errors(rows: Iterator[Result]) -> Iterator[ItemError]:
    for r in rows:
        if r.status.value == "failed":
            yield ItemError(r.item_id, r.repetition, r.input, r.error or "failed")
        for s in r.scores:
            if s.numeric_value is None and s.string_value is None:
                error = s.reason or "scorer error"
                yield ItemError(r.item_id, r.repetition, r.input, error, s.name)


_INTERNAL = (os.path.dirname(__file__) + os.sep, os.path.dirname(asyncio.__file__) + os.sep)


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside Assay and asyncio: the user's call of
    ``evaluate()`` (through ``asyncio.run``) or ``await evaluate_async()``."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    return level


def _quiet(quiet: bool | None) -> bool:
    if quiet is not None:
        return quiet
    return os.environ.get("ASSAY_QUIET", "").strip().lower() in ("1", "true", "yes", "on")


def report(result: EvaluationResult, *, quiet: bool | None = None) -> None:
    """After a run: say on stderr how many items errored, quoting the first few, and warn
    (:class:`~assay.errors.AllItemsFailedWarning`) when every item failed. Silent when nothing
    errored, and with ``quiet=True`` or ``ASSAY_QUIET=1`` (the warning is still issued)."""
    s = result.summary
    every_failed = s.total > 0 and s.failed == s.total
    if every_failed:
        first = next(_item_errors(result.store.experiments.iter_results(result.id)), None)
        warnings.warn(
            f"every item of run {result.id} ({result.name!r}) failed"
            + (f"; first: {first.error}" if first else ""),
            AllItemsFailedWarning,
            stacklevel=_caller_level(),
        )
    if not s.errors or _quiet(quiet):
        return
    lines = [
        f"assay: run {result.id} ({result.name!r}) {result.status}: "
        f"{s.failed} of {s.total} items failed"
        + (f", {s.scorer_errors} scores could not be computed" if s.scorer_errors else "")
    ]
    rows = result.store.experiments.iter_results(result.id)
    for shown, error in enumerate(_item_errors(rows), start=1):
        if shown > REPORTED_ERRORS:
            lines.append(f"  ... {s.errors - REPORTED_ERRORS} more: result.errors, or "
                         f"assay runs show {result.id}")  # fmt: skip
            break
        lines.append(f"  {error}")
    if every_failed:
        lines.append("assay: warning: every item failed; the task itself is probably broken")
    print("\n".join(lines), file=sys.stderr, flush=True)


def _interrupted(experiment_id: str, quiet: bool | None) -> None:
    if not _quiet(quiet):
        print(
            f"assay: interrupted; run {experiment_id} keeps its finished results. Resume it "
            f"with assay.evaluate(None, task, scorers, resume={experiment_id!r}) "
            f"(or: assay runs resume {experiment_id}, for an importable task)",
            file=sys.stderr,
            flush=True,
        )


def _item(row: Any, number: int) -> ItemCreate:
    if isinstance(row, ItemCreate):
        return row
    if not isinstance(row, dict) or "input" not in row:
        raise InvalidInput(
            f"row {number}: each item needs an 'input' (got {type(row).__name__})",
            field="input",
            row=number,
        )
    try:
        return ItemCreate(**row)
    except ValidationError as exc:
        raise from_validation(exc, row=number) from None


class _Items(Sequence[ItemCreate]):
    """The caller's rows read as items, each validated when it is read: a long list is never
    held a second time as records (``evaluate()`` reads it once to hash it, then only the
    items a dataset does not hold yet)."""

    def __init__(self, rows: Sequence[Any]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, position: Any) -> Any:
        if isinstance(position, slice):
            return [_item(self._rows[k], k + 1) for k in range(*position.indices(len(self)))]
        return _item(self._rows[position], position + 1)

    def __iter__(self) -> Iterator[ItemCreate]:
        for number, row in enumerate(self._rows, start=1):
            yield _item(row, number)


#: Marks the datasets evaluate() saves inline lists into (the only ones it changes by itself).
SAVED_BY = "assay.evaluate"


def _content_message(digest: str) -> str:
    return f"{SAVED_BY} content sha256:{digest}"


def _dataset_ref(
    data: Data, store: Store, name: str | None, task: Any = None, dataset: str | None = None
) -> tuple[str, int | None, bool]:
    """The dataset to run (id, version to pin or None for current, created by this call).

    An inline list is content-addressed: a list whose items (input, expected output, context,
    metadata, tags, in any order) were saved before runs that same dataset version, so its
    items keep their ids. Otherwise the list is saved into the dataset ``dataset``, else one
    named after ``name`` or the task function: a changed list becomes a new version of it,
    unchanged items keep their ids.
    """
    if isinstance(data, str):
        return store.datasets.get(data).id, None, False
    if isinstance(data, Dataset):
        return data.id, None, False
    if isinstance(data, Sequence):
        if not data:
            raise InvalidInput("data holds no items", field="data")
        items = _Items(data)
        keys = [  # every row validated before anything is saved
            item_content_hash(i.input, i.expected_output, i.context, i.metadata, i.tags)
            for i in items
        ]
        message = _content_message(list_content_hash(keys))
        if dataset is None:
            found = store.datasets.find_content(message)
            if found is not None:
                return found[0], found[1], False
        target = dataset or _inline_name(store, name, task, message[-8:])
        change, created = store.datasets.sync_items(
            target,
            items,
            create=DatasetCreate(
                name=target,
                description="Saved by assay.evaluate() from an inline list of items",
                metadata={"saved_by": SAVED_BY},
            ),
            message=message,
            keys=keys,
        )
        return change.dataset_id, change.version, created
    raise InvalidInput(
        "data must be a dataset name or id, a Dataset, or a list of items", field="data"
    )


def _inline_name(store: Store, name: str | None, task: Any, suffix: str) -> str:
    """``name``, else the task function's name, else ``evaluate``; with the content hash's
    start appended when a dataset of that name exists that evaluate() did not save."""
    base = name or getattr(task, "__name__", None) or "evaluate"
    base = base if base != "<lambda>" else "evaluate"
    try:
        existing = store.datasets.get(base)
    except NotFound:
        return base
    return base if existing.metadata.get("saved_by") == SAVED_BY else f"{base} {suffix}"


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
            _interrupted(prepared.experiment.id, quiet)
            raise
        uploaded = None
        if client is not None:
            uploaded = await asyncio.to_thread(
                upload, store, experiment, settings, client, evaluators=evaluators
            )
            _report(uploaded)
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


def upload(
    store: Store,
    experiment: Experiment,
    settings: Settings,
    server: Any,
    *,
    evaluators: Sequence[str] | None = None,
) -> Outcome:
    """Journal the finished results (with their scores) under ``ASSAY_HOME/uploads`` and send
    them to the server (``server``: a client or a base URL, else the client configured by
    ``ASSAY_URL`` and the key variables), then have the server apply its saved
    ``evaluators`` (None: the dataset's attached ones, queued with the outputs and applied
    by the server's workers; named ones: one scoring call once every batch is stored;
    evaluators named like a local scorer are left out). What an outage leaves unsent goes
    with the next upload or ``assay.client.journal.replay``."""
    from assay.client.journal import Journal, journal_path, replay, result_record, send

    client, owns_client = connect(server)
    try:
        directory = settings.home.expanduser() / "uploads"
        replay(client, directory)  # earlier runs' leftovers first
        path = journal_path(directory, experiment.id)
        if not path.exists():
            dataset = store.datasets.get(str(experiment.dataset_id))
            source = server_source(dataset)
            header: dict[str, Any] = {
                "run_id": experiment.id,
                "name": experiment.name,
                "description": experiment.description,
                "metadata": experiment.metadata,
            }
            if source is not None:  # the server's own dataset, at the version that ran
                header |= {
                    "dataset_name": source["dataset_id"],
                    "dataset_version": source["version"],
                    "server_dataset": True,
                }
            else:
                items = [
                    {"input": i.input, "expected_output": i.expected_output}
                    for i in store.datasets.iter_items(
                        dataset.id, version=experiment.dataset_version
                    )
                ]
                header |= {"dataset_name": dataset.name, "dataset_items": items}
            local = [s.name for s in store.experiments.summary(experiment.id).scores]
            if evaluators is None:  # the attached evaluators, applied by the server's workers
                header["queue_scoring"] = True
            elif evaluators:
                header["score"] = {"evaluators": list(evaluators), "skip": local}
            to_server = item_map(store, dataset)
            finished = ("completed", "failed")
            rows = store.experiments.iter_results(experiment.id)
            records = (
                result_record(r, to_server.get(r.item_id or ""), _trace(store, r.trace_id))
                for r in rows
                if r.status in finished
            )
            Journal.create(path, header, records)
        return send(client, Journal(path))
    finally:
        if owns_client:
            client.close()


def _trace(store: Store, trace_id: str | None) -> TraceDetail | None:
    """A result's trace (sent with it), if it has one."""
    if trace_id is None:
        return None
    try:
        return store.traces.get(trace_id)
    except NotFound:
        return None


def _report(outcome: Outcome) -> None:
    """Say where the run is on the server (and what is still to send)."""
    if outcome.done:
        print(f"assay: view the run at {outcome.url}")
    else:
        print(
            f"assay: the run will be at {outcome.url}; the upload stopped ({outcome.error}), "
            f"{outcome.pending} results wait in the journal and go with the next upload"
        )


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
    dataset, version, created = _dataset_ref(data, store, name, task, dataset_name)
    if version is not None and dataset_version is None:
        dataset_version = version  # the version holding exactly the inline list
    try:
        return experiments.prepare(
            store,
            target,
            scorers,
            options,
            dataset=dataset,
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
        store = store or run._store
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

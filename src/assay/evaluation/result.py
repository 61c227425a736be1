"""What :func:`~assay.evaluation.evaluate` returns and says: :class:`EvaluationResult`, the
items that errored (:class:`ItemError`) and the report printed after a run."""

from __future__ import annotations

import asyncio
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.domain import Experiment, ExperimentSummary, Result, ScorerStats
from assay.errors import AllItemsFailedWarning, InvalidInput
from assay.store import Store

if TYPE_CHECKING:
    from assay.client.journal import Outcome

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


# The frames a warning skips: Assay's package (this module's parent directory) and asyncio's.
_INTERNAL = (
    os.path.dirname(os.path.dirname(__file__)) + os.sep,
    os.path.dirname(asyncio.__file__) + os.sep,
)


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside Assay and asyncio: the user's call of
    ``evaluate()`` (through ``asyncio.run``) or ``await evaluate_async()``."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    return level


def quiet_report(quiet: bool | None) -> bool:
    """Whether the report on stderr is left out: ``quiet``, else ``ASSAY_QUIET``."""
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
    if not s.errors or quiet_report(quiet):
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


def report_interrupted(experiment_id: str, quiet: bool | None) -> None:
    """Say on stderr how to resume a run stopped by Ctrl+C (unless quiet)."""
    if not quiet_report(quiet):
        print(
            f"assay: interrupted; run {experiment_id} keeps its finished results. Resume it "
            f"with assay.evaluate(None, task, scorers, resume={experiment_id!r}) "
            f"(or: assay runs resume {experiment_id}, for an importable task)",
            file=sys.stderr,
            flush=True,
        )

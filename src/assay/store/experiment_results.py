"""Reading a run's results: pages, the results table, one result, an item's history, every
result for an export, and the per-run counts and aggregates the run tables show.

:class:`ExperimentResults` is a base of the experiments repository.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import case, func, select

from assay.domain import (
    Experiment,
    ExperimentSummary,
    Result,
    ResultsPage,
    ResultStatus,
)
from assay.domain.result_table import ResultTable
from assay.errors import NotFound
from assay.store.experiment_rows import ExperimentRows, check_limit, experiment_record
from assay.store.plan_pages import count as plan_count
from assay.store.plan_pages import lists_derived, plan_of
from assay.store.plan_pages import page as plan_page
from assay.store.result_pages import count, for_items, for_runs, page, records
from assay.store.result_table import table_page
from assay.store.summary import summarize
from assay.store.tables import datasets, experiments, results, scores
from assay.store.unwritten import unwritten_plans

PENDING = ResultStatus.pending.value


class ExperimentResults(ExperimentRows):
    """What a run's results say (a base of the experiments repository)."""

    def counts(self, experiment_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Result counts by status for several experiments at once."""
        out: dict[str, dict[str, int]] = {i: {} for i in experiment_ids}
        if not experiment_ids:
            return out
        query = (
            select(results.c.experiment_id, results.c.status, func.count())
            .where(results.c.experiment_id.in_(list(experiment_ids)))
            .group_by(results.c.experiment_id, results.c.status)
        )
        with self.db.read() as conn:
            for exp_id, status, count in conn.execute(query):
                out[exp_id][status] = count
            for exp_id, size in unwritten_plans(conn, experiment_ids).items():
                missing = size - sum(out[exp_id].values())
                if missing > 0:
                    out[exp_id][PENDING] = out[exp_id].get(PENDING, 0) + missing
        return out

    def overview(self, experiment_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Per experiment, for run tables: result count, avg latency (ms), avg cost, pass rate,
        and the average judge cost per result when LLM judges cost something."""
        out: dict[str, dict[str, Any]] = {}
        if not experiment_ids:
            return out
        completed = results.c.status == ResultStatus.completed.value
        query = (
            select(
                results.c.experiment_id,
                func.count(),
                func.avg(case((completed, results.c.latency_ms))),
                func.avg(results.c.cost),
                func.sum(case((results.c.passed.is_(True), 1), else_=0)),
                func.count(results.c.passed),
            )
            .where(results.c.experiment_id.in_(list(experiment_ids)))
            .group_by(results.c.experiment_id)
        )
        with self.db.read() as conn:
            for exp_id, count, latency, cost, passed, judged in conn.execute(query):
                out[exp_id] = {
                    "items": count,
                    "avg_latency_ms": None if latency is None else float(latency),
                    "avg_cost": None if cost is None else float(cost),
                    "pass_rate": int(passed or 0) / judged if judged else None,
                }
            for exp_id, size in unwritten_plans(conn, experiment_ids).items():
                none = dict.fromkeys(("avg_latency_ms", "avg_cost", "pass_rate"))
                found = out.setdefault(exp_id, {"items": 0, **none})
                found["items"] = max(found["items"], size)
            judge = select(
                scores.c.experiment_id,
                func.sum(scores.c.cost),
                func.count(scores.c.result_id.distinct()),
            ).where(scores.c.experiment_id.in_(list(experiment_ids)), scores.c.cost.is_not(None))
            for exp_id, spent, scored in conn.execute(judge.group_by(scores.c.experiment_id)):
                if exp_id in out and scored:
                    out[exp_id]["avg_judge_cost"] = float(spent) / out[exp_id]["items"]
        return out

    def scorer_errors(self, experiment_ids: Sequence[str]) -> dict[str, int]:
        """Per experiment, the scores a scorer could not produce (no value: it raised)."""
        out = dict.fromkeys(experiment_ids, 0)
        if not experiment_ids:
            return out
        query = (
            select(scores.c.experiment_id, func.count())
            .where(
                scores.c.experiment_id.in_(list(experiment_ids)),
                scores.c.numeric_value.is_(None),
                scores.c.string_value.is_(None),
            )
            .group_by(scores.c.experiment_id)
        )
        with self.db.read() as conn:
            for exp_id, count in conn.execute(query):
                out[exp_id] = int(count)
        return out

    def summary(self, ref: str) -> ExperimentSummary:
        with self.db.read() as conn:
            row = self._row(conn, ref)
            return summarize(conn, row)

    def spent(self, experiment_id: str) -> float:
        """Total cost recorded so far, target and judge calls (for cost budgets across
        resumes)."""
        with self.db.read() as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(results.c.cost), 0.0)).where(
                    results.c.experiment_id == experiment_id
                )
            ).scalar_one()
            judged = conn.execute(
                select(func.coalesce(func.sum(scores.c.cost), 0.0)).where(
                    scores.c.experiment_id == experiment_id
                )
            ).scalar_one()
        return float(total) + float(judged)

    def results(
        self,
        ref: str,
        *,
        status: ResultStatus | None = None,
        passed: bool | None = None,
        limit: int = 100,
        cursor: str | None = None,
        summary: bool = True,
    ) -> ResultsPage:
        """One page of results (plan order) with their scores; the first page also counts the
        matching results. ``summary=False`` leaves out the summary, which scans every result,
        so a cursor page of a large run stays cheap."""
        limit = check_limit(limit)
        with self.db.read() as conn:
            row = self._row(conn, ref)
            dataset_name = None
            if row.dataset_id is not None:
                dataset_name = conn.execute(
                    select(datasets.c.name).where(datasets.c.id == row.dataset_id)
                ).scalar_one_or_none()
            plan = plan_of(row) if lists_derived(status, passed, None) else None
            if plan is not None:  # its results without a row are listed, derived
                rows, next_cursor = plan_page(conn, plan, status, limit, cursor)
                total = None if cursor else plan_count(conn, plan, status)
            else:
                rows, next_cursor = page(conn, row.id, status, passed, limit, cursor)
                total = None if cursor else count(conn, row.id, status, passed)
            return ResultsPage(
                experiment_id=row.id,
                experiment_name=row.name,
                dataset_name=dataset_name,
                status=experiment_record(row).status,
                summary=summarize(conn, row) if summary else None,
                results=rows,
                next_cursor=next_cursor,
                total=total,
            )

    def result_table(
        self,
        ref: str,
        *,
        status: ResultStatus | None = None,
        passed: bool | None = None,
        sort: str = "position",
        search: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ResultTable:
        """A page of results in ``sort`` order (position, latency, cost, tokens, status or
        ``score:NAME``; ``-`` first for descending), optionally only those whose input,
        expected output or output contains ``search``; cursors go both ways."""
        limit = check_limit(limit)
        with self.db.read() as conn:
            row = self._row(conn, ref)
            derived = lists_derived(status, passed, (search or "").strip())
            return table_page(
                conn,
                row.id,
                plan=plan_of(row) if derived else None,
                status=status,
                passed=passed,
                sort=sort,
                search=search,
                limit=limit,
                cursor=cursor,
            )

    def result(self, ref: str, result_id: str) -> Result:
        """One result of the experiment with its scores."""
        with self.db.read() as conn:
            experiment_id = self._row(conn, ref).id
            row = conn.execute(
                select(results).where(
                    results.c.id == result_id, results.c.experiment_id == experiment_id
                )
            ).first()
            if row is None:
                raise NotFound(f"result {result_id!r} not found in this run", field="result")
            return records(conn, [row])[0]

    def results_for_items(self, ref: str, item_ids: Sequence[str]) -> list[Result]:
        """The results (every repetition) of some dataset items, with their scores."""
        with self.db.read() as conn:
            return for_items(conn, self._row(conn, ref).id, item_ids)

    def item_history(
        self, dataset: str, item_id: str, *, limit: int = 50
    ) -> list[tuple[Experiment, Result]]:
        """How one dataset item fared in the dataset's newest ``limit`` runs (every trial)."""
        limit = check_limit(limit)
        dataset_id = self._datasets.get(dataset).id
        with self.db.read() as conn:
            runs = {
                row.id: self._open(row)
                for row in conn.execute(
                    select(experiments)
                    .where(
                        experiments.c.project_id == self.project_id,
                        experiments.c.dataset_id == dataset_id,
                    )
                    .order_by(experiments.c.created_at.desc(), experiments.c.id.desc())
                    .limit(limit)
                )
            }
            found = for_runs(conn, list(runs), item_id)
        order = {run_id: k for k, run_id in enumerate(runs)}
        found.sort(key=lambda pair: (order[pair[0]], pair[1].repetition))
        return [(runs[run_id], result) for run_id, result in found]

    def iter_results(self, ref: str, *, batch_size: int = 1000) -> Iterator[Result]:
        """Every result with its scores, in plan order, one short read per batch (a run still
        missing rows lists those results pending, derived from its plan)."""
        experiment_id = self.get(ref).id
        cursor: str | None = None
        while True:
            with self.db.read() as conn:
                row = conn.execute(select(experiments).where(experiments.c.id == experiment_id))
                plan = plan_of(row.one())
                if plan is not None:
                    rows, cursor = plan_page(conn, plan, None, batch_size, cursor)
                else:
                    rows, cursor = page(conn, experiment_id, None, None, batch_size, cursor)
            yield from rows
            if cursor is None:
                return

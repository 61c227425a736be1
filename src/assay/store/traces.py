"""Traces and their observations, ingested in batches idempotently by id."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, select, update
from sqlalchemy.exc import IntegrityError

from assay.domain import (
    ItemCreate,
    ItemSource,
    Observation,
    ObservationType,
    Page,
    Score,
    SessionSummary,
    Trace,
    TraceCreate,
    TraceDetail,
    TraceIngestResult,
    TracePage,
    TraceQuery,
)
from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_id
from assay.store.db import Database
from assay.store.online_queue import mark_pending
from assay.store.tables import experiments, observations, results, scores, traces
from assay.store.types import utcnow

_TRACE_FIELDS = ("name", "input", "output", "metadata", "tags", "session_id", "user_id")
_TRACE_TIMES = ("start_time", "end_time")
_CHUNK = 500  # ids per IN list and rows per multi-row insert


def _trace(row: Row[Any]) -> Trace:
    m = row._mapping
    return Trace.model_construct(**{k: m[k] for k in Trace.model_fields})


def _observation(row: Row[Any]) -> Observation:
    m = row._mapping
    values = {k: m[k] for k in Observation.model_fields}
    values["type"] = ObservationType(m["type"])
    return Observation.model_construct(**values)


@dataclass(frozen=True)
class TraceResult:
    """An experiment result that recorded a trace, and where it sits."""

    result_id: str
    item_id: str | None
    run_id: str
    run_name: str
    dataset_id: str | None


class Traces:
    """Trace ingestion and reads within one project."""

    def __init__(self, db: Database, project_id: str) -> None:
        self.db = db
        self.project_id = project_id

    def ingest(self, batch: list[TraceCreate]) -> TraceIngestResult:
        """Create or update every trace of ``batch`` (and its observations) in one transaction.

        Re-sending a trace or observation id replaces the fields sent and keeps the others.
        Ids are unique per project. New rows are written with one multi-row insert per table.
        Two batches racing to create the same ids both succeed: the one that finds them already
        written (its insert refused) runs again and updates them.
        """
        trace_ids = [t.id or new_id() for t in batch]
        obs_ids = [[o.id or new_id() for o in t.observations] for t in batch]
        try:
            return self._ingest(batch, trace_ids, obs_ids)
        except IntegrityError:
            return self._ingest(batch, trace_ids, obs_ids)

    def _ingest(
        self, batch: list[TraceCreate], trace_ids: list[str], obs_ids: list[list[str]]
    ) -> TraceIngestResult:
        created = updated = 0
        new_traces: list[dict[str, Any]] = []
        new_obs: list[dict[str, Any]] = []
        trace_changes: list[tuple[str, dict[str, Any]]] = []
        obs_changes: list[tuple[str, dict[str, Any]]] = []
        now = utcnow()
        with self.db.write() as conn:
            existing = self._existing_traces(conn, set(trace_ids))
            known = self._observation_traces(conn, {i for ids in obs_ids for i in ids})
            for row, (trace, trace_id) in enumerate(zip(batch, trace_ids, strict=True), start=1):
                if trace_id not in existing:
                    new_traces.append(self._trace_values(trace, trace_id, now))
                    existing.add(trace_id)
                    created += 1
                else:
                    fields = set(trace.model_fields_set) - {"id", "observations"}
                    if fields:
                        trace_changes.append((trace_id, trace.model_dump(include=fields)))
                    updated += 1
                for obs, obs_id in zip(trace.observations, obs_ids[row - 1], strict=True):
                    owner = known.get(obs_id)
                    if owner is None:
                        new_obs.append(
                            {
                                "project_id": self.project_id,
                                "id": obs_id,
                                "trace_id": trace_id,
                                **obs.model_dump(exclude={"id"}),
                            }
                        )
                        known[obs_id] = trace_id
                    elif owner != trace_id:
                        raise Conflict(
                            f"row {row}: observation {obs_id!r} belongs to trace {owner!r}",
                            row=row,
                        )
                    elif fields := set(obs.model_fields_set) - {"id"}:
                        obs_changes.append((obs_id, obs.model_dump(include=fields)))
            if new_traces:
                conn.execute(traces.insert(), new_traces)
            for trace_id, changes in trace_changes:
                conn.execute(update(traces).where(self._trace_is(trace_id)).values(changes))
            for start in range(0, len(new_obs), _CHUNK):
                conn.execute(observations.insert(), new_obs[start : start + _CHUNK])
            for obs_id, changes in obs_changes:
                conn.execute(
                    update(observations)
                    .where(
                        observations.c.project_id == self.project_id, observations.c.id == obs_id
                    )
                    .values(changes)
                )
            mark_pending(conn, self.db.dialect, self.project_id, trace_ids, now)
        return TraceIngestResult(
            created=created,
            updated=updated,
            observations=sum(len(ids) for ids in obs_ids),
            trace_ids=trace_ids,
        )

    def _trace_is(self, trace_id: str) -> ColumnElement[bool]:
        return and_(traces.c.project_id == self.project_id, traces.c.id == trace_id)

    def _trace_values(self, trace: TraceCreate, trace_id: str, now: datetime) -> dict[str, Any]:
        return {
            "id": trace_id,
            "project_id": self.project_id,
            **trace.model_dump(include=set(_TRACE_FIELDS + _TRACE_TIMES)),
            "created_at": now,
        }

    def _existing_traces(self, conn: Connection, ids: set[str]) -> set[str]:
        found: set[str] = set()
        ordered = sorted(ids)
        for start in range(0, len(ordered), _CHUNK):
            query = select(traces.c.id).where(
                traces.c.project_id == self.project_id,
                traces.c.id.in_(ordered[start : start + _CHUNK]),
            )
            found.update(conn.execute(query).scalars())
        return found

    def _observation_traces(self, conn: Connection, ids: set[str]) -> dict[str, str]:
        """This project's existing observation id -> its trace id."""
        found: dict[str, str] = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), _CHUNK):
            query = select(observations.c.id, observations.c.trace_id).where(
                observations.c.project_id == self.project_id,
                observations.c.id.in_(ordered[start : start + _CHUNK]),
            )
            found.update({r.id: r.trace_id for r in conn.execute(query)})
        return found

    def get(self, trace_id: str) -> TraceDetail:
        with self.db.read() as conn:
            row = conn.execute(
                select(traces).where(
                    traces.c.project_id == self.project_id, traces.c.id == trace_id
                )
            ).first()
            if row is None:
                raise NotFound(f"trace {trace_id!r} not found", field="trace_id")
            obs = conn.execute(
                select(observations)
                .where(
                    observations.c.project_id == self.project_id,
                    observations.c.trace_id == trace_id,
                )
                .order_by(observations.c.start_time, observations.c.id)
            ).all()
        return TraceDetail.model_construct(
            **_trace(row).__dict__, observations=[_observation(o) for o in obs]
        )

    def get_many(self, trace_ids: Sequence[str]) -> dict[str, TraceDetail]:
        """The traces of these ids that exist, with their observations: one read, two
        statements per 500 ids (the online evaluator reads a batch at once)."""
        ids = sorted(set(trace_ids))
        found: dict[str, TraceDetail] = {}
        with self.db.read() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = conn.execute(
                    select(traces).where(
                        traces.c.project_id == self.project_id, traces.c.id.in_(chunk)
                    )
                ).all()
                obs: dict[str, builtins.list[Observation]] = {r.id: [] for r in rows}
                for o in conn.execute(
                    select(observations)
                    .where(
                        observations.c.project_id == self.project_id,
                        observations.c.trace_id.in_(list(obs)),
                    )
                    .order_by(observations.c.start_time, observations.c.id)
                ):
                    obs[o.trace_id].append(_observation(o))
                for r in rows:
                    found[r.id] = TraceDetail.model_construct(
                        **_trace(r).__dict__, observations=obs[r.id]
                    )
        return found

    def list(
        self,
        where: TraceQuery | None = None,
        *,
        search: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        oldest_first: bool = False,
    ) -> TracePage:
        """Traces meeting ``where`` (and the shorthand filters), newest first, with their
        observations' totals and scores; ``cursor`` is a page's ``next_cursor`` or
        ``prev_cursor``."""
        from assay.store.trace_lists import filtered, page_rows, summaries

        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        where = where or TraceQuery()
        extra: dict[str, Any] = {
            k: v
            for k, v in (("search", search), ("session_id", session_id), ("user_id", user_id))
            if v
        }
        if tag:
            extra["tags"] = [*where.tags, tag]
        if extra:
            where = where.model_copy(update=extra)
        query = filtered(self.project_id, where, self.db.dialect)
        with self.db.read() as conn:
            rows, prev, after = page_rows(
                conn, query, limit=limit, cursor=cursor, oldest_first=oldest_first
            )
            items = summaries(conn, self.project_id, rows, _trace)
        return TracePage(items=items, next_cursor=after, prev_cursor=prev)

    def ids(self, where: TraceQuery, *, limit: int) -> builtins.list[str]:
        """The ids of at most ``limit`` traces meeting ``where``, newest first."""
        from assay.store.trace_lists import filtered

        query = filtered(self.project_id, where, self.db.dialect).with_only_columns(traces.c.id)
        with self.db.read() as conn:
            return list(
                conn.execute(
                    query.order_by(traces.c.created_at.desc(), traces.c.id.desc()).limit(limit)
                ).scalars()
            )

    def sessions(
        self,
        *,
        search: str | None = None,
        user_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[SessionSummary]:
        """Sessions (traces sharing a session id), the latest active first, with totals."""
        from assay.store.trace_lists import session_page

        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        with self.db.read() as conn:
            items, after = session_page(
                conn, self.project_id, search=search, user_id=user_id, limit=limit, cursor=cursor
            )
        return Page[SessionSummary](items=items, next_cursor=after)

    def span_names(self, trace_ids: Sequence[str]) -> set[str]:
        """The names the observations of these traces have."""
        found: set[str] = set()
        with self.db.read() as conn:
            for start in range(0, len(trace_ids), _CHUNK):
                query = (
                    select(observations.c.name)
                    .where(
                        observations.c.project_id == self.project_id,
                        observations.c.trace_id.in_(trace_ids[start : start + _CHUNK]),
                        observations.c.name.is_not(None),
                    )
                    .distinct()
                )
                found.update(conn.execute(query).scalars())
        return found

    def scores(self, trace_id: str) -> builtins.list[Score]:
        """The scores recorded on a trace, by name."""
        from assay.store.scores import score_record

        query = (
            select(scores)
            .where(scores.c.project_id == self.project_id, scores.c.trace_id == trace_id)
            .order_by(scores.c.name, scores.c.created_at)
        )
        with self.db.read() as conn:
            return [score_record(r._mapping) for r in conn.execute(query)]

    def results_of(self, trace_id: str, run_id: str | None) -> builtins.list[TraceResult]:
        """The experiment results that recorded this trace. With ``run_id`` (the run a trace
        recorded by a run names as its session) only that run's, through its index."""
        query = (
            select(
                results.c.id,
                results.c.item_id,
                results.c.experiment_id,
                experiments.c.name,
                experiments.c.dataset_id,
            )
            .join(experiments, experiments.c.id == results.c.experiment_id)
            .where(experiments.c.project_id == self.project_id, results.c.trace_id == trace_id)
        )
        if run_id is not None:
            query = query.where(results.c.experiment_id == run_id)
        with self.db.read() as conn:
            return [
                TraceResult(r.id, r.item_id, r.experiment_id, r.name, r.dataset_id)
                for r in conn.execute(query.limit(20))
            ]

    def to_item(self, trace_id: str) -> ItemCreate:
        """A dataset item from a recorded run: input → input, output → expected output,
        agent name and workflow → context."""
        trace = self.get(trace_id)
        if trace.input is None:
            raise InvalidInput(f"trace {trace_id!r} has no input to test with", field="run_id")
        value = trace.input if isinstance(trace.input, dict | str) else {"input": trace.input}
        meta = trace.metadata
        context = {
            "agent_name": meta.get("agent_name") or meta.get("agent") or trace.name,
            "workflow": meta.get("workflow") or meta.get("workflow_name") or trace.name,
        }
        return ItemCreate(
            input=value,
            expected_output=trace.output,
            context=context,
            metadata={"trace_id": trace.id},
            source=ItemSource.trace,
            source_trace_id=trace.id,
        )

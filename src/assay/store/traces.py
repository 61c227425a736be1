"""Traces and their observations, ingested in batches idempotently by id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from assay.domain import (
    ItemCreate,
    ItemSource,
    Observation,
    ObservationCreate,
    ObservationType,
    Page,
    Trace,
    TraceCreate,
    TraceDetail,
    TraceIngestResult,
)
from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_id
from assay.store.db import Database
from assay.store.sql import (
    after_keyset,
    decode_cursor,
    encode_cursor,
    json_array_contains,
    text_contains,
)
from assay.store.tables import observations, traces
from assay.store.types import utcnow

_TRACE_FIELDS = ("name", "input", "output", "metadata", "tags", "session_id", "user_id")
_TRACE_TIMES = ("start_time", "end_time")


def _trace(row: Row[Any]) -> Trace:
    m = row._mapping
    return Trace.model_construct(**{k: m[k] for k in Trace.model_fields})


def _observation(row: Row[Any]) -> Observation:
    m = row._mapping
    values = {k: m[k] for k in Observation.model_fields}
    values["type"] = ObservationType(m["type"])
    return Observation.model_construct(**values)


class Traces:
    """Trace ingestion and reads within one project."""

    def __init__(self, db: Database, project_id: str) -> None:
        self.db = db
        self.project_id = project_id

    def ingest(self, batch: list[TraceCreate]) -> TraceIngestResult:
        """Create or update every trace of ``batch`` (and its observations) in one transaction.

        Re-sending a trace or observation id replaces the fields sent and keeps the others.
        """
        trace_ids = [t.id or new_id() for t in batch]
        created = updated = observed = 0
        with self.db.write() as conn:
            owners = self._owners(conn, traces.c.id, traces.c.project_id, set(trace_ids))
            for row, (trace, trace_id) in enumerate(zip(batch, trace_ids, strict=True), start=1):
                owner = owners.get(trace_id)
                if owner is not None and owner != self.project_id:
                    raise Conflict(f"row {row}: trace id {trace_id!r} is already in use", row=row)
                if owner is None:
                    conn.execute(traces.insert().values(self._trace_values(trace, trace_id)))
                    owners[trace_id] = self.project_id
                    created += 1
                else:
                    changes = trace.model_dump(
                        include=set(trace.model_fields_set) - {"id", "observations"}
                    )
                    if changes:
                        conn.execute(update(traces).where(traces.c.id == trace_id).values(changes))
                    updated += 1
                observed += self._ingest_observations(conn, trace_id, trace.observations, row)
        return TraceIngestResult(
            created=created, updated=updated, observations=observed, trace_ids=trace_ids
        )

    def _trace_values(self, trace: TraceCreate, trace_id: str) -> dict[str, Any]:
        return {
            "id": trace_id,
            "project_id": self.project_id,
            **trace.model_dump(include=set(_TRACE_FIELDS + _TRACE_TIMES)),
            "created_at": utcnow(),
        }

    def _ingest_observations(
        self, conn: Connection, trace_id: str, batch: list[ObservationCreate], row: int
    ) -> int:
        if not batch:
            return 0
        ids = [o.id or new_id() for o in batch]
        query = select(observations.c.id, observations.c.trace_id, traces.c.project_id).join(
            traces, traces.c.id == observations.c.trace_id
        )
        existing = {
            r.id: r for r in conn.execute(query.where(observations.c.id.in_(set(ids)))).all()
        }
        inserted: set[str] = set()
        for obs, obs_id in zip(batch, ids, strict=True):
            found = existing.get(obs_id)
            if found is None and obs_id not in inserted:
                conn.execute(
                    observations.insert().values(
                        id=obs_id, trace_id=trace_id, **obs.model_dump(exclude={"id"})
                    )
                )
                inserted.add(obs_id)
                continue
            if found is not None and (
                found.project_id != self.project_id or found.trace_id != trace_id
            ):
                raise Conflict(f"row {row}: observation id {obs_id!r} is already in use", row=row)
            changes = obs.model_dump(include=set(obs.model_fields_set) - {"id"})
            if changes:
                conn.execute(
                    update(observations).where(observations.c.id == obs_id).values(changes)
                )
        return len(batch)

    def _owners(
        self, conn: Connection, key: Any, owner: Any, ids: set[str]
    ) -> dict[str, str | None]:
        rows = conn.execute(select(key, owner).where(key.in_(ids))).all()
        return {r[0]: r[1] for r in rows}

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
                .where(observations.c.trace_id == trace_id)
                .order_by(observations.c.start_time, observations.c.id)
            ).all()
        return TraceDetail.model_construct(
            **_trace(row).__dict__, observations=[_observation(o) for o in obs]
        )

    def list(
        self,
        *,
        search: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Trace]:
        """Traces, newest first."""
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        query = select(traces).where(traces.c.project_id == self.project_id)
        if search:
            query = query.where(text_contains(traces.c.name, search))
        if session_id:
            query = query.where(traces.c.session_id == session_id)
        if user_id:
            query = query.where(traces.c.user_id == user_id)
        if tag:
            query = query.where(json_array_contains(traces.c.tags, tag, self.db.dialect))
        if cursor:
            when, last_id = decode_cursor(cursor, 2)
            try:
                at = datetime.fromisoformat(when)
            except (TypeError, ValueError):
                raise InvalidInput("malformed pagination cursor", field="cursor") from None
            query = query.where(
                after_keyset([traces.c.created_at, traces.c.id], [at, last_id], True)
            )
        with self.db.read() as conn:
            rows = conn.execute(
                query.order_by(traces.c.created_at.desc(), traces.c.id.desc()).limit(limit + 1)
            ).all()
        items = [_trace(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(items[-1].created_at.isoformat(), items[-1].id)
        return Page[Trace](items=items, next_cursor=next_cursor)

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

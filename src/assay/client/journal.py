"""Uploading a local run's results to a server, journaled on disk so an outage loses nothing.

The journal is one JSON-lines file per run: a header (server dataset, run id and name, and
which saved evaluators the server should apply), then every batch of results to send (each
result with its scores and trace), then an acknowledgement line per batch the server stored
and a ``scored`` line once the server applied its evaluators. Batches are written (and fsynced)
before anything is sent; :func:`send` posts the batches not yet acknowledged (a batch's traces
to the trace ingestion first, then its items, which name them) and stops at the first failure,
leaving the rest for the next call (:func:`replay` sends every journal in a directory). By
default the items ask the server's workers to apply the dataset's attached evaluators in the
background; with evaluators named, a scoring call applies those once every batch is stored.
The run, every result and every trace carry ids chosen here, and the server treats a repeated
id as the same record and a repeated score name as the same score, so a batch sent twice
(stored, but the answer lost) is still stored once, and queues its scoring once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from assay.errors import AssayError, Conflict, NotFound

if TYPE_CHECKING:
    from assay.client._sync import Assay
    from assay.domain import Result, TraceDetail

BATCH = 1000
TRACES_PER_REQUEST = 100
_TRACE_FIELDS = frozenset(
    {"id", "name", "input", "output", "metadata", "tags", "session_id", "user_id"}
)
_OBSERVATION_FIELDS = frozenset(
    {
        "id",
        "parent_id",
        "type",
        "name",
        "start_time",
        "end_time",
        "input",
        "output",
        "model",
        "model_parameters",
        "tokens_in",
        "tokens_out",
        "cost",
        "level",
        "status_message",
        "metadata",
    }
)


@dataclass
class Outcome:
    """What an upload did: results ``sent`` now, ``pending`` in the journal, the server's
    ``scoring`` report once its evaluators ran, and the run's dashboard ``url``."""

    run_id: str
    sent: int
    pending: int
    error: str | None = None
    scoring: dict[str, Any] | None = None
    url: str | None = None

    @property
    def done(self) -> bool:
        return self.error is None and self.pending == 0


class Journal:
    """One run's upload journal (append-only JSON lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header: dict[str, Any] = {}
        self.batches: dict[int, list[dict[str, Any]]] = {}
        self.acked: set[int] = set()
        self.scored: dict[str, Any] | None = None
        if path.exists():
            self._load()

    @classmethod
    def create(
        cls,
        path: Path,
        header: dict[str, Any],
        records: Iterable[dict[str, Any]],
        batch_size: int = BATCH,
    ) -> Journal:
        """Write the header and every batch, durably, before anything is sent."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as out:
            out.write(orjson.dumps({"header": header}) + b"\n")
            batch: list[dict[str, Any]] = []
            n = 0
            for record in records:
                batch.append(record)
                if len(batch) == batch_size:
                    out.write(orjson.dumps({"batch": n, "items": batch}) + b"\n")
                    n, batch = n + 1, []
            if batch:
                out.write(orjson.dumps({"batch": n, "items": batch}) + b"\n")
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
        return cls(path)

    def _load(self) -> None:
        for line in self.path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a torn last line from a crash while acknowledging
            if "header" in entry:
                self.header = entry["header"]
            elif "batch" in entry:
                self.batches[int(entry["batch"])] = entry["items"]
            elif "ack" in entry:
                self.acked.add(int(entry["ack"]))
            elif "scored" in entry:
                self.scored = entry["scored"]

    def pending(self) -> list[int]:
        return sorted(set(self.batches) - self.acked)

    def wants_scoring(self) -> bool:
        """The server is still to apply its evaluators (journals without a ``score`` header
        entry, written before this step existed, never do)."""
        return self.header.get("score") is not None and self.scored is None

    def unfinished(self) -> bool:
        return bool(self.pending()) or self.wants_scoring()

    def mark_scored(self, report: dict[str, Any]) -> None:
        with self.path.open("ab") as out:
            out.write(orjson.dumps({"scored": report}) + b"\n")
            out.flush()
            os.fsync(out.fileno())
        self.scored = report

    def ack(self, batch: int) -> None:
        with self.path.open("ab") as out:
            out.write(orjson.dumps({"ack": batch}) + b"\n")
            out.flush()
            os.fsync(out.fileno())
        self.acked.add(batch)


def send(client: Assay, journal: Journal) -> Outcome:
    """Create the run (idempotent by id), post every unacknowledged batch in order, then have
    the server apply its evaluators (once every batch is stored)."""
    header = journal.header
    run_id = str(header["run_id"])
    url = run_url(client, run_id)
    sent = 0
    try:
        if not header.get("server_dataset"):
            _ensure_dataset(client, header)
        client.dataset_runs.create(
            dataset_name=header["dataset_name"],
            name=header["name"],
            description=header.get("description"),
            metadata=header.get("metadata"),
            id=run_id,
            dataset_version=header.get("dataset_version"),
        )
        for batch in journal.pending():
            records = journal.batches[batch]
            traces = [r["trace"] for r in records if r.get("trace")]
            for start in range(0, len(traces), TRACES_PER_REQUEST):  # before the items naming them
                client.traces.ingest(traces[start : start + TRACES_PER_REQUEST])
            items = [{k: v for k, v in r.items() if k != "trace"} for r in records]
            queued = bool(header.get("queue_scoring"))
            client.dataset_runs.create_items(dataset_run_id=run_id, items=items, score=queued)
            journal.ack(batch)
            sent += len(journal.batches[batch])
        if journal.wants_scoring():
            score = header["score"]
            report = client.dataset_runs.score(
                run_id, evaluators=score.get("evaluators"), skip=score.get("skip") or ()
            )
            journal.mark_scored(report.model_dump(mode="json"))
    except (httpx.HTTPError, AssayError) as exc:
        pending = sum(len(journal.batches[b]) for b in journal.pending())
        error = f"{type(exc).__name__}: {exc}"
        return Outcome(run_id, sent, pending, error, scoring=journal.scored, url=url)
    return Outcome(run_id, sent, 0, scoring=journal.scored, url=url)


def run_url(client: Assay, run_id: str) -> str:
    """The run's page on the server's dashboard."""
    return f"{client.config.base_url}/runs/{run_id}"


def _ensure_dataset(client: Assay, header: dict[str, Any]) -> None:
    """Create the dataset on the server (with the local items) when it has none by the name."""
    try:
        client.datasets.get(header["dataset_name"])
        return
    except NotFound:
        pass
    with contextlib.suppress(Conflict):  # created by an earlier attempt whose answer was lost
        client.datasets.create(header["dataset_name"])
    items = header.get("dataset_items") or []
    if items and client.datasets.get(header["dataset_name"]).item_count == 0:
        client.datasets.create_items(header["dataset_name"], items)


def replay(client: Assay, directory: Path) -> list[Outcome]:
    """Send what every journal in ``directory`` still holds (after an outage)."""
    outcomes = []
    for path in sorted(directory.glob("*.jsonl")):
        journal = Journal(path)
        if journal.header and journal.unfinished():
            outcomes.append(send(client, journal))
    return outcomes


def result_record(
    row: Result, dataset_item_id: str | None = None, trace: TraceDetail | None = None
) -> dict[str, Any]:
    """A stored result as an uploaded run item, keyed by its own id and repetition, with its
    times and evaluator scores; ``dataset_item_id`` names the server's item it ran (without it
    the server matches the input, each trial to its own result). With ``trace`` (the result's
    trace and its observations) the trace is sent too, before the item, which names it."""
    record = {
        "id": row.id,
        "repetition": row.repetition,
        "input": row.input,
        "expectedOutput": row.expected_output,
        "output": row.output,
        "error": row.error,
        "latencyMs": row.latency_ms,
        "cost": row.cost,
        "tokens_in": row.tokens_in,
        "tokens_out": row.tokens_out,
        "scores": [score_record(s) for s in row.scores if s.source == "evaluator"],
    }
    for field, at in (("startedAt", row.started_at), ("finishedAt", row.finished_at)):
        if at is not None:  # the run's own times: a replay sends the same ones
            record[field] = at.isoformat()
    if dataset_item_id is not None:
        record["datasetItemId"] = dataset_item_id
    if trace is not None:
        record["traceId"] = trace.id
        record["trace"] = trace_record(trace)
    return record


def trace_record(trace: TraceDetail) -> dict[str, Any]:
    """A stored trace with its observations, as the trace ingest endpoint takes it."""
    record = trace.model_dump(mode="json", include=set(_TRACE_FIELDS | {"start_time", "end_time"}))
    record["observations"] = [
        o.model_dump(mode="json", include=set(_OBSERVATION_FIELDS)) for o in trace.observations
    ]
    return record


def score_record(score: Any) -> dict[str, Any]:
    """A stored score (``Score``) as an uploaded one."""
    kind = str(getattr(score.data_type, "value", score.data_type))
    value: float | bool | str | None
    if kind == "boolean":
        value = None if score.numeric_value is None else bool(score.numeric_value)
    elif kind == "numeric":
        value = score.numeric_value
    else:
        value = score.string_value
    return {
        "name": score.name,
        "value": value,
        "dataType": kind,
        "passed": score.passed,
        "reason": score.reason,
        "cost": score.cost,
        "tokens_in": score.tokens_in,
        "tokens_out": score.tokens_out,
        "latency_ms": score.latency_ms,
        "metadata": score.metadata or {},
    }


def journal_path(directory: Path, run_id: str) -> Path:
    return directory / f"{run_id}.jsonl"


__all__ = [
    "Journal",
    "Outcome",
    "journal_path",
    "replay",
    "result_record",
    "run_url",
    "score_record",
    "send",
]

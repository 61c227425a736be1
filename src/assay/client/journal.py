"""Uploading a local run's results to a server, journaled on disk so an outage loses nothing.

The journal is one JSON-lines file per run: a header (server dataset, run id and name), then
every batch of results to send, then an acknowledgement line per batch the server stored.
Batches are written (and fsynced) before anything is sent; :func:`send` posts the batches not
yet acknowledged and stops at the first failure, leaving the rest for the next call
(:func:`replay` sends every journal in a directory). The run and every result carry ids chosen
here, and the server treats a repeated id as the same record, so a batch sent twice (stored,
but the answer lost) is still stored once.
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

BATCH = 1000


@dataclass
class Outcome:
    run_id: str
    sent: int
    pending: int
    error: str | None = None


class Journal:
    """One run's upload journal (append-only JSON lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header: dict[str, Any] = {}
        self.batches: dict[int, list[dict[str, Any]]] = {}
        self.acked: set[int] = set()
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

    def pending(self) -> list[int]:
        return sorted(set(self.batches) - self.acked)

    def ack(self, batch: int) -> None:
        with self.path.open("ab") as out:
            out.write(orjson.dumps({"ack": batch}) + b"\n")
            out.flush()
            os.fsync(out.fileno())
        self.acked.add(batch)


def send(client: Assay, journal: Journal) -> Outcome:
    """Create the run (idempotent by id) and post every unacknowledged batch, in order."""
    header = journal.header
    run_id = str(header["run_id"])
    sent = 0
    try:
        _ensure_dataset(client, header)
        client.dataset_runs.create(
            dataset_name=header["dataset_name"],
            name=header["name"],
            description=header.get("description"),
            metadata=header.get("metadata"),
            id=run_id,
        )
        for batch in journal.pending():
            client.dataset_runs.create_items(dataset_run_id=run_id, items=journal.batches[batch])
            journal.ack(batch)
            sent += len(journal.batches[batch])
    except (httpx.HTTPError, AssayError) as exc:
        pending = sum(len(journal.batches[b]) for b in journal.pending())
        return Outcome(run_id, sent, pending, f"{type(exc).__name__}: {exc}")
    return Outcome(run_id, sent, 0)


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
        if journal.header and journal.pending():
            outcomes.append(send(client, journal))
    return outcomes


def result_record(row: Any) -> dict[str, Any]:
    """A stored result (``ResultDetail``) as an uploaded run item, keyed by its own id."""
    return {
        "id": row.id,
        "input": row.item_input,
        "expectedOutput": row.item_expected_output,
        "output": row.output,
        "error": row.error or None,
        "latencyMs": row.latency_ms,
        "cost": row.cost,
        "tokens_in": row.tokens_in,
        "tokens_out": row.tokens_out,
    }


def journal_path(directory: Path, run_id: str) -> Path:
    return directory / f"{run_id}.jsonl"


__all__ = ["Journal", "Outcome", "journal_path", "replay", "result_record", "send"]

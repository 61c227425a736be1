"""The background exporter: what ``client.trace`` and ``@observe`` record reaches the server
from here, never from the caller's thread.

The caller only appends a finished record to a bounded in-memory queue (``put`` never blocks
and never raises; when the queue is full the record is dropped and counted). A daemon thread
wakes every ``flush_interval`` seconds, or as soon as ``batch_size`` records wait, and sends
them in batches through the client (which retries with backoff). A batch the server cannot
take — it is down, overloaded or failing — goes to the disk journal (:mod:`._spool`), and so
does everything after it until the journal is replayed, oldest first, so a later state of a
trace never arrives before an earlier one. ``flush()`` does one such round on the caller's
thread (replaying the journal at once); ``shutdown()`` flushes and stops the thread, and runs
at interpreter exit for every exporter still open.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from assay.client._spool import SendBatch, Spool, is_final
from assay.retrying import Backoff

log = logging.getLogger("assay.client.tracing")

# ("trace" | "observation", trace id, the values of TRACE_FIELDS or OBSERVATION_FIELDS):
# a tuple is what is cheapest to make on the caller's thread.
Record = tuple[str, str, tuple[Any, ...]]
Mask = Callable[[Any], Any]

TRACE_FIELDS = (
    "name", "start_time", "end_time", "tags", "user_id", "session_id", "input", "output",
    "metadata",
)  # fmt: skip
OBSERVATION_FIELDS = (
    "id", "type", "parent_id", "name", "start_time", "end_time", "model", "tokens_in",
    "tokens_out", "cost", "level", "status_message", "input", "output", "metadata",
    "model_parameters",
)  # fmt: skip
JSON_FIELDS = ("input", "output", "metadata", "model_parameters")
TIME_FIELDS = ("start_time", "end_time")
LIMITS = {"name": 300, "model": 200, "level": 16, "session_id": 200, "user_id": 200}
MAX_TRACES_PER_REQUEST = 1000  # the API's batch limit
MASK_FAILED = "<masked: the masking function failed>"


@dataclass
class TracingConfig:
    """How traces are exported.

    ``sample_rate``: the share of traces kept (decided once per trace, by its id).
    ``mask``: called with every input, output and metadata value before it leaves the
    process (or is journaled); returns what to send instead.
    ``max_queue``: records held in memory at most; more are dropped and counted.
    ``batch_size`` / ``flush_interval``: a batch is sent once this many records wait, or this
    many seconds after the last one. ``max_batch_bytes`` caps a request's size.
    ``journal_dir``: where batches wait while the server is unreachable (default
    ``$ASSAY_HOME/traces/<server>``), at most ``max_journal_bytes``.
    ``retry_interval``: the first wait before replaying the journal (doubling up to a minute).
    """

    enabled: bool = True
    sample_rate: float = 1.0
    mask: Mask | None = None
    max_queue: int = 100_000
    batch_size: int = 500
    flush_interval: float = 1.0
    max_batch_bytes: int = 4 * 2**20
    journal_dir: Path | None = None
    max_journal_bytes: int = 512 * 2**20
    retry_interval: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.sample_rate <= 1.0:
            raise ValueError("sample_rate must be between 0 and 1")
        if self.max_queue < 1 or self.batch_size < 1:
            raise ValueError("max_queue and batch_size must be at least 1")
        self.batch_size = min(self.batch_size, MAX_TRACES_PER_REQUEST)


@dataclass
class ExportStats:
    """Counts since the exporter started (records are traces' and observations' states)."""

    records: int = 0  # taken from the queue and exported (or journaled)
    dropped: int = 0  # the queue was full
    sent: int = 0  # traces the server acknowledged, directly
    journaled: int = 0  # traces written to the disk journal
    replayed: int = 0  # traces sent from the journal
    rejected: int = 0  # traces the server refused (dropped: retrying cannot help)
    lost: int = 0  # traces neither sent nor journaled (the journal was full or unwritable)
    mask_errors: int = 0
    last_error: str | None = None
    _reported_drops: int = field(default=0, repr=False)


class Exporter:
    """A queue, a thread and a journal in front of ``send``."""

    def __init__(self, send: SendBatch, config: TracingConfig, journal_dir: Path) -> None:
        self._send = send
        self.config = config
        self.spool = Spool(journal_dir, config.max_journal_bytes)
        self.stats = ExportStats()
        self._queue: deque[Record] = deque()
        self._max = config.max_queue
        self._batch = config.batch_size
        self._wake = threading.Event()
        self._round = threading.Lock()  # one export round at a time
        self._drop_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._spooling = bool(self.spool.files())  # leftovers go first
        self._replay_failures = 0
        self._next_replay = 0.0
        _OPEN.add(self)

    # ------------------------------------------------------------------ caller's side
    def put(self, record: Record) -> None:
        """Queue a record; never blocks, never raises."""
        queue = self._queue
        if len(queue) >= self._max or self._closed:
            with self._drop_lock:
                self.stats.dropped += 1
            return
        queue.append(record)
        if self._thread is None:
            self._start()
        elif len(queue) >= self._batch:
            self._wake.set()

    def _start(self) -> None:
        with self._drop_lock:
            if self._thread is not None:
                return
            thread = threading.Thread(target=self._loop, name="assay-trace-exporter", daemon=True)
            self._thread = thread
        thread.start()

    # ------------------------------------------------------------------ rounds
    def _loop(self) -> None:
        while True:
            self._wake.wait(self.config.flush_interval)
            self._wake.clear()
            if self._closed:
                return
            try:
                self.run_round(replay=None)
            except Exception:  # pragma: no cover - a bug here must not end the thread
                log.exception("trace export round failed")

    def flush(self) -> None:
        """Send (or journal) everything queued, and replay the journal now."""
        try:
            self.run_round(replay=True)
        except Exception:  # pragma: no cover - never raise into the caller
            log.exception("trace export failed")

    def shutdown(self) -> None:
        """Flush, then stop the thread; later records are dropped. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        # With the server known to be down, journal at once without trying it again.
        try:
            self.run_round(replay=False)
        except Exception:  # pragma: no cover
            log.exception("trace export failed")
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        _OPEN.discard(self)

    def run_round(self, *, replay: bool | None) -> None:
        """Drain the queue into batches, deliver each, then replay the journal: now
        (``replay=True``), never, or (None) when its backoff is over."""
        with self._round:
            spooling = self._spooling  # not when the server failed just now, in this round
            for records in self._batches():
                self._deliver(build(records, self.config.mask, self.stats))
            due = replay if replay is not None else time.monotonic() >= self._next_replay
            if spooling and self._spooling and due:
                self._replay()
            self._report_drops()

    def _batches(self) -> Iterator[list[Record]]:
        queue, limit, budget = self._queue, self._batch, self.config.max_batch_bytes
        while queue:
            batch: list[Record] = []
            size = 0
            while queue and len(batch) < limit and size < budget:
                record = queue.popleft()
                batch.append(record)
                size += record_size(record)
            self.stats.records += len(batch)
            yield batch

    def _deliver(self, traces: list[dict[str, Any]]) -> None:
        if not traces:
            return
        if not self._spooling:
            try:
                self._send(traces)
                self.stats.sent += len(traces)
                return
            except Exception as exc:
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                if is_final(exc):
                    self._rejected(len(traces), exc)
                    return
                self._spooling = True
                self._schedule_replay()
                log.warning(
                    "the trace server is unreachable (%s); journaling traces in %s until it "
                    "answers",
                    self.stats.last_error,
                    self.spool.directory,
                )
        if self.spool.write(traces):
            self.stats.journaled += len(traces)
        else:
            self.stats.lost += len(traces)
            log.warning(
                "dropped %d traces: the trace journal in %s is full or cannot be written",
                len(traces),
                self.spool.directory,
            )

    def _replay(self) -> None:
        try:
            self.stats.replayed += self.spool.replay(self._send, self._rejected)
        except Exception as exc:
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            self._schedule_replay()
            return
        self._spooling = False
        self._replay_failures = 0

    def _schedule_replay(self) -> None:
        self._replay_failures += 1
        policy = Backoff(base=self.config.retry_interval, cap=60.0)
        wait = max(policy.delay(self._replay_failures), self.config.retry_interval / 2)
        self._next_replay = time.monotonic() + wait

    def _rejected(self, count: int, exc: BaseException) -> None:
        self.stats.rejected += count
        log.warning("the server refused %d traces, which are dropped: %s", count, exc)

    def _report_drops(self) -> None:
        dropped = self.stats.dropped
        if dropped > self.stats._reported_drops:
            log.warning(
                "dropped %d trace records: the export queue was full (max_queue=%d); "
                "%d dropped so far",
                dropped - self.stats._reported_drops,
                self._max,
                dropped,
            )
            self.stats._reported_drops = dropped

    def _after_fork(self) -> None:
        """In a forked child: the parent's thread is gone and its queue is the parent's."""
        self._queue.clear()
        self._thread = None
        self._wake = threading.Event()
        self._round = threading.Lock()
        self._drop_lock = threading.Lock()


# ---------------------------------------------------------------------- batches
def record_size(record: Record) -> int:
    """About how many bytes a record adds to a request."""
    return 200 + sum(len(v) for v in record[2] if isinstance(v, bytes | str))


def build(records: list[Record], mask: Mask | None, stats: ExportStats) -> list[dict[str, Any]]:
    """The API's trace batch for ``records``: one entry per trace, the latest fields of each
    trace and observation (records of one id are merged in order)."""
    traces: dict[str, dict[str, Any]] = {}
    observations: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, trace_id, fields in records:
        entry = traces.get(trace_id)
        if entry is None:
            entry = traces[trace_id] = {"id": trace_id}
        values = wire(TRACE_FIELDS if kind == "trace" else OBSERVATION_FIELDS, fields, mask, stats)
        if kind == "trace":
            entry.update(values)
            continue
        seen = observations.setdefault(trace_id, {})
        known = seen.get(values["id"])
        if known is None:
            seen[values["id"]] = values
        else:
            known.update(values)
    for trace_id, found in observations.items():
        traces[trace_id]["observations"] = list(found.values())
    return list(traces.values())


def wire(
    keys: tuple[str, ...], values: tuple[Any, ...], mask: Mask | None, stats: ExportStats
) -> dict[str, Any]:
    """One record as the API takes it: the fields set, JSON values (serialized on the
    caller's thread, or plain strings and numbers) passed through ``mask``, times as ISO 8601,
    strings cut to the API's limits."""
    out = {k: v for k, v in zip(keys, values, strict=True) if v is not None}
    for key in JSON_FIELDS:
        raw = out.get(key)
        if raw is None:
            continue
        if mask is not None:
            try:
                value = orjson.loads(raw) if isinstance(raw, bytes) else raw
                raw = orjson.dumps(mask(value), default=str)
            except Exception:
                stats.mask_errors += 1
                raw = orjson.dumps(MASK_FAILED)
        if isinstance(raw, bytes):
            out[key] = orjson.Fragment(raw)
    for key in TIME_FIELDS:
        at = out.get(key)
        if isinstance(at, float):
            out[key] = datetime.fromtimestamp(at, UTC).isoformat()
    for key, limit in LIMITS.items():
        value = out.get(key)
        if isinstance(value, str) and len(value) > limit:
            out[key] = value[:limit]
    return out


# ---------------------------------------------------------------------- process exit
_OPEN: weakref.WeakSet[Exporter] = weakref.WeakSet()


def _shutdown_all() -> None:
    for exporter in list(_OPEN):
        exporter.shutdown()


def _after_fork_in_child() -> None:
    for exporter in list(_OPEN):
        exporter._after_fork()


atexit.register(_shutdown_all)
os.register_at_fork(after_in_child=_after_fork_in_child)


__all__ = [
    "OBSERVATION_FIELDS",
    "TRACE_FIELDS",
    "ExportStats",
    "Exporter",
    "Record",
    "TracingConfig",
    "build",
]

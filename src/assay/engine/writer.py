"""The result writer: one thread that persists finished results and their scores in batches.

The event loop only appends to a queue; the writer commits a batch when it holds
``batch_size`` results, or its oldest result has waited ``flush_interval`` seconds, or it holds
``eager`` results and no more are waiting: a crash loses at most the results of the last
interval (they are simply run again on resume). A fast target outruns the writer, so its
batches fill up. Once every call has started (:meth:`ResultWriter.hurry`), each batch is
written as soon as nothing more is waiting, so little is left to write when the last call
ends. For large runs the thread hands the batches to a :class:`ChildWriter` process
instead, which commits them on another CPU (see :mod:`assay.store.writer_process`).
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import subprocess
import threading
import time
from collections.abc import Callable

from assay.engine.snapshot import Spool
from assay.errors import StorageError
from assay.interpreter import module_command
from assay.store import CachedResponse, Completion, Store
from assay.store.lease import Lease
from assay.store.recording import Rows, completion_rows
from assay.store.writer_process import retry_storage, write_frame

log = logging.getLogger(__name__)
_STOP = object()
_WAKE = object()
EAGER = 1000  # a batch this large is written as soon as nothing more is waiting
Entry = tuple[Completion, CachedResponse | None]


class ResultWriter:
    def __init__(
        self,
        store: Store,
        experiment_id: str,
        *,
        batch_size: int = 2000,
        flush_interval: float = 0.05,
        retries: int = 5,
        on_written: Callable[[int], None] | None = None,
        child: ChildWriter | None = None,
        first_job: Callable[[], None] | None = None,
        lease: Lease | None = None,
        spool: Spool | None = None,
        eager: int = EAGER,
    ) -> None:
        """``first_job`` is the plan's commit when this run planned its results itself,
        without pending rows: then no result has a row yet, and batches are inserted without
        reading anything first (see :func:`~assay.store.recording.write_rows`). Such a run's
        writer fills ``spool`` with each batch it commits (see :class:`Spool`)."""
        self.store = store
        self.experiment_id = experiment_id
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.eager = eager
        self.hurried = False
        self.retries = retries
        self.on_written = on_written
        self.child = child
        self.lease = lease
        self.fresh = first_job is not None and lease is not None
        self.spool = spool if self.fresh else None
        if child is not None:
            child.start(experiment_id, lease, fresh=self.fresh)
        self.written = 0
        #: Results this writer knows to be committed: its own commits, or what its process
        #: reported when it ended (a batch sent to a process may yet fail).
        self.stored = 0
        self.submitted = 0  # counted on the submitting thread only
        self.handled = 0  # counted on the writer thread only: written, or dropped on error
        self.error: BaseException | None = None
        self.first_job = first_job
        self.first_job_done = first_job is None
        self._queue: queue.SimpleQueue[Entry | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="assay-result-writer", daemon=True)
        self._thread.start()

    def submit(self, completion: Completion, cache: CachedResponse | None = None) -> None:
        self._queue.put((completion, cache))
        self.submitted += 1

    def hurry(self) -> None:
        """Nothing more will be submitted but the calls still running: write each batch as
        soon as nothing more is waiting, so little is left to write when the last one ends."""
        if not self.hurried:  # every slot that runs out of work says so: wake the writer once
            self.hurried = True
            self.eager = 1
            self._queue.put(_WAKE)  # the batch gathered so far goes now

    @property
    def backlog(self) -> int:
        """Results submitted and not yet written (what a producer should let drain)."""
        return self.submitted - self.handled

    def close(self) -> None:
        """Write everything submitted so far and stop; raises what made the writer fail."""
        self._queue.put(_STOP)
        self._thread.join()
        if self.child is not None:
            spool = self.spool
            if spool is not None and spool.valid:
                # everything is sent: build the snapshot while the process commits the rest
                self._spool(functools.partial(spool.prepare, self.experiment_id))
            try:
                self.stored = self.child.close()
            except StorageError as exc:
                self.error = self.error or exc
            if self.spool is not None:  # the batches it was sent, as it committed them
                self.spool.confirm(self.child.revisions)
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        if self.first_job is not None:  # e.g. the plan's own transaction, before any result
            try:
                self.first_job()
                self.first_job_done = True
            except BaseException as exc:
                self.error = exc
        batch: list[Completion] = []
        cached: list[CachedResponse] = []
        deadline = 0.0
        get = self._queue.get
        while True:
            if batch:
                remaining = deadline - time.monotonic()
                try:
                    entry = get(timeout=remaining) if remaining > 0 else get_nowait(self._queue)
                except queue.Empty:
                    entry = None
            else:
                entry = get()
            if entry is _STOP:
                self._flush(batch, cached)
                self.handled += len(batch)
                return
            if isinstance(entry, tuple):
                completion, cache = entry
                if not batch:
                    deadline = time.monotonic() + self.flush_interval
                batch.append(completion)
                if cache is not None:
                    cached.append(cache)
                if (
                    len(batch) < self.batch_size
                    and time.monotonic() < deadline
                    and (len(batch) < self.eager or not self._queue.empty())
                ):
                    continue
            elif not batch:
                continue
            self._flush(batch, cached)
            self.handled += len(batch)
            batch, cached = [], []

    def _flush(self, batch: list[Completion], cached: list[CachedResponse]) -> None:
        if not batch or self.error is not None:
            return
        spool = self.spool if self.spool is not None and self.spool.valid else None
        rows = completion_rows(batch)
        if self.child is not None:
            try:
                self.child.send(rows, cached)
            except OSError as exc:
                self.error = StorageError(f"result writer process failed: {exc}")
                return
            if spool is not None:
                self._spool(functools.partial(spool.add_sent, rows))
            self.written += len(batch)
            return

        revision: int | None = None

        def write() -> None:
            nonlocal revision
            _, revision = self.store.experiments.record_rows(
                self.experiment_id, rows, lease=self.lease, fresh=self.fresh
            )
            if cached:
                self.store.cache.put_many(cached)

        try:
            retry_storage(write, self.retries)
        except BaseException as exc:
            self.error = exc
            return
        if spool is not None:
            self._spool(functools.partial(spool.add, rows, revision))
        self.written += len(batch)
        self.stored = self.written
        if self.on_written is not None:
            self.on_written(self.written)

    def _spool(self, step: Callable[[], None]) -> None:
        assert self.spool is not None
        try:
            step()
        except Exception:  # the spool is only a shortcut: the snapshot is read back
            log.warning("could not spool the snapshot of %s", self.experiment_id, exc_info=True)
            self.spool.close()


def get_nowait(q: queue.SimpleQueue[Entry | object]) -> Entry | object:
    return q.get_nowait()


class ChildWriter:
    """A writer process started ahead of a run (its imports overlap with planning)."""

    def __init__(self, url: str, project_id: str, *, busy_timeout_ms: int = 30_000) -> None:
        self.url = url
        self.project_id = project_id
        self.busy_timeout_ms = busy_timeout_ms
        command, env = module_command("assay.store.writer_process")
        # Out of the terminal's foreground process group (a session of its own; on Windows, a
        # group that Ctrl+C does not reach): a Ctrl+C there stops the run, which then sends
        # its last batches, and the process must live to commit them.
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
            creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
        )
        assert self.proc.stdin is not None
        self._stdin = self.proc.stdin
        #: The run's data revision after each batch the process committed (a fresh run's).
        self.revisions: list[int | None] = []

    def start(self, experiment_id: str, lease: Lease | None = None, *, fresh: bool = False) -> None:
        held = None if lease is None else (lease.worker, lease.token)
        start = (
            "start",
            self.url,
            self.project_id,
            experiment_id,
            self.busy_timeout_ms,
            held,
            fresh,
        )
        write_frame(self._stdin, start)

    def send(self, rows: Rows, cached: list[CachedResponse]) -> None:
        write_frame(self._stdin, ("rows", rows, cached))
        self._stdin.flush()

    def close(self) -> int:
        """Wait for the process to commit everything; returns how many results it wrote."""
        try:
            out, err = self.proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise StorageError("result writer process did not finish in time") from None
        lines = out.decode(errors="replace").strip().splitlines()
        try:
            outcome = json.loads(lines[-1]) if lines else {}
        except json.JSONDecodeError:
            outcome = {}
        if self.proc.returncode != 0 or "written" not in outcome:
            detail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise StorageError(f"result writer process failed: {detail[0]}")
        self.revisions = list(outcome.get("revisions") or [])
        if outcome.get("error"):
            raise StorageError(f"result writer process failed: {outcome['error']}")
        return int(outcome["written"])

    def discard(self) -> None:
        """Stop a writer that will not be used (its run was never started)."""
        if self.proc.poll() is None:
            self._stdin.close()
            self.proc.communicate(timeout=60)

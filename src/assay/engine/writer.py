"""The result writer: one thread that persists finished results and their scores in batches.

The event loop only appends to a queue; the writer commits a batch when it holds
``batch_size`` results or its oldest result has waited ``flush_interval`` seconds, so a crash
loses at most the results of the last interval (they are simply run again on resume).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from assay.errors import AssayError
from assay.store import CachedResponse, Completion, Store

_STOP = object()
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
    ) -> None:
        self.store = store
        self.experiment_id = experiment_id
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retries = retries
        self.on_written = on_written
        self.written = 0
        self.error: BaseException | None = None
        self._queue: queue.SimpleQueue[Entry | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="assay-result-writer", daemon=True)
        self._thread.start()

    def submit(self, completion: Completion, cache: CachedResponse | None = None) -> None:
        self._queue.put((completion, cache))

    def close(self) -> None:
        """Write everything submitted so far and stop; raises what made the writer fail."""
        self._queue.put(_STOP)
        self._thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
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
                return
            if isinstance(entry, tuple):
                completion, cache = entry
                if not batch:
                    deadline = time.monotonic() + self.flush_interval
                batch.append(completion)
                if cache is not None:
                    cached.append(cache)
                if len(batch) < self.batch_size and time.monotonic() < deadline:
                    continue
            elif not batch:
                continue
            self._flush(batch, cached)
            batch, cached = [], []

    def _flush(self, batch: list[Completion], cached: list[CachedResponse]) -> None:
        if not batch or self.error is not None:
            return
        for attempt in range(self.retries + 1):
            try:
                self.store.experiments.record(self.experiment_id, batch)
                if cached:
                    self.store.cache.put_many(cached)
                break
            except AssayError as exc:  # storage briefly unavailable: wait and try again
                if attempt == self.retries:
                    self.error = exc
                    return
                time.sleep(min(0.05 * 2**attempt, 2.0))
            except BaseException as exc:
                self.error = exc
                return
        self.written += len(batch)
        if self.on_written is not None:
            self.on_written(self.written)


def get_nowait(q: queue.SimpleQueue[Entry | object]) -> Entry | object:
    return q.get_nowait()

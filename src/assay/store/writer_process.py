"""The writer process: commits result rows it receives on stdin, on a CPU of its own.

Large runs move database writes out of the running process, so writing results does not
compete with running targets for one interpreter lock. Frames are a 4-byte big-endian length
and a pickle: first
``("start", url, project_id, experiment_id, busy_timeout_ms, lease, fresh)`` (lease:
``(worker, token)`` or None, every write is fenced by it; fresh: the runner planned the run,
see :func:`~assay.store.recording.write_rows`), then
``("rows", rows, cached)`` with :class:`~assay.store.recording.Rows`. Each frame is committed
when it arrives. On end of input (the runner closed the pipe, or died) the process prints
``{"written", "error", "revisions"}`` as JSON (``revisions``: for a fresh run, its data
revision after each frame committed) and exits at once, skipping the interpreter's teardown.
A killed runner loses nothing it had already sent. It imports the store alone, not the engine,
so it is ready to write sooner.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import sys
from collections.abc import Callable
from typing import IO, Any, TypeVar

from assay.errors import AssayError
from assay.retrying import Backoff, retry_call
from assay.store.cache import ResponseCache
from assay.store.db import Database
from assay.store.lease import Lease, LeaseLost
from assay.store.recording import write_rows
from assay.store.run_bulk import Bulk

T = TypeVar("T")

STORAGE_BACKOFF_BASE = 0.05  # seconds: the waits between storage retries double from here
STORAGE_BACKOFF_CAP = 2.0


def _pickle(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def read_frame(stream: IO[bytes], loads: Callable[[bytes], Any] = pickle.loads) -> Any:
    """The next frame's value (decoded by ``loads``), or None at the end of the stream."""
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return loads(payload)


def write_frame(stream: IO[bytes], value: Any, dumps: Callable[[Any], bytes] = _pickle) -> None:
    """``value`` (encoded by ``dumps``) as one frame."""
    payload = dumps(value)
    stream.write(struct.pack(">I", len(payload)) + payload)


def retry_storage(write: Callable[[], T], retries: int) -> T:
    """``write()``, tried again up to ``retries`` times while storage is briefly unavailable
    (an :class:`~assay.errors.AssayError`), with short backoff between tries. A lost lease is
    final: never tried again."""
    return retry_call(
        lambda _attempt: write(),
        Backoff(retries, STORAGE_BACKOFF_BASE, STORAGE_BACKOFF_CAP),
        lambda exc: isinstance(exc, AssayError) and not isinstance(exc, LeaseLost),
    )


def serve(stdin: IO[bytes], retries: int = 5) -> dict[str, Any]:
    start = read_frame(stdin)
    if start is None:
        return {"written": 0, "error": None, "revisions": []}
    _, url, project_id, experiment_id, busy_timeout_ms, held, fresh = start
    lease = None if held is None else Lease(experiment_id, held[0], held[1])
    db = Database(url, busy_timeout_ms=busy_timeout_ms)
    bulk = Bulk(db.dialect)
    cache = ResponseCache(db, project_id)
    written = 0
    revisions: list[int | None] = []
    error: str | None = None
    try:
        while (frame := read_frame(stdin)) is not None:
            if error is not None:
                continue  # drain the pipe so the runner never blocks on a full pipe
            _, rows, cached = frame

            def write(rows: Any = rows, cached: Any = cached) -> tuple[int, int | None]:
                outcome = write_rows(
                    db, bulk, project_id, experiment_id, rows, lease=lease, fresh=fresh
                )
                if cached:
                    cache.put_many(cached)
                return outcome

            try:
                count, revision = retry_storage(write, retries)
                written += count
                revisions.append(revision)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
    finally:
        db.dispose()
    return {"written": written, "error": error, "revisions": revisions}


def main() -> None:
    outcome = serve(sys.stdin.buffer)
    sys.stdout.write(json.dumps(outcome) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is committed and reported: skip the interpreter's teardown (90-170 ms of
    # freeing modules, which the runner would wait for as its run ends).
    os._exit(0)


if __name__ == "__main__":
    main()

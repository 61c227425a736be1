"""The writer process: commits result rows it receives on stdin, on a CPU of its own.

Large runs move database writes out of the running process, so writing results does not
compete with running targets for one interpreter lock. Frames are a 4-byte big-endian length
and a pickle: first ``("start", url, project_id, experiment_id, busy_timeout_ms)``, then
``("rows", rows, cached)`` with :class:`~assay.store.recording.Rows`. Each frame is committed
when it arrives. On end of input (the runner closed the pipe, or died) the process prints
``{"written", "error"}`` as JSON and exits, so a killed runner loses nothing it had already
sent.
"""

from __future__ import annotations

import json
import pickle
import struct
import sys
import time
from typing import IO, Any

from assay.errors import AssayError
from assay.store.cache import ResponseCache
from assay.store.db import Database
from assay.store.recording import write_rows
from assay.store.run_bulk import Bulk


def read_frame(stream: IO[bytes]) -> Any:
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return pickle.loads(payload)


def write_frame(stream: IO[bytes], value: Any) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack(">I", len(payload)) + payload)


def serve(stdin: IO[bytes], retries: int = 5) -> dict[str, Any]:
    start = read_frame(stdin)
    if start is None:
        return {"written": 0, "error": None}
    _, url, project_id, experiment_id, busy_timeout_ms = start
    db = Database(url, busy_timeout_ms=busy_timeout_ms)
    bulk = Bulk(db.dialect)
    cache = ResponseCache(db, project_id)
    written = 0
    error: str | None = None
    try:
        while (frame := read_frame(stdin)) is not None:
            if error is not None:
                continue  # drain the pipe so the runner never blocks on a full pipe
            _, rows, cached = frame
            for attempt in range(retries + 1):
                try:
                    written += write_rows(db, bulk, project_id, experiment_id, rows)
                    if cached:
                        cache.put_many(cached)
                    break
                except AssayError as exc:
                    if attempt == retries:
                        error = f"{type(exc).__name__}: {exc}"
                    else:
                        time.sleep(min(0.05 * 2**attempt, 2.0))
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    break
    finally:
        db.dispose()
    return {"written": written, "error": error}


def main() -> None:
    outcome = serve(sys.stdin.buffer)
    sys.stdout.write(json.dumps(outcome) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

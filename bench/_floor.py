"""The physical floor of a run: the rows Assay stores, written by plain Python.

For N items this writes what a finished run of a zero-latency function target with one
deterministic scorer leaves in SQLite: the dataset and its N items, the experiment, N results
in their final state, N scores and N traces (a plain function's successful call is its trace
alone, no observation). The schema is the one Assay's migrations create (same tables, same
indexes, same pragmas), the values are in the same storage format (JSON text, ISO timestamps
ending in Z, UUID ids), and every table is written with ``executemany`` in batches of
``batch`` rows, one transaction per batch, as the engine's writer does. The target and scorer
are the same trivial Python (an ``x["q"]`` lookup and an equality check), so the floor is the
least work any engine could do to store that run: the engine's figures are printed as a
multiple of it.

    python bench/_floor.py 20000        # prints the floor's CPU seconds and items/CPU-s
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import struct
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

BATCH = 2000


def schema_db(home: Path) -> Path:
    """A fresh database created by Assay's own migrations (so the floor has its indexes)."""
    from assay.config import Settings
    from assay.store import open_store

    store = open_store(Settings(home=home))
    path = Path(str(store.db.url.database))
    store.close()
    return path


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ids(n: int) -> list[str]:
    first = uuid.uuid4().int & ~((1 << 61) - 1)
    return [str(uuid.UUID(int=first + i)) for i in range(n)]


def write_run(path: Path, n: int, *, batch: int = BATCH) -> dict[str, Any]:
    """Write one run of ``n`` items into the database at ``path``: the dataset's items first,
    then the run's rows, each timed in CPU seconds (``run_*``: the rows a run adds, which is
    what the engine writes for a dataset already stored)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-65536")
    (project_id,) = conn.execute("SELECT id FROM projects LIMIT 1").fetchone()
    cpu, wall = time.process_time(), time.perf_counter()
    dumps = orjson.dumps
    now = _stamp(time.time())
    dataset_id, experiment_id = str(uuid.uuid4()), str(uuid.uuid4())
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO datasets (id, project_id, name, tags, metadata, version, item_count, "
        "next_sort_order, created_at, updated_at) VALUES (?, ?, ?, '[]', '{}', 1, ?, ?, ?, ?)",
        (dataset_id, project_id, f"floor-{dataset_id[:8]}", n, n, now, now),
    )
    conn.execute(
        "INSERT INTO experiments (id, project_id, dataset_id, dataset_version, name, config, "
        "evaluator_ids, scorers, concurrency, trials, tags, metadata, external, status, "
        "cancel_requested, data_revision, lease, created_at, started_at) VALUES "
        "(?, ?, ?, 1, 'floor', '{}', '[]', '[]', 10, 1, '[]', '{}', 0, 'running', 0, 0, 1, ?, ?)",
        (experiment_id, project_id, dataset_id, now, now),
    )
    conn.execute("COMMIT")
    item_ids, result_ids, score_ids = _ids(n), _ids(n), _ids(n)
    # the items' input keys (store/item_rows.py: InputKeys)
    key_prefix, unpack = dataset_id.encode() + b"\n", struct.Struct(">q").unpack_from

    def key(text: bytes) -> int:
        value: int = unpack(hashlib.sha256(text).digest())[0]
        return value

    for start in range(0, n, batch):  # the dataset's items
        items = []
        for i in range(start, min(n, start + batch)):
            input_text = dumps({"q": f"question {i}"}).decode()
            items.append(
                (
                    item_ids[i],
                    dataset_id,
                    1,
                    input_text,
                    dumps(f"question {i}").decode(),
                    None,
                    "{}",
                    "[]",
                    "manual",
                    None,
                    i,
                    0,
                    now,
                    now,
                    key(key_prefix + input_text.encode()),
                )
            )
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO dataset_items (id, dataset_id, valid_from, input, expected_output, "
            "context, metadata, tags, source, source_trace_id, sort_order, archived, "
            "created_at, updated_at, input_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?)",
            items,
        )
        conn.execute("COMMIT")
    items_cpu = time.process_time() - cpu
    for start in range(0, n, batch):  # the run: results, scores, traces
        res, sc, tr = [], [], []
        for i in range(start, min(n, start + batch)):
            value = {"q": f"question {i}"}
            expected = f"question {i}"
            input_text = dumps(value).decode()
            t0 = time.time()
            output = value["q"]  # the target
            passed = output == expected  # the scorer
            t1 = time.time()
            began, ended, rid = _stamp(t0), _stamp(t1), result_ids[i]
            output_text = dumps(output).decode()
            res.append(
                (
                    rid,
                    experiment_id,
                    item_ids[i],
                    0,
                    "completed",
                    input_text,
                    dumps(expected).decode(),
                    output_text,
                    (t1 - t0) * 1000,
                    1,
                    passed,
                    rid,
                    began,
                    ended,
                )
            )
            sc.append(
                (
                    score_ids[i],
                    project_id,
                    experiment_id,
                    rid,
                    "exact_match",
                    "boolean",
                    1.0 if passed else 0.0,
                    passed,
                    "evaluator",
                    "{}",
                    now,
                    now,
                )
            )
            tr.append(
                (
                    rid,
                    project_id,
                    "floor",
                    input_text,
                    output_text,
                    dumps({"dataset_item_id": item_ids[i], "attempts": 1}).decode(),
                    "[]",
                    experiment_id,
                    began,
                    ended,
                    now,
                )
            )
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO results (id, experiment_id, item_id, repetition, status, input, "
            "expected_output, output, latency_ms, attempts, passed, trace_id, started_at, "
            "finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            res,
        )
        conn.executemany(
            "INSERT INTO scores (id, project_id, experiment_id, result_id, name, data_type, "
            "numeric_value, passed, source, metadata, created_at, updated_at) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            sc,
        )
        conn.executemany(
            "INSERT INTO traces (id, project_id, name, input, output, metadata, tags, "
            "session_id, start_time, end_time, created_at) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            tr,
        )
        conn.execute("COMMIT")
    conn.execute(
        "UPDATE experiments SET status = 'completed', finished_at = ? WHERE id = ?",
        (_stamp(time.time()), experiment_id),
    )
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    conn.close()
    run_cpu = cpu - items_cpu
    return {
        "items": n,
        "cpu_seconds": round(cpu, 4),
        "seconds": round(wall, 4),
        "items_cpu_seconds": round(items_cpu, 4),
        "run_cpu_seconds": round(run_cpu, 4),
        "run_items_per_cpu_s": round(n / run_cpu) if run_cpu > 0 else None,
        "run_us_per_item": round(run_cpu / n * 1e6, 2),
    }


def latency_run(
    path: Path, n: int, concurrency: int, delay: float = 0.05, *, batch: int = BATCH
) -> dict[str, Any]:
    """The floor of a latency-bound run: ``n`` items of a stored dataset (read first, in one
    query), a target that awaits ``delay`` seconds on the event loop Assay uses (uvloop where
    installed), ``concurrency`` calls at a time, no scorer, each finished call's result and
    trace rows handed to a writer thread that commits them with ``executemany`` every 50 ms or
    ``batch`` rows. Achieved items/s over the ideal (``concurrency / delay``), from the start
    (reading the items) to the last row committed."""
    import asyncio
    import queue
    import threading

    from assay.sync import loop_factory

    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    (project_id,) = conn.execute("SELECT id FROM projects LIMIT 1").fetchone()
    dumps = orjson.dumps
    done: queue.SimpleQueue[tuple[tuple[Any, ...], tuple[Any, ...]] | None] = queue.SimpleQueue()

    def write() -> None:
        stop = False
        while not stop:
            rows = [done.get()]
            deadline = time.monotonic() + 0.05
            while len(rows) < batch:
                try:
                    rows.append(done.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            if rows[-1] is None:
                stop = True
                rows.pop()
            if not rows:
                continue
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO results (id, experiment_id, item_id, repetition, status, input, "
                "expected_output, output, latency_ms, attempts, trace_id, started_at, "
                "finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [r for r, _ in rows],
            )
            conn.executemany(
                "INSERT INTO traces (id, project_id, name, input, output, metadata, tags, "
                "session_id, start_time, end_time, created_at) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [t for _, t in rows],
            )
            conn.execute("COMMIT")

    start = time.perf_counter()
    (dataset_id,) = conn.execute("SELECT id FROM datasets LIMIT 1").fetchone()
    items = conn.execute(
        "SELECT id, input, expected_output FROM dataset_items WHERE dataset_id = ? "
        "ORDER BY sort_order, id",
        (dataset_id,),
    ).fetchall()[:n]
    experiment_id, now = str(uuid.uuid4()), _stamp(time.time())
    conn.execute(
        "INSERT INTO experiments (id, project_id, dataset_id, dataset_version, name, config, "
        "evaluator_ids, scorers, concurrency, trials, tags, metadata, external, status, "
        "cancel_requested, data_revision, lease, created_at, started_at) VALUES "
        "(?, ?, ?, 1, 'floor', '{}', '[]', '[]', ?, 1, '[]', '{}', 0, 'running', 0, 0, 1, ?, ?)",
        (experiment_id, project_id, dataset_id, concurrency, now, now),
    )
    writer = threading.Thread(target=write)
    writer.start()
    result_ids = _ids(len(items))

    async def run() -> None:
        work = iter(zip(result_ids, items, strict=True))

        async def slot() -> None:
            for rid, (item_id, input_text, expected_text) in work:
                value = orjson.loads(input_text)
                t0 = time.time()
                await asyncio.sleep(delay)  # the target
                output = value["q"]
                t1 = time.time()
                began, ended, output_text = _stamp(t0), _stamp(t1), dumps(output).decode()
                result = (
                    rid,
                    experiment_id,
                    item_id,
                    0,
                    "completed",
                    input_text,
                    expected_text,
                    output_text,
                    (t1 - t0) * 1000,
                    1,
                    rid,
                    began,
                    ended,
                )
                meta = dumps({"dataset_item_id": item_id, "attempts": 1}).decode()
                trace = (
                    rid,
                    project_id,
                    "floor",
                    input_text,
                    output_text,
                    meta,
                    "[]",
                    experiment_id,
                    began,
                    ended,
                    now,
                )
                done.put((result, trace))

        await asyncio.gather(*(slot() for _ in range(concurrency)))

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(run())
    done.put(None)
    writer.join()
    conn.execute(
        "UPDATE experiments SET status = 'completed', finished_at = ? WHERE id = ?",
        (_stamp(time.time()), experiment_id),
    )
    seconds = time.perf_counter() - start
    conn.close()
    ideal = concurrency / delay
    return {
        "items": len(items),
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "of_ideal": round(len(items) / seconds / ideal, 3),
    }


def floor(n: int) -> dict[str, Any]:
    """The floor for ``n`` items in a fresh database made by Assay's migrations."""
    home = Path(tempfile.mkdtemp(prefix="assay-floor-"))
    return write_run(schema_db(home), n)


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(Path(__file__).parents[1] / "src"))
    print(json.dumps(floor(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)))

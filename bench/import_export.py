"""Benchmark: import a large CSV into a dataset and export it again, on SQLite and PostgreSQL.

    python bench/import_export.py                    # 1,000,000 rows, both databases
    python bench/import_export.py --rows 100000 --db sqlite

Writes a CSV of ``--rows`` rows (about 150 bytes each) to a temporary directory, then runs each
phase in a fresh subprocess so its peak RSS (``ru_maxrss``) is that phase's alone: the floor (the
same rows by plain Python, see :func:`floor_csv`); import the CSV; export CSV, JSONL and JSON;
import the exported JSONL and JSON back, and the JSON as the REST bulk import payload
(``{"items": [...]}``, :func:`wrap_items`). Prints rows/s (wall and per CPU second), peak RSS and
each phase's speed as a fraction of the floor's (measured in the same run, so the ratios hold
on a loaded machine), and writes ``bench/results/import_export.json``. A file of 16 MB or more
is parsed by an import process while the phase's process inserts (``assay.io.import_process``):
CPU time counts both, and the import process's peak RSS is printed beside the phase's.
``--baseline-src OTHER/src`` also runs each import with another checkout's code, just before
this one's. On PostgreSQL it uses a fresh project and deletes its datasets afterwards
(``--pg-url`` picks another database); its ratios are to the SQLite floor when both run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RESULTS = Path(__file__).resolve().parent / "results" / "import_export.json"
PHASE_TIMEOUT_S = 1_800
TOPICS = ["password", "billing", "invoice", "account", "refund", "shipping", "login", "api key"]


def write_csv(path: Path, rows: int) -> int:
    """A realistic support-FAQ dataset: nested input, expected answer, category, tags."""
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("input.query,input.lang,expected_output.answer,metadata.category,tags\n")
        for n in range(rows):
            topic = TOPICS[n % len(TOPICS)]
            f.write(
                f"How do I change my {topic} settings for account {n:07d}?,en,"
                f"Open Settings > {topic.title()} and follow the steps (case {n:07d}),"
                f'{topic},"faq,{topic.replace(" ", "-")}"\n'
            )
    return path.stat().st_size


def wrap_items(array: Path, path: Path) -> Path:
    """``array`` (a JSON export) as the ``items`` of an object, the REST bulk import payload."""
    with array.open("rb") as src, path.open("wb") as out:
        out.write(b'{"items": ')
        shutil.copyfileobj(src, out, 1 << 20)
        out.write(b"}\n")
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_seconds_with_children() -> float:
    """CPU seconds of this process and of the processes it waited for (an import process)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def floor_csv(url: str, project: str, file: Path, batch: int = 5_000) -> int:
    """The floor of a CSV import: the same rows Assay stores (JSON text, input key, UUIDv7
    ids, one transaction), read with the plain ``csv`` module and written with ``executemany``
    on a connection with Assay's own pragmas (and its bulk-write cache), into an empty
    ``dataset_items`` table of the same schema: a fresh store beside the benchmark's, so the
    floor and the import both start from an empty table."""
    import csv
    import hashlib
    import sqlite3
    import struct

    import orjson
    from sqlalchemy import make_url

    from assay.config import Settings
    from assay.domain import DatasetCreate
    from assay.store import open_store
    from assay.store.db import SQLITE_BULK_CACHE_KIB

    floor_db = Path(str(make_url(url).database)).with_name("floor.db")
    store = open_store(Settings(database_url=f"sqlite:///{floor_db}"), project=project)
    dataset = store.datasets.create(DatasetCreate(name="floor")).id
    path = store.db.url.database
    store.close()
    conn = sqlite3.connect(str(path), isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute(f"PRAGMA cache_size=-{SQLITE_BULK_CACHE_KIB}")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    dumps, sorted_keys, sha = orjson.dumps, orjson.OPT_SORT_KEYS, hashlib.sha256
    key_prefix, unpack = dataset.encode() + b"\n", struct.Struct(">q").unpack_from
    sql = (
        "INSERT INTO dataset_items (id, dataset_id, valid_from, input, expected_output, "
        "context, metadata, tags, source, source_trace_id, sort_order, archived, created_at, "
        "updated_at, input_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    count = 0
    conn.execute("BEGIN IMMEDIATE")
    with file.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        rows: list[tuple[Any, ...]] = []
        for query, lang, answer, category, tags in reader:
            value = {"query": query, "lang": lang}
            rows.append(
                (
                    dataset,
                    dumps(value).decode(),
                    dumps({"answer": answer}).decode(),
                    dumps({"category": category}).decode(),
                    dumps([t.strip() for t in tags.split(",")]).decode(),
                    count,
                    unpack(sha(key_prefix + dumps(value, option=sorted_keys)).digest())[0],
                )
            )
            count += 1
            if len(rows) == batch:
                _floor_insert(conn, sql, rows, now)
                rows = []
        _floor_insert(conn, sql, rows, now)
    conn.execute("UPDATE datasets SET version = 2, item_count = ? WHERE id = ?", (count, dataset))
    conn.execute("COMMIT")
    conn.close()
    return count


def _floor_insert(conn: Any, sql: str, rows: list[tuple[Any, ...]], now: str) -> None:
    from assay.store.bulk import new_ids

    ids = new_ids(len(rows))
    conn.executemany(
        sql,
        [
            (ids[i], r[0], 2, r[1], r[2], None, r[3], r[4], "import", None, r[5], 0, now, now, r[6])
            for i, r in enumerate(rows)
        ],
    )


def run_phase(args: argparse.Namespace) -> dict[str, Any]:
    """One phase, in this (fresh) process."""
    from assay.config import Settings
    from assay.errors import NotFound
    from assay.io import export_dataset, import_file
    from assay.store import open_store

    store = open_store(Settings(database_url=args.url), project=args.project)
    baseline = peak_rss_mb()
    started = time.perf_counter()
    cpu_started = cpu_seconds_with_children()
    if args.phase == "floor-csv":
        rows = floor_csv(args.url, args.project, Path(args.file))
    elif args.phase.startswith("import-"):
        # The CSV goes to "bench"; exported JSONL / JSON files are re-imported beside it.
        fmt = args.phase.removeprefix("import-")
        dataset = "bench" if fmt == "csv" else f"bench-{fmt}"
        change = import_file(store, Path(args.file), dataset=dataset, create=True)
        rows = change.added
    elif args.phase.startswith("export-"):
        fmt = args.phase.removeprefix("export-")
        with Path(args.file).open("wb") as out:
            rows = export_dataset(store, "bench", out, format=fmt)
    elif args.phase == "cleanup":
        for dataset in ("bench", "bench-jsonl", "bench-json", "bench-json-items"):
            with contextlib.suppress(NotFound):  # an import may have failed before creating it
                store.datasets.delete(dataset)
        rows = 0
    else:
        raise SystemExit(f"unknown phase {args.phase}")
    seconds = time.perf_counter() - started
    cpu_seconds = cpu_seconds_with_children() - cpu_started
    store.close()
    return {
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds) if rows else 0,
        # On a shared machine wall time swings with other load; this process's CPU time
        # does not (the database server's own CPU is not included for PostgreSQL).
        "cpu_seconds": round(cpu_seconds, 3),
        "rows_per_cpu_s": round(rows / cpu_seconds) if rows and cpu_seconds else 0,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_before_phase_mb": round(baseline, 1),
        # a large file's import process (``assay.io.import_process``), when one ran
        "import_process_peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
    }


def spawn(
    phase: str, url: str, project: str, file: Path, src: Path | None = None
) -> dict[str, Any]:
    """Run one phase in a fresh process; ``src`` puts another checkout's ``assay`` first."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--phase",
        phase,
        "--url",
        url,
        "--project",
        project,
        "--file",
        str(file),
    ]
    env = os.environ.copy()
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PHASE_TIMEOUT_S)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_database(
    kind: str,
    url: str,
    csv_path: Path,
    work: Path,
    rows: int,
    import_only: bool = False,
    baseline_src: Path | None = None,
) -> dict[str, Any]:
    project = f"bench-{uuid.uuid4().hex[:10]}"
    results: dict[str, Any] = {}
    other = url if kind == "postgresql" else url.replace("assay.db", "baseline.db")

    def import_phase(name: str, file: Path) -> None:
        """Import ``file``, after the other checkout (interleaved with this one's) if given."""
        key = f"import_{name.replace('-', '_')}"
        if baseline_src is not None:
            results[f"baseline_{key}"] = spawn(
                f"import-{name}", other, f"{project}-base", file, baseline_src
            )
        results[key] = spawn(f"import-{name}", url, project, file)

    try:
        if kind == "sqlite":  # the same rows by plain Python, into an empty table
            results["floor_csv"] = spawn("floor-csv", url, project, csv_path)
        import_phase("csv", csv_path)
        for fmt in () if import_only else ("csv", "jsonl", "json"):
            target = work / f"export-{kind}.{fmt}"
            results[f"export_{fmt}"] = spawn(f"export-{fmt}", url, project, target)
            results[f"export_{fmt}"]["bytes"] = target.stat().st_size
            if fmt != "csv":  # the exported file imports back: JSON import speed
                import_phase(fmt, target)
            if fmt == "json":  # and as the REST bulk import payload
                payload = wrap_items(target, work / f"export-{kind}-items.json")
                import_phase("json-items", payload)
                payload.unlink()
            target.unlink()
    finally:
        if kind == "postgresql":
            for name in (project, f"{project}-base") if baseline_src else (project,):
                try:
                    spawn("cleanup", url, name, csv_path)
                except SystemExit as exc:  # report, but do not hide the phase that failed
                    print(f"cleanup failed: {exc}", file=sys.stderr)
    for phase, r in results.items():
        if r["rows"] != rows:
            raise SystemExit(f"{kind} {phase}: expected {rows} rows, got {r['rows']}")
    return results


def add_ratios(results: dict[str, Any], floor: dict[str, Any] | None) -> None:
    """Each phase's speed as a fraction of the floor's (1.0: as fast as plain Python)."""
    if floor is None:
        return
    for r in results.values():
        r["wall_vs_floor"] = round(r["rows_per_s"] / floor["rows_per_s"], 3)
        r["cpu_vs_floor"] = round(r["rows_per_cpu_s"] / floor["rows_per_cpu_s"], 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument(
        "--pg-url", default=os.environ.get("ASSAY_BENCH_POSTGRES_URL", DEFAULT_PG_URL)
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--import-only", action="store_true", help="Only the CSV import and its floor."
    )
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="Also run each import with the assay package of this src directory (another "
        "checkout), in the same run, before this checkout's.",
    )
    # Internal: run one phase in this process.
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args)))
        return

    kinds = ["sqlite", "postgresql"] if args.db == "all" else [args.db]
    floor: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="assay-bench-") as tmp:
        work = Path(tmp)
        csv_path = work / "items.csv"
        started = time.perf_counter()
        size = write_csv(csv_path, args.rows)
        print(
            f"wrote {args.rows:,} rows, {size / 1e6:.1f} MB ({size / args.rows:.0f} bytes/row) "
            f"in {time.perf_counter() - started:.1f}s"
        )
        report: dict[str, Any] = {
            "rows": args.rows,
            "csv_bytes": size,
            "bytes_per_row": round(size / args.rows, 1),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cpus",
            "load_average_at_start": list(os.getloadavg()),
            "databases": {},
        }
        for kind in kinds:
            url = f"sqlite:///{work / 'assay.db'}" if kind == "sqlite" else args.pg_url
            results = bench_database(
                kind, url, csv_path, work, args.rows, args.import_only, args.baseline_src
            )
            report["databases"][kind] = results
            floor = floor or results.get("floor_csv")  # PostgreSQL compares to SQLite's
            add_ratios(results, floor)
            for phase, r in results.items():
                ratio = (
                    f"  x floor: {r['wall_vs_floor']:.2f} wall, {r['cpu_vs_floor']:.2f} CPU"
                    if floor
                    else ""
                )
                helper = r.get("import_process_peak_rss_mb") or 0
                print(
                    f"{kind:<10} {phase:<26} {r['rows_per_s']:>7,} rows/s "
                    f"({r['rows_per_cpu_s']:>7,} per CPU s)  {r['seconds']:>6.1f}s  "
                    f"peak RSS {r['peak_rss_mb']:>6.1f} MB"
                    + (f" (import process {helper:.1f} MB)" if helper else "")
                    + ratio
                )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {args.output}")


if __name__ == "__main__":
    main()

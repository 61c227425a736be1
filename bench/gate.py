"""Gating a large stored run against its baseline: peak RSS and time, in process, through the
CLI with its reports and over the REST API (and the SDK).

The store is the one ``bench/compare.py`` builds (two runs of ``--items`` items, ``main`` and
``feature``, written through the bulk recording path with their snapshots). ``--home DIR``
keeps it: it is built there when ``DIR`` holds no runs yet and reused as it is otherwise, so
a million-item store (about five minutes to build) serves every measurement.

Each measurement runs in a fresh process, so that its peak RSS (``VmHWM``) is its own:

- ``python``: ``gate_experiment(store, run, baseline_tag="main")``, what ``assert_gate`` calls;
- ``compare``: ``compare_experiments(store, [baseline, run], items=False)``, for reference;
- ``cli``: ``assay gate RUN --baseline-tag main --junit FILE --markdown FILE`` (the reports'
  sizes and SHA-256 are recorded, so trees can be checked to write the same reports);
- ``cli_json``: ``assay gate RUN --baseline-tag main --json`` to a file;
- ``api``: a real ``assay serve`` on the store, ``GET /api/v1/experiments/{id}/gate/`` (the
  server's peak RSS), then the SDK's ``client.experiments.gate`` in a process of its own;
  where the tree has them, every page of ``gate/regressions/`` and the first pages of
  ``gate/items/`` (10,000 each).

``--tree NAME=SRC`` (repeatable) measures each tree's ``src`` on the same store: before and
after in one run. Writes ``bench/results/gate-<items>.json``.

    PYTHONPATH=src python bench/gate.py --items 1000000 --home /tmp/gate-store \\
        --tree main=../main/src --tree new=src
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from _server import start_server  # bench/ is on sys.path when a script runs

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PHASES = ("python", "compare", "cli", "cli_json", "api")
PAGE = 10_000


def vm_kb(field: str, pid: int | str = "self") -> int:
    """A ``/proc/<pid>/status`` field in kB (``VmHWM``: peak RSS of the process image)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise SystemExit(f"no {field} in /proc/{pid}/status")


def mb(kb: int) -> float:
    return round(kb / 1024, 1)


def env_for(home: Path, src: str | None) -> dict[str, str]:
    env = {**os.environ, "ASSAY_HOME": str(home), "ASSAY_AUTH": "none"}
    env.pop("ASSAY_DATABASE_URL", None)
    env.pop("ASSAY_PROJECT", None)
    if src is not None:
        env["PYTHONPATH"] = src
    return env


def ensure_store(home: Path, items: int) -> list[str]:
    """The baseline and candidate run ids, building the store first when ``home`` has none."""
    ids = home / "runs.json"
    if not ids.exists():
        home.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, str(HERE / "compare.py"), "--phase", "build"]
        command += ["--home", str(home), "--items", str(items), "--build", "rows", "--runs", "0"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=7_200)
        if done.returncode != 0:
            raise SystemExit(f"build failed:\n{done.stderr}")
    runs: list[str] = json.loads(ids.read_text())
    return runs


# ---------------------------------------------------------------- phases (fresh processes)
def phase_python(home: Path, candidate: str) -> dict[str, Any]:
    from assay.analysis import gate_experiment
    from assay.config import Settings
    from assay.store import open_store

    store = open_store(Settings(home=home))
    try:
        start = time.perf_counter()
        verdict = gate_experiment(store, candidate, baseline_tag="main")
        elapsed = time.perf_counter() - start
    finally:
        store.close()
    return {
        "gate_experiment_s": round(elapsed, 3),
        "passed": verdict.passed,
        "items_listed": len(verdict.items),
        "items_total": getattr(verdict, "items_total", len(verdict.items)),
        "regressions_listed": len(verdict.regressions),
        "regressions_total": getattr(verdict, "regressions_total", len(verdict.regressions)),
        "peak_rss_mb": mb(vm_kb("VmHWM")),
    }


def phase_compare(home: Path, baseline: str, candidate: str) -> dict[str, Any]:
    from assay.analysis import compare_experiments
    from assay.config import Settings
    from assay.store import open_store

    store = open_store(Settings(home=home))
    try:
        start = time.perf_counter()
        compare_experiments(store, [baseline, candidate], items=False)
        elapsed = time.perf_counter() - start
    finally:
        store.close()
    return {"compare_experiments_s": round(elapsed, 3), "peak_rss_mb": mb(vm_kb("VmHWM"))}


def phase_sdk(base: str, candidate: str) -> dict[str, Any]:
    from assay import Assay

    client = Assay(base, timeout=1_800)
    start = time.perf_counter()
    verdict = client.experiments.gate(candidate, baseline_tag="main")
    elapsed = time.perf_counter() - start
    return {
        "sdk_gate_s": round(elapsed, 3),
        "sdk_items_listed": len(verdict.items),
        "sdk_peak_rss_mb": mb(vm_kb("VmHWM")),
    }


def _cli_wrapper(out: Path, argv: list[str]) -> str:
    """Python source running ``assay`` with ``argv`` and writing its peak RSS to ``out``."""
    return (
        "import atexit, runpy, sys\n"
        "from pathlib import Path\n"
        "def _peak():\n"
        "    for line in Path('/proc/self/status').read_text().splitlines():\n"
        "        if line.startswith('VmHWM:'):\n"
        f"            Path({str(out)!r}).write_text(line.split()[1])\n"
        "atexit.register(_peak)\n"
        f"sys.argv = {['assay', *argv]!r}\n"
        "runpy.run_module('assay', run_name='__main__')\n"
    )


def run_cli(env: dict[str, str], argv: list[str], stdout: Path | None = None) -> dict[str, Any]:
    """``assay ARGV`` in a fresh interpreter: its exit code, wall time and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / "peak"
        start = time.perf_counter()
        with stdout.open("wb") if stdout else open(os.devnull, "wb") as out:
            done = subprocess.run(
                [sys.executable, "-c", _cli_wrapper(peak, argv)],
                env=env,
                stdout=out,
                stderr=subprocess.PIPE,
                timeout=3_600,
            )
        elapsed = time.perf_counter() - start
        if done.returncode not in (0, 1):
            raise SystemExit(f"assay {' '.join(argv)} failed:\n{done.stderr.decode()}")
        return {
            "exit_code": done.returncode,
            "wall_s": round(elapsed, 3),
            "peak_rss_mb": mb(int(peak.read_text())),
        }


def _digest(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


def phase_cli(home: Path, src: str | None, candidate: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        junit, markdown = Path(tmp) / "junit.xml", Path(tmp) / "summary.md"
        argv = ["gate", candidate, "--baseline-tag", "main"]
        argv += ["--junit", str(junit), "--markdown", str(markdown)]
        figures = run_cli(env_for(home, src), argv)
        figures["junit"] = _digest(junit)
        figures["markdown"] = _digest(markdown)
    return figures


def phase_cli_json(home: Path, src: str | None, candidate: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "verdict.json"
        argv = ["gate", candidate, "--baseline-tag", "main", "--json"]
        figures = run_cli(env_for(home, src), argv, stdout=out)
        figures["json_bytes"] = out.stat().st_size
    return figures


def _walk(http: httpx.Client, url: str, pages: int | None) -> tuple[int, int, float]:
    """Follow a gate listing's cursors: (pages read, records, seconds)."""
    cursor, seen, read = None, 0, 0
    start = time.perf_counter()
    while pages is None or read < pages:
        params: dict[str, Any] = {"limit": PAGE, "baseline_tag": "main"}
        if cursor is not None:
            params["cursor"] = cursor
        response = http.get(url, params=params)
        response.raise_for_status()
        page = response.json()
        read += 1
        seen += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return read, seen, time.perf_counter() - start


def phase_api(home: Path, src: str | None, candidate: str) -> dict[str, Any]:
    env = env_for(home, src)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start_server(env, Path(tmp) / "server.log", timeout=300)
        try:
            figures["server_rss_at_start_mb"] = mb(vm_kb("VmRSS", proc.pid))
            with httpx.Client(base_url=base, timeout=1_800) as http:
                url = f"/api/v1/experiments/{candidate}/gate/"
                start = time.perf_counter()
                response = http.get(url, params={"baseline_tag": "main"})
                figures["gate_s"] = round(time.perf_counter() - start, 3)
                response.raise_for_status()
                figures["response_bytes"] = len(response.content)
                body = response.json()
                del response
                figures["items_listed"] = len(body["items"])
                figures["items_total"] = body.get("items_total", len(body["items"]))
                paged = "items_next_cursor" in body
                del body
                figures["server_peak_rss_after_gate_mb"] = mb(vm_kb("VmHWM", proc.pid))
                if paged:
                    read, seen, took = _walk(http, f"{url}regressions/", None)
                    figures["regressions_pages"] = read
                    figures["regressions_paged"] = seen
                    figures["regressions_all_pages_s"] = round(took, 3)
                    read, seen, took = _walk(http, f"{url}items/", 2)
                    figures["items_first_two_pages_s"] = round(took, 3)
                    figures["server_peak_rss_after_pages_mb"] = mb(vm_kb("VmHWM", proc.pid))
            sdk = subprocess.run(
                [sys.executable, __file__, "--phase", "sdk", "--base", base, "--run", candidate],
                env=env,
                capture_output=True,
                text=True,
                timeout=3_600,
            )
            if sdk.returncode != 0:
                raise SystemExit(f"sdk phase failed:\n{sdk.stderr}")
            figures.update(json.loads(sdk.stdout.strip().splitlines()[-1]))
            figures["server_peak_rss_mb"] = mb(vm_kb("VmHWM", proc.pid))
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return figures


def spawn(phase: str, home: Path, src: str | None, runs: list[str]) -> dict[str, Any]:
    """An in-process phase in a fresh interpreter."""
    command = [sys.executable, __file__, "--phase", phase, "--home", str(home)]
    command += ["--baseline", runs[0], "--run", runs[1]]
    done = subprocess.run(
        command, env=env_for(home, src), capture_output=True, text=True, timeout=3_600
    )
    if done.returncode != 0:
        raise SystemExit(f"{phase} phase failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--home", type=Path, help="keep (or reuse) the store here")
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=SRC")
    parser.add_argument("--only", action="append", choices=PHASES, help="phases to run")
    parser.add_argument("--out", type=Path, help="results file (default: bench/results/...)")
    # Internal: one phase in this process.
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "python":
        print(json.dumps(phase_python(args.home, args.run)))
        return
    if args.phase == "compare":
        print(json.dumps(phase_compare(args.home, args.baseline, args.run)))
        return
    if args.phase == "sdk":
        print(json.dumps(phase_sdk(args.base, args.run)))
        return

    home = args.home or Path(tempfile.mkdtemp(prefix="assay-bench-gate-"))
    trees: list[tuple[str, str | None]] = [
        (name, str(Path(src).resolve())) for name, _, src in (t.partition("=") for t in args.tree)
    ] or [("this", None)]
    figures: dict[str, Any] = {"items": args.items, "trees": {}}
    try:
        start = time.perf_counter()
        runs = ensure_store(home, args.items)
        candidate = runs[1]
        figures["store_ready_s"] = round(time.perf_counter() - start, 1)
        for name, src in trees:
            out: dict[str, Any] = figures["trees"].setdefault(name, {})
            for phase in args.only or PHASES:
                print(f"{name}: {phase}…", file=sys.stderr, flush=True)
                if phase in ("python", "compare"):
                    out[phase] = spawn(phase, home, src, runs)
                elif phase == "cli":
                    out[phase] = phase_cli(home, src, candidate)
                elif phase == "cli_json":
                    out[phase] = phase_cli_json(home, src, candidate)
                else:
                    out[phase] = phase_api(home, src, candidate)
                print(f"  {json.dumps(out[phase])}", file=sys.stderr, flush=True)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    figures["load_average_1m"] = os.getloadavg()[0]
    figures["python"] = platform.python_version()
    figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    for name, phases in figures["trees"].items():
        for phase, values in phases.items():
            peak = values.get("peak_rss_mb", values.get("server_peak_rss_mb"))
            took = next((v for k, v in values.items() if k.endswith("_s")), None)
            print(f"{name:8s} {phase:10s} peak RSS {peak:8.1f} MB  {took} s")
    path = args.out or RESULTS / f"gate-{args.items}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""The reliability and security scorecard: one line per case, each with its figure.

    python bench/reliability.py                    # every case, full trials
    python bench/reliability.py --short            # fewer trials: a minute or two, for CI
    python bench/reliability.py --only crash-resume,sqlite-writers

Every case runs against the public surfaces (the REST API in process or a real ``assay serve``,
the SDK, the CLI, ``evaluate()``, the worker) and prints ``<case>  <figure>``; a case that
cannot run prints ``ERROR <reason>`` on its line and the others go on. ``ok``/``FAIL`` after a
figure says whether the case met its expectation (``--`` when it has none). The last line sums
up. Writes ``bench/results/reliability.json``. What each line means: docs/security.md,
"The scorecard".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _scorecard import (
    RESULTS,
    Mode,
    Outcome,
)
from _scorecard_input import (
    bad_keys,
    bombs,
    schema_fuzz,
)
from _scorecard_runs import (
    crash_resume,
    server_kill9,
    sqlite_writers,
    worker_takeover,
)
from _scorecard_tenants import (
    credentials,
    cross_project,
    ssrf,
)

# ----------------------------------------------------------------------------- main

CASES: dict[str, Callable[[Mode], Outcome]] = {
    "crash-resume": crash_resume,
    "worker-takeover": worker_takeover,
    "sqlite-writers": sqlite_writers,
    "server-kill9": server_kill9,
    "cross-project": cross_project,
    "ssrf": ssrf,
    "credentials": credentials,
    "bombs": bombs,
    "schemathesis": schema_fuzz,
    "bad-keys": bad_keys,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="Fewer trials (CI).")
    parser.add_argument("--only", help=f"Comma-separated cases: {', '.join(CASES)}.")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",")] if args.only else list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    mode = Mode(short=args.short, seed=args.seed)

    report: dict[str, Any] = {}
    width = max(len(n) for n in names)
    for name in names:
        start = time.monotonic()
        try:
            outcome = CASES[name](mode)
            verdict = {True: "ok", False: "FAIL", None: "--"}[outcome.ok]
            line = f"{outcome.text}  [{verdict}]"
            report[name] = {"figures": outcome.figures, "ok": outcome.ok, "line": outcome.text}
        except (Exception, SystemExit) as exc:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            line = f"ERROR {reason}"
            report[name] = {"error": reason, "ok": None}
        report[name]["seconds"] = round(time.monotonic() - start, 1)
        print(f"{name:<{width}}  {line}", flush=True)

    met = sum(1 for r in report.values() if r["ok"] is True)
    failed = sum(1 for r in report.values() if r["ok"] is False)
    errors = sum(1 for r in report.values() if "error" in r)
    print(
        f"summary: {len(names)} cases, {met} met expectations, {failed} did not, "
        f"{errors} errors ({'short' if args.short else 'full'} mode)",
        flush=True,
    )
    result = {
        "benchmark": "reliability",
        "mode": "short" if args.short else "full",
        "cases": report,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

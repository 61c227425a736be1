"""Start-up time: wall time of short commands, each in a fresh process.

Every command runs ``--repeat`` times (default 10), interleaved so that background load hits all
of them alike; the minimum and median are reported, with their ratio to the floor, an empty
``python -c pass`` measured in the same run.

- ``import assay``, ``import assay.cli.main``: the package and the command line's module.
- ``assay --version``, ``assay --help``: the console script, nothing opened.
- ``assay datasets list``: on a temporary ASSAY_HOME whose database is already migrated, and
  ``datasets list (first run)`` on a new ASSAY_HOME each time (creates and migrates the database).

    python bench/startup.py                          # this tree's src/
    python bench/startup.py --src /other/tree/src --out /tmp/startup-base.json

Prints a table and writes bench/results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _assay_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m assay``."""
    script = Path(sys.executable).parent / "assay"
    if script.exists():
        return [str(script)]
    found = shutil.which("assay")
    return [found] if found else [sys.executable, "-m", "assay"]


def _time(argv: Sequence[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def measure(src: Path, repeat: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env["PYTHONPATH"] = str(src)
    scratch = Path(tempfile.mkdtemp(prefix="assay-bench-startup-"))
    migrated = scratch / "migrated"
    assay = _assay_command()
    home_env = {**env, "ASSAY_HOME": str(migrated)}
    subprocess.run([*assay, "datasets", "list"], env=home_env, check=True, capture_output=True)

    fresh_homes = iter(range(repeat))

    def first_run() -> float:
        home = scratch / f"fresh-{next(fresh_homes)}"
        return _time([*assay, "datasets", "list"], {**env, "ASSAY_HOME": str(home)})

    py = sys.executable
    cases: dict[str, Callable[[], float]] = {
        "python -c pass": lambda: _time([py, "-c", "pass"], env),
        "import assay": lambda: _time([py, "-c", "import assay"], env),
        "import assay.cli.main": lambda: _time([py, "-c", "import assay.cli.main"], env),
        "assay --version": lambda: _time([*assay, "--version"], env),
        "assay --help": lambda: _time([*assay, "--help"], env),
        "assay datasets list": lambda: _time([*assay, "datasets", "list"], home_env),
        "assay datasets list (first run)": first_run,
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, case in cases.items():
            samples[name].append(case())
    shutil.rmtree(scratch, ignore_errors=True)

    floor = min(samples["python -c pass"])
    out: dict[str, Any] = {}
    for name, times in samples.items():
        best, median = min(times), statistics.median(times)
        out[name] = {
            "min_s": round(best, 4),
            "median_s": round(median, 4),
            "min_over_floor": round(best / floor, 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="Tree whose code to time.")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "startup.json")
    args = parser.parse_args()
    figures = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "repeat": args.repeat,
        "startup": measure(args.src.resolve(), args.repeat),
    }
    print(f"{'command':34} {'min s':>8} {'median s':>9} {'min/floor':>10}")
    for name, row in figures["startup"].items():
        print(f"{name:34} {row['min_s']:>8.3f} {row['median_s']:>9.3f} {row['min_over_floor']:>10}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

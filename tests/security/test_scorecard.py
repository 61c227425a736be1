"""The scorecard (bench/reliability.py) runs, prints a line per case, and the cases that hold
today stay at zero: nothing lost or duplicated by a crash and resume, no locked SQLite writer,
no data crossing projects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CASES = ("crash-resume", "sqlite-writers", "cross-project")


def test_short_scorecard(tmp_path: Path) -> None:
    out = tmp_path / "reliability.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "reliability.py"),
            "--short",
            "--only",
            ",".join(CASES),
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == list(CASES), done.stdout
    assert lines[-1].startswith("summary: 3 cases"), done.stdout
    assert "ERROR" not in done.stdout, done.stdout

    cases = json.loads(out.read_text())["cases"]
    crash = cases["crash-resume"]["figures"]
    assert (crash["lost"], crash["duplicated"]) == (0, 0)
    assert cases["sqlite-writers"]["figures"]["locked"] == 0
    assert cases["sqlite-writers"]["figures"]["lost"] == 0
    assert cases["cross-project"]["figures"]["leaked"] == 0

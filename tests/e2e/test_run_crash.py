"""Kill a real ``assay run`` with SIGKILL at random moments, resume, and lose nothing."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ITEMS = 400
TRIALS = 2
TASK = """
import time

def answer(x):
    time.sleep(0.015)
    return x["q"].upper()
"""


# How long to wait for a condition before calling the run stuck: generous, because a loaded
# machine only makes every step slower; nothing here asserts how fast anything happens.
PATIENCE = 300.0


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the run's database; none before the run has created its tables."""
    if not db.exists():
        return []
    try:
        with closing(sqlite3.connect(db, timeout=30)) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise


def completed(db: Path) -> int:
    rows = _query(db, "SELECT count(*) FROM results WHERE status = 'completed'")
    return int(rows[0][0]) if rows else 0


def experiment_id(db: Path) -> str | None:
    rows = _query(db, "SELECT id FROM experiments")
    return str(rows[0][0]) if rows else None


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {PATIENCE:g} s for {what}")
        time.sleep(0.005)


def start(env: dict[str, str], args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "assay", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill_mid_run(proc: subprocess.Popen[bytes], db: Path, rng: random.Random) -> bool:
    """SIGKILL once the store shows a random amount of new progress; False if the run ended.

    The moment of the kill is set by what the store holds, never by the clock: on a loaded
    machine the run is slower, and the kill simply comes later.
    """
    goal = completed(db) + rng.randint(1, 60)
    wait_until(
        lambda: proc.poll() is not None or completed(db) >= goal,
        f"{goal} completed results (the run has {completed(db)})",
    )
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=PATIENCE)
    return killed


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_sigkill_at_random_points_then_resume_loses_and_duplicates_nothing(
    tmp_path: Path, writer: str
) -> None:
    rng = random.Random(int(os.environ.get("ASSAY_CRASH_SEED", "20261122")))
    db = tmp_path / "crash.db"
    env = {
        **os.environ,
        "ASSAY_HOME": str(tmp_path / "home"),
        "ASSAY_DATABASE_URL": f"sqlite:///{db}",
    }
    (tmp_path / "task.py").write_text(TASK)
    rows = [{"input": {"q": f"q{i}"}, "expected_output": f"Q{i}"} for i in range(ITEMS)]
    seed = (
        "import sys, json\n"
        "from assay.store import open_store\n"
        "from assay.domain import DatasetCreate, ItemCreate\n"
        "s = open_store()\n"
        "s.datasets.create(DatasetCreate(name='qa'))\n"
        "s.datasets.add_items('qa', [ItemCreate(**r) for r in json.loads(sys.argv[1])])\n"
    )
    subprocess.run([sys.executable, "-c", seed, json.dumps(rows)], env=env, check=True)
    config = tmp_path / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "name": "crash",
                "dataset": "qa",
                "target": {"type": "function", "function": "task:answer"},
                "scorers": ["exact_match"],
                "concurrency": 4,
                "trials": TRIALS,
                "writer": writer,
            }
        )
    )

    # first run: killed somewhere after planning
    proc = start(env, ["run", str(config), "-q"], tmp_path)
    wait_until(lambda: experiment_id(db) is not None or proc.poll() is not None, "the plan")
    kills = [completed(db)] if kill_mid_run(proc, db, rng) else []
    exp = experiment_id(db)
    assert exp is not None

    for _ in range(12):  # resumed and killed again, each time at a random point
        if completed(db) == ITEMS * TRIALS or len(kills) >= 6:
            break
        proc = start(env, ["runs", "resume", exp, "-q", "--writer", writer], tmp_path)
        if kill_mid_run(proc, db, rng):
            kills.append(completed(db))
    # the kills really landed mid-run (each one after new results were stored)
    assert len(kills) >= 3, kills
    assert sum(0 < k < ITEMS * TRIALS for k in kills) >= 2, kills

    final = subprocess.run(
        [sys.executable, "-m", "assay", "runs", "resume", exp, "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout)["experiment"]["status"] == "completed"

    with closing(sqlite3.connect(db)) as conn:
        per_key = conn.execute(
            "SELECT item_id, repetition, count(*), sum(status = 'completed') FROM results "
            "GROUP BY item_id, repetition"
        ).fetchall()
        scores = conn.execute(
            "SELECT result_id, count(*) FROM scores GROUP BY result_id HAVING count(*) > 1"
        ).fetchall()
        total_scores = conn.execute("SELECT count(*) FROM scores").fetchone()[0]
        wrong = conn.execute(
            "SELECT count(*) FROM results WHERE output IS NULL "
            "OR json_extract(output, '$') <> upper(json_extract(input, '$.q'))"
        ).fetchone()[0]
    assert len(per_key) == ITEMS * TRIALS  # none lost
    assert all(count == 1 and done == 1 for _, _, count, done in per_key)  # none duplicated
    assert scores == []
    assert total_scores == ITEMS * TRIALS
    assert wrong == 0

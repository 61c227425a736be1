"""``assay run`` and ``assay runs ...`` as real processes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.provider import FakeProvider, Fault
from tests.fakes.signals import interruptible

pytestmark = pytest.mark.e2e

TASK = """
def answer(x):
    return x["q"].upper()
"""


def assay(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assay", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ASSAY_HOME": str(tmp_path / "home"),
        "ASSAY_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "COLUMNS": "200",
    }


def seed(env: dict[str, str], tmp_path: Path, n: int = 3) -> None:
    rows = [{"input": {"q": f"q{i}"}, "expected_output": f"Q{i}"} for i in range(n)]
    rows[-1]["expected_output"] = "nope"
    code = (
        "import sys, json\n"
        "from assay.store import open_store\n"
        "from assay.domain import DatasetCreate, ItemCreate\n"
        "s = open_store()\n"
        "s.datasets.create(DatasetCreate(name='qa'))\n"
        "s.datasets.add_items('qa', [ItemCreate(**r) for r in json.loads(sys.argv[1])])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(rows)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def write_config(tmp_path: Path, target: dict[str, Any], **extra: Any) -> Path:
    (tmp_path / "task.py").write_text(TASK)
    config = tmp_path / "run.yaml"
    body = {"name": "cli run", "dataset": "qa", "target": target, "scorers": ["exact_match"]}
    config.write_text(json.dumps({**body, **extra}))  # JSON is YAML
    return config


def test_run_list_show_export(env: dict[str, str], tmp_path: Path) -> None:
    seed(env, tmp_path)
    config = write_config(tmp_path, {"type": "function", "function": "task:answer"})
    done = assay(env, "run", str(config))
    assert done.returncode == 0, done.stderr
    assert "completed" in done.stdout
    assert "exact_match" in done.stdout
    assert "66.7%" in done.stdout

    listed = json.loads(assay(env, "runs", "list", "--json").stdout)
    (run,) = listed["items"]
    assert (run["name"], run["status"]) == ("cli run", "completed")
    assert run["counts"] == {"completed": 3}
    assert run["items"] == 3
    assert run["pass_rate"] == pytest.approx(2 / 3)
    assert run["avg_latency_ms"] is not None
    run_id = run["id"]

    shown = json.loads(assay(env, "runs", "show", run_id, "--json").stdout)
    assert shown["summary"]["completed"] == 3
    assert shown["results"][0]["item_input"] == {"q": "q0"}
    assert shown["results"][0]["scores"][0]["name"] == "exact_match"

    out = tmp_path / "out.csv"
    done = assay(env, "runs", "export", run_id, "--format", "csv", "-o", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 3
    assert rows[0]["status"] == "completed"
    assert rows[0]["output"] == "Q0"
    assert json.loads(rows[0]["input"]) == {"q": "q0"}
    assert rows[2]["score.exact_match"] == "0.0"

    lines = assay(env, "runs", "export", run_id, "--format", "jsonl").stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["scores"]["exact_match"] for r in records] == [1.0, 1.0, 0.0]
    assert {"input", "expected_output", "output", "error", "latency_ms", "cost"} <= set(records[0])
    as_json = json.loads(assay(env, "runs", "export", run_id, "--format", "json").stdout)
    assert as_json == records

    # resume of a completed run has nothing left to do and stays completed
    again = assay(env, "runs", "resume", run_id, "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["summary"]["completed"] == 3


def test_bad_config_is_one_line_and_exit_1(env: dict[str, str], tmp_path: Path) -> None:
    seed(env, tmp_path)
    config = write_config(tmp_path, {"type": "function", "function": "task:missing"})
    done = assay(env, "run", str(config))
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "has no attribute 'missing'" in done.stderr
    config = write_config(tmp_path, {"type": "function", "function": "task:answer"}, trials=0)
    done = assay(env, "run", str(config))
    assert done.returncode == 1
    assert "trials" in done.stderr
    assert json.loads(assay(env, "runs", "list", "--json").stdout)["items"] == []


def test_prompt_target_from_environment_connection(env: dict[str, str], tmp_path: Path) -> None:
    seed(env, tmp_path)
    with FakeProvider(reply=lambda text: text.upper()) as fake:
        fake.when("q1", Fault(429, retry_after_ms=10))
        config = write_config(
            tmp_path,
            {"type": "prompt", "model": "gpt-4o-mini", "prompt": "{{ q }}", "temperature": 0},
            backoff={"base": 0.001, "max": 0.01},
        )
        env = {**env, "OPENAI_BASE_URL": fake.openai_url, "OPENAI_API_KEY": "sk-e2e"}
        done = assay(env, "run", str(config), "--json")
        assert done.returncode == 0, done.stderr
        outcome = json.loads(done.stdout)
        assert outcome["summary"]["completed"] == 3
        assert outcome["summary"]["pass_rate"] == pytest.approx(2 / 3)
        assert outcome["summary"]["total_cost"] > 0  # gpt-4o-mini is in the price table
        assert fake.requests[0].body["temperature"] == 0
        assert fake.requests[0].headers["authorization"] == "Bearer sk-e2e"
        assert len(fake.requests_for("q1")) == 2


def test_ctrl_c_stops_gracefully_and_keeps_finished_results(
    env: dict[str, str], tmp_path: Path
) -> None:
    import signal
    import sqlite3
    import threading
    import time

    seed(env, tmp_path, n=200)
    # The first 20 calls answer; later ones wait for the `release` file, which appears only
    # once the run has said it is stopping: the run cannot finish before Ctrl+C, however fast
    # or slow the machine is, and the calls in flight when it stops still finish.
    (tmp_path / "slow.py").write_text(
        "import itertools, pathlib, time\n"
        "RELEASE = pathlib.Path(__file__).with_name('release')\n"
        "CALLS = itertools.count()\n\n"
        "def answer(x):\n"
        "    if next(CALLS) >= 20:\n"
        "        while not RELEASE.exists():\n"
        "            time.sleep(0.01)\n"
        "    time.sleep(0.02)\n"
        "    return x\n"
    )
    config = write_config(tmp_path, {"type": "function", "function": "slow:answer"}, concurrency=2)
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", str(config), "--json"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    assert proc.stderr is not None
    errors: list[str] = []
    stopping = threading.Event()

    def read_errors() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            errors.append(line)
            if "stopping" in line:
                stopping.set()

    reader = threading.Thread(target=read_errors, daemon=True)
    reader.start()
    db = tmp_path / "cli.db"
    deadline = time.monotonic() + 300  # generous: a loaded machine is only slower
    done = 0
    while done < 10:
        assert time.monotonic() < deadline, "no 10 results stored within 300 s"
        assert proc.poll() is None, "".join(errors)
        time.sleep(0.05)
        try:
            with sqlite3.connect(db) as conn:
                done = conn.execute(
                    "SELECT count(*) FROM results WHERE status = 'completed'"
                ).fetchone()[0]
        except sqlite3.OperationalError:
            pass
    proc.send_signal(signal.SIGINT)
    assert stopping.wait(300), "".join(errors)
    (tmp_path / "release").touch()
    with proc:  # closes the pipes
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.wait(timeout=300)
        reader.join(timeout=60)
    err = "".join(errors)
    assert proc.returncode == 1, err
    assert "stopping" in err
    outcome = json.loads(out)
    assert outcome["experiment"]["status"] == "cancelled"
    summary = outcome["summary"]
    assert 10 <= summary["completed"] <= 22  # 20 answered freely, 2 in flight at the stop
    assert summary["completed"] + summary["cancelled"] == 200

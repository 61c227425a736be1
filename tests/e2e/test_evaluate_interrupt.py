"""A script running ``assay.evaluate`` is interrupted (Ctrl+C) or killed mid-run: it says how
to resume, the run shows as cancelled or interrupted (never running), and resuming finishes
it without running anything twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assay.config import Settings
from assay.server import create_app
from tests.fakes.signals import interruptible

pytestmark = [pytest.mark.e2e]

ITEMS = 300
#: After 20 calls each call takes 0.5 s until a ``release`` file exists, which a test writes only
#: once the interrupted process has ended: the run cannot finish before the interruption (that
#: would take over two minutes), and resuming it afterwards is quick.
TASK = """
import os, time

calls = 0

def answer(x):
    global calls
    calls += 1
    if calls > 20 and not os.path.exists("release"):
        time.sleep(0.5)
    return x["q"].upper()
"""
SCRIPT = """
import assay, json, sys
from assay.scorers import exact_match
from task import answer

rows = [{"input": {"q": f"q{i}"}, "expected_output": f"Q{i}"} for i in range(ITEMS)]
resume = sys.argv[1] if len(sys.argv) > 1 else None
result = assay.evaluate(
    None if resume else rows, answer, [exact_match()], name="slow", concurrency=2, resume=resume
)
print(json.dumps({"id": result.id, "status": result.status}))
""".replace("ITEMS", str(ITEMS))


def completed(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM results WHERE status = 'completed'").fetchone()
            return int(row[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def experiment_id(db: Path) -> str:
    with sqlite3.connect(db, timeout=5) as conn:
        return str(conn.execute("SELECT id FROM experiments").fetchone()[0])


@pytest.fixture
def workdir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "task.py").write_text(TASK)
    (tmp_path / "script.py").write_text(SCRIPT)
    db = tmp_path / "assay.db"
    env = {
        **os.environ,
        "ASSAY_HOME": str(tmp_path / "home"),
        "ASSAY_DATABASE_URL": f"sqlite:///{db}",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "COLUMNS": "250",
    }
    return tmp_path, env


def start_until_some_results(
    tmp_path: Path, env: dict[str, str], *, session: bool = False
) -> subprocess.Popen[str]:
    """The script, once it has stored some results; ``session``: in a process group of its own
    (as a terminal's foreground job), which a test can signal whole."""
    proc = subprocess.Popen(
        [sys.executable, "script.py"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
        start_new_session=session,
    )
    deadline = time.monotonic() + 120
    while completed(tmp_path / "assay.db") < 10:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no results recorded"
        time.sleep(0.02)
    return proc


def assay_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assay", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def resume_and_check(tmp_path: Path, env: dict[str, str], run_id: str) -> None:
    (tmp_path / "release").touch()
    done = subprocess.run(
        [sys.executable, "script.py", run_id],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"id": run_id, "status": "completed"}
    with sqlite3.connect(tmp_path / "assay.db") as conn:
        rows = conn.execute("SELECT status, count(*) FROM results GROUP BY status").fetchall()
    assert rows == [("completed", ITEMS)]


def test_ctrl_c_says_how_to_resume_and_the_run_resumes(
    workdir: tuple[Path, dict[str, str]],
) -> None:
    tmp_path, env = workdir
    proc = start_until_some_results(tmp_path, env)
    proc.send_signal(signal.SIGINT)
    # Not released yet: only the interruption can end this run (a run that finished anyway,
    # because the signal was handled after its last item, would prove nothing).
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    run_id = experiment_id(tmp_path / "assay.db")
    assert f"resume={run_id!r}" in err
    assert f"assay runs resume {run_id}" in err

    shown = assay_cli(env, tmp_path, "runs", "show", run_id)
    assert "cancelled" in shown.stdout
    assert f"assay runs resume {run_id}" in shown.stdout
    resume_and_check(tmp_path, env, run_id)


def test_ctrl_c_at_the_terminal_leaves_the_writer_process_to_finish(
    workdir: tuple[Path, dict[str, str]],
) -> None:
    """A terminal's Ctrl+C reaches every process of its foreground group. The writer process
    runs in a session of its own, so it does not die with the signal: it commits what the run
    sends it as the run stops, and the run ends cancelled, as with the writer thread."""
    tmp_path, env = workdir
    script = SCRIPT.replace(
        "concurrency=2, resume=resume",
        'resume=resume, options=RunOptions(concurrency=2, writer="process", batch_size=5)',
    ).replace(
        "import assay, json, sys", "import assay, json, sys\nfrom assay.engine import RunOptions"
    )
    (tmp_path / "script.py").write_text(script)
    proc = start_until_some_results(tmp_path, env, session=True)
    os.killpg(proc.pid, signal.SIGINT)  # the whole group, as the terminal sends it
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "writer" not in err, err  # the writer process neither died nor failed the run
    run_id = experiment_id(tmp_path / "assay.db")
    assert f"assay runs resume {run_id}" in err
    with sqlite3.connect(tmp_path / "assay.db") as conn:
        # not "failed" with the writer process's KeyboardInterrupt as its error
        assert conn.execute("SELECT status, error FROM experiments").fetchall() == [
            ("cancelled", "cancelled")
        ]
    resume_and_check(tmp_path, env, run_id)


def test_a_killed_run_reads_interrupted_everywhere_and_resumes(
    workdir: tuple[Path, dict[str, str]],
) -> None:
    tmp_path, env = workdir
    proc = start_until_some_results(tmp_path, env)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    db = tmp_path / "assay.db"
    run_id = experiment_id(db)
    with sqlite3.connect(db) as conn:  # what is stored still says running
        assert conn.execute("SELECT status FROM experiments").fetchone()[0] == "running"

    listed = assay_cli(env, tmp_path, "runs", "list", "--json")
    assert [r["status"] for r in json.loads(listed.stdout)["items"]] == ["interrupted"]
    filtered = assay_cli(env, tmp_path, "runs", "list", "--status", "interrupted", "--json")
    assert [r["id"] for r in json.loads(filtered.stdout)["items"]] == [run_id]
    running = assay_cli(env, tmp_path, "runs", "list", "--status", "running", "--json")
    assert json.loads(running.stdout)["items"] == []
    shown = assay_cli(env, tmp_path, "runs", "show", run_id)
    assert "interrupted" in shown.stdout
    assert f"assay runs resume {run_id}" in shown.stdout

    settings = Settings(
        home=tmp_path / "home", database_url=env["ASSAY_DATABASE_URL"], serve_worker=False
    )
    app = create_app(settings.model_copy(update={"auth": "none"}))
    with TestClient(app) as http:
        assert http.get(f"/api/v1/experiments/{run_id}/").json()["status"] == "interrupted"
        page = http.get(f"/runs/{run_id}")  # the dashboard shows it stopped, not refreshing
        assert page.status_code == 200
        assert "badge-interrupted" in page.text
        assert 'hx-trigger="every' not in page.text  # no polling
    app.state.assay.db.dispose()

    resume_and_check(tmp_path, env, run_id)


def test_ctrl_c_during_assay_run_says_how_to_resume(workdir: tuple[Path, dict[str, str]]) -> None:
    tmp_path, env = workdir
    seed = (
        "from assay.store import open_store\n"
        "from assay.domain import DatasetCreate, ItemCreate\n"
        "s = open_store()\n"
        "s.datasets.create(DatasetCreate(name='qa'))\n"
        "s.datasets.add_items('qa', [ItemCreate(input={'q': f'q{i}'}) for i in range(N)])\n"
    )
    seed = seed.replace("range(N)", f"range({ITEMS})")
    subprocess.run([sys.executable, "-c", seed], env=env, cwd=tmp_path, check=True)
    config = tmp_path / "run.yaml"
    target = {"type": "function", "function": "task:answer"}
    config.write_text(json.dumps({"name": "cli", "dataset": "qa", "target": target}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", str(config), "-q", "--concurrency", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    deadline = time.monotonic() + 120
    while completed(tmp_path / "assay.db") < 10:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no results recorded"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, _err = proc.communicate(timeout=120)
    (tmp_path / "release").touch()
    assert proc.returncode == 1
    run_id = experiment_id(tmp_path / "assay.db")
    assert "cancelled" in out
    assert f"assay runs resume {run_id}" in out
    resumed = assay_cli(env, tmp_path, "runs", "resume", run_id, "-q")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with sqlite3.connect(tmp_path / "assay.db") as conn:
        rows = conn.execute("SELECT status, count(*) FROM results GROUP BY status").fetchall()
    assert rows == [("completed", ITEMS)]

"""``assay gate``, ``assay compare``, ``assay analytics`` and ``assay datasets policy`` as
processes over runs made by the engine: exit codes, JUnit and Markdown files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

import assay
from assay.cli.main import app
from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate
from assay.errors import NotFound
from assay.scorers import exact_match
from assay.store import Store
from assay.store.tables import projects

N = 20


def good(x: dict[str, str]) -> str:
    return x["q"].upper()


def worse(x: dict[str, str]) -> str:
    k = int(x["q"][1:])
    return x["q"] if k % 3 == 0 else x["q"].upper()


class Cli:
    def __init__(self, store: Store, settings: Settings) -> None:
        with store.db.read() as conn:
            project = conn.execute(
                select(projects.c.name).where(projects.c.id == store.project_id)
            ).scalar_one()
        self.env = {
            **os.environ,
            "ASSAY_DATABASE_URL": settings.resolved_database_url,
            "ASSAY_PROJECT": project,
            "COLUMNS": "200",
        }

    def inproc(self, *args: str) -> Result:
        """The same command in this process (faster), for output checks."""
        return CliRunner().invoke(app, list(args), env=self.env, catch_exceptions=True)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "assay", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
        )


@pytest.fixture
def runs(store: Store) -> dict[str, str]:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa", [ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}") for i in range(N)]
    )
    out = {}
    for name, task, tag in (("base", good, "main"), ("cand", worse, None), ("same", good, None)):
        result = assay.evaluate("qa", task, [exact_match()], name=name, run_tag=tag, store=store)
        out[name] = result.id
    return out


@pytest.fixture
def cli(store: Store, settings: Settings) -> Cli:
    return Cli(store, settings)


def test_gate_exit_codes_and_reports(cli: Cli, runs: dict[str, str], tmp_path: Path) -> None:
    junit, md = tmp_path / "out" / "junit.xml", tmp_path / "out" / "gate.md"
    failed = cli(
        "gate", "cand", "--baseline-tag", "main", "--junit", str(junit), "--markdown", str(md)
    )
    assert failed.returncode == 1, failed.stderr
    assert "FAILED" in failed.stdout
    root = ET.parse(junit).getroot()
    cases = root.findall(".//testcase")
    item_cases = [c for c in cases if c.get("classname") != "assay.gate"]
    assert len(item_cases) == N  # one test case per item
    assert sum(1 for c in item_cases if c.find("failure") is not None) == 7  # q0, q3, …, q18
    text = md.read_text()
    assert text.startswith("## ❌ Gate failed: **cand** vs baseline **base**")
    assert "| pass rate |" in text

    passed = cli("gate", "same", "--baseline", "base", "--json")
    assert passed.returncode == 0, passed.stderr
    verdict = json.loads(passed.stdout)
    assert verdict["passed"] is True
    assert verdict["baseline_id"] == runs["base"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gate", "nope"], "experiment 'nope' not found"),
        (["gate", "cand", "--baseline-tag", "release"], "no completed run tagged 'release'"),
        (["gate", "cand", "--baseline", "base", "--baseline-tag", "main"], "not both"),
        (["gate", "cand", "--policy", "missing.yaml"], "cannot read policy file"),
    ],
)
def test_gate_errors_exit_2(cli: Cli, runs: dict[str, str], args: list[str], message: str) -> None:
    proc = cli(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr


def test_gate_bad_policy_file_exits_2(cli: Cli, runs: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("min_pass_rate: 2\n")
    proc = cli("gate", "cand", "--policy", str(bad))
    assert proc.returncode == 2
    assert "min_pass_rate" in proc.stderr


def test_stored_policy_drives_the_gate(cli: Cli, runs: dict[str, str], tmp_path: Path) -> None:
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("baseline_tag: main\nmax_drop: 0.5\nmin_pass_rate: 0.6\n")
    assert cli("datasets", "policy", "qa", "--set", str(lenient)).returncode == 0
    shown = cli("datasets", "policy", "qa", "--json")
    assert json.loads(shown.stdout)["max_drop"] == 0.5
    proc = cli("gate", "cand", "--json")
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout)["baseline_id"] == runs["base"]
    strict = tmp_path / "strict.yaml"
    strict.write_text(json.dumps({"min_pass_rate": 0.9}))
    assert cli("gate", "cand", "--policy", str(strict)).returncode == 1  # a call overrides
    assert cli("datasets", "policy", "qa", "--clear").returncode == 0
    assert "no stored policy" in cli("datasets", "policy", "qa").stdout
    assert cli("gate", "cand", "--baseline-tag", "main").returncode == 1


def test_compare_formats(cli: Cli, runs: dict[str, str]) -> None:
    table = cli.inproc("compare", "base", "cand", "--only", "regressions")
    assert table.exit_code == 0, table.output
    assert "pass rate" in table.output
    assert "worse" in table.output
    assert "7 regressions" in table.output
    data: dict[str, Any] = json.loads(
        cli.inproc("compare", "base", "cand", "same", "--format", "json").output
    )
    assert [r["run_id"] for r in data["runs"]] == [runs["base"], runs["cand"], runs["same"]]
    assert data["regressions"] == {runs["cand"]: 7, runs["same"]: 0}
    md = cli.inproc("compare", "base", "cand", "--format", "markdown").output
    assert md.startswith("### cand vs base")
    bad = cli("compare", "base")  # a process: errors go through the error printer
    assert bad.returncode == 1
    assert "at least two runs" in bad.stderr


def test_analytics_commands(cli: Cli, runs: dict[str, str]) -> None:
    trend = json.loads(cli.inproc("analytics", "trend", "qa", "--json").output)
    assert [p["name"] for p in trend] == ["base", "cand", "same"]
    assert trend[1]["pass_rate"] == pytest.approx(13 / 20)
    assert [
        p["name"]
        for p in json.loads(
            cli.inproc("analytics", "trend", "qa", "--tag", "main", "--json").output
        )
    ] == ["base"]
    health = json.loads(cli.inproc("analytics", "health", "qa", "--json").output)
    # `good` and `worse` are two systems: the 7 items they disagree on are not flaky.
    assert (health["flaky"], health["always_pass"], health["items_seen"]) == (0, 13, N)
    latency = json.loads(cli.inproc("analytics", "latency", "cand", "--json").output)
    assert latency["latency"]["count"] == N
    dist = json.loads(
        cli.inproc(
            "analytics", "distribution", "cand", "exact_match", "--bins", "2", "--json"
        ).output
    )
    assert [b["count"] for b in dist["bins"]] == [7, 13]
    for args in (
        ["trend", "qa"],
        ["health", "qa"],
        ["latency", "cand"],
        ["distribution", "cand", "exact_match"],
    ):
        proc = cli.inproc("analytics", *args)
        assert proc.exit_code == 0, proc.output
    missing = cli.inproc("analytics", "trend", "nope")
    assert isinstance(missing.exception, NotFound)


def fails_some_trials() -> Any:
    """q0 fails its first two calls (2 of 3 trials), q1 every call, the others never."""
    calls: dict[str, int] = {}

    def task(x: dict[str, str]) -> str:
        calls[x["q"]] = calls.get(x["q"], 0) + 1
        if x["q"] == "q1" or (x["q"] == "q0" and calls["q0"] <= 2):
            return "wrong"
        return x["q"].upper()

    return task


@pytest.fixture
def trial_runs(store: Store) -> dict[str, str]:
    """A baseline and a candidate of three trials per item; q0 and q1 regress."""
    store.datasets.create(DatasetCreate(name="tq"))
    store.datasets.add_items(
        "tq", [ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}") for i in range(4)]
    )
    ids = {item.input["q"]: item.id for item in store.datasets.iter_items("tq")}
    for name, task, tag in (("tbase", good, "main"), ("tcand", fails_some_trials(), None)):
        assay.evaluate(
            "tq",
            task,
            [exact_match()],
            name=name,
            run_tag=tag,
            trials=3,
            concurrency=1,
            store=store,
        )
    return ids


def test_gate_lists_an_item_regressed_in_several_trials_once(
    cli: Cli, trial_runs: dict[str, str], tmp_path: Path
) -> None:
    md, policy = tmp_path / "gate.md", tmp_path / "policy.yaml"
    policy.write_text("baseline_tag: main\nblock_inconclusive: true\n")
    out = cli.inproc("gate", "tcand", "--policy", str(policy), "--markdown", str(md))
    assert out.exit_code == 1, out.output  # 4 items: a drop too small to be significant
    assert "2 regressions:" in out.output
    assert out.output.count(trial_runs["q0"]) == 1
    assert out.output.count(trial_runs["q1"]) == 1
    assert f"{trial_runs['q0']} (2 of 3 trials)" in out.output
    assert f"{trial_runs['q1']} (3 of 3 trials)" in out.output
    assert trial_runs["q2"] not in out.output
    text = md.read_text()
    assert f"`{trial_runs['q0']}` (2 of 3 trials)" in text
    assert text.count(trial_runs["q0"]) == 1

    verdict = json.loads(cli.inproc("gate", "tcand", "--baseline-tag", "main", "--json").output)
    assert sorted((r["item_id"], r["regressed"], r["trials"]) for r in verdict["regressions"]) == (
        sorted([(trial_runs["q0"], 2, 3), (trial_runs["q1"], 3, 3)])
    )


def test_gate_api_lists_an_item_regressed_in_several_trials_once(
    http: TestClient, store: Store, trial_runs: dict[str, str]
) -> None:
    cand = store.experiments.get("tcand").id
    got = http.get(f"/api/v1/experiments/{cand}/gate/", params={"baseline_tag": "main"})
    assert got.status_code == 200, got.text
    verdict = got.json()
    assert len(verdict["items"]) == 12  # every (item, trial) outcome is still there
    listed = [r["item_id"] for r in verdict["regressions"]]
    assert sorted(listed) == sorted([trial_runs["q0"], trial_runs["q1"]])  # once each
    counts = {r["item_id"]: (r["regressed"], r["trials"]) for r in verdict["regressions"]}
    assert counts == {trial_runs["q0"]: (2, 3), trial_runs["q1"]: (3, 3)}

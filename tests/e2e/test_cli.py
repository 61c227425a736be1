"""The ``assay`` command as users run it: a real process, a real database file."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Protocol

import pytest

pytestmark = pytest.mark.e2e


class Cli(Protocol):
    def __call__(
        self, *args: str, ok: bool = True, columns: int | None = None
    ) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    env = {**os.environ, "ASSAY_HOME": str(tmp_path / "home"), "ASSAY_DATABASE_URL": db_url}
    project = f"cli-{tmp_path.name[-12:]}"

    def run(
        *args: str, ok: bool = True, columns: int | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "assay", "--project", project, *args],
            capture_output=True,
            text=True,
            env=env if columns is None else {**env, "COLUMNS": str(columns)},
            timeout=120,
        )
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc

    return run


def test_version(cli: Cli) -> None:
    out = cli("--version").stdout
    assert out.startswith("assay ")


def test_dataset_lifecycle_with_import_and_export(cli: Cli, tmp_path: Path) -> None:
    run = cli
    source = tmp_path / "cases.csv"
    source.write_text(
        "question,answer,tags\n"
        "How do I reset my password?,Settings > Security,account\n"
        '"Pricing, please",Free and Pro,"billing,sales"\n',
        encoding="utf-8",
    )
    run("datasets", "create", "qa", "--description", "golden", "--tag", "support")
    imported = run(
        "import",
        str(source),
        "--dataset",
        "qa",
        "--map",
        "question=input.query",
        "--map",
        "answer=expected_output",
        "--json",
    )
    assert json.loads(imported.stdout)["imported"] == 2

    listed = json.loads(run("datasets", "list", "--json").stdout)
    assert [(d["name"], d["item_count"], d["version"]) for d in listed["items"]] == [("qa", 2, 1)]

    shown = json.loads(run("datasets", "show", "qa", "--json").stdout)
    assert shown["items"][0]["input"] == {"query": "How do I reset my password?"}
    assert shown["items"][1]["tags"] == ["billing", "sales"]

    run("import", str(source), "--dataset", "qa", "--map", "question=input.query")
    versions = json.loads(run("datasets", "versions", "qa", "--json").stdout)
    assert [v["version"] for v in versions] == [2, 1]
    diff = json.loads(run("datasets", "diff", "qa", "--from", "1", "--json").stdout)
    assert (diff["added"], diff["changed"], diff["removed"]) == (2, 0, 0)

    out = tmp_path / "v1.csv"
    run("export", "qa", "--version", "1", "-o", str(out))
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    assert json.loads(rows[0]["input"]) == {"query": "How do I reset my password?"}

    jsonl = run("export", "qa", "--format", "jsonl").stdout
    assert len(jsonl.strip().splitlines()) == 4

    run("datasets", "delete", "qa", "--yes")
    assert json.loads(run("datasets", "list", "--json").stdout)["items"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("datasets", "show", "missing"), "error: dataset 'missing' not found"),
        (("datasets", "diff", "missing", "--from", "1"), "error: dataset 'missing' not found"),
        (("export", "missing"), "error: dataset 'missing' not found"),
        (("datasets", "create", " "), "error: name: String should have at least 1 character"),
        (("datasets", "list", "--sort", "size"), "error: cannot sort by 'size'"),
        (("datasets", "list", "--cursor", "zzz"), "error: malformed pagination cursor"),
        (
            ("--db", "sqlite://", "datasets", "list"),
            "error: --db sqlite://: an in-memory database lasts one process, and every assay "
            "command is a process of its own; use a file path such as --db sqlite:///assay.db "
            "(assay demo and Python's evaluate() can use one)",
        ),
        (
            ("--db", "sqlite:///:memory:", "db", "status"),
            "error: --db sqlite:///:memory:: an in-memory database lasts one process, and every "
            "assay command is a process of its own; use a file path such as --db "
            "sqlite:///assay.db (assay demo and Python's evaluate() can use one)",
        ),
    ],
)
def test_errors_are_one_line_and_exit_1(cli: Cli, args: tuple[str, ...], message: str) -> None:
    proc = cli(*args, ok=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == message
    assert "Traceback" not in proc.stderr


def test_bad_import_names_the_row_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "ok"}\n{"input": "ok"}\n{"input": \n', encoding="utf-8")
    proc = cli("import", str(bad), "--dataset", "fresh", "--create", ok=False)
    assert proc.returncode == 1
    assert "line 3: invalid JSON" in proc.stderr
    assert json.loads(cli("datasets", "list", "--json").stdout)["items"] == []


def test_demo_runs_offline_and_twice(cli: Cli, tmp_path: Path) -> None:
    first = cli("demo", "--output-dir", str(tmp_path / "out"))
    assert "demo-support-qa" in first.stdout
    assert "support-bot v1" in first.stdout
    assert "support-bot v2" in first.stdout
    assert "1 regression (pass → fail)" in first.stdout
    assert "gate PASSED: support-bot v2 vs support-bot v1" in first.stdout
    answer = " ".join(first.stdout.split("Can v2 replace v1")[-1].split())
    assert answer.startswith("with a 2-point margin? Yes: v2's pass rate minus v1's is +")
    assert "so v2 is non-inferior." in answer
    assert "a 2-point difference needs" in answer
    assert "Estimated cost: $" in answer
    assert "Estimated time:" in answer
    runs = json.loads(cli("runs", "list", "--json").stdout)["items"]
    assert [(r["name"], r["status"]) for r in runs] == [
        ("support-bot v2", "completed"),
        ("support-bot v1", "completed"),
    ]
    again = cli("demo", "--output-dir", str(tmp_path / "out"))
    assert "removed the previous demo-support-qa dataset and its 2 runs" in again.stdout
    assert len(json.loads(cli("runs", "list", "--json").stdout)["items"]) == 2
    exported = (tmp_path / "out" / "v1.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(exported) == 24
    v3 = (tmp_path / "out" / "v3.csv").read_text(encoding="utf-8")
    assert len(list(csv.DictReader(v3.splitlines()))) == 25


def _fits(text: str, width: int = 80) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, too_wide


def test_a_newcomer_reads_runs_comparisons_and_gates_at_80_columns(
    cli: Cli, tmp_path: Path
) -> None:
    demo = cli("demo", "--output-dir", str(tmp_path / "out"), columns=80).stdout
    _fits(demo.split("Explore:")[0])  # the commands to copy after it are whole lines
    # The changed items show what was asked, not only ids: the regressed refund question.
    regression = next(line for line in demo.splitlines() if line.rstrip().endswith("regression"))
    assert "Do you offer refun" in regression
    runs = json.loads(cli("runs", "list", "--json").stdout)["items"]
    v2, v1 = (r["id"] for r in runs)
    assert [(r["dataset_name"], r["target"]) for r in runs] == [
        ("demo-support-qa", "assay.cli.demo_bot:bot_v2"),
        ("demo-support-qa", "assay.cli.demo_bot:bot_v1"),
    ]

    listed = cli("runs", "list", columns=80).stdout
    _fits(listed)
    assert listed.splitlines()[0].split() == ["ID", "Name", "Dataset", "Status", "Pass"]
    assert [line.split()[0] for line in listed.splitlines()[2:]] == [v2, v1]  # ids whole
    wide = cli("runs", "list", columns=200).stdout
    assert "demo-support-qa" in wide
    assert "assay.cli.demo_bot:bot_v1" in wide
    assert "$0.0000" in wide  # an average cost of a fraction of a cent still shows
    by_rate = cli("runs", "list", "--sort", "pass_rate", columns=80).stdout
    assert [line.split()[0] for line in by_rate.splitlines()[2:]] == [v1, v2]
    by_rate = cli("runs", "list", "--sort", "-pass_rate", columns=80).stdout
    assert [line.split()[0] for line in by_rate.splitlines()[2:]] == [v2, v1]
    bad = cli("runs", "list", "--sort", "size", ok=False)
    assert bad.returncode == 1
    assert "cannot sort by 'size': use created_at, name, status, dataset, pass_rate" in bad.stderr

    compared = cli("compare", v1, v2, "--only", "regressions", columns=80).stdout
    _fits(compared)
    assert "Input" in compared
    assert "Do you offer refun" in compared
    assert "1 regression (pass → fail)" in compared
    gate = cli("gate", v2, "--baseline", v1, columns=80).stdout
    _fits(gate)
    assert "1 regression:" in gate
    regressed = gate.split("1 regression:", 1)[1].split()
    assert regressed[0].endswith(regression.split()[0])  # the item the comparison showed
    assert " ".join(regressed[1:]) == "Do you offer refunds?"  # and what it asked
    for args in (
        ("runs", "show", v2),
        ("datasets", "list"),
        ("datasets", "show", "demo-support-qa"),
        ("datasets", "versions", "demo-support-qa"),
        ("analytics", "trend", "demo-support-qa"),
    ):
        _fits(cli(*args, columns=80).stdout)


def test_db_upgrade_and_status(cli: Cli) -> None:
    cli("db", "upgrade")
    assert "up to date" in cli("db", "upgrade").stdout
    assert "revision:" in cli("db", "status").stdout

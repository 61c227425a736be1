"""The CLI's quiet mode on a terminal, and in-memory databases: where they work, where not."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import assay
from assay.cli import context, progress, runs
from assay.cli.main import app
from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate
from assay.scorers import exact_match
from assay.store import open_store
from assay.store.db import Database, is_in_memory

TASK = "def answer(x):\n    return x['q'].upper()\n"


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the commands print, as on a terminal (where the progress bar shows)."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    for module in (context, progress, runs):
        monkeypatch.setattr(module, "console", console)
    return out


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    url = f"sqlite:///{tmp_path / 'quiet.db'}"
    monkeypatch.setenv("ASSAY_DATABASE_URL", url)
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    monkeypatch.syspath_prepend(str(tmp_path))
    store = open_store(url=url)
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa", [ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}") for i in range(3)]
    )
    store.close()
    (tmp_path / "quiet_task.py").write_text(TASK)
    path = tmp_path / "run.json"
    target = {"type": "function", "function": "quiet_task:answer"}
    path.write_text(
        json.dumps({"name": "q", "dataset": "qa", "target": target, "scorers": ["exact_match"]})
    )
    return path


def _shown(out: io.StringIO) -> str:
    """What was printed since the last call, without terminal escape codes."""
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.getvalue())
    out.truncate(0)
    out.seek(0)
    return text


def test_quiet_prints_only_the_outcome(terminal: io.StringIO, config: Path) -> None:
    loud = CliRunner().invoke(app, ["run", str(config)])
    assert loud.exit_code == 0, loud.output
    shown = _shown(terminal)
    assert "items/s" in shown  # the progress bar
    assert shown.index("experiment") < shown.index("items/s")  # the id first, to resume by
    quiet = CliRunner().invoke(app, ["run", str(config), "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    shown = _shown(terminal)
    assert "items/s" not in shown
    assert "━" not in shown
    head, name = shown.strip().splitlines()[:2]
    assert re.fullmatch(r"experiment [0-9a-f-]{36}", head)  # then the summary
    assert name.split() == ["q", "completed"]
    resumed = CliRunner().invoke(app, ["runs", "resume", head.split()[1], "-q"])
    assert resumed.exit_code == 0, resumed.output
    shown = _shown(terminal)
    assert "items/s" not in shown
    assert shown.strip().splitlines()[0] == head


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file?mode=memory"])
def test_in_memory_urls_are_recognised(url: str) -> None:
    assert is_in_memory(url)


@pytest.mark.parametrize("url", ["sqlite:///a.db", "postgresql+psycopg://u@h/db", "nonsense"])
def test_other_urls_are_not_in_memory(url: str) -> None:
    assert not is_in_memory(url)


def test_an_in_memory_store_lasts_as_long_as_it_is_open() -> None:
    store = open_store(Settings(database_url="sqlite://", project="mem"))
    assert store.db.in_memory
    data = [{"input": "a", "expected_output": "a"}, {"input": "b", "expected_output": "c"}]
    first = assay.evaluate(data, lambda x: x, [exact_match()], name="one", store=store)
    again = assay.evaluate(data, str.upper, [exact_match()], name="two", store=store)
    assert first.summary.pass_rate == 0.5
    assert again.summary.pass_rate == 0.0
    assert [e.name for e in store.experiments.list().items] == ["two", "one"]
    scratch = Path(str(store.db.engine.url.database)).parent
    assert scratch.exists()
    store.close()
    assert not scratch.exists()  # nothing left behind


def test_evaluate_alone_may_use_an_in_memory_database() -> None:
    result = assay.evaluate(
        [{"input": "a", "expected_output": "a"}],
        lambda x: x,
        [exact_match()],
        settings=Settings(database_url="sqlite:///:memory:"),
    )
    assert result.summary.pass_rate == 1.0
    assert len(result.rows) == 1  # the result reads its database until it is closed
    result.close()


def test_two_in_memory_databases_are_apart() -> None:
    a, b = Database("sqlite://"), Database("sqlite://")
    try:
        assert a.engine.url.database != b.engine.url.database
    finally:
        a.dispose()
        b.dispose()


def test_the_demo_runs_on_an_in_memory_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ASSAY_DATABASE_URL", raising=False)
    done = CliRunner().invoke(
        app, ["--db", "sqlite://", "demo", "--output-dir", str(tmp_path / "out")]
    )
    assert done.exit_code == 0, done.output
    assert "The database was in memory" in done.output
    assert not (tmp_path / "home" / "assay.db").exists()
    assert os.listdir(tmp_path / "out")  # the exports are files, as usual

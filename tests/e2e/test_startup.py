"""Start-up stays light: what ``import assay`` and short commands load, in fresh processes.

Each case runs in a new interpreter and reports its ``sys.modules`` at exit; heavy
dependencies (the server, NumPy and the analysis stack, Alembic, PostgreSQL's dialect...) must
be absent until a command needs them. No timings here: ``bench/startup.py`` measures those.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

#: Never needed to import the package, print help or list datasets.
HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "numpy",
    "scipy",
    "pandas",
    "torch",
    "alembic",
    "jsonschema",
    "yaml",
    "sqlalchemy.dialects.postgresql",
    "assay.server",
    "assay.analysis",
    "assay.engine",
    "assay.io",
)
#: Not needed before a command touches the database.
STORAGE = ("sqlalchemy", "pydantic", "pydantic_settings", "assay.store", "assay.domain")

_REPORT = """
import atexit, json, os, sys

def _report():
    with open(os.environ["STARTUP_MODULES_OUT"], "w") as out:
        json.dump(sorted(sys.modules), out)

atexit.register(_report)
"""

_CLI = "import sys\nsys.argv = ['assay', *sys.argv[1:]]\nfrom assay.cli.main import main\nmain()\n"


def loaded(tmp_path: Path, code: str, *args: str, home: Path | None = None) -> set[str]:
    """The modules loaded by ``code`` (run with ``args``) in a fresh interpreter."""
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env["STARTUP_MODULES_OUT"] = str(out)
    env["ASSAY_HOME"] = str(home or tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, "-c", _REPORT + code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(out.read_text()))


#: Plain enums, no pydantic: what the CLI's options and the writer process may load.
LIGHT = {"assay.domain", "assay.domain.statuses"}


def present(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    """The forbidden packages (or any of their submodules) among ``modules``."""
    modules = modules - LIGHT
    return sorted(
        name
        for name in forbidden
        if name in modules or any(m.startswith(name + ".") for m in modules)
    )


def test_import_assay_is_light(tmp_path: Path) -> None:
    modules = loaded(tmp_path, "import assay")
    assert present(modules, (*HEAVY, *STORAGE, "typer", "rich", "httpx", "assay.cli")) == []


def test_observe_loads_the_client_but_not_the_engine(tmp_path: Path) -> None:
    code = "import assay\n@assay.observe()\ndef f(x):\n    return x\nf(1)"
    modules = loaded(tmp_path, code)
    assert "assay.client._observe" in modules
    assert present(modules, (*HEAVY, "assay.store", "assay.targets", "sqlalchemy")) == []


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_version_and_help_load_no_storage(tmp_path: Path, args: list[str]) -> None:
    modules = loaded(tmp_path, _CLI, *args)
    assert "assay.cli.main" in modules
    assert present(modules, (*HEAVY, *STORAGE, "httpx")) == []


def test_command_help_loads_no_storage(tmp_path: Path) -> None:
    modules = loaded(tmp_path, _CLI, "datasets", "list", "--help")
    # Typer itself coerces the root options (--db, --project) with pydantic.
    storage = tuple(m for m in STORAGE if m != "pydantic")
    assert present(modules, (*HEAVY, *storage, "httpx")) == []


def test_datasets_list_loads_only_storage(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = loaded(tmp_path, _CLI, "datasets", "list", home=home)
    # the first run creates the database from the table definitions, without Alembic
    assert "assay.store.tables" in first
    assert "alembic" not in first
    modules = loaded(tmp_path, _CLI, "datasets", "list", home=home)
    assert "assay.store.datasets" in modules
    assert present(modules, (*HEAVY, "httpx", "assay.store.experiments")) == []
    assert present(modules, ("assay.cli.runs", "assay.cli.compare", "assay.cli.demo")) == []


def test_evaluate_loads_the_engine_but_not_the_server(tmp_path: Path) -> None:
    modules = loaded(tmp_path, "import assay\nassay.evaluate")
    assert "assay.engine" in modules
    assert present(modules, ("fastapi", "starlette", "uvicorn", "assay.server", "torch")) == []
    assert present(modules, ("numpy", "assay.analysis", "alembic", "pandas", "scipy")) == []


def test_the_writer_process_loads_the_write_path_without_records(tmp_path: Path) -> None:
    """A run at high concurrency waits for its writer process to start: it imports the store's
    write path and SQLAlchemy, not pydantic nor the domain's records."""
    modules = loaded(tmp_path, "import assay.store.writer_process")
    assert {"sqlalchemy", "assay.store.recording", "assay.store.run_bulk"} <= modules
    assert present(modules, (*HEAVY, "pydantic", "pydantic_settings", "assay.config")) == []
    assert present(modules, ("assay.domain",)) == []  # only the statuses


def test_every_root_command_builds() -> None:
    import typer
    from typer.main import get_command

    from assay.cli.main import COMMANDS, app

    group = get_command(app)
    ctx = typer.Context(group)
    assert isinstance(group, typer.core.TyperGroup)
    assert group.list_commands(ctx) == list(COMMANDS)
    for name in COMMANDS:
        command = group.get_command(ctx, name)
        assert command is not None
        assert command.name == name


def test_runs_sort_fields_match_the_domain() -> None:
    from assay.cli.runs import SORT_FIELDS
    from assay.domain import EXPERIMENT_SORT_FIELDS

    assert SORT_FIELDS == EXPERIMENT_SORT_FIELDS


_PYTEST = (
    "import sys\nimport pytest\n"
    "args = ['-q', '-p', 'no:cacheprovider', '-p', 'assay.testing', *sys.argv[1:]]\n"
    "sys.exit(pytest.main(args))\n"
)


def test_the_pytest_plugin_loads_the_engine_only_when_a_test_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # only Assay's plugin, named
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    session = ("--rootdir", str(tmp_path), str(tmp_path / "test_sample.py"))

    (tmp_path / "test_sample.py").write_text("def test_plain():\n    assert True\n")
    modules = loaded(tmp_path, _PYTEST, "--co", *session)
    assert "assay.testing" in modules
    assert present(modules, (*HEAVY, *STORAGE, "httpx")) == []

    (tmp_path / "test_sample.py").write_text(
        "def test_store(assay_store):\n    assert assay_store\n"
    )
    modules = loaded(tmp_path, _PYTEST, *session)
    assert "assay.store" in modules
    assert present(modules, ("assay.engine", "assay.analysis", "numpy")) == []

"""The documentation runs as written: README commands and snippets, every Python block in docs/.

Each fenced block is one test, named ``file:line``. Blocks of one file share a working
directory (holding a copy of ``examples/``) and a store (``ASSAY_HOME``) and run in order, so a
later block may use what an earlier one stored or wrote; each runs in its own process, so none
relies on another's variables. Running one block alone runs the blocks before it first.

A comment on the line before a fence changes how the block runs:

- ``<!-- docs-test: skip (reason) -->`` does not run it (the reason is required);
- ``<!-- docs-test: server -->`` (implied when the block names ``http://127.0.0.1:8000``)
  runs it against a real ``assay serve`` on a free port: the
  documented ``http://127.0.0.1:8000`` is replaced by that server's address, which is also in
  ``ASSAY_URL``.

A block whose first line is a comment naming a test file (``# tests/test_x.py``) is written
there and run with pytest, as its reader would. A YAML, JSON, TOML or CSV block whose first line
names a file (``# gate.yaml``) is written to that file for the blocks after it.

From README.md, the ``bash`` blocks' lines that start with ``assay`` run as commands (installing
and ``assay serve`` / ``assay demo`` are covered elsewhere), and its ``python`` blocks run, from an
empty store. Each docs/ file starts where the docs assume their reader is: a store holding the
dataset ``support-qa`` (``examples/support-qa.csv``) and runs of ``examples/run.yaml`` under the
names the docs use (see ``GIVEN``); a docs/ file's server starts from a copy of that store.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.test_serve import start

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED_URL = "http://127.0.0.1:8000"
FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"^<!--\s*docs-test:\s*(\w+)\s*(?:\((.+)\))?\s*-->\s*$")
NOT_RUN_HERE = ("assay serve", "assay demo")
TEST_FILE = re.compile(r"^# (tests/test_\w+\.py)\n")
DATA_FILE = re.compile(r"^# ([\w-]+\.(?:ya?ml|json|toml|csv))\n")
GIVEN = [
    "assay import examples/support-qa.csv --dataset support-qa --create"
    " --map question=input.query --map answer=expected_output",
    "assay run examples/run.yaml -q --name main-4f2a91c --run-tag main",
    "assay run examples/run.yaml -q --name pr-123-abc1234",
    "assay run examples/run.yaml -q --name baseline",
    "assay run examples/run.yaml -q --name candidate",
    "assay run examples/run.yaml -q --name 'gpt-4o on support-qa'",
]


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    marker: str | None = None
    reason: str | None = None

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with the docs-test marker before each, if any."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        marker = MARKER.match(lines[i - 1]) if i else None
        found.append(
            Block(
                path,
                i + 1,
                opening.group(1),
                "\n".join(lines[i + 1 : end]) + "\n",
                marker.group(1) if marker else None,
                marker.group(2) if marker else None,
            )
        )
        i = end + 1
    return found


def runnable(path: Path) -> list[Block]:
    if path.name == "README.md":
        return [b for b in blocks(path) if b.lang == "python" or readme_commands(b)]
    return [b for b in blocks(path) if b.lang == "python"]


def readme_commands(block: Block) -> list[str]:
    if block.lang != "bash":
        return []
    return [
        line
        for line in block.code.splitlines()
        if line.startswith("assay ") and not line.startswith(NOT_RUN_HERE)
    ]


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ALL = [b for doc in DOCS for b in runnable(doc)]


def test_markers_are_well_formed() -> None:
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if "docs-test" in line:
                where = f"{doc.relative_to(ROOT)}:{number}"
                assert MARKER.match(line), f"{where}: not a docs-test marker: {line!r}"
                assert number < len(lines), where
                assert FENCE.match(lines[number]), f"{where}: a marker goes right before a fence"
        for block in blocks(doc):
            if block.marker is None:
                continue
            assert block.marker in {"skip", "server"}, f"{block.id}: unknown {block.marker!r}"
            if block.marker == "skip":
                assert block.reason, f"{block.id}: a skip needs its reason"


def clean_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "ASSAY_HOME": str(home), "ASSAY_AUTH": "none", "COLUMNS": "200"}
    for key in (
        "ASSAY_DATABASE_URL",
        "ASSAY_PROJECT",
        "ASSAY_URL",
        "ASSAY_PUBLIC_KEY",
        "ASSAY_SECRET_KEY",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
    ):
        env.pop(key, None)
    return env


class Server:
    """An ``assay serve`` with its own store, started when a block first needs it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __call__(self) -> str:
        if self.proc is None:
            self.proc, self.url = start(clean_env(self.home))
        return self.url

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@dataclass
class Workspace:
    """A documentation file's working directory, store and server; ``done``: blocks run."""

    cwd: Path
    env: dict[str, str]
    server: Server
    done: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)


class Workspaces:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.spaces: dict[Path, Workspace] = {}
        self.given: Path | None = None

    def __getitem__(self, doc: Path) -> Workspace:
        if doc not in self.spaces:
            cwd = self.root / doc.stem
            shutil.copytree(ROOT / "examples", cwd / "examples")
            home = self.root / f"{doc.stem}-home"
            server_home = self.root / f"{doc.stem}-server"
            if doc.parent == ROOT / "docs":  # the server holds what docs/ assume too
                shutil.copytree(self.given_home(), home)
                shutil.copytree(self.given_home(), server_home)
            self.spaces[doc] = Workspace(cwd, clean_env(home), Server(server_home))
        return self.spaces[doc]

    def given_home(self) -> Path:
        """A store in the state docs/ assume: ``GIVEN`` run once, copied for each file."""
        if self.given is None:
            cwd = self.root / "given"
            shutil.copytree(ROOT / "examples", cwd / "examples")
            home = self.root / "given-home"
            for line in GIVEN:
                command = [sys.executable, "-m", "assay", *shlex.split(line)[1:]]
                proc = subprocess.run(
                    command,
                    cwd=cwd,
                    env=clean_env(home),
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
            self.given = home
        return self.given

    def close(self) -> None:
        for space in self.spaces.values():
            space.server.stop()


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspaces]:
    spaces = Workspaces(tmp_path_factory.mktemp("docs"))
    yield spaces
    spaces.close()


def execute(block: Block, space: Workspace) -> subprocess.CompletedProcess[str]:
    env = dict(space.env)
    code = block.code
    if block.marker == "server" or DOCUMENTED_URL in code:
        url = space.server()
        env["ASSAY_URL"] = url
        code = code.replace(DOCUMENTED_URL, url)
    test_file = TEST_FILE.match(code)
    if test_file:
        path = space.cwd / test_file.group(1)
        path.parent.mkdir(exist_ok=True)
        path.write_text(code, encoding="utf-8")
        env["PYTHONPATH"] = os.pathsep.join(
            [str(space.cwd / "examples"), *filter(None, [env.get("PYTHONPATH")])]
        )
        pytest_args = ["-q", "-p", "no:cacheprovider", str(path)]
        return run([sys.executable, "-m", "pytest", *pytest_args], space.cwd, env, block)
    if block.lang == "python":
        return run([sys.executable, "-c", code], space.cwd, env, block)
    proc: subprocess.CompletedProcess[str] | None = None
    for line in readme_commands(block):
        command = [sys.executable, "-m", "assay", *shlex.split(line)[1:]]
        proc = run(command, space.cwd, env, block, shown=line)
    assert proc is not None
    return proc


def run(
    command: list[str], cwd: Path, env: dict[str, str], block: Block, shown: str = ""
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, (
        f"{block.id} {shown} exited {proc.returncode}\n"
        f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    return proc


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in ALL])
def test_block_runs(block: Block, workspaces: Workspaces) -> None:
    if block.marker == "skip":
        pytest.skip(f"{block.id}: {block.reason}")
    space = workspaces[block.path]
    steps = runnable(block.path)
    for earlier in blocks(block.path):
        if earlier.line >= block.line:
            break
        data_file = DATA_FILE.match(earlier.code)
        if data_file and earlier.lang != "python":
            (space.cwd / data_file.group(1)).write_text(earlier.code, encoding="utf-8")
        if earlier not in steps or earlier.marker == "skip" or earlier.line in space.done:
            continue
        assert earlier.line not in space.failed, f"an earlier block failed: {earlier.id}"
        step(earlier, space)
    check_output(block, step(block, space).stdout)


def step(block: Block, space: Workspace) -> subprocess.CompletedProcess[str]:
    space.failed.add(block.line)
    proc = execute(block, space)
    space.failed.discard(block.line)
    space.done.add(block.line)
    return proc


def check_output(block: Block, stdout: str) -> None:
    """What a reader of the block would obviously expect to see."""
    if (
        "assay.evaluate(" in block.code
        and "print(result.id, result.summary.pass_rate" in block.code
    ):
        run_id, pass_rate, *_ = stdout.split()
        assert run_id
        assert pass_rate != "None"
        assert 0 <= float(pass_rate) <= 1
    if "print(result.upload)" in block.code:
        assert "pending=0" in stdout
        assert "error=None" in stdout
    if block.code.rstrip().endswith("assay datasets list --json"):
        assert "support-qa" in [d["name"] for d in json.loads(stdout)["items"]]
    if "assay runs list" in block.code:
        assert "keyword bot baseline" in stdout

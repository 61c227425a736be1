"""The Python example in docs/import-export.md runs as written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "import-export.md"


def test_python_example_runs(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    block = re.search(r"From Python:\n\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ASSAY_DATABASE_URL", db_url)
    monkeypatch.setenv("ASSAY_PROJECT", f"docs-{tmp_path.name[-20:]}")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    exec(compile(block.group(1), str(DOC), "exec"), {})
    assert capsys.readouterr().out.split() == ["1", "3"]
    lines = Path("faq.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line)["input"]["query"] for line in lines] == [
        "How do I reset my password?",
        "What are your pricing plans?",
        "How do I contact support?",
    ]

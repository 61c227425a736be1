"""The Python example in docs/import-export.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "import-export.md"


def test_python_example_runs(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    block = re.search(r"From Python:\n\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ASSAY_DATABASE_URL", db_url)
    monkeypatch.setenv("ASSAY_PROJECT", f"docs-{tmp_path.name[-20:]}")
    Path("faq.csv").write_text("question,expected_output\nHow do I reset?,Settings\nPricing?,Pro\n")
    exec(compile(block.group(1), str(DOC), "exec"), {})
    assert capsys.readouterr().out.split() == ["1", "2"]
    lines = Path("faq.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line)["input"] for line in lines] == [
        {"query": "How do I reset?"},
        {"query": "Pricing?"},
    ]

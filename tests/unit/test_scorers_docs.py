"""The public scorer surface matches its documentation."""

from __future__ import annotations

from pathlib import Path

import assay.scorers
from assay.scoring import available, describe

DOCS = Path(__file__).parents[2] / "docs" / "scorers.md"


def test_every_registered_scorer_is_documented() -> None:
    text = DOCS.read_text()
    missing = [name for name in available() if f"`{name}`" not in text]
    assert missing == []


def test_every_builtin_has_a_description() -> None:
    assert [name for name in available() if not describe(name)] == []


def test_exported_members() -> None:
    exported = set(assay.scorers.__all__)
    public = {n for n in dir(assay.scorers) if not n.startswith("_")}
    assert exported <= public
    for name in ("exact_match", "contains", "json_match", "bleu", "rouge_l", "tool_sequence"):
        assert name in exported
        assert callable(getattr(assay.scorers, name))

"""Migration files are numbered so that listing the directory shows the upgrade chain in order."""

from __future__ import annotations

import re
from pathlib import Path

from alembic.script import ScriptDirectory

import assay.store.migrate

MIGRATIONS = Path(assay.store.migrate.__file__).parent / "migrations"


def test_sorted_file_names_follow_the_revision_chain() -> None:
    scripts = ScriptDirectory(str(MIGRATIONS))
    assert len(scripts.get_heads()) == 1, "two migrations claim the same parent"
    chain = [Path(s.path).name for s in reversed(list(scripts.walk_revisions("base", "heads")))]
    files = sorted(p.name for p in (MIGRATIONS / "versions").glob("*.py") if p.stem != "__init__")
    assert files == chain
    for number, name in enumerate(files, start=1):
        assert re.fullmatch(rf"{number:04d}_[a-z0-9_]+\.py", name), (
            f"{name}: expected {number:04d}_<what>.py (four digits, the next number, a slug)"
        )

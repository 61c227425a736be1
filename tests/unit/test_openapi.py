"""docs/openapi.json is generated from the app; regenerate with scripts/openapi.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_matches_the_app() -> None:
    spec = importlib.util.spec_from_file_location("openapi_script", ROOT / "scripts" / "openapi.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (ROOT / "docs" / "openapi.json").read_text()
    assert module.render() == committed, (
        "docs/openapi.json is out of date: run `PYTHONPATH=src python scripts/openapi.py`"
    )

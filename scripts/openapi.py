"""Write the server's OpenAPI schema to docs/openapi.json (a test fails when it drifts).

Usage: PYTHONPATH=src python scripts/openapi.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "openapi.json"


def render() -> str:
    from assay.config import Settings
    from assay.server import create_app

    with tempfile.TemporaryDirectory() as home:
        app = create_app(Settings(home=Path(home), database_url=None, project="default"))
        try:
            schema: dict[str, Any] = app.openapi()
        finally:
            app.state.assay.db.dispose()
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> int:
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

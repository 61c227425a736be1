"""``assay serve``: the REST API (needs the ``server`` extra)."""

from __future__ import annotations

import importlib.util
from typing import Annotated

import typer

from assay.cli.context import err_console, state


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the REST API (migrations are applied at start)."""
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        err_console.print(
            f"error: the server needs {' and '.join(missing)}: pip install 'assay[server]'",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(1)
    from assay.server.serve import serve

    st = state(ctx)
    st.checked_url()  # refuses an in-memory database: the server's processes would not share it
    serve(st.settings, host=host, port=port)

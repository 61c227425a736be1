"""``assay worker``: run started experiments from the database (needs the ``server`` extra)."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from assay.cli.context import console, state


def worker_command(
    ctx: typer.Context,
    project: Annotated[
        list[str] | None,
        typer.Option("--project", help="Only this project's experiments (repeatable)."),
    ] = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit when no started experiment is left.")
    ] = False,
) -> None:
    """Run experiments started through the API, one after another, until interrupted.

    Any number of workers may share a database: each experiment is taken by one of them, and
    one left behind by a stopped process is taken over and resumed.
    """
    from assay.service.worker import Worker
    from assay.store import ensure_project

    st = state(ctx)
    store = st.store()
    ids = [ensure_project(store.db, name).id for name in project] if project else None
    worker = Worker(st.settings, store.db, project_ids=ids)
    with contextlib.suppress(KeyboardInterrupt):
        worker.run_forever(until_idle=until_idle)
    console.print(f"worker {worker.me} ran {worker.runs} experiment(s)", highlight=False)

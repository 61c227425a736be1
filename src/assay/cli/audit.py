"""``assay audit``: the audit log of a project (deletes, key changes), read on the database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli.context import console, print_json, state
from assay.cli.render import table

if TYPE_CHECKING:
    from assay.store import Store

app = typer.Typer(help="The audit log: deletes and key changes.", no_args_is_help=True)


def _store(ctx: typer.Context, project: str | None) -> Store:
    from assay.store import open_store

    current = state(ctx)
    current.checked_url()
    return open_store(current.settings, project=project or current.settings.project)


@app.command("list")
def list_command(
    ctx: typer.Context,
    project: Annotated[
        str | None, typer.Option("--project", help="Project name (default: ASSAY_PROJECT).")
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. dataset.delete.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Entries per page.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Next page: the cursor printed last.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Newest first: when, who (key public id, 'cli' or 'local'), what and on what."""
    store = _store(ctx, project)
    try:
        page = store.audit.list(action=action, limit=limit, cursor=cursor)
    finally:
        store.close()
    if as_json:
        print_json(page)
        return
    console.print(
        table(
            None,
            ["When", "Who", "Action", "Target", "Id"],
            [(e.at, e.actor, e.action, e.target_kind, e.target_id) for e in page.items],
        )
    )
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}", highlight=False)

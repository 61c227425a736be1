"""``assay keys``: API keys of a project, created on the server's own database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli.context import console, print_json, state
from assay.cli.render import table

if TYPE_CHECKING:
    from assay.store import Store

app = typer.Typer(help="API keys for the REST API.", no_args_is_help=True)

ProjectOption = Annotated[
    str | None, typer.Option("--project", help="Project name (default: ASSAY_PROJECT).")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _store(ctx: typer.Context, project: str | None) -> Store:
    from assay.store import open_store

    current = state(ctx)
    current.checked_url()  # refuses an in-memory database, gone when the command ends
    return open_store(current.settings, project=project or current.settings.project)


@app.command("create")
def create_command(
    ctx: typer.Context,
    project: ProjectOption = None,
    name: Annotated[str | None, typer.Option(help="A label to recognise the key by.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a key pair. The secret is printed once and stored only as a hash."""
    store = _store(ctx, project)
    try:
        created = store.keys.create(name)
    finally:
        store.close()
    if as_json:
        print_json(
            {
                "id": created.key.id,
                "public_key": created.key.public_key,
                "secret_key": created.secret_key,
            }
        )
        return
    console.print(f"public key: {created.key.public_key}", highlight=False)
    console.print(f"secret key: {created.secret_key}", highlight=False)
    console.print("store the secret now: it cannot be shown again", style="yellow")


@app.command("list")
def list_command(
    ctx: typer.Context,
    project: ProjectOption = None,
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List a project's keys (public parts only)."""
    store = _store(ctx, project)
    try:
        keys = store.keys.list(include_revoked=include_revoked)
    finally:
        store.close()
    if as_json:
        print_json(keys)
        return
    console.print(
        table(
            None,
            ["Public key", "Name", "Created", "Last used", "Revoked"],
            [(k.public_key, k.name, k.created_at, k.last_used_at, k.revoked_at) for k in keys],
        )
    )


@app.command("revoke")
def revoke_command(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Public key or key id.")],
    project: ProjectOption = None,
) -> None:
    """Revoke a key: it stops authenticating at once."""
    store = _store(ctx, project)
    try:
        revoked = store.keys.revoke(key)
    finally:
        store.close()
    console.print(f"revoked {revoked.public_key}", highlight=False)

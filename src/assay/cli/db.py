"""``assay db``: schema migrations."""

from __future__ import annotations

import typer

from assay.cli.context import console, state

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(ctx: typer.Context) -> None:
    """Apply pending migrations (they also apply automatically on first use)."""
    from assay.store import Database, current_revision, load_keyring, upgrade

    db = Database(state(ctx).checked_url())
    db.keyring = load_keyring(state(ctx).settings)  # the migration seals stored secrets
    try:
        before = current_revision(db)
        upgrade(db)
        after = current_revision(db)
    finally:
        db.dispose()
    if before == after:
        console.print(f"database is up to date (revision {after})")
    else:
        console.print(f"upgraded database from {before or 'empty'} to {after}")


@app.command("status")
def status_command(ctx: typer.Context) -> None:
    """Show the database URL and its schema revision."""
    from assay.store import Database, current_revision, head_revision

    db = Database(state(ctx).checked_url())
    try:
        current = current_revision(db)
    finally:
        db.dispose()
    head = head_revision()
    console.print(f"database: {db.url.render_as_string(hide_password=True)}")
    console.print(f"revision: {current or 'empty'} (newest: {head})")

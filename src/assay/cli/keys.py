"""``assay keys``: API keys of a project, created on the server's own database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
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


class Role(StrEnum):
    """A key's role (``assay.domain.KeyRole``, named here without importing the domain)."""

    read = "read"
    write = "write"
    admin = "admin"


_DURATION = re.compile(r"^\s*(\d{1,6})\s*([hdw])\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_LONGEST = timedelta(days=100 * 366)


def parse_duration(text: str) -> timedelta:
    """``12h``, ``30d``, ``2w``: a positive number of hours, days or weeks."""
    from assay.errors import InvalidInput

    found = _DURATION.match(text)
    if found is None or int(found[1]) == 0:
        raise InvalidInput(
            f"--expires-in: {text!r} is not a duration like 12h, 30d or 2w", field="expires_in"
        )
    length = int(found[1]) * _UNITS[found[2]]
    if length > _LONGEST:
        raise InvalidInput("--expires-in: at most 100 years", field="expires_in")
    return length


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
    role: Annotated[
        Role,
        typer.Option(
            help="read: GET only; write: every change but the admin actions; admin: also the "
            "audit log and deleting datasets and experiments.",
        ),
    ] = Role.write,
    expires_in: Annotated[
        str | None,
        typer.Option("--expires-in", help="Stop working after this long: 12h, 30d, 2w."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a key pair. The secret is printed once and stored only as a hash."""
    from assay.domain import KeyRole

    expires_at = None
    if expires_in is not None:
        expires_at = datetime.now(UTC) + parse_duration(expires_in)
    store = _store(ctx, project)
    try:
        created = store.keys.create(name, role=KeyRole(role.value), expires_at=expires_at)
    finally:
        store.close()
    key = created.key
    if as_json:
        print_json(
            {
                "id": key.id,
                "public_key": key.public_key,
                "secret_key": created.secret_key,
                "role": key.role.value,
                "expires_at": key.expires_at.isoformat() if key.expires_at else None,
            }
        )
        return
    console.print(f"public key: {key.public_key}", highlight=False)
    console.print(f"secret key: {created.secret_key}", highlight=False)
    expiry = f", expires {key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else ""
    console.print(f"role: {key.role.value}{expiry}", highlight=False)
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
    now = datetime.now(UTC)
    if as_json:
        print_json(keys)
        return
    console.print(
        table(
            None,
            ["Public key", "Name", "Role", "Created", "Expires", "Last used", "Revoked"],
            [
                (
                    k.public_key,
                    k.name,
                    k.role.value,
                    k.created_at,
                    _expiry(k.expires_at, now),
                    k.last_used_at,
                    k.revoked_at,
                )
                for k in keys
            ],
        )
    )


def _expiry(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never"
    shown = f"{at:%Y-%m-%d %H:%M}"
    return f"{shown} (expired)" if at <= now else shown


@app.command("set-role")
def set_role_command(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Public key or key id.")],
    role: Annotated[Role, typer.Argument(help="read, write or admin.")],
    project: ProjectOption = None,
) -> None:
    """Change a key's role; it applies from the key's next request."""
    from assay.domain import KeyRole

    store = _store(ctx, project)
    try:
        changed = store.keys.set_role(key, KeyRole(role.value))
    finally:
        store.close()
    console.print(f"{changed.public_key} is now a {changed.role.value} key", highlight=False)


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

"""``assay datasets``: create, list, show, delete, versions, diff."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli.context import console, print_json, state
from assay.cli.policy import policy_command
from assay.cli.render import Col, preview, table
from assay.errors import InvalidInput
from assay.formatting import plural

if TYPE_CHECKING:
    from assay.domain import DatasetDiff, DatasetSort

app = typer.Typer(help="Datasets of test cases.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command("list")
def list_command(
    ctx: typer.Context,
    search: Annotated[str | None, typer.Option(help="Substring of name or description.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only datasets with this tag.")] = None,
    sort: Annotated[
        str, typer.Option(help="name, created_at or updated_at; prefix - for descending.")
    ] = "-created_at",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Cursor printed by the previous page.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List datasets."""
    if sort.lstrip("-") not in ("name", "created_at", "updated_at"):
        raise InvalidInput(f"cannot sort by {sort!r}", field="sort")
    page = (
        state(ctx)
        .store()
        .datasets.list(search=search, tag=tag, sort=_dataset_sort(sort), limit=limit, cursor=cursor)
    )
    if as_json:
        print_json(page)
        return
    console.print(
        table(
            None,
            [
                Col("Name", min_width=16),
                "Items",
                "Version",
                Col("Tags", drop=2),
                "Updated",
                Col("Description", drop=1),
            ],
            [
                (d.name, d.item_count, d.version, ", ".join(d.tags), d.updated_at, d.description)
                for d in page.items
            ],
        )
    )
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


def _dataset_sort(sort: str) -> DatasetSort:
    return sort  # type: ignore[return-value]  # checked against the allowed names above


@app.command("create")
def create_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Unique name within the project.")],
    description: Annotated[str | None, typer.Option(help="What the dataset tests.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag (repeatable).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an empty dataset."""
    from assay.domain import DatasetCreate

    dataset = (
        state(ctx)
        .store()
        .datasets.create(DatasetCreate(name=name, description=description, tags=tag or []))
    )
    if as_json:
        print_json(dataset)
    else:
        console.print(f"created dataset {dataset.name} ({dataset.id})")


@app.command("show")
def show_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name or id.")],
    version: Annotated[int | None, typer.Option(help="Show the items as of this version.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Items to show.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Show a dataset and its first items."""
    store = state(ctx).store()
    dataset = store.datasets.get(name)
    page = store.datasets.list_items(dataset.id, version=version, limit=limit)
    if as_json:
        print_json({"dataset": dataset, "items": page.items, "next_cursor": page.next_cursor})
        return
    console.print(f"[bold]{dataset.name}[/]  {dataset.description or ''}", highlight=False)
    console.print(
        f"id {dataset.id} · version {dataset.version} · {plural(dataset.item_count, 'item')}"
        + (f" · tags {', '.join(dataset.tags)}" if dataset.tags else "")
    )
    title = f"items at version {version}" if version is not None else "items"
    console.print(
        table(
            title,
            [
                Col("#", fixed=True, justify="right"),
                Col("Input"),
                Col("Expected output"),
                Col("Tags", drop=1),
                Col("Source", fixed=True, drop=2),
            ],
            [
                (
                    i.sort_order,
                    preview(i.input),
                    preview(i.expected_output),
                    ", ".join(i.tags),
                    i.source.value,
                )
                for i in page.items
            ],
        )
    )
    if page.next_cursor:
        console.print(f"… more items: assay export {dataset.name}")


@app.command("delete")
def delete_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name or id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a dataset with all its items and versions."""
    store = state(ctx).store()
    dataset = store.datasets.get(name)
    if not yes:
        typer.confirm(
            f"Delete dataset {dataset.name!r} and its {plural(dataset.item_count, 'item')}?",
            abort=True,
        )
    store.datasets.delete(dataset.id)
    console.print(f"deleted dataset {dataset.name}")


@app.command("versions")
def versions_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name or id.")],
    as_json: JsonFlag = False,
) -> None:
    """List a dataset's versions, newest first."""
    versions = state(ctx).store().datasets.versions(name)
    if as_json:
        print_json(versions)
        return
    console.print(
        table(
            None,
            ["Version", "Items", "Added", "Changed", "Removed", "Created", "Message"],
            [
                (v.version, v.item_count, v.added, v.changed, v.removed, v.created_at, v.message)
                for v in versions
            ],
        )
    )


@app.command("diff")
def diff_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name or id.")],
    from_version: Annotated[int, typer.Option("--from", help="Older version.")],
    to_version: Annotated[
        int | None, typer.Option("--to", help="Newer version (default: current).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Items added, changed and removed between two versions."""
    diff = state(ctx).store().datasets.diff(name, from_version, to_version)
    if as_json:
        print_json(diff)
        return
    _print_diff(diff)


def _print_diff(diff: DatasetDiff) -> None:
    console.print(
        f"version {diff.from_version} → {diff.to_version}: "
        f"[green]+{diff.added} added[/]  [yellow]~{diff.changed} changed[/]  "
        f"[red]-{diff.removed} removed[/]"
    )
    rows = []
    for c in diff.changes:
        item = c.after or c.before
        assert item is not None
        if c.kind == "changed" and c.before and c.after:
            field = c.fields[0]
            before, after = getattr(c.before, field), getattr(c.after, field)
        else:
            field, before, after = "input", c.before and c.before.input, c.after and c.after.input
        rows.append(
            (c.kind, c.item_id[-8:], ", ".join(c.fields) or field, preview(before), preview(after))
        )
    if rows:
        columns = [
            Col("Change", fixed=True),
            Col("Item", fixed=True, drop=1),
            Col("Fields", min_width=8),
            Col("Before", wrap=True),
            Col("After", wrap=True),
        ]
        console.print(table(None, columns, rows))


app.command("policy")(policy_command)

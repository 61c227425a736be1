"""``assay import`` and ``assay export``: files in and out of datasets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from assay.cli.context import console, print_json, state
from assay.formatting import plural

if TYPE_CHECKING:
    from assay.io import Format

FormatOption = Annotated[
    Literal["csv", "json", "jsonl"] | None,
    typer.Option("--format", "-f", help="csv, json or jsonl (default: from the file extension)."),
]


def import_command(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="CSV, JSON or JSONL file.", exists=True, dir_okay=False)
    ],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name or id.")],
    create: Annotated[
        bool, typer.Option("--create", help="Create the dataset if it is missing.")
    ] = False,
    format: FormatOption = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="COLUMN=FIELD, e.g. question=input.query (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Import items from a file into a dataset, all or nothing, as one new version."""
    from assay.io import import_file, parse_mapping

    change = import_file(
        state(ctx).store(),
        file,
        dataset=dataset,
        create=create,
        format=format,
        mapping=parse_mapping(mapping or []),
    )
    if as_json:
        print_json(
            {
                "dataset_id": change.dataset_id,
                "version": change.version,
                "imported": change.added,
                "total_items": change.item_count,
            }
        )
    else:
        console.print(
            f"imported {plural(change.added, 'item')} into {dataset} "
            f"(version {change.version}, {plural(change.item_count, 'item')})"
        )


def export_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset name or id.")],
    format: FormatOption = None,
    version: Annotated[int | None, typer.Option(help="Export as of this version.")] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: standard output)."),
    ] = None,
) -> None:
    """Export a dataset's items as CSV, JSON or JSONL."""
    from assay.io import detect_format, export_dataset

    fmt: Format = detect_format(output, format) if output is not None else (format or "jsonl")
    store = state(ctx).store()
    if output is None:
        export_dataset(store, dataset, sys.stdout.buffer, format=fmt, version=version)
        sys.stdout.flush()
        return
    partial = output.with_name(output.name + ".partial")
    try:
        with partial.open("wb") as out:
            rows = export_dataset(store, dataset, out, format=fmt, version=version)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    console.print(f"exported {plural(rows, 'item')} to {output}", highlight=False)

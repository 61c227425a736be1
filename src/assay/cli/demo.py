"""``assay demo``: the whole loop on the embedded store, with data shipped in the package."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path
from typing import Annotated

import typer

from assay.cli.context import console, state
from assay.cli.datasets import _print_diff
from assay.cli.demo_compare import compare_step
from assay.cli.render import table
from assay.domain import ItemCreate, ItemUpdate
from assay.errors import NotFound
from assay.io import export_dataset, import_file
from assay.store import Store

DEMO_DATASET = "demo-support-qa"


def demo_command(
    ctx: typer.Context,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", help="Where to write the export (default: ASSAY_HOME/demo)."),
    ] = None,
) -> None:
    """Create a sample dataset, version it, diff and export it, then compare and gate two runs."""
    st = state(ctx)
    store = st.store()
    out_dir = output_dir or st.settings.home.expanduser() / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)

    console.rule("[bold]1. A dataset of test cases")
    _reset(store)
    sample = files("assay.data").joinpath("sample_support_qa.jsonl")
    with as_file(sample) as path:
        change = import_file(store, path, dataset=DEMO_DATASET, create=True)
    console.print(
        f"imported {change.added} support questions into [bold]{DEMO_DATASET}[/] "
        f"(version {change.version})"
    )
    page = store.datasets.list_items(DEMO_DATASET, limit=5)
    console.print(
        table(
            "first items",
            ["#", "Input", "Expected output", "Tags"],
            [(i.sort_order, i.input, i.expected_output, ", ".join(i.tags)) for i in page.items],
        )
    )

    console.rule("[bold]2. Every change is a new version")
    first = page.items[0]
    store.datasets.update_item(
        DEMO_DATASET,
        first.id,
        ItemUpdate(
            expected_output="Go to Settings > Security > Reset Password, then check your email."
        ),
    )
    store.datasets.add_items(
        DEMO_DATASET,
        [
            ItemCreate(
                input={"question": "Can I change my username?"},
                expected_output="Yes: Settings > Profile > Username.",
                context={"category": "account"},
                tags=["account", "easy"],
            )
        ],
    )
    dataset = store.datasets.get(DEMO_DATASET)
    console.print(
        table(
            "versions",
            ["Version", "Items", "Added", "Changed", "Removed"],
            [
                (v.version, v.item_count, v.added, v.changed, v.removed)
                for v in store.datasets.versions(DEMO_DATASET)
            ],
        )
    )
    _print_diff(store.datasets.diff(DEMO_DATASET, 1, dataset.version))

    console.rule("[bold]3. Export any version")
    for version, name in ((1, "v1.jsonl"), (dataset.version, f"v{dataset.version}.csv")):
        target = out_dir / name
        with target.open("wb") as out:
            rows = export_dataset(
                store,
                DEMO_DATASET,
                out,
                format="csv" if name.endswith("csv") else "jsonl",
                version=version,
            )
        console.print(f"version {version}: {rows} items → {target}", highlight=False)
    console.rule("[bold]4. Two runs, compared and gated")
    compare_step(store, DEMO_DATASET)
    console.print(
        f"\nDone. Explore with: assay datasets show {DEMO_DATASET} · "
        f"assay datasets diff {DEMO_DATASET} --from 1 · assay compare bot-v1 bot-v2"
    )


def _reset(store: Store) -> None:
    """Start the demo from a clean dataset so it can be run again and again."""
    try:
        store.datasets.delete(DEMO_DATASET)
    except NotFound:
        return
    console.print(f"removed the previous {DEMO_DATASET} dataset")

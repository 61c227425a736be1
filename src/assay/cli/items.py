"""``assay items signal``: which items of a dataset carry the signal, and a smaller subset
that keeps the verdicts of its run history (for fast checks on every pull request)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli.context import console, print_json, state
from assay.cli.render import Col, table
from assay.formatting import plural

if TYPE_CHECKING:
    from assay.domain import ItemsSignal

app = typer.Typer(help="What the items of a dataset tell the runs apart.", no_args_is_help=True)


def print_signal(signal: ItemsSignal, dataset: str) -> None:
    """Counts, the pairs' verdicts on every item and on the subset, and how to use it."""
    console.print(
        f"Items of {dataset} over {plural(len(signal.runs), 'run')} with distinct "
        f"configurations ({signal.metric}): {signal.items_total:,} items, "
        f"{signal.items_seen:,} scored",
        highlight=False,
    )
    console.print(
        f"  never discriminating (same outcome in every run): {signal.never_discriminating:,}",
        highlight=False,
    )
    console.print(
        f"  near-duplicates ({signal.similarity_method}, similarity >= {signal.threshold:g}): "
        f"{signal.duplicates:,}",
        highlight=False,
    )
    if signal.pairs:
        rows = [
            [p.baseline, p.run, p.full.value, p.subset.value, str(p.n_full), str(p.n_subset)]
            for p in signal.pairs
        ]
        columns = [
            Col("Baseline"),
            Col("Run"),
            Col("All items", fixed=True),
            Col("Subset", fixed=True),
            Col("n", fixed=True, justify="right"),
            Col("n subset", fixed=True, justify="right"),
        ]
        console.print(table("Verdicts of consecutive runs", columns, rows))
    agreement = (
        "no pair of runs to check"
        if signal.verdict_agreement is None
        else f"verdict agreement {100 * signal.verdict_agreement:.0f}% "
        f"({signal.verdicts_checked} pairs)"
    )
    console.print(
        f"Suggested subset: {signal.subset_size:,} of {signal.items_total:,} items; {agreement}",
        highlight=False,
    )
    if signal.tag is not None:
        console.print(
            f"Tagged the subset {signal.tag!r} (dataset version {signal.dataset_version}). Run "
            f"it with `select: {{tags: [{signal.tag}]}}` in a run config, "
            f'`assay.evaluate(..., tags=["{signal.tag}"])` or `"selection": {{"tags": '
            f'["{signal.tag}"]}}` over the API.',
            highlight=False,
            markup=False,
        )
    else:
        console.print(
            "Save it as a selection with --tag NAME (e.g. --tag fast-check); --json lists the "
            "item ids.",
            highlight=False,
        )
    for note in signal.notes:
        console.print(f"[dim]note: {note}[/]", highlight=False)


@app.command("signal")
def signal_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset name or id.")],
    metric: Annotated[str, typer.Option(help="pass_rate, or a scorer of the runs.")] = "pass_rate",
    last: Annotated[int, typer.Option(min=2, help="Finished runs to read, newest first.")] = 20,
    method: Annotated[
        str,
        typer.Option(help="Near-duplicates by auto, embeddings or token_jaccard."),
    ] = "auto",
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Similarity of a near-duplicate (default 0.95 embeddings, 0.9 token_jaccard)."
        ),
    ] = None,
    min_items: Annotated[int, typer.Option(min=1, help="Smallest subset suggested.")] = 30,
    alpha: Annotated[float, typer.Option(help="Significance level of the verdicts.")] = 0.05,
    tag: Annotated[
        str | None,
        typer.Option(help="Tag the subset's items with this (others lose it): one new version."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the signal as JSON.")] = False,
) -> None:
    """Items that never discriminate, near-duplicates, and the smallest subset that keeps the
    verdicts of the dataset's consecutive runs."""
    from assay.analysis.item_signal import item_signal

    store = state(ctx).store()
    signal = item_signal(
        store,
        dataset,
        metric=metric,
        last=last,
        method=method,
        threshold=threshold,
        min_items=min_items,
        alpha=alpha,
        tag=tag,
    )
    if as_json:
        print_json(signal)
        return
    print_signal(signal, dataset)

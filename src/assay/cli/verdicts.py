"""``assay frontier`` and ``assay evaluators agreement``: cost against quality over a
dataset's runs, and how far a judge agrees with people."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli.context import console, print_json, state
from assay.cli.render import Col, table

app = typer.Typer(
    help="Evaluators: how their scores agree with human scores.", no_args_is_help=True
)


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


def frontier_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset (id or name).")],
    metric: Annotated[str, typer.Option(help="Quality metric: passed or a scorer.")] = "passed",
    limit: Annotated[int, typer.Option(min=1, max=200, help="Last finished runs.")] = 20,
    run_tag: Annotated[str | None, typer.Option(help="Only runs with this run tag.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Runs by cost per item and quality (95 % CI); ★ marks the Pareto front."""
    from assay.analysis.frontier import frontier

    found = frontier(state(ctx).store(), dataset, metric=metric, limit=limit, run_tag=run_tag)
    if as_json:
        print_json(found)
        return
    rate = metric == "passed"
    rows = []
    for p in found.points:
        shown = (lambda x: "-" if x is None else f"{100 * x:.1f}%") if rate else _num
        rows.append(
            [
                "★" if p.on_front else "",
                p.name,
                str(p.items),
                "-" if p.cost_per_item is None else f"${p.cost_per_item:.5f}",
                shown(p.quality),
                f"{shown(p.ci_low)} … {shown(p.ci_high)}",
                ""
                if p.dominated_by is None
                else f"dominated by {_name(found.points, p.dominated_by)}",
            ]
        )
    columns = [
        Col("", fixed=True),
        Col("Run", wrap=True),
        Col("Items", fixed=True, justify="right"),
        Col("Cost/item", fixed=True, justify="right"),
        Col("Quality" if not rate else "Pass rate", fixed=True, justify="right"),
        Col("95% CI", fixed=True, justify="right"),
        Col("", wrap=True),
    ]
    console.print(table(f"Cost and {metric} on {found.dataset}", columns, rows))


def _name(points: list, run_id: str) -> str:  # type: ignore[type-arg]
    return next((p.name for p in points if p.run_id == run_id), run_id)


@app.command("agreement")
def agreement_command(
    ctx: typer.Context,
    evaluator: Annotated[str, typer.Argument(help="Evaluator (name or id).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per version, the evaluator's agreement with human scores on the same results."""
    from assay.analysis.agreement import evaluator_agreement

    found = evaluator_agreement(state(ctx).store(), evaluator)
    if as_json:
        print_json(found)
        return
    if not found:
        console.print(f"no result has both a score of {evaluator!r} and a human score")
        return
    rows = [
        [
            a.score,
            "-" if a.version is None else str(a.version),
            str(a.n),
            _num(a.cohen_kappa),
            _num(a.observed_agreement),
            _num(a.pearson),
            _num(a.spearman),
        ]
        for a in found
    ]
    columns = [
        Col("Score"),
        Col("Version", fixed=True, justify="right"),
        Col("N", fixed=True, justify="right"),
        Col("Kappa", fixed=True, justify="right"),
        Col("Agree", fixed=True, justify="right"),
        Col("Pearson", fixed=True, justify="right"),
        Col("Spearman", fixed=True, justify="right"),
    ]
    console.print(table(f"{evaluator}: agreement with human scores", columns, rows))

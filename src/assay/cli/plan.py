"""``assay plan``: what the next run of a dataset can detect, what it costs, how long it
takes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli.context import console, print_json, state
from assay.cli.render import Col, table
from assay.formatting import plural

if TYPE_CHECKING:
    from assay.domain import MetricPlan, RunPlan


def _amount(plan: MetricPlan, x: float) -> str:
    return f"{100 * x:.1f} pp" if plan.kind == "pass_fail" else f"{x:.3g}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown (no latency recorded)"
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _money(x: float | None) -> str:
    return "unknown" if x is None else f"${x:.4f}" if x < 1 else f"${x:,.2f}"


def plan_lines(plan: RunPlan) -> list[str]:
    """The plan's cost and time as sentences (also printed by ``assay demo``)."""
    c, t = plan.cost, plan.time
    priced = f"at {c.model} prices" if c.model else "at the cost per call recorded"
    return [
        f"Estimated cost: {_money(c.total_cost)} ({_money(c.target_cost)} target {priced} + "
        f"{_money(c.judge_cost)} judge) for {plural(plan.items, 'item')} x "
        f"{plural(plan.trials, 'trial')}",
        f"Estimated time: {_duration(t.seconds)} at concurrency {t.concurrency}",
    ]


def print_plan(plan: RunPlan) -> None:
    """The plan as a table of metrics, then cost, time and notes."""
    rows = []
    for m in plan.metrics:
        rows.append(
            [
                m.metric,
                _amount(m, m.detectable),
                "-" if m.items_needed is None else f"{m.items_needed:,}",
                "-"
                if plan.difference is None
                else ("more items" if m.trials_needed is None else str(m.trials_needed)),
                "-" if m.power is None else f"{100 * m.power:.0f}%",
                f"{m.tau2:.4g}",
                f"{m.within:.4g}",
                m.source.replace("_", " "),
            ]
        )
    columns = [
        Col("Metric", wrap=True),
        Col("Detectable", fixed=True, justify="right"),
        Col("Items needed", fixed=True, justify="right"),
        Col("Trials needed", fixed=True, justify="right"),
        Col("Power", fixed=True, justify="right"),
        Col("Item var (tau²)", fixed=True, justify="right"),
        Col("Within var", fixed=True, justify="right"),
        Col("From", fixed=True),
    ]
    wanted = "" if plan.difference is None else f"; difference to detect: {plan.difference:g}"
    title = (
        f"Plan for {plan.dataset}: {plural(plan.items, 'item')} x {plural(plan.trials, 'trial')} "
        f"(power {100 * plan.power:.0f}%, alpha {plan.alpha:g}{wanted})"
    )
    console.print(table(title, columns, rows))
    for line in plan_lines(plan):
        console.print(line)
    for note in plan.notes:
        console.print(f"[dim]Note: {note}[/]")


def plan_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset (id or name).")],
    pilot: Annotated[
        str | None, typer.Option(help="Plan from this run (id or name) instead of the history.")
    ] = None,
    items: Annotated[int | None, typer.Option(min=2, help="Items (default: all).")] = None,
    trials: Annotated[
        int | None, typer.Option(min=1, help="Trials per item (default: the last run's).")
    ] = None,
    difference: Annotated[
        float | None,
        typer.Option(
            help="Difference to detect: points for pass rates (2 = two points), the scorer's "
            "units for numeric scores. Adds the items and trials needed and the power."
        ),
    ] = None,
    power: Annotated[float, typer.Option(min=0.01, max=0.99)] = 0.8,
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.5)] = 0.05,
    model: Annotated[
        str | None,
        typer.Option(help="Price the calls as this model (provider:model, e.g. openai:gpt-4o)."),
    ] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Calls in flight.")] = None,
    metric: Annotated[
        list[str] | None, typer.Option(help="Only these metrics (passed or a scorer).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The next run of a dataset: the smallest difference it detects, the items or trials a
    difference needs, and its estimated cost and time, from the dataset's finished runs."""
    from assay.analysis.run_plan import plan_run
    from assay.targets import PriceTable

    s = state(ctx)
    found = plan_run(
        s.store(),
        dataset,
        pilot=pilot,
        items=items,
        trials=trials,
        difference=difference,
        power=power,
        alpha=alpha,
        model=model,
        concurrency=concurrency,
        metrics=metric,
        prices=PriceTable.load(s.settings.price_table) if model else None,
    )
    if as_json:
        print_json(found)
        return
    print_plan(found)

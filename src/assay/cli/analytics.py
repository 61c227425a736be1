"""``assay analytics``: trend, dataset health, latency and score distributions (computed in SQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli.context import console, print_json, state
from assay.cli.render import Col, table
from assay.formatting import plural, usd

if TYPE_CHECKING:
    from assay.domain import HistogramBin

app = typer.Typer(
    help="Analytics over stored runs: trends, dataset health, latency, distributions.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, fmt: str = ".4g") -> str:
    return "" if x is None else format(x, fmt)


@app.command("trend")
def trend_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset id or name.")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Most recent runs.")] = 20,
    tag: Annotated[str | None, typer.Option("--tag", help="Only runs with this run tag.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Pass rate, scores, error rate, latency and cost of a dataset's runs, oldest first."""
    points = state(ctx).store().analytics.trend(dataset, limit=limit, run_tag=tag)
    if as_json:
        print_json(points)
        return
    names = sorted({name for p in points for name in p.scores})
    rows = [
        (
            p.created_at.strftime("%m-%d %H:%M"),
            p.name,
            p.run_tag,
            p.total,
            _pct(p.pass_rate),
            _pct(p.error_rate),
            *(_num(p.scores[n].mean) if n in p.scores else "" for n in names),
            _num(p.p95_latency_ms, ".1f"),
            usd(p.total_cost),
        )
        for p in points
    ]
    # At 80 columns: time, run, results, pass rate and cost; wider terminals add the rest.
    columns = [
        Col("Created", fixed=True),
        Col("Run", min_width=12),
        Col("Tag", drop=5, min_width=6),
        Col("Results", fixed=True, justify="right"),
        Col("Pass rate", fixed=True, justify="right"),
        Col("Errors", fixed=True, justify="right", drop=4),
        *(Col(n, fixed=True, justify="right", drop=3) for n in names),
        Col("p95 ms", fixed=True, justify="right", drop=2),
        Col("Cost", fixed=True, justify="right"),
    ]
    console.print(table(f"trend of {dataset}", columns, rows))


@app.command("health")
def health_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset id or name.")],
    last: Annotated[int, typer.Option(min=1, max=1000, help="Most recent finished runs.")] = 20,
    min_runs: Annotated[int, typer.Option(min=1, help="Runs an item needs to be classified.")] = 2,
    limit: Annotated[int, typer.Option(min=0, help="Items to list (table only).")] = 30,
    as_json: JsonFlag = False,
) -> None:
    """Items that always fail, always pass (low signal) or vary for one configuration (flaky)."""
    health = state(ctx).store().analytics.dataset_health(dataset, last=last, min_runs=min_runs)
    if as_json:
        print_json(health)
        return
    console.print(
        f"{plural(health.experiments, 'run')}, {plural(health.items_seen, 'item')} seen: "
        f"{health.flaky} flaky, {health.always_fail} always fail, "
        f"{health.always_pass} always pass",
        highlight=False,
    )
    rows = [(h.item_id, h.kind, h.runs, h.passes, h.fails) for h in health.items[:limit]]
    if rows:
        console.print(table(None, ["Item", "Kind", "Runs", "Passes", "Fails"], rows))


@app.command("latency")
def latency_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run (experiment) id or name.")],
    bins: Annotated[int, typer.Option(min=1, max=200, help="Histogram bins.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Latency percentiles and histogram of a run's completed results."""
    analytics = state(ctx).store().analytics
    stats = analytics.latency(run)
    histogram = analytics.latency_distribution(run, bins=bins) if stats.count else None
    if as_json:
        print_json({"latency": stats, "distribution": histogram})
        return
    rows = [
        ("count", stats.count),
        *((k, _num(getattr(stats, k), ".1f")) for k in ("mean", "p50", "p90", "p95", "p99", "max")),
    ]
    console.print(table(f"latency (ms) of {run}", ["Statistic", "Value"], rows))
    if histogram is not None:
        _print_bins(histogram.bins, ".1f")


def _print_bins(bins: list[HistogramBin], fmt: str) -> None:
    top = max((b.count for b in bins), default=0) or 1
    rows = [
        (f"{b.lower:{fmt}} - {b.upper:{fmt}}", b.count, "█" * round(30 * b.count / top))
        for b in bins
    ]
    console.print(table(None, ["Range", "Count", ""], rows))


@app.command("distribution")
def distribution_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run (experiment) id or name.")],
    scorer: Annotated[str, typer.Argument(help="Score name.")],
    bins: Annotated[int, typer.Option(min=1, max=200, help="Histogram bins.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Histogram of one score's values in a run (and counts of categorical values)."""
    dist = state(ctx).store().analytics.score_distribution(run, scorer, bins=bins)
    if as_json:
        print_json(dist)
        return
    console.print(
        f"{dist.name}: {plural(dist.count, 'value')}, mean {_num(dist.mean)}, "
        f"min {_num(dist.min)}, max {_num(dist.max)}",
        highlight=False,
    )
    if dist.bins:
        _print_bins(dist.bins, ".3g")
    if dist.categories:
        console.print(table(None, ["Value", "Count"], sorted(dist.categories.items())))

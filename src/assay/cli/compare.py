"""``assay compare`` and ``assay gate``: statistics between runs, and the CI gate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from rich.markup import escape

from assay.cli.context import console, err_console, print_json, state
from assay.cli.render import Col, cell, preview, table
from assay.errors import AssayError, InvalidInput, from_validation
from assay.formatting import plural

if TYPE_CHECKING:
    from rich.table import Table

    from assay.domain import Comparison, GateVerdict, MetricComparison, RegressionPolicy

#: Exit codes of ``assay gate``.
GATE_PASSED, GATE_FAILED, GATE_ERROR = 0, 1, 2


class CompareFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


class PAdjustOption(StrEnum):
    holm = "holm"
    bh = "bh"
    none = "none"


class Only(StrEnum):
    regressions = "regressions"
    improvements = "improvements"
    changed = "changed"
    failed = "failed"


class GateOnly(StrEnum):
    all = "all"
    failing = "failing"


_COLOUR = {"better": "green", "worse": "red", "inconclusive": "dim"}
_P_LABEL = {"holm": "p (Holm)", "bh": "p (BH)", "none": "p"}
_SHOWN = {
    "non_inferior": "[green]non-inferior[/]",
    "equivalent": "[green]equivalent[/]",
    "not_shown": "[dim]not shown[/]",
}


def _value(metric: MetricComparison, x: float | None, *, delta: bool = False) -> str:
    if x is None:
        return "-"
    if metric.kind == "pass_fail":
        return f"{100 * x:+.1f} pp" if delta else f"{100 * x:.1f}%"
    return f"{x:+.4g}" if delta else f"{x:.4g}"


def _metrics_table(cmp: Comparison) -> Table:

    from assay.domain import PASS_METRIC

    names = {r.run_id: r.name for r in cmp.runs}

    def run_column(name: str) -> Col:  # a header may wrap between words, not inside them
        longest = max(len(word) for word in name.split() or [""])
        return Col(name, wrap=True, justify="right", min_width=max(8, min(longest, 16)))

    columns: list[Col] = [Col("Scorer"), run_column(names[cmp.baseline_id])]
    for run in cmp.runs[1:]:
        columns += [
            run_column(run.name),
            Col("Δ", fixed=True, justify="right"),
            Col("95% CI" if len(cmp.runs) == 2 else "CI", fixed=True, justify="right", drop=2),
            Col(_P_LABEL[cmp.p_adjust], fixed=True, justify="right", drop=3),
            Col("Verdict", fixed=True, markup=True),
        ]
    rows = []
    for m in cmp.metrics:
        row = [
            "pass rate" if m.name == PASS_METRIC else m.name,
            _value(m, m.means.get(cmp.baseline_id)),
        ]
        for run in cmp.runs[1:]:
            c = m.contrast(run.run_id)
            row.append(_value(m, m.means.get(run.run_id)))
            if c is None:
                row += ["-", "-", "-", ""]
                continue
            ci = (
                "-"
                if c.ci_low is None
                else f"{_value(m, c.ci_low, delta=True).removesuffix(' pp')} … "
                f"{_value(m, c.ci_high, delta=True)}"
            )
            shown = c.p_value if cmp.p_adjust == "none" else c.p_adjusted
            p = "-" if shown is None else f"{shown:.3g}"
            v = c.verdict.value
            row += [_value(m, c.difference, delta=True), ci, p, f"[{_COLOUR[v]}]{v}[/]"]
        rows.append(row)
    return table(f"Scorers (baseline: {escape(names[cmp.baseline_id])})", columns, rows)


def _margins_table(cmp: Comparison) -> Table | None:
    """Non-inferiority and equivalence per metric and run, when a margin was asked for."""
    from assay.domain import PASS_METRIC

    names = {r.run_id: r.name for r in cmp.runs}
    rows = []
    confidence = 0.9
    for m in cmp.metrics:
        for c in m.contrasts:
            t = c.margin
            if t is None:
                continue
            confidence = t.confidence
            ci = (
                "-"
                if t.ci_low is None
                else f"{_value(m, t.ci_low, delta=True).removesuffix(' pp')} … "
                f"{_value(m, t.ci_high, delta=True)}"
            )
            rows.append(
                [
                    "pass rate" if m.name == PASS_METRIC else m.name,
                    names[c.run_id],
                    "±" + _value(m, t.margin, delta=True).lstrip("+"),
                    ci,
                    _SHOWN[t.non_inferiority.value],
                    _SHOWN[t.equivalence.value],
                ]
            )
    if not rows:
        return None
    columns = [
        Col("Scorer"),
        Col("Run", wrap=True),
        Col("Margin", fixed=True, justify="right"),
        Col(f"{100 * confidence:.0f}% CI", fixed=True, justify="right"),
        Col("Non-inferiority", fixed=True, markup=True),
        Col("Equivalence", fixed=True, markup=True),
    ]
    return table("Within the margin", columns, rows)


def _items_table(cmp: Comparison, inputs: Mapping[str, Any]) -> Table:
    from assay.analysis.textdiff import as_text

    names = {r.run_id: r.name for r in cmp.runs}
    two = len(cmp.runs) == 2
    columns = [
        Col("Item", fixed=True, drop=1),
        Col("Input", min_width=12),
        *(Col(names[run.run_id], wrap=True, markup=True) for run in cmp.runs),
        Col("Change", fixed=two, min_width=11),
    ]
    rows = []
    for item in cmp.items:
        label = item.item_id[-8:]
        if item.repetition:
            label += f"[{item.repetition}]"
        result = inputs.get(item.item_id)
        cells: list[str] = [label, "" if result is None else preview(result.input)]
        for run in cmp.runs:
            c = item.cells.get(run.run_id)
            if c is None:
                cells.append("[dim]missing[/]")
                continue
            mark = {True: "[green]✓[/]", False: "[red]✗[/]", None: "·"}[c.passed]
            shown = c.error if c.status == "failed" else as_text(c.output)
            cells.append(f"{mark} {escape(cell(shown, 80))}")
        changes = [(names[k], v) for k, v in item.changes.items() if v != "unchanged"]
        if two:
            cells.append(changes[0][1] if changes else "unchanged")
        else:
            cells.append(", ".join(f"{name}: {v}" for name, v in changes) or "unchanged")
        rows.append(cells)
    return table(f"Items ({len(cmp.items)} of {cmp.items_total})", columns, rows)


def print_comparison(cmp: Comparison, inputs: Mapping[str, Any] | None = None) -> None:
    """The statistics, then the page of item rows with each item's input (``inputs``: results
    by item id, as :func:`assay.analysis.item_inputs` reads them)."""
    console.print(_metrics_table(cmp))
    margins = _margins_table(cmp)
    if margins is not None:
        console.print(margins)
    names = {r.run_id: r.name for r in cmp.runs}
    for run in cmp.runs[1:]:
        console.print(
            f"{run.name}: {plural(cmp.regressions.get(run.run_id, 0), 'regression')} "
            f"(pass → fail), {plural(cmp.improvements.get(run.run_id, 0), 'improvement')} "
            f"(fail → pass) vs {names[cmp.baseline_id]}",
            highlight=False,
        )
    if cmp.flaky_items:
        console.print(f"{plural(len(cmp.flaky_items), 'flaky item')}", highlight=False)
    for noise in cmp.judge_noise:
        console.print(f"Judge noise: {noise.message}", highlight=False, markup=False)
    for w in cmp.warnings:
        console.print(f"[yellow]warning:[/] {w.message}", highlight=False)
    if cmp.items:
        console.print(_items_table(cmp, inputs or {}))


def compare_command(
    ctx: typer.Context,
    runs: Annotated[
        list[str], typer.Argument(help="Runs (id or name); the first is the baseline.")
    ],
    fmt: Annotated[CompareFormat, typer.Option("--format", help="Output format.")] = (
        CompareFormat.table
    ),
    only: Annotated[Only | None, typer.Option(help="Only these item rows.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only items with this dataset tag.")] = None,
    limit: Annotated[int, typer.Option(min=0, help="Item rows to show (0: none).")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Item rows to skip.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and permutations.")] = 0,
    margin: Annotated[
        float | None,
        typer.Option(
            help="Test non-inferiority and equivalence within this margin: points for pass "
            "rates (2 = two points), the scorer's units for numeric scores.",
        ),
    ] = None,
    p_adjust: Annotated[
        PAdjustOption,
        typer.Option(help="Adjust p-values for the several tests: holm, bh (FDR) or none."),
    ] = PAdjustOption.holm,
) -> None:
    """Compare runs item by item: per-scorer means, difference with CI, p-value, verdict."""
    from assay.service.compare import compare_runs

    store = state(ctx).store()
    cmp = compare_runs(
        store,
        runs,
        margin=margin,
        p_adjust=p_adjust.value,
        only=None if only is None else only.value,
        tag=tag,
        items=limit > 0,
        offset=offset,
        limit=limit or None,
        seed=seed,
    )
    if fmt is CompareFormat.json:
        print_json(cmp)
    elif fmt is CompareFormat.markdown:
        from assay.analysis import render_comparison_markdown

        typer.echo(render_comparison_markdown(cmp), nl=False)
    else:
        from assay.service.compare import inputs_of

        ids = [r.run_id for r in cmp.runs]
        print_comparison(cmp, inputs_of(store, ids, {i.item_id for i in cmp.items}))


def _load_policy(path: Path) -> RegressionPolicy:
    from assay.domain import RegressionPolicy

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            f"cannot read policy file {path}: {exc.strerror}", field="policy"
        ) from None
    return RegressionPolicy.parse(text, source=str(path))


def _write(path: Path, write: Callable[[TextIO], object], what: str) -> None:
    """Write a report to ``path`` as ``write`` produces it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            write(out)
    except OSError as exc:
        raise InvalidInput(f"cannot write {what} to {path}: {exc.strerror}", field=what) from None


def print_verdict(
    verdict: GateVerdict, *, scorers: bool = True, inputs: Mapping[str, Any] | None = None
) -> None:
    """The verdict, its checks, the statistics (``scorers``) and the regressed items, each
    with a preview of its input when ``inputs`` (results by item id) has it."""
    head = "[bold green]PASSED[/]" if verdict.passed else "[bold red]FAILED[/]"
    against = f" vs {verdict.baseline_name}" if verdict.baseline_name else ""
    console.print(f"gate {head}: {verdict.run_name}{against}", highlight=False)
    checks = [
        (c.name, "[green]pass[/]" if c.passed else "[red]fail[/]", c.message)
        for c in verdict.checks
    ]
    console.print(
        table(
            None,
            [
                Col("Check", fixed=True),
                Col("Result", fixed=True, markup=True),
                Col("Detail", wrap=True),
            ],
            checks,
        )
    )
    if scorers and verdict.comparison is not None:
        console.print(_metrics_table(verdict.comparison))
    from assay.analysis.report import cost_line

    cost = cost_line(verdict)
    if cost:
        console.print(cost, highlight=False)
    regressed = verdict.first_regressions(10)  # one per item, its regressed trials counted
    total = verdict.regressions_total
    if total:
        console.print(f"{plural(total, 'regression')}:", highlight=False)
        for item in regressed:
            label = f"{item.item_id} ({item.detail})" if item.detail else item.item_id
            found = (inputs or {}).get(item.item_id)
            width = max(20, console.width - len(label) - 4)
            about = "" if found is None else f"  {preview(found.input, width)}"
            console.print(f"  {label}{about}", highlight=False, markup=False, soft_wrap=True)
        if total > len(regressed):
            console.print(f"  … and {total - len(regressed)} more", highlight=False)


def gate_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="The run to gate (id or name).")],
    baseline: Annotated[
        str | None, typer.Option(help="Compare with this run (id or name).")
    ] = None,
    baseline_tag: Annotated[
        str | None,
        typer.Option(help="Compare with the latest completed run with this run tag, e.g. main."),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(help="Policy file (YAML or JSON); default: the dataset's stored policy."),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option(help="Write a JUnit XML report (one test case per item).")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option(help="Write a Markdown summary for a pull-request comment.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
    limit: Annotated[
        int,
        typer.Option(
            min=0,
            help="Outcomes and regressions listed in the --json verdict (all are counted; the "
            "JUnit report has every item).",
        ),
    ] = 1000,
    only: Annotated[
        GateOnly,
        typer.Option(
            help="Outcomes listed in the --json verdict: all, or failing (those that did not "
            "pass). The reports are the same either way.",
        ),
    ] = GateOnly.all,
) -> None:
    """Gate a run against its policy and baseline. Exit 0 passed, 1 failed, 2 error."""
    from pydantic import ValidationError

    try:
        from assay.analysis import render_markdown, write_junit
        from assay.service.compare import gate

        rules = _load_policy(policy) if policy is not None else None
        verdict = gate(
            state(ctx).store(),
            run,
            baseline=baseline,
            baseline_tag=baseline_tag,
            policy=rules,
            limit=limit,
            only=only.value,
        )
        if junit is not None:
            _write(junit, lambda out: write_junit(verdict, out), "junit")
        if markdown is not None:
            _write(markdown, lambda out: out.write(render_markdown(verdict)), "markdown")
    except ValidationError as exc:
        err_console.print(f"[bold red]error:[/] {from_validation(exc).message}", highlight=False)
        raise typer.Exit(GATE_ERROR) from None
    except AssayError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        raise typer.Exit(GATE_ERROR) from None
    except Exception as exc:  # a crash is an error, never a failed gate
        err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", highlight=False)
        raise typer.Exit(GATE_ERROR) from None
    if as_json:
        print_json(verdict)
    else:
        from assay.service.compare import regression_inputs

        print_verdict(verdict, inputs=regression_inputs(state(ctx).store(), verdict))
    raise typer.Exit(GATE_PASSED if verdict.passed else GATE_FAILED)

"""``assay demo``: the whole loop on the embedded store, with data shipped in the package."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli.compare import print_comparison, print_verdict
from assay.cli.context import console, state
from assay.cli.datasets import _print_diff
from assay.cli.render import table
from assay.errors import NotFound
from assay.formatting import plural, usd

if TYPE_CHECKING:
    from assay.domain import ExperimentSummary
    from assay.store import Store

DEMO_DATASET = "demo-support-qa"


def demo_command(
    ctx: typer.Context,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", help="Where to write the export (default: ASSAY_HOME/demo)."),
    ] = None,
) -> None:
    """Build a dataset, version it, run two bot versions over it and compare them."""
    from assay.cli.demo_bot import bot_v1, bot_v2
    from assay.domain import ItemCreate, ItemUpdate
    from assay.evaluation import evaluate
    from assay.io import export_dataset, import_file
    from assay.scorers import exact_match, token_f1
    from assay.service.compare import compare_runs, gate, inputs_of, regression_inputs

    st = state(ctx)
    store = st.store(in_memory_ok=True)  # the whole loop runs in this one process
    out_dir = output_dir or st.settings.home.expanduser() / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)

    console.rule("[bold]1. A dataset of test cases")
    _reset(store)
    sample = files("assay.data").joinpath("sample_support_qa.jsonl")
    with as_file(sample) as path:
        change = import_file(store, path, dataset=DEMO_DATASET, create=True)
    console.print(
        f"imported {plural(change.added, 'support question')} into [bold]{DEMO_DATASET}[/] "
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
        console.print(f"version {version}: {plural(rows, 'item')} → {target}", highlight=False)

    console.rule("[bold]4. Run two versions of the bot over the dataset")
    runs = []
    for name, task in (("support-bot v1", bot_v1), ("support-bot v2", bot_v2)):
        result = evaluate(
            DEMO_DATASET,
            task,
            [exact_match(ignore_case=True, ignore_punctuation=True), token_f1()],
            name=name,
            concurrency=8,
            store=store,
        )
        runs.append(result)
        _print_summary(name, result.summary)

    console.rule("[bold]5. Is v2 better? Compare, then gate")
    ids = [r.id for r in runs]
    changed = compare_runs(store, ids, only="changed", limit=10)
    print_comparison(changed, inputs_of(store, ids, {i.item_id for i in changed.items}))
    verdict = gate(store, ids[1], baseline=ids[0])
    print_verdict(verdict, scorers=False, inputs=regression_inputs(store, verdict))

    console.rule("[bold]6. Can v2 replace v1? Then plan the next run")
    _replace_and_plan(store, ids)
    if store.db.in_memory:
        console.print(
            "\nThe database was in memory and ends with this command: run the demo on a file "
            "database (the default) to explore its runs afterwards.",
            highlight=False,
        )
        return
    console.print(
        "\nExplore:\n  assay runs list\n"
        f"  assay runs show {runs[1].id}\n"
        f"  assay compare {ids[0]} {ids[1]}\n"
        f"  assay gate {ids[1]} --baseline {ids[0]}\n"
        "Dashboard: pip install 'assay\\[server]' && assay serve, then open\n"
        f"  http://127.0.0.1:8000/compare?runs={ids[0]}&runs={ids[1]}",
        highlight=False,
        soft_wrap=True,
    )


def _replace_and_plan(store: Store, ids: list[str]) -> None:
    """Non-inferiority of v2's pass rate within 2 points, as a sentence with its interval,
    and the plan of the next run (what it detects, the items a 2-point difference needs,
    its cost and time)."""
    from assay.analysis.run_plan import plan_run
    from assay.cli.plan import plan_lines
    from assay.service.compare import compare_runs

    found = compare_runs(store, ids, items=False, margin=2)
    rate = found.metric("passed")
    contrast = rate.contrast(ids[1]) if rate is not None else None
    test = contrast.margin if contrast is not None else None
    if test is None or test.ci_low is None or test.ci_high is None:
        console.print("Not enough paired results to test a 2-point margin.")
    else:
        shown = "Yes" if test.non_inferiority.value == "non_inferior" else "Not shown"
        console.print(
            f"Can v2 replace v1 with a 2-point margin? {shown}: v2's pass rate minus v1's is "
            f"{100 * test.ci_low:+.1f} to {100 * test.ci_high:+.1f} points "
            f"({100 * test.confidence:.0f}% interval), "
            + (
                "above -2 points, so v2 is non-inferior."
                if shown == "Yes"
                else "which reaches below -2 points, so non-inferiority is not shown."
            ),
            highlight=False,
        )
    plan = plan_run(store, DEMO_DATASET, difference=2, metrics=["passed"])
    [m] = plan.metrics
    needed = "-" if m.items_needed is None else f"{m.items_needed:,}"
    console.print(
        f"A run of {plural(plan.items, 'item')} x {plural(plan.trials, 'trial')} detects a "
        f"pass-rate difference of {100 * m.detectable:.1f} points (80% power); "
        f"a 2-point difference needs {needed} items.",
        highlight=False,
    )
    for line in plan_lines(plan):
        console.print(line, highlight=False)


def _print_summary(name: str, summary: ExperimentSummary) -> None:
    rate = "-" if summary.pass_rate is None else f"{summary.pass_rate:.0%}"
    rows: list[tuple[object, ...]] = [
        ("items", f"{summary.completed} completed, {summary.failed} failed"),
        ("pass rate", f"{rate} ({summary.passed} passed)"),
        (
            "latency p50 / p95",
            f"{summary.p50_latency_ms or 0:.1f} / {summary.p95_latency_ms or 0:.1f} ms",
        ),
        ("total cost", usd(summary.total_cost)),
    ]
    rows += [
        (f"score {s.name}", f"mean {s.mean:.3f}" if s.mean is not None else "-")
        for s in summary.scores
    ]
    console.print(table(name, ["Metric", "Value"], rows))


def _reset(store: Store) -> None:
    """Start the demo from a clean dataset so it can be run again and again."""
    try:
        old_runs = store.experiments.list(dataset=DEMO_DATASET, limit=1000).items
    except NotFound:
        return
    for run in old_runs:
        store.experiments.delete(run.id)
    store.datasets.delete(DEMO_DATASET)
    console.print(
        f"removed the previous {DEMO_DATASET} dataset and its {plural(len(old_runs), 'run')}"
    )

"""``assay run CONFIG.yaml`` and ``assay runs``: run, list, show, cancel, resume and export
experiments.

A run in this process shows a progress bar. Ctrl+C once stops taking new items and lets
in-flight calls finish; twice cancels them. Either way finished results are kept and
``assay runs resume ID`` picks up the rest.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from assay.cli.context import console, print_json, state
from assay.cli.render import Col, cell, preview, table
from assay.domain.statuses import ExperimentStatus
from assay.errors import InvalidInput, NotFound
from assay.formatting import plural, sequential_note, usd

if TYPE_CHECKING:
    from assay.domain import (
        Experiment,
        ExperimentSort,
        ExperimentSummary,
        Result,
    )
    from assay.engine import Prepared
    from assay.io import Format
    from assay.store import Store

app = typer.Typer(
    help="Experiment runs: list, inspect, cancel, resume, export.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ExecutorOption = Annotated[
    str,
    typer.Option(
        "--executor", help="local (this process) or ray (shards on a Ray cluster: assay[ray])."
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="With --executor ray: the cluster (default: RAY_ADDRESS, else a local Ray).",
    ),
]


#: ``assay.domain.EXPERIMENT_SORT_FIELDS``, without importing the domain models.
SORT_FIELDS = ("created_at", "name", "status", "dataset", "pass_rate", "cost", "latency")


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"
    jsonl = "jsonl"


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.3f} ms" if value < 10 else f"{value:,.1f} ms"


def status_label(status: ExperimentStatus, errors: int) -> str:
    """The status people read: ``completed with 3 errors`` when results or scorers errored."""

    if errors and status in (ExperimentStatus.completed, ExperimentStatus.failed):
        return f"{status.value} with {errors} error{'s' if errors != 1 else ''}"
    return status.value


def resume_hint(experiment: Experiment) -> str | None:
    """How to finish a run that stopped early, or None when there is nothing to resume."""

    if experiment.status not in (ExperimentStatus.interrupted, ExperimentStatus.cancelled):
        return None
    return (
        f"resume it with: assay runs resume {experiment.id}  (or from Python: "
        f"assay.evaluate(None, task, scorers, resume={experiment.id!r}))"
    )


def print_summary(experiment: Experiment, summary: ExperimentSummary) -> None:
    """The summary table every run command ends with."""
    status = experiment.status.value
    colour = {"completed": "green", "failed": "red", "cancelled": "yellow"}.get(status, "cyan")
    if status == "completed" and summary.errors:
        colour = "yellow"
    if status == "interrupted":
        colour = "red"
    label = status_label(experiment.status, summary.errors)
    console.print(
        f"[bold]{experiment.name}[/]  [{colour}]{label}[/]"
        + (f"  {experiment.error}" if experiment.error else ""),
        highlight=False,
    )
    hint = resume_hint(experiment)
    if hint and summary.completed + summary.failed < summary.total:
        console.print(hint, highlight=False)
    rows: list[tuple[Any, ...]] = [
        ("results", f"{summary.total}"),
        (
            "completed / failed / cancelled / pending",
            f"{summary.completed} / {summary.failed} / {summary.cancelled} / {summary.pending}",
        ),
        ("errors (failed results + scorer errors)", f"{summary.errors}"),
        (
            "pass rate",
            "" if summary.pass_rate is None else f"{summary.pass_rate:.1%} ({summary.passed})",
        ),
        (
            "latency avg / p50 / p95",
            f"{_ms(summary.avg_latency_ms)} / {_ms(summary.p50_latency_ms)} / "
            f"{_ms(summary.p95_latency_ms)}",
        ),
        ("cost total / avg", f"{usd(summary.total_cost)} / {usd(summary.avg_cost)}"),
        ("judge cost (LLM judges, apart)", usd(summary.judge_cost)),
        ("tokens in / out", f"{summary.tokens_in:,} / {summary.tokens_out:,}"),
        ("duration", "" if summary.duration_s is None else f"{summary.duration_s:.2f} s"),
    ]
    console.print(table(None, ["Metric", "Value"], rows))
    if summary.scores:
        console.print(
            table(
                None,
                ["Scorer", "Scored", "Passed", "Failed", "Pass rate", "Mean"],
                [
                    (
                        s.name,
                        s.scored,
                        s.passed,
                        s.failed,
                        "" if s.pass_rate is None else f"{s.pass_rate:.1%}",
                        "" if s.mean is None else f"{s.mean:.3f}",
                    )
                    for s in summary.scores
                ],
            )
        )


def run_command(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Run config (YAML): dataset, target, scorers…")],
    name: Annotated[
        str | None, typer.Option(help="Experiment name (overrides the config).")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="In-flight calls (overrides).")] = None,
    trials: Annotated[int | None, typer.Option(help="Runs of each item (overrides).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Per attempt, seconds (overrides).")] = None,
    max_retries: Annotated[int | None, typer.Option(help="Retries per call (overrides).")] = None,
    rpm: Annotated[int | None, typer.Option(help="Requests per minute (overrides).")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per minute (overrides).")] = None,
    max_cost: Annotated[
        float | None, typer.Option(help="Budget in USD: stop when spent (overrides).")
    ] = None,
    run_tag: Annotated[
        str | None,
        typer.Option("--run-tag", help="Baseline label such as main, for gates (overrides)."),
    ] = None,
    resume_id: Annotated[
        str | None,
        typer.Option("--resume", help="Continue this experiment with the config's target."),
    ] = None,
    retry_errors: Annotated[
        bool, typer.Option("--retry-errors", help="With --resume: run failed results again.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the outcome: no progress bar.")
    ] = False,
    executor: ExecutorOption = "local",
    ray_address: RayAddressOption = None,
) -> None:
    """Run an experiment described by a config file and print its summary."""
    from assay.engine import load_run_config
    from assay.service.executors import check, place
    from assay.service.experiments import from_config

    check(executor, ray_address)
    st = state(ctx)
    prepared = from_config(
        st.store(),
        st.settings,
        load_run_config(config),
        config.parent.resolve(),
        name=name,
        run_tag=run_tag,
        overrides={
            "concurrency": concurrency,
            "trials": trials,
            "timeout": timeout,
            "max_retries": max_retries,
            "rpm": rpm,
            "tpm": tpm,
            "max_cost": max_cost,
        },
        retry_errors=retry_errors,
        resume_id=resume_id,
    )
    finish(ctx, place(prepared, executor, ray_address), as_json=as_json, quiet=quiet)


def finish(ctx: typer.Context, prepared: Prepared, *, as_json: bool, quiet: bool) -> None:
    """Run a prepared experiment, print the outcome, exit 1 unless it completed.

    Quiet, nothing is printed while it runs (no id first, no progress bar): only the outcome.
    """
    from assay.cli.progress import drive
    from assay.sync import run_sync

    store = state(ctx).store()
    head = f"experiment [bold]{prepared.experiment.id}[/]"
    if not (as_json or quiet):  # first, so an interrupted run still shows what to resume
        console.print(head, highlight=False)
    show = not (as_json or quiet) and console.is_terminal
    experiment = run_sync(drive(prepared, show_progress=show), name="assay-run")
    summary = store.experiments.summary(experiment.id)
    if as_json:
        print_json({"experiment": experiment, "summary": summary})
    else:
        if quiet:
            console.print(head, highlight=False)
        print_summary(experiment, summary)
        if (note := sequential_note(experiment.metadata)) is not None:
            console.print(note, highlight=False)
    if experiment.status != ExperimentStatus.completed:
        raise typer.Exit(1)


@app.command("list")
def list_command(
    ctx: typer.Context,
    dataset: Annotated[str | None, typer.Option(help="Only runs of this dataset.")] = None,
    status: Annotated[
        ExperimentStatus | None, typer.Option(help="Only runs in this status.")
    ] = None,
    sort: Annotated[
        str,
        typer.Option(
            help=f"Order: {', '.join(SORT_FIELDS)}; prefix - for descending "
            "(runs without a value come last)."
        ),
    ] = "-created_at",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Cursor printed by the previous page.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List experiment runs with their dataset and target, newest first unless --sort."""

    if sort.lstrip("-") not in SORT_FIELDS:
        raise InvalidInput(
            f"cannot sort by {sort!r}: use {', '.join(SORT_FIELDS)}, with - first for descending",
            field="sort",
        )
    store = state(ctx).store()
    page = store.experiments.list(
        dataset=dataset,
        status=status,
        sort=_sort(sort),
        limit=limit,
        cursor=cursor,
    )
    ids = [e.id for e in page.items]
    counts = store.experiments.counts(ids)
    overview = store.experiments.overview(ids)
    scorer_errors = store.experiments.scorer_errors(ids)
    errors = {i: counts.get(i, {}).get("failed", 0) + scorer_errors.get(i, 0) for i in ids}
    names = _dataset_names(store, {e.dataset_id for e in page.items if e.dataset_id})
    if as_json:
        print_json(
            {
                "items": [
                    {
                        **e.model_dump(mode="json"),
                        "dataset_name": names.get(e.dataset_id or ""),
                        "target": e.target_label,
                        "counts": counts.get(e.id, {}),
                        "errors": errors[e.id],
                        **overview.get(e.id, {}),
                    }
                    for e in page.items
                ],
                "next_cursor": page.next_cursor,
            }
        )
        return
    rows = []
    for e in page.items:
        c = counts.get(e.id, {})
        o = overview.get(e.id, {})
        rate = o.get("pass_rate")
        rows.append(
            (
                e.id,
                e.name,
                names.get(e.dataset_id or "", "-"),
                e.target_label,
                status_label(e.status, errors[e.id]),
                "" if rate is None else f"{rate:.1%}",
                f"{c.get('completed', 0)}/{sum(c.values())}",
                c.get("failed", 0),
                _ms(o.get("avg_latency_ms")),
                usd(o.get("avg_cost"), missing=""),
                e.created_at.strftime("%Y-%m-%d %H:%M"),
            )
        )
    # At 80 columns the id, name, dataset, status and pass rate fit; wider terminals show
    # the rest, the least useful last (``drop``).
    columns = [
        Col("ID", fixed=True),
        Col("Name", min_width=12),
        Col("Dataset", drop=1),
        Col("Target", drop=3, min_width=16),
        Col("Status", fixed=True),
        Col("Pass", fixed=True, justify="right"),
        Col("Done", fixed=True, justify="right", drop=4),
        Col("Failed", fixed=True, justify="right", drop=7),
        Col("Latency", fixed=True, justify="right", drop=6),
        Col("Avg cost", fixed=True, justify="right", drop=5),
        Col("Created", fixed=True, drop=2),
    ]
    console.print(table(None, columns, rows))
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}", soft_wrap=True)


def _sort(sort: str) -> ExperimentSort:
    return sort  # type: ignore[return-value]  # checked against the allowed fields above


def _dataset_names(store: Store, dataset_ids: set[str]) -> dict[str, str]:
    """Names of the datasets some runs used; a deleted one has none."""
    names = {}
    for dataset_id in dataset_ids:
        try:
            names[dataset_id] = store.datasets.get(dataset_id).name
        except NotFound:
            continue
    return names


@app.command("show")
def show_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Experiment id (or name: the newest with it).")],
    results: Annotated[int, typer.Option(min=0, max=1000, help="Results to list.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Show a run: its configuration, summary and first results."""
    from assay.domain.redaction import redact

    store = state(ctx).store()
    experiment = store.experiments.get(ref)
    page = store.experiments.results(experiment.id, limit=max(results, 1))
    if as_json:
        print_json({"experiment": experiment, **page.model_dump(mode="json", by_alias=True)})
        return
    console.print(
        f"id {experiment.id} · dataset {page.dataset_name or '-'} "
        f"v{experiment.dataset_version} · config {cell(redact(experiment.config), 80)}",
        highlight=False,
    )
    if (note := sequential_note(experiment.metadata)) is not None:
        console.print(note, highlight=False)
    if page.summary is not None:  # asked for
        print_summary(experiment, page.summary)
    if results:
        shown = page.results[:results]
        columns = [
            Col("Status", fixed=True),
            Col("Input"),
            Col("Expected", drop=2),
            Col("Output"),
            Col("Scores", drop=1, min_width=14),
        ]
        if any(r.error for r in shown):
            columns.append(Col("Error", drop=3))
        rows = [_result_row(r)[: len(columns)] for r in shown]
        console.print(table(None, columns, rows))


def _result_row(r: Result) -> tuple[Any, ...]:
    scores = ", ".join(
        f"{s.name}={s.numeric_value if s.numeric_value is not None else s.string_value}"
        for s in r.scores
    )
    return (
        r.status.value,
        preview(r.input),
        preview(r.expected_output),
        preview(r.output),
        scores,
        r.error,
    )


@app.command("cancel")
def cancel_command(
    ctx: typer.Context, ref: Annotated[str, typer.Argument(help="Experiment id.")]
) -> None:
    """Cancel a run; a running engine notices within a second and keeps finished results."""

    experiment = state(ctx).store().experiments.request_cancel(ref)
    if experiment.status == ExperimentStatus.cancelled:
        console.print(f"cancelled {experiment.id}")
    else:
        console.print(f"cancel requested for {experiment.id}: the running process will stop it")


@app.command("resume")
def resume_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Experiment id.")],
    retry_errors: Annotated[
        bool, typer.Option("--retry-errors", help="Also run the failed results again.")
    ] = False,
    concurrency: Annotated[int | None, typer.Option(min=1, max=10_000)] = None,
    max_retries: Annotated[int | None, typer.Option(min=0, max=100)] = None,
    timeout: Annotated[float | None, typer.Option(min=0.001, help="Per attempt (s).")] = None,
    writer: Annotated[
        str, typer.Option(help="Result writer: thread, process (another CPU) or auto.")
    ] = "auto",
    as_json: JsonFlag = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the outcome: no progress bar.")
    ] = False,
    executor: ExecutorOption = "local",
    ray_address: RayAddressOption = None,
) -> None:
    """Run the unfinished results of a run with the target and scorers it was started with."""
    from assay.service.executors import check, place
    from assay.service.experiments import resume_stored

    check(executor, ray_address)
    st = state(ctx)
    prepared = resume_stored(
        st.store(),
        st.settings,
        ref,
        retry_errors=retry_errors,
        concurrency=concurrency,
        max_retries=max_retries,
        timeout=timeout,
        writer=writer,
    )
    finish(ctx, place(prepared, executor, ray_address), as_json=as_json, quiet=quiet)


@app.command("export")
def export_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Experiment id.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="csv, json or jsonl.")] = (
        ExportFormat.jsonl
    ),
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File (default: stdout).")
    ] = (None),
) -> None:
    """Export every result with input, expected and actual output, metrics and scores."""
    from assay.io import export_results

    store = state(ctx).store()
    experiment = store.experiments.get(ref)
    format: Format = fmt.value
    if output is None:
        sys.stdout.flush()
        export_results(store, experiment.id, sys.stdout.buffer, format=format)
        sys.stdout.buffer.flush()
        return
    try:
        out = output.open("wb")
    except OSError as exc:
        raise InvalidInput(f"cannot write {output}: {exc.strerror}", field="output") from None
    with out:
        count = export_results(store, experiment.id, out, format=format)
    console.print(f"exported {plural(count, 'result')} to {output}", highlight=False)


__all__ = ["app", "print_summary", "run_command"]

"""``assay run CONFIG.yaml``: plan an experiment from a run config, run it with a progress bar.

Ctrl+C once stops taking new items and lets in-flight calls finish; twice cancels them. Either
way finished results are kept and ``assay runs resume ID`` picks up the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli.context import console, print_json, state
from assay.cli.runs import print_summary

if TYPE_CHECKING:
    from assay.engine import Prepared


def run_command(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Run config (YAML): dataset, target, scorers…")],
    name: Annotated[
        str | None, typer.Option(help="Experiment name (overrides the config).")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=10_000, help="In-flight calls (overrides).")
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
) -> None:
    """Run an experiment described by a config file and print its summary."""
    from assay.engine import load_run_config, plan, resume
    from assay.targets import BuildContext, PriceTable, create_target

    cfg = load_run_config(config)
    st = state(ctx)
    store = st.store()
    settings = st.settings
    context = BuildContext(
        store=store, prices=PriceTable.load(settings.price_table), base_dir=config.parent.resolve()
    )
    target = create_target(cfg.target, context)
    options = cfg.options(concurrency=concurrency, retry_errors=retry_errors or None)
    if resume_id is not None:
        prepared = resume(store, resume_id, target=target, scorers=cfg.scorers, options=options)
    else:
        prepared = plan(
            store,
            dataset=cfg.dataset,
            target=target,
            scorers=cfg.scorers,
            name=name or cfg.name,
            description=cfg.description,
            dataset_version=cfg.dataset_version,
            selection=cfg.select,
            trials=cfg.trials,
            metadata=cfg.metadata,
            tags=cfg.tags,
            run_tag=run_tag or cfg.run_tag,
            options=options,
            defer=True,
            evaluators=cfg.evaluators,
            use_defaults=cfg.default_evaluators,
        )
    finish(ctx, prepared, as_json=as_json, quiet=quiet)


def finish(ctx: typer.Context, prepared: Prepared, *, as_json: bool, quiet: bool) -> None:
    """Run a prepared experiment, print the outcome, exit 1 unless it completed.

    Quiet, nothing is printed while it runs (no id first, no progress bar): only the outcome.
    """
    from assay.cli.progress import drive
    from assay.domain import ExperimentStatus
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
    if experiment.status != ExperimentStatus.completed:
        raise typer.Exit(1)

"""Entry point of the ``assay`` command: one Typer app, one sub-app per noun."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli.analytics import app as analytics_app
from assay.cli.compare import compare_command, gate_command
from assay.cli.context import State, run_guarded
from assay.cli.datasets import app as datasets_app
from assay.cli.db import app as db_app
from assay.cli.demo import demo_command
from assay.cli.keys import app as keys_app
from assay.cli.policy import policy_command
from assay.cli.run import run_command
from assay.cli.runs import app as runs_app
from assay.cli.score import judge_pairwise_command, score_command
from assay.cli.serve import serve_command
from assay.cli.transfer import export_command, import_command
from assay.cli.worker import worker_command

app = typer.Typer(
    name="assay",
    help="Evaluate LLM applications and agents: datasets, experiments, scores, comparisons.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(datasets_app, name="datasets")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.command("serve")(serve_command)
app.command("worker")(worker_command)
app.command("demo")(demo_command)
app.command("import")(import_command)
app.command("export")(export_command)
app.add_typer(runs_app, name="runs")
app.command("run")(run_command)
app.command("compare")(compare_command)
app.command("gate")(gate_command)
app.add_typer(analytics_app, name="analytics")
datasets_app.command("policy")(policy_command)
app.command("score")(score_command)
app.command("judge-pairwise")(judge_pairwise_command)


def _version(value: bool) -> None:
    if value:
        from assay import __version__

        typer.echo(f"assay {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="ASSAY_DATABASE_URL",
            help="Database URL (default: SQLite in ASSAY_HOME).",
        ),
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project", envvar="ASSAY_PROJECT", help="Project name.")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    ctx.obj = State(database_url=db, project=project)
    ctx.call_on_close(ctx.obj.close)


def main() -> None:
    run_guarded(app)

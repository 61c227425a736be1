"""Entry point of the ``assay`` command: one Typer app, one sub-app per noun.

Commands are registered by name and built on first use, so ``assay datasets list`` imports
neither the other command modules nor what they need (tests/e2e/test_startup.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from assay.cli.context import State, run_guarded

if TYPE_CHECKING:
    from typer._click import Command

#: The root's commands in help order: name -> (module, attribute), a Typer sub-app or a command
#: function. A module is imported, and its command built, only when that command is looked up:
#: to run it, or for the full help.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("assay.cli.serve", "serve_command"),
    "worker": ("assay.cli.worker", "worker_command"),
    "demo": ("assay.cli.demo", "demo_command"),
    "import": ("assay.cli.transfer", "import_command"),
    "export": ("assay.cli.transfer", "export_command"),
    "run": ("assay.cli.runs", "run_command"),
    "compare": ("assay.cli.compare", "compare_command"),
    "gate": ("assay.cli.compare", "gate_command"),
    "frontier": ("assay.cli.verdicts", "frontier_command"),
    "plan": ("assay.cli.plan", "plan_command"),
    "evaluators": ("assay.cli.verdicts", "app"),
    "score": ("assay.cli.score", "score_command"),
    "judge-pairwise": ("assay.cli.score", "judge_pairwise_command"),
    "datasets": ("assay.cli.datasets", "app"),
    "items": ("assay.cli.items", "app"),
    "db": ("assay.cli.db", "app"),
    "keys": ("assay.cli.keys", "app"),
    "audit": ("assay.cli.audit", "app"),
    "runs": ("assay.cli.runs", "app"),
    "analytics": ("assay.cli.analytics", "app"),
    "online": ("assay.cli.online", "app"),
}


def _build(name: str) -> Command:
    """The Click command Typer would have built for ``name`` registered on the root."""
    module, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer()
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return typer.main.get_group(holder).commands[name]


class _LazyCommands(MutableMapping[str, "Command"]):
    """Every root command by name; each is built on first access."""

    def __init__(self, built: MutableMapping[str, Command]) -> None:
        self._built = dict(built)

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = _build(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(COMMANDS), **self._built})

    def __len__(self) -> int:
        return len(COMMANDS.keys() | self._built.keys())


class _LazyGroup(TyperGroup):
    """The root group: running one command imports that command's module only."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _LazyCommands(self.commands)


app = typer.Typer(
    name="assay",
    help="Evaluate LLM applications and agents: datasets, experiments, scores, comparisons.",
    cls=_LazyGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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

"""What every command shares: the lazily opened store, output helpers, error rendering."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import orjson
import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console

from assay.config import Settings
from assay.errors import AssayError, InvalidInput, from_validation
from assay.store import Store, open_store
from assay.store.db import is_in_memory

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error is one line, even when piped


@dataclass
class State:
    database_url: str | None = None
    project: str | None = None
    _store: Store | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        overrides: dict[str, Any] = {}
        if self.database_url:
            overrides["database_url"] = self.database_url
        if self.project:
            overrides["project"] = self.project
        return Settings(**overrides)

    def checked_url(self, *, in_memory_ok: bool = False) -> str:
        """The database URL; an in-memory one is refused unless the command is whole in
        itself (each command is a process of its own, and such a database ends with it)."""
        url = self.settings.resolved_database_url
        if not in_memory_ok and is_in_memory(url):
            raise InvalidInput(
                f"--db {url}: an in-memory database lasts one process, and every assay command "
                "is a process of its own; use a file path such as --db sqlite:///assay.db "
                "(assay demo and Python's evaluate() can use one)",
                field="database_url",
            )
        return url

    def store(self, *, in_memory_ok: bool = False) -> Store:
        if self._store is None:
            self.checked_url(in_memory_ok=in_memory_ok)
            self._store = open_store(self.settings)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


def print_json(value: Any) -> None:
    """Machine-readable output for scripts: pydantic records, lists of them, or plain data."""

    def default(obj: Any) -> Any:
        if isinstance(obj, BaseModel):
            return obj.model_dump(mode="json", by_alias=True)
        raise TypeError

    sys.stdout.write(orjson.dumps(value, default=default, option=orjson.OPT_INDENT_2).decode())
    sys.stdout.write("\n")


def run_guarded(app: typer.Typer) -> None:
    """Run the app; an AssayError prints one clear line and exits with a non-zero code."""
    try:
        app(standalone_mode=True)
    except ValidationError as exc:
        err_console.print(f"[bold red]error:[/] {from_validation(exc).message}", highlight=False)
        raise SystemExit(1) from None
    except AssayError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, markup=True)
        raise SystemExit(1) from None

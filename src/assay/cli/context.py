"""What every command shares: the lazily opened store, output helpers, error rendering.

Command modules import only this, typer and the standard library at their top: the store,
the engine, the analysis stack and the server are imported inside the commands that use them,
so ``assay --help`` and light commands start fast (tests/e2e/test_startup.py guards it).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console

from assay.errors import AssayError, InvalidInput, from_validation

if TYPE_CHECKING:
    from pydantic import ValidationError

    from assay.config import Settings
    from assay.store import Store

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error is one line, even when piped


@dataclass
class State:
    database_url: str | None = None
    project: str | None = None
    _store: Store | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        from assay.config import Settings

        overrides: dict[str, Any] = {}
        if self.database_url:
            overrides["database_url"] = self.database_url
        if self.project:
            overrides["project"] = self.project
        return Settings(**overrides)

    def checked_url(self, *, in_memory_ok: bool = False) -> str:
        """The database URL; an in-memory one is refused unless the command is whole in
        itself (each command is a process of its own, and such a database ends with it)."""
        from assay.store import is_in_memory

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


def open_store(settings: Settings) -> Store:
    """The configured store; SQLAlchemy and the repositories load here, not at start-up."""
    from assay.store import open_store

    return open_store(settings)


def print_json(value: Any) -> None:
    """Machine-readable output for scripts: pydantic records, lists of them, or plain data."""
    from pydantic import BaseModel

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
    except AssayError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, markup=True)
        raise SystemExit(1) from None
    except Exception as exc:
        invalid = _validation_error(exc)
        if invalid is None:
            raise
        err_console.print(
            f"[bold red]error:[/] {from_validation(invalid).message}", highlight=False
        )
        raise SystemExit(1) from None


def _validation_error(exc: Exception) -> ValidationError | None:
    """``exc`` if it is pydantic's ValidationError; pydantic is not imported if nothing used it."""
    if "pydantic_core" not in sys.modules:
        return None
    from pydantic import ValidationError

    return exc if isinstance(exc, ValidationError) else None

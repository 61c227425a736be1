"""Jinja2 environment of the dashboard: templates, formatting filters, page rendering.

Pages render the whole document; an HTMX request (``HX-Request`` header) that names a
``block`` gets only that block, so tables page, filter and refresh in place.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from assay import __version__
from assay.domain.redaction import redact
from assay.formatting import plural, usd

HERE = Path(__file__).parent
STATIC = HERE / "static"

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _number(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def percent(value: float | None, digits: int = 1) -> str:
    """0.873 → '87.3 %'."""
    return "—" if value is None else f"{value * 100:.{digits}f} %"


def seconds(ms: float | None) -> str:
    """Milliseconds shown as seconds, the unit of the runs table."""
    return "—" if ms is None else f"{ms / 1000:,.2f} s"


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def pretty(value: Any) -> str:
    """A JSON value for a <pre> block: strings as they are, everything else indented JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def short(value: Any, limit: int = 160) -> str:
    """A JSON value on one line, cut at ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


env.filters.update(
    number=_number,
    percent=percent,
    seconds=seconds,
    usd=usd,
    plural=plural,
    when=when,
    pretty=pretty,
    short=short,
    redacted=redact,
)
env.globals["assay_version"] = __version__  # not "version": pages pass their own
# The macros (badges, tags, charts) are globals, so a block rendered alone still has them.
_macros = env.get_template("macros.html").module
env.globals.update(
    {name: getattr(_macros, name) for name in dir(_macros) if not name.startswith("_")}
)


_CLEAR_FLASH = '<div id="flash" aria-live="assertive" hx-swap-oob="true"></div>'


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    block: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The page, or only ``block`` of it when HTMX asks for a fragment."""
    page = env.get_template(template)
    values = {"request": request, **context}
    if block is not None and request.headers.get("hx-request") == "true":
        html = "".join(page.blocks[block](page.new_context(values)))
        html += _CLEAR_FLASH  # an earlier error message is stale once a request succeeds
    else:
        html = page.render(values)
    return HTMLResponse(html, status_code=status, headers=headers)

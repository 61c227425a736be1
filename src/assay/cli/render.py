"""Rich rendering of records for a terminal.

Tables fit the terminal: identifiers, numbers and times are shown whole, free text is cut to
one line with an ellipsis (or wraps, for the columns that ask to), and when even that is too
wide the least useful columns are left out (``Col.drop``). At 80 columns a row stays a row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson
from rich import box
from rich.cells import cell_len
from rich.errors import MarkupError
from rich.markup import escape
from rich.text import Text

if TYPE_CHECKING:
    from rich.table import Table

#: Spaces between two columns: the tables have no vertical rules, only a line under the header.
_GAP = 2


@dataclass(frozen=True, slots=True)
class Col:
    """A table column and how it behaves when the terminal is narrow."""

    header: str
    fixed: bool = False
    """Shown whole, never cut: ids, numbers, statuses, times."""
    wrap: bool = False
    """Long text that may take several lines instead of one cut line."""
    drop: int = 0
    """0: always shown; columns with higher numbers are left out first when space runs out."""
    min_width: int = 10
    """Narrowest a text column gets before columns are left out."""
    justify: Literal["left", "right"] = "left"
    markup: bool = False
    """The cells are Rich markup (colours, marks); otherwise they are shown as they are, so
    data such as ``[/b]`` neither styles the table nor breaks it."""


def cell(value: Any, width: int = 60) -> str:
    """One short line for a table cell."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _column(header: str, values: list[Any]) -> Col:
    """A column of numbers or times is shown whole (numbers to the right); others are text."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, int | float) for v in present):
        return Col(header, fixed=True, justify="right")
    return Col(header, fixed=all(isinstance(v, datetime) for v in present))


def preview(value: Any, width: int = 200) -> str:
    """A JSON value on one line; an object with one text field (``{"question": "..."}``)
    shows as that text."""
    if isinstance(value, dict) and len(value) == 1:
        (only,) = value.values()
        if isinstance(only, str):
            value = only
    return cell(value, width)


def _markup(text: str, column: Col) -> str:
    return text if column.markup else escape(text)


def _length(text: str) -> int:
    """Cells the text takes once its markup is rendered."""
    if "[" not in text:
        return cell_len(text)
    try:
        return Text.from_markup(text).cell_len
    except MarkupError:
        return cell_len(text)


def _widths(columns: Sequence[Col], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """Each kept column's width; a column left out gets 0."""
    natural = [
        max([_length(c.header), *(_length(r[i]) for r in rows)]) for i, c in enumerate(columns)
    ]
    least = [n if c.fixed else min(n, c.min_width) for c, n in zip(columns, natural, strict=True)]
    kept = list(range(len(columns)))

    def need(indexes: list[int]) -> int:
        return sum(least[i] for i in indexes) + _GAP * (len(indexes) - 1)

    while need(kept) > width:
        droppable = [i for i in kept if columns[i].drop > 0]
        if not droppable:
            break
        kept.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
    out = [0] * len(columns)
    room = width - _GAP * (len(kept) - 1)
    flexible = []
    for i in kept:
        if columns[i].fixed:
            out[i] = natural[i]
            room -= natural[i]
        else:
            flexible.append(i)
    # Each text column gets its least width, then the rest is shared: none gets more than it
    # needs, and what a short one does not use goes to the others.
    extra = room - sum(least[i] for i in flexible)
    flexible.sort(key=lambda i: natural[i] - least[i])
    for n, i in enumerate(flexible):
        grow = max(0, min(natural[i] - least[i], extra // (len(flexible) - n)))
        out[i] = least[i] + grow
        extra -= grow
    return out


def table(
    title: str | None,
    columns: Sequence[str | Col],
    rows: Iterable[Sequence[Any]],
    *,
    width: int | None = None,
) -> Table:
    """A table that fits ``width`` (default: the console's) columns of terminal."""
    from rich.table import Table

    if width is None:
        from assay.cli.context import console

        width = console.width
    data = [list(r) for r in rows]
    cols = [
        c if isinstance(c, Col) else _column(c, [r[i] for r in data]) for i, c in enumerate(columns)
    ]
    texts = [
        [
            v if isinstance(v, Text) else _markup(cell(v, 400 if c.wrap else 60), c)
            for v, c in zip(r, cols, strict=True)
        ]
        for r in data
    ]
    plain = [[v.plain if isinstance(v, Text) else v for v in r] for r in texts]
    widths = _widths(cols, plain, width)
    t = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
        pad_edge=False,
    )
    for c, w in zip(cols, widths, strict=True):
        if w:
            t.add_column(
                escape(c.header),
                width=w,
                justify=c.justify,
                no_wrap=not c.wrap,
                overflow="fold" if c.wrap else "ellipsis",
            )
    for r in texts:
        t.add_row(*(v for v, w in zip(r, widths, strict=True) if w))
    return t

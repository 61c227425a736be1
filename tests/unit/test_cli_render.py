"""Terminal tables fit the terminal: whole ids and numbers, cut text, least useful columns out."""

from __future__ import annotations

import io
from datetime import datetime

from rich.console import Console

from assay.cli.render import Col, preview, table

ID = "01a242c0-91a3-76d6-8397-d05f89e916eb"


def _render(width: int, *args: object) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(table(*args, width=width))  # type: ignore[arg-type]
    return console.export_text().splitlines()


def test_narrow_tables_keep_ids_whole_cut_text_and_leave_out_low_value_columns() -> None:
    columns = [
        Col("ID", fixed=True),
        Col("Name"),
        Col("Notes", drop=2),
        Col("Pass", fixed=True, justify="right"),
        Col("Created", fixed=True, drop=1),
    ]
    rows = [(ID, "a rather long run name " * 3, "x" * 50, "64.0%", datetime(2026, 1, 2, 3, 4))]
    narrow = _render(60, None, columns, rows)
    assert all(len(line) <= 60 for line in narrow)
    assert narrow[0].split() == ["ID", "Name", "Pass"]  # notes, then created, left out
    assert narrow[2].startswith(ID)
    assert narrow[2].rstrip().endswith("…  64.0%")
    wide = _render(200, None, columns, rows)
    assert wide[0].split() == ["ID", "Name", "Notes", "Pass", "Created"]
    assert "2026-01-02 03:04:00" in wide[2]


def test_wrapping_columns_keep_all_their_text() -> None:
    lines = _render(
        40, None, [Col("Check", fixed=True), Col("Detail", wrap=True)], [("drop", "word " * 20)]
    )
    assert all(len(line) <= 40 for line in lines)
    assert " ".join(lines[2:]).split().count("word") == 20


def test_numbers_and_times_are_never_cut() -> None:
    lines = _render(30, None, ["Text", "Count"], [("z" * 80, 123456789)])
    assert lines[2].rstrip().endswith("123456789")


def test_preview_shows_a_lone_text_field_as_its_text() -> None:
    assert preview({"question": "How do I\nreset it?"}) == "How do I reset it?"
    assert preview({"a": 1, "b": "x"}) == '{"a":1,"b":"x"}'
    assert preview("x" * 300, 10) == "x" * 9 + "…"


def test_data_is_shown_as_it_is_and_markup_only_where_asked() -> None:
    columns = [Col("Output [v2]"), Col("Verdict", markup=True)]
    lines = _render(60, None, columns, [("see [/b] and [bold]x[/bold]", "[green]better[/]")])
    assert lines[0].split() == ["Output", "[v2]", "Verdict"]
    assert "see [/b] and [bold]x[/bold]" in lines[2]
    assert lines[2].rstrip().endswith("better")
    assert "[green]" not in lines[2]

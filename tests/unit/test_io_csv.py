"""Reading CSV into items: columns, mapping, cells and every way a file can be wrong."""

from __future__ import annotations

import io
from typing import Any

import pytest

from assay.domain import ItemCreate, ItemSource
from assay.errors import InvalidInput
from assay.io import read_items


def read(text: str | bytes, mapping: dict[str, str] | None = None) -> list[tuple[int, ItemCreate]]:
    data = text.encode() if isinstance(text, str) else text
    return list(read_items(io.BytesIO(data), format="csv", mapping=mapping))


def fields(text: str, mapping: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return [
        item.model_dump(exclude_defaults=True, exclude={"source"})
        for _, item in read(text, mapping)
    ]


def error(text: str | bytes, mapping: dict[str, str] | None = None) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        read(text, mapping)
    return info.value


def test_dotted_columns_build_nested_objects() -> None:
    rows = read(
        "input.query,input.lang,expected_output.answer,metadata.category,context\n"
        "How do I reset?,en,Settings,account,docs\n"
    )
    assert rows == [
        (
            2,
            ItemCreate(
                input={"query": "How do I reset?", "lang": "en"},
                expected_output={"answer": "Settings"},
                metadata={"category": "account"},
                context="docs",
                source=ItemSource.import_,
            ),
        )
    ]


def test_deep_paths_and_camel_case_alias() -> None:
    assert fields("input.a.b,expectedOutput\nx,y\n") == [
        {"input": {"a": {"b": "x"}}, "expected_output": "y"}
    ]


def test_whole_field_cells_holding_json() -> None:
    text = (
        "input,expected_output,context,metadata\n"
        '"{""q"": ""hi"", ""n"": 2}","[1, 2.5, null]","{""doc"": true}","{""k"": ""v""}"\n'
        "plain text,42,true,\n"
    )
    assert fields(text) == [
        {
            "input": {"q": "hi", "n": 2},
            "expected_output": [1, 2.5, None],
            "context": {"doc": True},
            "metadata": {"k": "v"},
        },
        # Only cells starting with { or [ are JSON: numbers and words stay text.
        {"input": "plain text", "expected_output": "42", "context": "true"},
    ]


def test_json_cell_inside_a_dotted_column() -> None:
    assert fields('input.messages\n"[{""role"": ""user""}]"\n') == [
        {"input": {"messages": [{"role": "user"}]}}
    ]


def test_empty_cells_leave_fields_absent() -> None:
    assert fields("input.q,input.r,expected_output, tags\nx,,,\n") == [{"input": {"q": "x"}}]


def test_whitespace_only_cell_is_empty() -> None:
    assert fields("input.q,input.r\nx,   \n") == [{"input": {"q": "x"}}]


@pytest.mark.parametrize(
    ("cell", "tags"),
    [
        ("a,b", ["a", "b"]),
        ("a; b ;;c", ["a", "b", "c"]),
        ('["x y", "z"]', ["x y", "z"]),
        ("single", ["single"]),
    ],
)
def test_tags_cell(cell: str, tags: list[str]) -> None:
    quoted = '"' + cell.replace('"', '""') + '"'
    assert fields(f"input,tags\nq,{quoted}\n") == [{"input": "q", "tags": tags}]


def test_sort_order_and_source_trace_id() -> None:
    assert fields("input,sort_order,source_trace_id\nq,7,tr-1\n") == [
        {"input": "q", "sort_order": 7, "source_trace_id": "tr-1"}
    ]


def test_unmapped_columns_go_to_input_without_an_input_column() -> None:
    assert fields("question,lang\nWhy?,en\n") == [{"input": {"question": "Why?", "lang": "en"}}]


def test_unmapped_columns_go_to_metadata_with_an_input_column() -> None:
    assert fields("input.question,difficulty,a.b\nWhy?,hard,1\n") == [
        {"input": {"question": "Why?"}, "metadata": {"difficulty": "hard", "a.b": "1"}}
    ]


def test_id_and_source_columns_are_dropped() -> None:
    assert fields("id,input,source\nabc,q,manual\n") == [{"input": "q"}]


def test_mapping_overrides_names() -> None:
    text = "question,answer,notes,id\nWhy?,Because,skip me,7\n"
    mapping = {
        "question": "input.query",
        "answer": "expected_output",
        "notes": "-",
        "id": "metadata.id",
    }
    assert fields(text, mapping) == [
        {"input": {"query": "Why?"}, "expected_output": "Because", "metadata": {"id": "7"}}
    ]


def test_mapping_changes_the_fallback() -> None:
    # With `question` mapped to input, the unmapped `lang` goes to metadata.
    assert fields("question,lang\nWhy?,en\n", {"question": "input"}) == [
        {"input": "Why?", "metadata": {"lang": "en"}}
    ]


def test_row_numbers_are_spreadsheet_rows_and_blank_rows_are_skipped() -> None:
    rows = read("input,x\na,1\n\n,\nb,2\n")
    assert [n for n, _ in rows] == [2, 5]


def test_quoted_newlines_count_as_one_row() -> None:
    rows = read('input,x\n"line one\nline two",1\nb,2\n')
    assert [(n, i.input) for n, i in rows] == [(2, "line one\nline two"), (3, "b")]


def test_bom_is_stripped_from_the_header() -> None:
    assert fields(b"\xef\xbb\xbfinput,tags\r\nq,t\r\n") == [{"input": "q", "tags": ["t"]}]


def test_reading_is_lazy() -> None:
    rows = read_items(io.BytesIO(b"input\nok\n{bad\n"), format="csv")
    assert next(rows)[0] == 2  # the bad row 3 has not been read yet
    with pytest.raises(InvalidInput, match="row 3"):
        next(rows)


# ---------------------------------------------------------------- bad files


def test_empty_file() -> None:
    e = error(b"")
    assert e.message == "the file is empty: a CSV needs a header row"


def test_header_only() -> None:
    e = error("input.query,expected_output\n")
    assert e.message == "no items: the CSV has a header row but no data rows"


def test_too_many_cells() -> None:
    e = error("input,expected_output\na,b\nc,d,e\n")
    assert e.message == "row 3: expected 2 cells (one per header column), found 3"
    assert e.row == 3


def test_too_few_cells() -> None:
    e = error("input,expected_output,context\na,b,c\nd,e,f\ng,h\n")
    assert e.message == "row 4: expected 3 cells (one per header column), found 2"


def test_duplicate_headers() -> None:
    e = error("input.q,tags,input.q\na,b,c\n")
    assert e.message == 'row 1: duplicate column "input.q" (columns 1 and 3)'
    assert (e.row, e.field) == (1, "input.q")


def test_unnamed_header_column() -> None:
    assert error("input,,x\na,b,c\n").message == "row 1: column 2 has no name"


def test_columns_writing_the_same_field() -> None:
    e = error("input,input.q\na,b\n")
    assert e.message == 'row 1: columns "input" and "input.q" both set input'
    e = error("q,input.q\na,b\n", {"q": "input.q"})
    assert e.message == 'row 1: columns "q" and "input.q" both set input.q'


def test_missing_input_column() -> None:
    e = error("expected_output,metadata.k\na,b\n")
    assert e.message == (
        "row 1: no column sets input: add an 'input' column (or input.<key> columns), "
        "or map one with COLUMN=input"
    )
    assert e.field == "input"


def test_row_without_input() -> None:
    e = error("input.q,expected_output\na,b\n,c\n")
    assert e.message == "row 3: input is missing or empty"
    assert (e.row, e.field) == (3, "input")


def test_invalid_json_cell() -> None:
    text = 'input.query,x\nok,1\nok,2\n"{""a"": 1 ""b"": 2}",3\n'
    e = error(text)
    assert e.message.startswith('row 4, column "input.query": invalid JSON cell: ')
    assert (e.row, e.field) == (4, "input.query")


def test_metadata_cell_must_be_an_object() -> None:
    e = error('input,metadata\nq,"[1]"\n')
    # The column is named only when its name differs from the field.
    assert e.message == "row 2: metadata must be a JSON object, not array"
    e = error('input,meta\nq,"[1]"\n', {"meta": "metadata"})
    assert e.message == 'row 2, column "meta": metadata must be a JSON object, not array'


def test_input_cell_must_be_object_or_text() -> None:
    e = error('input\n"[1, 2]"\n')
    assert e.message == "row 2: input must be a JSON object or a string, not array"


def test_bad_sort_order() -> None:
    e = error("input,sort_order\nq,first\n")
    assert e.message == "row 2, column \"sort_order\": not an integer: 'first'"


def test_tags_array_of_non_strings() -> None:
    e = error('input,labels\nq,"[1, 2]"\n', {"labels": "tags"})
    assert e.message == (
        'row 2, column "labels": tags must be a JSON array of strings or a comma-separated list'
    )


def test_validation_error_names_the_column() -> None:
    e = error(f"input,labels\nq,{'x' * 101}\n", {"labels": "tags"})
    assert e.message == (
        'row 2, column "labels", field "tags.0": String should have at most 100 characters'
    )
    assert e.field == "labels"


def test_latin1_bytes() -> None:
    e = error("input,x\nok,1\ncaf\xe9,2\n".encode("latin-1"))
    assert e.message == (
        "row 3: not valid UTF-8 (byte 0xe9 at position 4 of the line); save the file as UTF-8"
    )
    assert (e.row, e.field) == (3, "encoding")


def test_utf16_file() -> None:
    e = error("input\nq\n".encode("utf-16"))
    assert e.message == "row 1: the file is UTF-16 encoded; save it as UTF-8"


def test_nul_byte() -> None:
    e = error(b"input,x\na,1\na\x00b,1\n")
    assert e.message == "row 3: contains a NUL character, which no text cell may hold"


def test_unterminated_quote() -> None:
    e = error('input,x\n"abc,1\n')
    assert e.message.startswith("row 2: malformed CSV: ")


def test_mapping_naming_an_absent_column() -> None:
    e = error("input\nq\n", {"question": "input"})
    assert e.message == 'mapping names column "question", which is not in the header (input)'
    assert e.field == "map"


def test_run_outputs_read_with_the_import_cell_rules() -> None:
    from assay.io import read_run_outputs

    data = (
        b'\xef\xbb\xbfInput,Expected Output,output,latency_ms\n42,"[1]",-7,12\n,,,\n'
        b'"{""q"": 1}",true,"{""a"": 2}",\n'
    )
    rows = [
        (row, item.input, item.expected_output, item.output, item.latency_ms)
        for row, item in read_run_outputs(io.BytesIO(data))
    ]
    assert rows == [(2, "42", [1], "-7", 12.0), (4, {"q": 1}, "true", {"a": 2}, None)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"input,colour\n1,2\n", "row 1: unknown CSV column 'colour'"),
        (b"output,output\n1,2\n", "row 1: two columns set output"),
        (b"input,output\n", "the CSV file has no rows"),
        (b"", "the file is empty"),
        (b"input,output\n1\n", "row 2: expected 2 cells"),
        (b'input,output\n1,"{x"\n', 'row 2, column "output": invalid JSON cell'),
        (b"input,latency_ms\n1,fast\n", "row 2: latency_ms"),
    ],
)
def test_run_output_errors_name_the_row(data: bytes, message: str) -> None:
    from assay.io import read_run_outputs

    with pytest.raises(InvalidInput) as caught:
        list(read_run_outputs(io.BytesIO(data)))
    assert caught.value.message.startswith(message), caught.value.message


# ----------------------------------------------- rows read without the validator, as validated
_CSV_ROWS = [
    # header, row, the raw values the columns place (what the validator would be given)
    ("input.q,input.l", " a ,\u3000b", {"input": {"q": " a ", "l": "\u3000b"}}),
    (
        "input,expected_output",
        "  padded \u3000, answer ",
        {"input": "padded", "expected_output": "answer"},
    ),
    (
        "input,expected_output.a,expected_output.b",
        "x, y ,z ",
        {"input": "x", "expected_output": {"a": "y", "b": "z"}},
    ),
    (
        "input,context.doc,metadata.k",
        "x, d , v ",
        {"input": "x", "context": {"doc": "d"}, "metadata": {"k": " v "}},
    ),
    ("input,tags", 'x," t , u;v "', {"input": "x", "tags": ["t", "u", "v"]}),
    ("input,tags", 'x,"["" a "", ""b""]"', {"input": "x", "tags": [" a ", "b"]}),
    (
        "input,source_trace_id,sort_order",
        "x, trace ,3",
        {"input": "x", "source_trace_id": "trace", "sort_order": 3},
    ),
    (
        "input,expected_output",
        'x,"{"" k "": "" v ""}"',
        {"input": "x", "expected_output": {" k ": " v "}},
    ),
    ("input,metadata", 'x,"{""k"": "" v ""}"', {"input": "x", "metadata": {"k": " v "}}),
    ("input.q,extra", "x,y", {"input": {"q": "x"}, "metadata": {"extra": "y"}}),
    ("input.q,expected_output. k", "x,y", {"input": {"q": "x"}, "expected_output": {" k": "y"}}),
    ("input. q,metadata.k ", "x,y", {"input": {" q": "x"}, "metadata": {"k": "y"}}),
    ("input,metadata. k", "x,y", {"input": "x", "metadata": {" k": "y"}}),
    (
        "input,expected_output",
        'x,"{"" k"": 1, ""k"": 2}"',
        {"input": "x", "expected_output": {" k": 1, "k": 2}},
    ),
]


@pytest.mark.parametrize(("header", "row", "data"), _CSV_ROWS)
def test_rows_read_equal_validated_items(header: str, row: str, data: dict[str, Any]) -> None:
    [(number, item)] = read(f"{header}\n{row}\n")
    validated = ItemCreate.model_validate({**data, "source": ItemSource.import_})
    assert number == 2
    assert item == validated
    assert repr(item) == repr(validated)
    assert list(item.__dict__) == list(ItemCreate.model_fields)
    assert item.model_fields_set == validated.model_fields_set
    assert item.model_dump_json() == validated.model_dump_json()


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        ("input,tags", "x," + "a" * 101, 'row 2, field "tags.0"'),
        ("input,metadata", "x,plain text", "row 2: metadata must be a JSON object"),
        ("input,sort_order", "x,first", 'row 2, column "sort_order": not an integer'),
        ("input.q,metadata.k", ",v", "row 2: input is missing or empty"),
    ],
)
def test_rows_the_fast_path_doubts_get_the_validators_error(
    header: str, row: str, message: str
) -> None:
    exc = error(f"{header}\n{row}\n")
    assert exc.row == 2
    assert exc.message.startswith(message), exc.message

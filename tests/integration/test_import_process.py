"""A large file's import parsed by an import process (``assay.io.import_process``): the same
items, the same errors naming the same rows, and nothing stored when anything fails.

The size threshold is lowered to 0 so that small files take the process path.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assay.client import Assay
from assay.domain import DatasetCreate
from assay.errors import InvalidInput, StorageError
from assay.io import Format, import_file, import_process
from assay.store import Store
from tests.integration.test_import_export_bad_files import (
    CASES,
    SCHEMA,
    Bad,
    check,
    seeded,  # noqa: F401  (the fixture)
    snapshot,
)

_HX = {"HX-Request": "true"}
_EXTENSION = {"csv": ".csv", "json": ".json", "jsonl": ".jsonl"}


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file, of any size, goes through an import process; the files it was started for."""
    monkeypatch.setattr(import_process, "PROCESS_MIN_BYTES", 0)
    paths: list[Path] = []
    real = import_process.ProcessRows

    def spy(path: Path, *args: Any, **kwargs: Any) -> import_process.ProcessRows:
        paths.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(import_process, "ProcessRows", spy)
    return paths


def _file(tmp_path: Path, name: str, format: Format, data: bytes) -> Path:
    path = tmp_path / f"{name}{_EXTENSION[format]}"
    path.write_bytes(data)
    return path


def _server_chose(path: Path, format: str) -> None:
    """An upload's copy is named by the server, in a temporary folder of its own."""
    assert path.name == f"upload.{format}"
    assert path.parent.name.startswith("assay-upload-")
    assert not path.exists()  # removed with its folder once imported


def _content(store: Store, dataset: str) -> list[dict[str, Any]]:
    return [i.content() for i in store.datasets.iter_items(dataset)]


@pytest.mark.parametrize("format", ["csv", "json", "jsonl"])
def test_a_file_of_many_batches_imports_the_same_items(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, format: Format
) -> None:
    n = 12_345  # three batches of 5,000 rows
    if format == "csv":
        body = "".join(f'q{k},a{k},"t{k % 3}, x",{k * 7 % 1000}\n' for k in range(n))
        data = ("input,expected_output,tags,metadata.rank\n" + body).encode()
    else:
        lines = [
            f'{{"input": {{"q": "q{k}"}}, "expected_output": "a{k}", "tags": ["t{k % 3}"]}}'
            for k in range(n)
        ]
        text = "\n".join(lines) if format == "jsonl" else f"[{', '.join(lines)}]"
        data = text.encode()
    path = _file(tmp_path, "many", format, data)
    monkeypatch.setattr(import_process, "PROCESS_MIN_BYTES", 1 << 40)
    in_process = import_file(store, path, dataset="here", create=True)
    monkeypatch.setattr(import_process, "PROCESS_MIN_BYTES", 0)
    through = import_file(store, path, dataset="there", create=True)
    assert (through.version, through.added, through.item_count) == (1, n, n)
    assert in_process.added == n
    assert _content(store, "there") == _content(store, "here")
    [version] = store.datasets.versions("there")
    assert version.message == f"import {path.name}"
    again = import_file(store, path, dataset="there")  # a second version continues the order
    assert (again.version, again.item_count) == (2, 2 * n)
    orders = [i.sort_order for i in store.datasets.iter_items("there")]
    assert orders == list(range(2 * n))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_file_is_rejected_the_same_and_changes_nothing(
    seeded: Store,  # noqa: F811
    tmp_path: Path,
    started: list[Path],
    case: Bad,
) -> None:
    path = _file(tmp_path, "bad", case.format, case.data)
    before = snapshot(seeded)
    for dataset, create in (("existing", False), ("fresh", True)):
        with pytest.raises(InvalidInput) as info:
            import_file(seeded, path, dataset=dataset, create=create, mapping=case.mapping)
        check(info.value, case)
        assert snapshot(seeded) == before
    assert started == [path, path]


@pytest.mark.parametrize(
    ("format", "data", "message", "row"),
    [
        ("csv", b"input.query\nfine\nno\n", "row 3: input.query does not match", 3),
        ("jsonl", b'{"input": {"query": "fine"}}\n{"input": {"q": "x"}}\n', "line 2: input ", 2),
        ("json", b'[{"input": {"query": "fine"}}, {"input": "text"}]', "item 2: input does ", 2),
    ],
)
def test_a_schema_violation_names_its_row_as_the_format_does(
    seeded: Store,  # noqa: F811
    tmp_path: Path,
    started: list[Path],
    format: Format,
    data: bytes,
    message: str,
    row: int,
) -> None:
    seeded.datasets.create(DatasetCreate(name="typed", input_schema=SCHEMA))
    before = snapshot(seeded)
    path = _file(tmp_path, "typed", format, data)
    with pytest.raises(InvalidInput) as info:
        import_file(seeded, path, dataset="typed")
    assert info.value.message.startswith(message)
    assert info.value.row == row
    assert snapshot(seeded) == before
    assert started == [path]


def test_a_process_that_dies_fails_the_import_and_stores_nothing(
    seeded: Store,  # noqa: F811
    tmp_path: Path,
    started: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dying = [sys.executable, "-c", "import sys; sys.stderr.write('out of memory\\n')"]
    monkeypatch.setattr(import_process, "module_command", lambda module: (dying, None))
    path = _file(tmp_path, "fine", "csv", b"input\none\ntwo\n")
    before = snapshot(seeded)
    for dataset, create in (("existing", False), ("fresh", True)):
        with pytest.raises(StorageError, match="import process failed: out of memory"):
            import_file(seeded, path, dataset=dataset, create=create)
        assert snapshot(seeded) == before


def test_an_unknown_dataset_stops_the_process_it_started(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_process, "PROCESS_MIN_BYTES", 0)
    path = _file(tmp_path, "fine", "csv", b"input\none\n")
    processes: list[Any] = []
    real = import_process.ProcessRows.close

    def close(self: import_process.ProcessRows) -> None:
        processes.append(self.proc)
        real(self)

    monkeypatch.setattr(import_process.ProcessRows, "close", close)
    with pytest.raises(Exception, match="no-such"):
        import_file(store, path, dataset="no-such")
    [proc] = processes
    assert proc.returncode is not None  # stopped, not left waiting for its request


def test_a_large_upload_is_imported_through_the_process(client: Assay, started: list[Path]) -> None:
    dataset = client.datasets.create("uploaded")
    body = "".join(f"q{k},a{k}\n" for k in range(7_000))
    csv = ("question,answer\n" + body).encode()
    result = client.datasets.import_(
        dataset.id,
        file=("../../big.csv", csv),  # the client's name never becomes a path
        mapping={"question": "input.q", "answer": "expected_output.a"},
    )
    assert (result.imported, result.total_items) == (7_000, 7_000)
    assert len(started) == 1  # a copy of the upload, imported by the process
    _server_chose(started[0], "csv")
    items = client.datasets.items(dataset.id, limit=2).items
    assert [(i.input, i.expected_output) for i in items] == [
        ({"q": "q0"}, {"a": "a0"}),
        ({"q": "q1"}, {"a": "a1"}),
    ]
    bad = b'{"input": "a"}\n{"expected_output": "no input"}\n'
    with pytest.raises(InvalidInput) as info:
        client.datasets.import_(dataset.id, file=("bad.jsonl", bad))
    assert (info.value.row, info.value.message.split(":")[0]) == (2, "line 2")
    assert len(started) == 2
    assert client.datasets.get(dataset.id).item_count == 7_000


def test_the_dashboard_imports_a_large_file_through_the_process(
    http: TestClient, store: Store, started: list[Path]
) -> None:
    store.datasets.create(DatasetCreate(name="board"))
    body = "".join(f"q{k},a{k}\n" for k in range(6_000))
    data = base64.b64encode(("question,answer\n" + body).encode()).decode()
    form = {"step": "commit", "data": data, "filename": "../../../tmp/big.csv"}
    mapping = "question=input.q\nanswer=expected_output.a"
    imported = http.post("/datasets/board/import", data={**form, "mapping": mapping}, headers=_HX)
    assert imported.status_code == 200, imported.text
    assert "Imported 6000 items" in imported.text
    assert len(started) == 1  # a copy of the previewed file, imported by the process
    _server_chose(started[0], "csv")
    assert store.datasets.get("board").item_count == 6_000
    bad = base64.b64encode(b'{"input": "a"}\n{"expected_output": "no input"}\n').decode()
    refused = http.post(
        "/datasets/board/import",
        data={"step": "commit", "data": bad, "filename": "more.jsonl"},
        headers=_HX,
    )
    assert refused.status_code == 422
    assert "line 2" in refused.text
    assert len(started) == 2
    assert store.datasets.get("board").item_count == 6_000  # nothing half-imported

"""Files uploaded from the dashboard, in two steps: a preview that writes nothing, then commit.

A run upload (outputs as CSV into a dataset run under a tag) and a dataset import (items as
CSV, JSON or JSONL) are parsed in full for the preview: every row is checked, so an error names
its row and column before anything is stored, and the first rows are shown as they will be
stored, with the row count and the columns found. The previewed file travels back with the
commit (base64 in the form), so what is committed is exactly what was previewed.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from assay.domain import Dataset, RunItemCreate, RunScoreRequest
from assay.errors import Conflict, InvalidInput, NotFound
from assay.io import detect_format, import_upload, parse_mapping, read_items
from assay.server.auth import ProjectStore
from assay.server.web.guard import FormGuard
from assay.server.web.templating import render
from assay.service.scoring import score_run_now
from assay.service.uploads import parse_csv, upload_outputs
from assay.store import Store

router = APIRouter()

PREVIEW_ROWS = 20
#: The largest file the dashboard previews and commits (the API and CLI take any size).
MAX_BYTES = 20 * 1024 * 1024


async def _file_bytes(file: UploadFile | None, data: str, kinds: str) -> tuple[bytes, str]:
    """The uploaded file (preview) or the previewed one sent back (commit), and its name."""
    if data:
        try:
            return base64.b64decode(data.encode(), validate=True), ""
        except (binascii.Error, ValueError):
            raise InvalidInput("file: the previewed file was damaged; choose it again") from None
    if file is None or not file.filename:
        raise InvalidInput(f"file: choose a {kinds} file", field="file")
    content = await file.read(MAX_BYTES + 1)
    if len(content) > MAX_BYTES:
        raise InvalidInput(
            f"file: larger than {MAX_BYTES // (1024 * 1024)} MB; use `assay` or the API",
            field="file",
        )
    return content, file.filename


def _header(content: bytes) -> list[str]:
    """The CSV's header row (the file has been parsed already, so it is well formed)."""
    text = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", errors="replace")
    return next(csv.reader(text), [])


def _matches(store: Store, dataset: Dataset, items: list[RunItemCreate]) -> list[str]:
    """How each previewed row finds its dataset item: by id (checked) or by its input."""
    found = []
    for item in items:
        if item.dataset_item_id is None:
            found.append("by input" if item.input is not None else "new row")
            continue
        try:
            store.datasets.get_item(dataset.id, item.dataset_item_id)
        except NotFound:
            found.append("not in this dataset")
        else:
            found.append("item")
    return found


def _upload_context(dataset: Dataset, **values: Any) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "result": None,
        "error": None,
        "tag": "",
        "run_name": "",
        "preview": None,
        "scoring": None,
        "run_tags": [],
    } | values


@router.post("/datasets/{name}/runs/upload", response_class=HTMLResponse, dependencies=[FormGuard])
async def upload_run(
    request: Request,
    store: ProjectStore,
    name: str,
    tag: Annotated[str, Form()] = "",
    run_name: Annotated[str, Form()] = "",
    step: Annotated[str, Form()] = "preview",
    data: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """``step=preview``: parse the CSV and show it, writing nothing. ``step=commit``: add the
    previewed rows to the run under ``tag`` (created when missing), all or none, then score
    the run with the dataset's attached evaluators."""
    dataset = await run_in_threadpool(store.datasets.get, name)
    context = _upload_context(dataset, tag=tag, run_name=run_name)
    try:
        if not tag.strip():
            raise InvalidInput("tag: name the run tag to upload under", field="tag")
        content, filename = await _file_bytes(file, data, "CSV")
        items = parse_csv(content)
        if step == "commit":
            result = await run_in_threadpool(
                upload_outputs,
                store,
                dataset.name,
                tag.strip(),
                run_name.strip() or None,
                items,
                score=False,  # scored below, before the page answers
            )
            context["result"] = result
            if result.dataset_run is not None and store.evaluators.defaults(dataset.id):
                context["scoring"] = await run_in_threadpool(
                    score_run_now, store, result.dataset_run.id, RunScoreRequest()
                )
        else:
            shown = items[:PREVIEW_ROWS]
            existing = await run_in_threadpool(store.dataset_runs.tagged, dataset.name, tag.strip())
            context["preview"] = {
                "filename": filename,
                "rows": len(items),
                "columns": _header(content),
                "items": list(zip(shown, _matches(store, dataset, shown), strict=True)),
                "data": base64.b64encode(content).decode(),
                "existing": existing,
            }
    except (InvalidInput, NotFound, Conflict) as exc:
        context["error"] = exc.message
    status = 422 if context["error"] else 200
    return render(request, "dataset_upload_form.html", context, status=status)


@router.post("/datasets/{name}/import", response_class=HTMLResponse, dependencies=[FormGuard])
async def import_file(
    request: Request,
    store: ProjectStore,
    name: str,
    mapping: Annotated[str, Form()] = "",
    step: Annotated[str, Form()] = "preview",
    data: Annotated[str, Form()] = "",
    filename: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """``step=preview``: parse the file (CSV, JSON or JSONL) and show its items, writing
    nothing. ``step=commit``: append them as one new version, all or nothing."""
    dataset = store.datasets.get(name)
    context: dict[str, Any] = {
        "dataset": dataset,
        "change": None,
        "error": None,
        "mapping": mapping,
        "preview": None,
    }
    try:
        content, uploaded = await _file_bytes(file, data, "CSV, JSON or JSONL")
        source = uploaded or filename
        fmt = detect_format(Path(source or "file"), None)
        columns = parse_mapping([m.strip() for m in mapping.replace(",", "\n").splitlines()])
        if step == "commit":
            context["change"] = await run_in_threadpool(
                import_upload,  # a large file: parsed by an import process
                store,
                io.BytesIO(content),
                format=fmt,
                dataset=dataset.id,
                mapping=columns or None,
                source_name=source,
            )
        else:
            parsed = await run_in_threadpool(
                lambda: [i for _, i in read_items(io.BytesIO(content), format=fmt, mapping=columns)]
            )
            fields = [
                f
                for f in ("input", "expected_output", "context", "metadata", "tags")
                if any(f in i.model_fields_set for i in parsed)
            ]
            context["preview"] = {
                "filename": source,
                "format": fmt,
                "rows": len(parsed),
                "columns": _header(content) if fmt == "csv" else fields,
                "fields": fields,
                "items": parsed[:PREVIEW_ROWS],
                "data": base64.b64encode(content).decode(),
            }
    except InvalidInput as exc:
        context["error"] = exc.message
    status = 422 if context["error"] else 200
    return render(request, "dataset_import_form.html", context, status=status)

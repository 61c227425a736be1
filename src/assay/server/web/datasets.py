"""Dataset pages: the list (and creating one), one dataset's items, adding and editing them
(importing a file is in ``uploads.py``)."""

from __future__ import annotations

import json
from typing import Annotated, Any, cast
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError

from assay.domain import (
    DatasetCreate,
    DatasetSort,
    Experiment,
    Item,
    ItemCreate,
    ItemUpdate,
    Result,
)
from assay.errors import Conflict, InvalidInput, from_validation
from assay.server.auth import ProjectStore
from assay.server.web.guard import FormGuard
from assay.server.web.query import json_field, literal
from assay.server.web.templating import render
from assay.store import configurations

router = APIRouter()


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(
    request: Request,
    store: ProjectStore,
    q: Annotated[str | None, Query(max_length=200)] = None,
    sort: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> HTMLResponse:
    """Every dataset, newest first unless a column header asks for another order."""
    order = cast(DatasetSort, literal(DatasetSort, sort, "sort") or "-created_at")
    page = store.datasets.list(search=q or None, sort=order, limit=50, cursor=cursor)

    def link(**changes: str | None) -> str:
        params = {"q": q or "", "sort": order} | changes
        return "/datasets?" + urlencode({k: v for k, v in params.items() if v})

    return render(
        request,
        "datasets.html",
        {"section": "datasets", "page": page, "q": q or "", "sort": order, "link": link},
        block="table",
    )


@router.post("/datasets", response_class=HTMLResponse, dependencies=[FormGuard])
def create_dataset(
    request: Request,
    store: ProjectStore,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> HTMLResponse:
    form = {"name": name, "description": description}
    try:
        created = store.datasets.create(
            DatasetCreate(name=name, description=description.strip() or None)
        )
    except ValidationError as exc:
        error = from_validation(exc).message
    except (InvalidInput, Conflict) as exc:
        error = exc.message
    else:
        return HTMLResponse("", headers={"HX-Redirect": f"/datasets/{quote(created.name)}"})
    return render(request, "dataset_create_form.html", {"form": form, "error": error}, status=422)


@router.get("/datasets/{name}", response_class=HTMLResponse)
def dataset_items_page(
    request: Request,
    store: ProjectStore,
    name: str,
    q: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    version: Annotated[int | None, Query(ge=0)] = None,
    cursor: str | None = None,
) -> HTMLResponse:
    """The items of the newest version, or of an older ``version`` (read only)."""
    dataset = store.datasets.get(name)
    if version == dataset.version:
        version = None
    items = store.datasets.list_items(
        dataset.id, version=version, search=q or None, tag=tag or None, limit=50, cursor=cursor
    )
    return render(
        request,
        "dataset_items.html",
        {
            "section": "datasets",
            "tab": "items",
            "dataset": dataset,
            "items": items,
            "q": q or "",
            "tag": tag or "",
            "version": version,
            "form": {},
            "error": None,
            "added": None,
        },
        block="table",
    )


def _as_text(value: Any) -> str:
    """A value as the item form shows it: text as is, anything else as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)


class ItemForm(BaseModel):
    """The add and edit item forms: text fields, JSON where a value is structured."""

    input: str = ""
    expected_output: str = ""
    metadata: str = ""
    tags: str = ""

    @classmethod
    def of(cls, item: Item) -> ItemForm:
        """An item's values, ready to edit."""
        return cls(
            input=_as_text(item.input),
            expected_output=_as_text(item.expected_output),
            metadata=_as_text(item.metadata) if item.metadata else "",
            tags=", ".join(item.tags),
        )

    def values(self) -> dict[str, Any]:
        """The fields as an item's values; errors name the field."""
        if not self.input.strip():
            raise InvalidInput("input: give the test case's input", field="input")
        return {
            "input": json_field(self.input, default=""),
            "expected_output": json_field(self.expected_output, default=None),
            "metadata": json_field(self.metadata, default={}, field="metadata"),
            "tags": [t.strip() for t in self.tags.split(",") if t.strip()],
        }


@router.post("/datasets/{name}/items", response_class=HTMLResponse, dependencies=[FormGuard])
def add_item(
    request: Request,
    store: ProjectStore,
    name: str,
    form: Annotated[ItemForm, Form()],
) -> HTMLResponse:
    """Add one item from the form; a bad field re-renders the form with the reason."""
    dataset = store.datasets.get(name)
    try:
        created = store.datasets.add_item(dataset.id, ItemCreate(**form.values()))
    except ValidationError as exc:
        error = from_validation(exc).message
    except InvalidInput as exc:
        error = exc.message
    else:
        return render(
            request,
            "dataset_item_form.html",
            {
                "dataset": store.datasets.get(dataset.id),
                "form": {},
                "error": None,
                "added": created,
            },
        )
    return render(
        request,
        "dataset_item_form.html",
        {"dataset": dataset, "form": form.model_dump(), "error": error, "added": None},
        status=422,
    )


def _varies_for_one_configuration(history: list[tuple[Experiment, Result]]) -> bool:
    """Flaky as dataset health means it: passed and failed across the trials of one run or
    runs of one configuration (config hash or run tag), not across different systems."""
    runs = list({run.id: run for run, _ in history}.values())
    group = configurations(runs)
    seen: dict[int, set[bool]] = {}
    for run, result in history:
        if result.passed is not None:
            seen.setdefault(group[run.id], set()).add(result.passed)
    return any(len(outcomes) == 2 for outcomes in seen.values())


@router.get("/datasets/{name}/items/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, store: ProjectStore, name: str, item_id: str) -> HTMLResponse:
    """One item and how it fared in the dataset's recent runs: a regression's first step."""
    dataset = store.datasets.get(name)
    item = store.datasets.get_item(dataset.id, item_id)
    history = store.experiments.item_history(dataset.id, item.id)
    verdicts = [r.passed for _, r in history if r.passed is not None]
    return render(
        request,
        "dataset_item.html",
        {
            "section": "datasets",
            "tab": "items",
            "dataset": dataset,
            "item": item,
            "history": history,
            "passes": sum(verdicts),
            "judged": len(verdicts),
            "flaky": _varies_for_one_configuration(history),
            "form": ItemForm.of(item).model_dump(),
            "error": None,
        },
    )


@router.post(
    "/datasets/{name}/items/{item_id}", response_class=HTMLResponse, dependencies=[FormGuard]
)
def edit_item(
    request: Request,
    store: ProjectStore,
    name: str,
    item_id: str,
    form: Annotated[ItemForm, Form()],
) -> HTMLResponse:
    """Change an item (one new dataset version); a bad field re-renders the form."""
    dataset = store.datasets.get(name)
    item = store.datasets.get_item(dataset.id, item_id)
    try:
        store.datasets.update_item(dataset.id, item.id, ItemUpdate(**form.values()))
    except ValidationError as exc:
        error = from_validation(exc).message
    except InvalidInput as exc:
        error = exc.message
    else:
        url = f"/datasets/{quote(dataset.name)}/items/{item.id}"
        return HTMLResponse("", headers={"HX-Redirect": url})
    return render(
        request,
        "dataset_item_edit.html",
        {"dataset": dataset, "item": item, "form": form.model_dump(), "error": error},
        status=422,
    )


@router.post("/datasets/{name}/items/{item_id}/delete", dependencies=[FormGuard])
def delete_item(store: ProjectStore, name: str, item_id: str) -> HTMLResponse:
    """Remove an item from the newest version; older versions and runs keep it."""
    dataset = store.datasets.get(name)
    store.datasets.delete_item(dataset.id, item_id)
    return HTMLResponse("", headers={"HX-Redirect": f"/datasets/{quote(dataset.name)}"})

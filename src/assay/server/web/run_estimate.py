"""The run form's estimate: what a run with the form's settings should cost, take and
detect, from the dataset's finished runs (updated by HTMX as the form changes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from assay.errors import InvalidInput
from assay.server.auth import ProjectStore
from assay.server.web.templating import render
from assay.store import Store

router = APIRouter()


def _whole(text: str, field: str, high: int) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= high:
        raise InvalidInput(f"{field}: a whole number from 1 to {high}", field=field)
    return int(text)


def _pilot(store: Store, dataset_id: str, prompt_name: str) -> str | None:
    """The newest finished run of the dataset with this prompt: its tokens per call are the
    best guess for the next run with it."""
    from assay.analysis.run_plan import history

    for run in history(store, dataset_id):
        c = run.config
        if prompt_name and prompt_name in (c.get("prompt"), c.get("prompt_name")):
            return run.id
    return None


@router.get("/datasets/{name}/runs/estimate", response_class=HTMLResponse)
def run_estimate(
    request: Request,
    store: ProjectStore,
    name: str,
    concurrency: Annotated[str, Query(max_length=20)] = "",
    trials: Annotated[str, Query(max_length=20)] = "",
    prompt_name: Annotated[str, Query(max_length=200)] = "",
    model: Annotated[str, Query(max_length=200)] = "",
    provider: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """The estimate fragment of the run form."""
    from assay.analysis.run_plan import plan_run
    from assay.targets import PriceTable

    dataset = store.datasets.get(name)
    context: dict[str, Any] = {"plan": None, "error": None, "unpriced": None}
    try:
        priced = f"{provider.strip()}:{model.strip()}" if provider.strip() else model.strip()
        prices = PriceTable.load(request.app.state.assay.settings.price_table)
        args: dict[str, Any] = {
            "concurrency": _whole(concurrency, "concurrency", 10),
            "trials": _whole(trials, "trials", 20),
            "pilot": _pilot(store, dataset.id, prompt_name.strip()),
            "metrics": ["passed"],
        }
        try:
            context["plan"] = plan_run(
                store, dataset.id, model=priced or None, prices=prices, **args
            )
        except InvalidInput as exc:
            if exc.field != "model":
                raise
            context["unpriced"] = priced
            context["plan"] = plan_run(store, dataset.id, **args)
    except InvalidInput as exc:
        no_history = exc.field == "pilot"
        context["error"] = "the dataset has no finished run yet" if no_history else exc.message
    return render(request, "dataset_run_estimate.html", context)

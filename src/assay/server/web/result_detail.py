"""One result of a run on its own page: what went in, what was expected, what came out, and
every score with its reason."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from assay.errors import NotFound
from assay.server.auth import ProjectStore
from assay.server.web.templating import render

router = APIRouter()


@router.get("/runs/{run_id}/results/{result_id}", response_class=HTMLResponse)
def result_page(request: Request, store: ProjectStore, run_id: str, result_id: str) -> HTMLResponse:
    """Input, expected and task output in full, the scores (value, verdict, reason, source),
    latency, tokens, cost, error, attempts, the trial number and the trace."""
    run = store.experiments.get(run_id)
    result = store.experiments.result(run.id, result_id)
    dataset_name = None
    if run.dataset_id is not None:
        try:
            dataset_name = store.datasets.get(run.dataset_id).name
        except NotFound:  # the dataset was deleted; the result stays readable
            dataset_name = None
    return render(
        request,
        "result.html",
        {"section": "runs", "run": run, "r": result, "dataset_name": dataset_name},
    )

"""The actions menu of a row in the runs tables: score the run again, delete it (confirmed).

Exports are links to the API's export routes. Both tables (a dataset's runs tab and the
global runs list) use these routes; ``back`` is the table to return to.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from assay.domain import Experiment, ExperimentStatus, RunScoreRequest
from assay.errors import Conflict, InvalidInput, NotFound
from assay.server.auth import AdminStore, ProjectStore
from assay.server.web.guard import FormGuard
from assay.server.web.templating import render
from assay.service.scoring import score_run_now
from assay.store import Store

router = APIRouter()


def safe_back(back: str) -> str:
    """A path on this site to return to (never another host), else the runs list."""
    if back.startswith("/") and not back.startswith("//") and "\\" not in back:
        return back
    return "/runs"


@router.post("/run-actions/{run_id}/delete", dependencies=[FormGuard])
def delete_run(
    store: AdminStore,
    run_id: str,
    confirm: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/runs",
) -> HTMLResponse:
    """Delete a run with its results and scores once confirmed; a run still executing must be
    cancelled first (an uploaded run can always be deleted)."""
    run = store.experiments.get(run_id)
    if confirm != "yes":
        raise InvalidInput(
            f"confirm: deleting run {run.name!r} cannot be undone; confirm it first",
            field="confirm",
        )
    executing = not run.status.finished and run.status is not ExperimentStatus.pending
    if executing and not run.external:
        raise Conflict(f"run {run.name!r} is {run.status.value}: cancel it first", field="status")
    store.experiments.delete(run.id)
    return HTMLResponse("", headers={"HX-Redirect": safe_back(back)})


def _score_context(
    store: Store, run: Experiment, back: str, chosen: set[str] | None
) -> dict[str, object]:
    attached = store.evaluators.defaults(run.dataset_id) if run.dataset_id else []
    return {
        "section": "runs",
        "run": run,
        "back": safe_back(back),
        "evaluators": store.evaluators.list(),
        "chosen": chosen if chosen is not None else {e.id for e in attached},
        "attached": {e.name for e in attached},
        "report": None,
        "error": None,
    }


@router.get("/run-actions/{run_id}/score", response_class=HTMLResponse)
def score_page(
    request: Request,
    store: ProjectStore,
    run_id: str,
    back: Annotated[str, Query(max_length=500)] = "/runs",
) -> HTMLResponse:
    """Choose the saved evaluators to score the run's outputs with (the dataset's attached
    ones are ticked)."""
    run = store.experiments.get(run_id)
    return render(request, "run_score.html", _score_context(store, run, back, None))


@router.post("/run-actions/{run_id}/score", response_class=HTMLResponse, dependencies=[FormGuard])
async def score(
    request: Request,
    store: ProjectStore,
    run_id: str,
    evaluator_ids: Annotated[list[str] | None, Form()] = None,
    back: Annotated[str, Form()] = "/runs",
) -> HTMLResponse:
    """Score the run's completed outputs (executed or uploaded) with the chosen evaluators,
    replacing earlier scores of the same names; a finished run's verdicts are recomputed."""
    run = store.experiments.get(run_id)
    chosen = list(dict.fromkeys(evaluator_ids or []))
    context = _score_context(store, run, back, set(chosen))
    try:
        if not chosen:
            raise InvalidInput(
                "evaluator_ids: choose at least one evaluator", field="evaluator_ids"
            )
        if not run.status.finished and not run.external:
            raise Conflict(f"run {run.name!r} is {run.status.value}: score it once it ends")
        request_body = RunScoreRequest(evaluators=chosen)
        context["report"] = await run_in_threadpool(score_run_now, store, run.id, request_body)
    except (InvalidInput, NotFound, Conflict) as exc:
        context["error"] = exc.message
    status = 422 if context["error"] else 200
    return render(request, "run_score.html", context, block="scoring", status=status)

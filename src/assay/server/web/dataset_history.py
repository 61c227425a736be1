"""A dataset's versions (with the diff between two of them), its attached evaluators, and
its regression policy with the verdict it gives the newest completed run."""

from __future__ import annotations

from typing import Annotated

import yaml
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from assay.analysis import clear_dataset_policy, dataset_policy, set_dataset_policy
from assay.domain import ExperimentStatus, GateVerdict, RegressionPolicy
from assay.errors import AssayError, Conflict, InvalidInput, NotFound
from assay.server.auth import ProjectStore
from assay.server.web.guard import FormGuard
from assay.server.web.templating import render
from assay.service.compare import gate

router = APIRouter()


@router.get("/datasets/{name}/versions", response_class=HTMLResponse)
def versions_page(
    request: Request,
    store: ProjectStore,
    name: str,
    diff: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    """Every version with its counts; ``diff=N`` shows what version N changed."""
    dataset = store.datasets.get(name)
    versions = store.datasets.versions(dataset.id)
    changes = None
    if diff is not None:
        if diff > dataset.version:
            raise InvalidInput(
                f"diff: version {diff} does not exist (latest is {dataset.version})", field="diff"
            )
        changes = store.datasets.diff(dataset.id, diff - 1, diff)
    return render(
        request,
        "dataset_versions.html",
        {
            "section": "datasets",
            "tab": "versions",
            "dataset": dataset,
            "versions": versions,
            "changes": changes,
            "shown": diff,
        },
    )


@router.get("/datasets/{name}/evaluators", response_class=HTMLResponse)
def evaluators_page(request: Request, store: ProjectStore, name: str) -> HTMLResponse:
    """The evaluators new runs of the dataset apply by default, and the saved ones to add."""
    dataset = store.datasets.get(name)
    return render(request, "dataset_evaluators.html", _evaluators(store, dataset.id, None))


def _evaluators(store: ProjectStore, dataset_id: str, error: str | None) -> dict[str, object]:
    attached = store.evaluators.defaults(dataset_id)
    ids = {e.id for e in attached}
    return {
        "section": "datasets",
        "tab": "evaluators",
        "dataset": store.datasets.get(dataset_id),
        "attached": attached,
        "available": [e for e in store.evaluators.list() if e.id not in ids],
        "error": error,
    }


@router.post("/datasets/{name}/evaluators", response_class=HTMLResponse, dependencies=[FormGuard])
def change_evaluators(
    request: Request,
    store: ProjectStore,
    name: str,
    attach: Annotated[str, Form()] = "",
    detach: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Attach a saved evaluator to the dataset, or detach one."""
    dataset = store.datasets.get(name)
    error = None
    try:
        if attach:
            store.evaluators.attach(dataset.id, attach)
        elif detach:
            store.evaluators.detach(dataset.id, detach)
        else:
            raise InvalidInput("choose an evaluator", field="attach")
    except (InvalidInput, NotFound, Conflict) as exc:
        error = exc.message
    return render(
        request,
        "dataset_evaluators.html",
        _evaluators(store, dataset.id, error),
        block="evaluators",
        status=422 if error else 200,
    )


def _policy(store: ProjectStore, dataset_id: str) -> dict[str, object]:
    policy = dataset_policy(store, dataset_id)
    shown = policy.model_dump(mode="json", exclude_defaults=True) if policy else {}
    newest = store.experiments.list(
        dataset=dataset_id, status=ExperimentStatus.completed, limit=1
    ).items
    verdict: GateVerdict | str | None = None
    if newest:
        try:
            verdict = gate(store, newest[0].id)
        except AssayError as exc:  # the policy's baseline is missing, for instance
            verdict = exc.message
    return {
        "stored": policy is not None,
        "text": yaml.safe_dump(shown, sort_keys=False) if shown else "",
        "defaults": yaml.safe_dump(RegressionPolicy().model_dump(mode="json"), sort_keys=False),
        "newest": newest[0] if newest else None,
        "verdict": verdict,
    }


@router.get("/datasets/{name}/gate", response_class=HTMLResponse)
def gate_page(request: Request, store: ProjectStore, name: str) -> HTMLResponse:
    """The dataset's regression policy (what ``assay gate`` applies) and its newest verdict."""
    dataset = store.datasets.get(name)
    return render(
        request,
        "dataset_gate.html",
        {"section": "datasets", "tab": "gate", "dataset": dataset, "error": None}
        | _policy(store, dataset.id),
    )


@router.post("/datasets/{name}/gate", response_class=HTMLResponse, dependencies=[FormGuard])
def save_policy(
    request: Request,
    store: ProjectStore,
    name: str,
    policy: Annotated[str, Form()] = "",
    clear: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Store the policy written in the form (YAML or JSON), or clear it; errors name the field."""
    dataset = store.datasets.get(name)
    error = None
    try:
        if clear:
            clear_dataset_policy(store, dataset.id)
        else:
            set_dataset_policy(store, dataset.id, policy)
    except InvalidInput as exc:
        error = exc.message
    context = {"section": "datasets", "tab": "gate", "dataset": dataset, "error": error}
    context |= _policy(store, dataset.id)
    if error:
        context["text"] = policy  # keep what was typed
    return render(
        request, "dataset_gate.html", context, block="policy", status=422 if error else 200
    )

"""Saved evaluators from the dashboard: a new one from the scorer library, and a new version
of one with another variable mapping or pass/fail threshold.

The form for a kind is derived from its factory's signature (:mod:`assay.scoring.params`), so
every registered scorer, plugins included, can be configured without a form of its own.
Attaching and detaching live with the dataset's evaluators tab (``dataset_history.py``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from assay.domain import Evaluator, EvaluatorCreate
from assay.errors import Conflict, InvalidInput, NotFound, from_validation
from assay.scoring.build import check
from assay.scoring.params import catalogue, parameters, read_params
from assay.server.auth import ProjectStore
from assay.server.web.guard import FormGuard
from assay.server.web.templating import render
from assay.store import Store

router = APIRouter()

#: The pass/fail rules the form offers, as saved on an evaluator (``scoring/thresholds.py``).
THRESHOLDS = {
    "": "none: the score is recorded, items pass on the other evaluators",
    "gte": "passes at or above",
    "lte": "passes at or below",
    "in": "passes when the label is one of (comma-separated)",
    "equals": "passes when equal to",
}


def mapping_text(mapping: dict[str, str]) -> str:
    return "\n".join(f"{k} = {v}" for k, v in mapping.items())


def read_mapping(text: str) -> dict[str, str]:
    """``variable = path`` lines as a mapping; errors name the line."""
    mapping: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        variable, sep, path = line.partition("=")
        if not sep or not variable.strip() or not path.strip():
            raise InvalidInput(
                f"mapping: line {n} is not 'variable = path' ({line.strip()[:40]!r})",
                field="mapping",
            )
        mapping[variable.strip()] = path.strip()
    return mapping


def _scalar(text: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, bool | int | float | str) else text


def read_threshold(rule: str, value: str, gating: bool) -> dict[str, Any] | None:
    """The threshold object the form describes (None for no rule)."""
    if not rule:
        return None
    if rule not in THRESHOLDS:
        raise InvalidInput(f"threshold: unknown rule {rule!r}", field="threshold")
    text = value.strip()
    if not text:
        raise InvalidInput(f"threshold.{rule}: give the value to compare with", field="threshold")
    threshold: dict[str, Any]
    if rule in ("gte", "lte"):
        try:
            threshold = {rule: float(text)}
        except ValueError:
            raise InvalidInput(
                f"threshold.{rule}: {text!r} is not a number", field=f"threshold.{rule}"
            ) from None
    elif rule == "in":
        threshold = {"in": [_scalar(v.strip()) for v in text.split(",") if v.strip()]}
    else:
        threshold = {"equals": _scalar(text)}
    if not gating:
        threshold["gating"] = False
    return threshold


def threshold_form(threshold: dict[str, Any] | None) -> dict[str, Any]:
    """A saved threshold as the form's rule, value and gating fields."""
    if not threshold:
        return {"rule": "", "value": "", "gating": True}
    for rule in ("gte", "lte", "in", "equals"):
        if rule in threshold:
            value = threshold[rule]
            text = ", ".join(map(str, value)) if rule == "in" else str(value)
            return {"rule": rule, "value": text, "gating": threshold.get("gating", True)}
    return {"rule": "", "value": json.dumps(threshold), "gating": True}


def _context(
    store: Store, dataset_name: str, form: dict[str, Any], error: str | None, *, editing: bool
) -> dict[str, Any]:
    kind = form.get("kind") or "exact_match"
    kinds = catalogue()
    if kind not in kinds:
        kind = "exact_match"
    return {
        "section": "datasets",
        "tab": "evaluators",
        "dataset": store.datasets.get(dataset_name),
        "kinds": kinds,
        "kind": kind,
        "params": parameters(kind),
        "form": form,
        "error": error,
        "editing": editing,
        "thresholds": THRESHOLDS,
    }


@router.get("/datasets/{name}/evaluators/new", response_class=HTMLResponse)
def new_evaluator_form(
    request: Request, store: ProjectStore, name: str, kind: str = "exact_match"
) -> HTMLResponse:
    """The form for a new evaluator of ``kind`` (changing the kind re-renders its fields)."""
    form = {"kind": kind, "name": "", "mapping": "", "attach": True, "values": {}}
    form |= threshold_form(None)
    context = _context(store, name, form, None, editing=False)
    return render(request, "evaluator_page.html", context, block="form")


async def _form_values(request: Request) -> dict[str, Any]:
    data = await request.form()
    values = {k[len("param.") :]: str(v) for k, v in data.items() if k.startswith("param.")}
    return {
        "kind": str(data.get("kind", "")).strip(),
        "name": str(data.get("name", "")).strip(),
        "mapping": str(data.get("mapping", "")),
        "rule": str(data.get("rule", "")),
        "value": str(data.get("value", "")),
        "gating": data.get("gating") == "on",
        "attach": data.get("attach") == "on",
        "values": values,
    }


def _save(store: Store, form: dict[str, Any], params: dict[str, Any] | None) -> Evaluator:
    """Build the configuration (so a bad one is refused with the field at fault), then save."""
    kind = form["kind"]
    if params is None:
        params = read_params(kind, form["values"])
    data = EvaluatorCreate(
        name=form["name"] or kind,
        kind=kind,
        params=params,
        mapping=read_mapping(form["mapping"]),
        threshold=read_threshold(form["rule"], form["value"], form["gating"]),
    )
    check(data.model_dump(exclude_none=True))
    return store.evaluators.create(data)


@router.post(
    "/datasets/{name}/evaluators/new", response_class=HTMLResponse, dependencies=[FormGuard]
)
async def create_evaluator(request: Request, store: ProjectStore, name: str) -> HTMLResponse:
    """Save a new evaluator (or the next version of one of that name), attached to the
    dataset when asked; errors re-render the form with the field at fault."""
    form = await _form_values(request)
    dataset = store.datasets.get(name)
    try:
        saved = _save(store, form, None)
        if form["attach"]:
            store.evaluators.attach(dataset.id, saved.id)
    except ValidationError as exc:
        error = from_validation(exc).message
    except (InvalidInput, NotFound, Conflict) as exc:
        error = exc.message
    else:
        url = f"/datasets/{quote(dataset.name)}/evaluators"
        return HTMLResponse("", headers={"HX-Redirect": url})
    context = _context(store, name, form, error, editing=False)
    return render(request, "evaluator_form.html", context, status=422)


@router.get("/datasets/{name}/evaluators/{evaluator_id}/edit", response_class=HTMLResponse)
def edit_evaluator_form(
    request: Request, store: ProjectStore, name: str, evaluator_id: str
) -> HTMLResponse:
    """The mapping and threshold of a saved evaluator, to save as its next version."""
    evaluator = store.evaluators.get(evaluator_id)
    form = {
        "kind": evaluator.kind,
        "name": evaluator.name,
        "mapping": mapping_text(evaluator.mapping),
        "attach": True,
        "values": {},
        "evaluator": evaluator,
    } | threshold_form(evaluator.threshold)
    context = _context(store, name, form, None, editing=True)
    return render(request, "evaluator_page.html", context, block="form")


@router.post(
    "/datasets/{name}/evaluators/{evaluator_id}/edit",
    response_class=HTMLResponse,
    dependencies=[FormGuard],
)
async def edit_evaluator(
    request: Request, store: ProjectStore, name: str, evaluator_id: str
) -> HTMLResponse:
    """Save the evaluator's next version with the new mapping and threshold (its kind and
    parameters kept); datasets it is attached to move to the new version."""
    evaluator = store.evaluators.get(evaluator_id)
    form = await _form_values(request)
    form |= {"kind": evaluator.kind, "name": evaluator.name, "evaluator": evaluator}
    try:
        _save(store, form, dict(evaluator.params))
    except ValidationError as exc:
        error = from_validation(exc).message
    except (InvalidInput, NotFound, Conflict) as exc:
        error = exc.message
    else:
        url = f"/datasets/{quote(store.datasets.get(name).name)}/evaluators"
        return HTMLResponse("", headers={"HX-Redirect": url})
    context = _context(store, name, form, error, editing=True)
    return render(request, "evaluator_form.html", context, status=422)

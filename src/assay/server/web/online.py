"""The online evaluation page: a project's rules (create, switch on and off, delete) and a
chart per online score over time, with what the judges cost."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from assay.domain.online import OnlineRuleCreate, OnlineRuleUpdate, OnlineScores
from assay.errors import InvalidInput, from_validation
from assay.server.auth import ProjectStore
from assay.server.web import charts
from assay.server.web.guard import FormGuard
from assay.server.web.templating import render
from assay.service.online import create_rule, update_rule

router = APIRouter()

#: The field of an error in a rule's mapping: ``evaluators[0].mapping.output`` → ``output``.
_MAPPING_FIELD = re.compile(r"evaluators\[\d+\]\.mapping\.(input|output|expected)(?:\..*)?")

#: Window → bucket width, in hours and seconds.
WINDOWS = {1: 300, 24: 3600, 168: 6 * 3600, 720: 86400}


def _buckets(since: datetime, width: int, now: datetime) -> list[datetime]:
    first = int(since.timestamp()) // width * width
    last = int(now.timestamp()) // width * width
    return [datetime.fromtimestamp(t, UTC) for t in range(first, last + 1, width)]


def _label(at: datetime, width: int) -> str:
    return at.strftime("%m-%d %H:%M" if width < 86400 else "%Y-%m-%d")


def score_charts(found: OnlineScores, now: datetime) -> tuple[list[charts.Chart], charts.Chart]:
    """A mean (and pass rate, where scores have verdicts) chart per score name over every
    bucket of the window (empty buckets leave gaps), and the judges' cost per bucket."""
    slots = _buckets(found.since, found.bucket_s, now)
    made: list[charts.Chart] = []
    for series in found.series:
        at = {p.start: p for p in series.points}
        labels = [_label(s, found.bucket_s) for s in slots]
        means = [
            (lbl, at[s].mean if s in at else None) for lbl, s in zip(labels, slots, strict=True)
        ]
        made.append(charts.line(f"{series.name}: mean", means, fmt="{:.3g}"))
        if any(p.pass_rate is not None for p in series.points):
            rates = [
                (lbl, at[s].pass_rate if s in at else None)
                for lbl, s in zip(labels, slots, strict=True)
            ]
            made.append(
                charts.line(f"{series.name}: pass rate", rates, low=0.0, high=1.0, fmt="{:.0%}")
            )
    spent = {p.start: p.cost for p in found.judge_cost}
    cost = charts.line(
        "Judge cost",
        [(_label(s, found.bucket_s), spent.get(s)) for s in slots],
        low=0.0,
        fmt="${:.4g}",
    )
    return made, cost


def _page(
    request: Request,
    store: ProjectStore,
    hours: int,
    rule: str | None,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
    field_errors: dict[str, str] | None = None,
) -> HTMLResponse:
    width = WINDOWS.get(hours, 3600)
    now = datetime.now(UTC)
    found = store.online_rules.scores_over_time(
        since=now - timedelta(hours=hours), bucket_s=width, rule_id=rule or None
    )
    lines, cost = score_charts(found, now)
    context = {
        "section": "online",
        "rules": store.online_rules.list(),
        "evaluators": store.evaluators.list(),
        "charts": lines,
        "cost_chart": cost,
        "hours": hours,
        "windows": list(WINDOWS),
        "rule": rule or "",
        "form": form or {"sample_rate": "1"},
        "error": error,
        "field_errors": field_errors or {},
    }
    return render(request, "online.html", context, status=status)


@router.get("/online", response_class=HTMLResponse)
def online_page(
    request: Request,
    store: ProjectStore,
    hours: Annotated[int, Query(ge=1, le=720)] = 24,
    rule: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    return _page(request, store, hours, rule)


def _lines(text: str) -> list[str]:
    return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


@router.post("/online/rules", response_class=HTMLResponse, dependencies=[FormGuard])
def create_online_rule(
    request: Request,
    store: ProjectStore,
    name: Annotated[str, Form()] = "",
    evaluators: Annotated[list[str] | None, Form()] = None,
    trace_name: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
    metadata: Annotated[str, Form()] = "",
    model: Annotated[str, Form()] = "",
    errors: Annotated[str, Form()] = "",
    sample_rate: Annotated[str, Form()] = "1",
    map_input: Annotated[str, Form()] = "",
    map_output: Annotated[str, Form()] = "",
    map_expected: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Save a rule from the form; a refused one comes back with the reason (a mapping path
    that cannot be read is shown at its field)."""
    form = {
        "name": name,
        "evaluators": evaluators or [],
        "trace_name": trace_name,
        "tags": tags,
        "metadata": metadata,
        "model": model,
        "errors": errors,
        "sample_rate": sample_rate,
        "map_input": map_input,
        "map_output": map_output,
        "map_expected": map_expected,
    }
    given = {"input": map_input, "output": map_output, "expected": map_expected}
    mapping = {key: path.strip() for key, path in given.items() if path.strip()}
    field_errors: dict[str, str] = {}
    try:
        pairs = {}
        for line in metadata.splitlines():
            if line.strip():
                key, sep, value = line.partition("=")
                if not sep:
                    raise InvalidInput(f"metadata: {line!r} is not key=value", field="metadata")
                pairs[key.strip()] = value.strip()
        try:
            rate = float(sample_rate)
        except ValueError:
            raise InvalidInput(
                f"sample_rate: {sample_rate!r} is not a number", field="sample_rate"
            ) from None
        body = OnlineRuleCreate.model_validate(
            {
                "name": name,
                "sample_rate": rate,
                "filter": {
                    "name": trace_name.strip() or None,
                    "tags": _lines(tags),
                    "metadata": pairs,
                    "model": model.strip() or None,
                    "has_error": {"with": True, "without": False}.get(errors),
                },
                "evaluators": [{"evaluator": e, "mapping": mapping} for e in evaluators or []],
            }
        )
        create_rule(store, body)
    except ValidationError as exc:
        error = from_validation(exc).message
    except InvalidInput as exc:
        error = exc.message
        found = _MAPPING_FIELD.fullmatch(exc.field or "")
        if found is not None:  # the same mapping goes to every evaluator: say it once
            key = found.group(1)
            error = f"{key} path: {exc.message.split(': ', 1)[-1]}"
            field_errors[f"map_{key}"] = error
    else:
        return HTMLResponse("", headers={"HX-Redirect": "/online"})
    return _page(request, store, 24, None, form, error, status=422, field_errors=field_errors)


@router.post("/online/rules/{rule_id}/{action}", dependencies=[FormGuard])
def change_rule(store: ProjectStore, rule_id: str, action: str) -> HTMLResponse:
    """``enable``, ``disable`` or ``delete`` a rule."""
    if action == "delete":
        store.online_rules.delete(rule_id)
    elif action in ("enable", "disable"):
        update_rule(store, rule_id, OnlineRuleUpdate(enabled=action == "enable"))
    else:
        raise InvalidInput(f"unknown action {action!r}", field="action")
    return HTMLResponse("", headers={"HX-Redirect": "/online"})

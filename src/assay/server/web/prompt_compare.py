"""Two versions of a prompt side by side: the template (or messages) word by word, the model
config key by key, and the runs each version had, with their results."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from assay.analysis.textdiff import word_diff
from assay.domain import DiffOp, Experiment, ExperimentSummary, Prompt
from assay.domain.redaction import redact
from assay.errors import InvalidInput, NotFound
from assay.server.auth import ProjectStore
from assay.server.limits import MAX_VERSION
from assay.server.web.templating import render
from assay.store import Store

router = APIRouter()

#: Runs shown per version (the newest).
RUNS_SHOWN = 10


@dataclass(frozen=True)
class ConfigRow:
    key: str
    a: str
    b: str

    @property
    def changed(self) -> bool:
        return self.a != self.b


@dataclass(frozen=True)
class VersionRun:
    run: Experiment
    summary: ExperimentSummary
    dataset: str | None


def prompt_text(p: Prompt) -> str:
    """What the version sends: its template, or its chat messages one per paragraph."""
    if p.template is not None:
        return p.template
    return "\n\n".join(
        f"[{m.get('role', '')}]\n{m.get('content', '')}"
        if isinstance(m.get("content"), str)
        else f"[{m.get('role', '')}]\n{json.dumps(m.get('content'), indent=2)}"
        for m in p.messages or []
    )


def config_rows(a: dict[str, Any], b: dict[str, Any]) -> list[ConfigRow]:
    """Every model-config key of either version, with each side's value (empty when absent)."""

    def show(config: dict[str, Any], key: str) -> str:
        return "" if key not in config else json.dumps(config[key], ensure_ascii=False)

    keys = sorted(set(a) | set(b))
    return [ConfigRow(k, show(a, k), show(b, k)) for k in keys]


def version_runs(store: Store, name: str, version: int) -> list[VersionRun]:
    """The newest runs of this version, with their summaries and dataset names."""
    names: dict[str | None, str | None] = {None: None}
    out = []
    for run_id, _ in store.prompts.used_by(name, version)[:RUNS_SHOWN]:
        run = store.experiments.get(run_id)
        if run.dataset_id not in names:
            try:
                names[run.dataset_id] = store.datasets.get(str(run.dataset_id)).name
            except NotFound:
                names[run.dataset_id] = None
        out.append(VersionRun(run, store.experiments.summary(run_id), names[run.dataset_id]))
    return out


def _pair(runs_a: list[VersionRun], runs_b: list[VersionRun]) -> tuple[str, str] | None:
    """The newest run of each version on a dataset both ran on, for the comparison page."""
    for b in runs_b:
        for a in runs_a:
            if a.run.dataset_id is not None and a.run.dataset_id == b.run.dataset_id:
                return a.run.id, b.run.id
    return None


@router.get("/prompts/{name}/compare", response_class=HTMLResponse)
def compare_versions(
    request: Request,
    store: ProjectStore,
    name: str,
    a: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    b: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
) -> HTMLResponse:
    """Version ``a`` (default: the one before the newest) against ``b`` (default: newest)."""
    versions = store.prompts.versions(name)
    by_number = {p.version: p for p in versions}
    b = versions[0].version if b is None else b
    if a is None:
        a = next((p.version for p in versions if p.version < b), b)
    for field, number in (("a", a), ("b", b)):
        if number not in by_number:
            raise NotFound(f"prompt {name!r} has no version {number}", field=field)
    if len(versions) < 2:
        raise InvalidInput(f"prompt {name!r} has one version: nothing to compare", field="a")
    pa, pb = by_number[a], by_number[b]
    diff: list[DiffOp] = word_diff(prompt_text(pa), prompt_text(pb))
    runs_a, runs_b = version_runs(store, name, a), version_runs(store, name, b)
    return render(
        request,
        "prompt_compare.html",
        {
            "section": "prompts",
            "name": name,
            "versions": versions,
            "a": pa,
            "b": pb,
            "diff": diff,
            "same_text": all(op.op == "equal" for op in diff),
            "config": config_rows(redact(pa.model_config_), redact(pb.model_config_)),
            "runs": [(pa, runs_a), (pb, runs_b)],
            "pair": _pair(runs_a, runs_b),
        },
    )

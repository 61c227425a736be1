"""What produced a run, for the run page's details panel: target, model, dataset, options.

Everything shown passes through :func:`redact` first, and a saved endpoint is shown by its name
and URL, never by its headers, so no secret reaches the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from assay.domain import MODEL_OPTIONS, Experiment
from assay.domain.redaction import redact
from assay.errors import NotFound
from assay.formatting import sequential_note
from assay.store import Store

#: Target settings shown under "Target" rather than with the model's parameters.
_TARGET_KEYS = frozenset(
    {"type", "prompt", "prompt_name", "version", "prompt_version", "label", "prompt_label"}
    | {"endpoint", "endpoint_id", "function", "url", "method", "options", "source"}
)
_HIDDEN = frozenset({"headers", "secret_headers", "api_key"})


@dataclass(frozen=True)
class Line:
    """One labelled value, with a link when the value is a page of its own."""

    label: str
    value: str
    href: str | None = None


@dataclass
class RunDetails:
    kind: str
    target: list[Line] = field(default_factory=list)
    model: list[Line] = field(default_factory=list)
    options: list[Line] = field(default_factory=list)
    metadata: list[Line] = field(default_factory=list)


def text(value: Any) -> str:
    """A JSON value on one line: strings as they are, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def target_kind(run: Experiment) -> str:
    """``prompt``, ``endpoint``, ``http``, ``function``… or ``uploaded outputs``."""
    if run.external:
        return "uploaded outputs"
    c = run.config
    if isinstance(c.get("type"), str):
        return str(c["type"])
    if c.get("prompt_name"):
        return "prompt"
    if c.get("endpoint_id"):
        return "endpoint"
    if isinstance(c.get("endpoint"), dict):
        return "http"
    return "—"


def _prompt(store: Store, config: dict[str, Any], out: RunDetails) -> dict[str, Any]:
    """The prompt lines; returns the model settings stored with that prompt version."""
    name = config.get("prompt") or config.get("prompt_name")
    if not isinstance(name, str):
        return {}
    out.target.append(Line("Prompt", name, f"/prompts/{quote(name, safe='')}"))
    version = config.get("version", config.get("prompt_version"))
    label = config.get("label", config.get("prompt_label"))
    if version is not None:
        out.target.append(Line("Prompt version", f"v{version}"))
    if label is not None:
        out.target.append(Line("Prompt label", str(label)))
    if not isinstance(version, int):
        return {}
    try:
        stored = store.prompts.get(name, version=version)
    except NotFound:
        return {}
    return dict(redact(stored.model_config_))


def _endpoint(store: Store, config: dict[str, Any], out: RunDetails) -> None:
    ref = config.get("endpoint") if isinstance(config.get("endpoint"), str) else None
    ref = ref or config.get("endpoint_id")
    if isinstance(ref, str):
        try:
            endpoint = store.endpoints.get(ref)
        except NotFound:
            out.target.append(Line("Endpoint", f"{ref} (deleted)"))
            return
        out.target.append(Line("Endpoint", endpoint.name))
        out.target.append(Line("URL", f"{endpoint.method} {endpoint.url}"))
        return
    nested = config.get("endpoint")
    inline: dict[str, Any] = nested if isinstance(nested, dict) else config
    if isinstance(inline.get("url"), str):
        method = inline.get("method")
        out.target.append(Line("URL", f"{method} {inline['url']}" if method else inline["url"]))


def _scorers(store: Store, run: Experiment) -> str:
    names: list[str] = []
    for ref in run.evaluator_ids:
        try:
            evaluator = store.evaluators.get(ref)
        except NotFound:
            names.append(f"{ref} (deleted)")
        else:
            names.append(f"{evaluator.name} v{evaluator.version}")
    for spec in run.scorers:
        names.append(str(spec.get("name") or spec.get("type") or spec.get("kind") or "scorer"))
    return ", ".join(names) or "none"


def details(store: Store, run: Experiment, dataset_name: str | None) -> RunDetails:
    """The details panel of ``run``."""
    config: dict[str, Any] = dict(redact(run.config))
    out = RunDetails(kind=target_kind(run))
    out.target.append(Line("Target kind", out.kind))
    model: dict[str, Any] = {}
    if out.kind == "prompt":
        model = _prompt(store, config, out)
    elif out.kind in ("endpoint", "http"):
        _endpoint(store, config, out)
    elif isinstance(config.get("function"), str):
        out.target.append(Line("Function", config["function"]))
    model |= {k: v for k, v in config.items() if k in MODEL_OPTIONS and v is not None}
    for key in ("base_url", "connection"):
        if key in config and key not in model:
            model[key] = config[key]
    out.model = [Line(k, text(v)) for k, v in model.items() if k not in _HIDDEN]
    extra = {k: v for k, v in config.items() if k not in _TARGET_KEYS | set(model) | _HIDDEN}
    out.model += [Line(k, text(v)) for k, v in extra.items()]

    if dataset_name is not None:
        version = "" if run.dataset_version is None else f" · version {run.dataset_version}"
        out.options.append(
            Line(
                "Dataset",
                f"{dataset_name}{version}",
                f"/datasets/{quote(dataset_name, safe='')}/runs",
            )
        )
    out.options.append(Line("Concurrency", str(run.concurrency)))
    out.options.append(Line("Trials", str(run.trials)))
    options = config.get("options")
    if isinstance(options, dict):
        out.options += [Line(k.replace("_", " "), text(v)) for k, v in sorted(options.items())]
    out.options.append(Line("Evaluators", _scorers(store, run)))
    if run.selection:
        out.options.append(Line("Selection", text(redact(run.selection))))
    if run.description:
        out.options.append(Line("Description", run.description))
    note = sequential_note(run.metadata)
    if note is not None:
        baseline = run.metadata["sequential"].get("baseline")
        href = f"/runs/{quote(str(baseline), safe='')}" if baseline else None
        out.options.append(Line("Sequential stop", note, href))
    metadata = redact({k: v for k, v in run.metadata.items() if k != "sequential" or not note})
    out.metadata = [Line(str(k), text(v)) for k, v in sorted(metadata.items())]
    return out

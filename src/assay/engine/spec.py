"""What identifies an experiment's configuration: the target spec and the scorers, hashed.

A resumed run must use the same configuration as the run it continues; the hash (SHA-256 of
the canonical JSON) is stored on the experiment and compared before resuming.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson

from assay.domain import Experiment
from assay.errors import Conflict, InvalidInput
from assay.scoring import Scorer, ScorerSpec, build, create


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def scorer_spec(scorer: Scorer) -> dict[str, Any]:
    """How a scorer object is recorded on the experiment (its name and implementation)."""
    spec = getattr(scorer, "spec", None)
    if isinstance(spec, dict):
        return spec
    kind = type(scorer)
    fn = getattr(scorer, "fn", None)
    impl = f"{fn.__module__}:{fn.__qualname__}" if callable(fn) else kind.__qualname__
    return {"name": scorer.name, "impl": f"{kind.__module__}:{impl}"}


def build_scorers(specs: Sequence[Any]) -> tuple[list[Scorer], list[dict[str, Any]]]:
    """Scorers from objects, registered names, ``{"name": ..., "params": {...}}`` dicts, or
    scorer specs ``{"kind": ..., "params": ..., "mapping": ..., "threshold": ...}``."""
    scorers: list[Scorer] = []
    recorded: list[dict[str, Any]] = []
    for i, spec in enumerate(specs):
        if isinstance(spec, str):
            scorers.append(create(spec))
            recorded.append({"name": spec})
        elif isinstance(spec, dict) and "kind" in spec:
            try:
                scorers.append(build(spec))
            except InvalidInput as exc:
                raise InvalidInput(f"scorers[{i}]: {exc.message}", field=f"scorers[{i}]") from None
            recorded.append(ScorerSpec.model_validate(spec).model_dump(exclude_defaults=True))
        elif isinstance(spec, dict):
            name = spec.get("name") or spec.get("type")
            params = spec.get("params") or {}
            extra = set(spec) - {"name", "type", "params"}
            if not isinstance(name, str) or not isinstance(params, dict) or extra:
                raise InvalidInput(
                    f"scorers[{i}]: expected a name or {{name, params}}", field=f"scorers[{i}]"
                )
            scorers.append(create(name, **params))
            recorded.append({"name": name, "params": params} if params else {"name": name})
        elif hasattr(spec, "score") and hasattr(spec, "name"):
            scorers.append(spec)
            recorded.append(scorer_spec(spec))
        elif callable(spec):
            raise InvalidInput(
                f"scorers[{i}]: got a factory ({getattr(spec, '__name__', spec)!r}); "
                "call it: exact_match() instead of exact_match",
                field=f"scorers[{i}]",
            )
        else:
            raise InvalidInput(f"scorers[{i}]: not a scorer: {spec!r}", field=f"scorers[{i}]")
    names = [s.name for s in scorers]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(
            f"scorers: duplicate scorer name(s) {', '.join(dupes)}; give each a distinct name",
            field="scorers",
        )
    return scorers, recorded


def config_hash(
    target_spec: dict[str, Any],
    scorers: Sequence[dict[str, Any]],
    evaluator_ids: Sequence[str] = (),
) -> str:
    # ``source`` (the stored prompt or endpoint a target was read from) is for display only.
    target = {k: v for k, v in target_spec.items() if k != "source"}
    config: dict[str, Any] = {"target": target, "scorers": list(scorers)}
    if evaluator_ids:
        config["evaluators"] = list(evaluator_ids)
    return digest(config)


def check_resumable(experiment: Experiment, expected_hash: str) -> None:
    """Refuse to resume with a configuration other than the one the run started with."""
    if experiment.external:
        raise Conflict(f"experiment {experiment.id} is external: nothing to run")
    if experiment.config_hash and experiment.config_hash != expected_hash:
        raise Conflict(
            f"experiment {experiment.id} was run with a different target or scorers; "
            "resume it with the same configuration, or start a new experiment",
            field="config",
        )

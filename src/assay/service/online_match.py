"""Which traces a rule scores, and the sample its evaluators see.

- **Matching**: every condition of the rule's filter must hold (name exactly or as a glob,
  all tags, metadata values, a generation with the model, errors or none).
- **Sampling**: a trace is in a rule's sample when the first 64 bits of SHA-256 of its id,
  read as a fraction of 2**64, are below the rate. The choice depends on the trace id alone:
  evaluating again decides the same, and a trace sampled at 10 % is also sampled at 20 %, by
  every rule, so rules with equal rates score the same traces.
- **Sample**: the trace's input, output and metadata, and ``trace`` (the trace with its
  ``observations``, ``spans`` by name, its ``generations`` and last ``generation``), seen
  through the rule's mapping (``scoring/mapping.py`` paths: ``trace.generation.output``,
  ``trace.spans.retrieve.output``, ``metadata.expected``).
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from assay.domain import ObservationType, TraceDetail
from assay.domain.online import TraceFilter
from assay.errors import InvalidInput
from assay.scoring import Sample, apply_mapping
from assay.scoring.mapping import Path

_GLOB = frozenset("*?[")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Rule mapping keys that are names for a sample field.
ALIASES = {"expected": "expected_output"}


def check_glob(pattern: str, *, field: str = "filter.name") -> None:
    """Refuse a glob whose brackets do not close (``fnmatch`` would match them literally)."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "[":
            j = i + 1
            if j < len(pattern) and pattern[j] == "!":
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1
            end = pattern.find("]", j)
            if end < 0:
                raise InvalidInput(
                    f"{field}: glob {pattern!r} has an unclosed '[' at character {i + 1}; "
                    "write [[] for a literal bracket",
                    field=field,
                )
            i = end
        i += 1


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


def name_matches(pattern: str, name: str | None) -> bool:
    if name is None:
        return False
    if _GLOB.isdisjoint(pattern):
        return name == pattern
    return _compiled(pattern).match(name) is not None


def has_error(trace: TraceDetail) -> bool:
    return any((o.level or "").upper() == "ERROR" for o in trace.observations)


def matches(rule: TraceFilter, trace: TraceDetail) -> bool:
    """Whether ``trace`` meets every condition of ``rule``."""
    if rule.name is not None and not name_matches(rule.name, trace.name):
        return False
    if rule.tags and not set(rule.tags) <= set(trace.tags):
        return False
    for key, value in rule.metadata.items():
        if key not in trace.metadata or trace.metadata[key] != value:
            return False
    if rule.model is not None and not any(
        o.type is ObservationType.generation and o.model == rule.model for o in trace.observations
    ):
        return False
    return rule.has_error is None or rule.has_error == has_error(trace)


def sampled(trace_id: str, rate: float) -> bool:
    """Whether a trace is in a sample of ``rate`` (0 to 1), the same on every call."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    digest = hashlib.sha256(trace_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def rule_mapping(mapping: Mapping[str, str], *, field: str = "mapping") -> dict[str, Path]:
    """A rule's mapping parsed (``expected`` names ``expected_output``); errors name the key."""
    paths: dict[str, Path] = {}
    for key, text in mapping.items():
        if not _VARIABLE.match(key):
            raise InvalidInput(
                f"{field}: {key!r} must be a sample field (input, output, expected_output, …) "
                "or a variable name",
                field=field,
            )
        paths[ALIASES.get(key, key)] = Path.parse(text, field=f"{field}.{key}")
    return paths


def trace_view(trace: TraceDetail) -> dict[str, Any]:
    """The trace as plain JSON values, with its spans by name and its generations."""
    observations = [o.model_dump(mode="json") for o in trace.observations]
    spans: dict[str, Any] = {}
    for o in observations:
        if o["name"]:
            spans[o["name"]] = o  # the last of a name wins
    generations = [o for o in observations if o["type"] == ObservationType.generation.value]
    return {
        "id": trace.id,
        "name": trace.name,
        "input": trace.input,
        "output": trace.output,
        "metadata": trace.metadata,
        "tags": trace.tags,
        "session_id": trace.session_id,
        "user_id": trace.user_id,
        "observations": observations,
        "spans": spans,
        "generations": generations,
        "generation": generations[-1] if generations else None,
    }


def trace_sample(trace: TraceDetail, paths: Mapping[str, Path]) -> Sample:
    """The sample a rule's evaluators score: the trace's own fields, then the mapping."""
    latency = None
    if trace.start_time is not None and trace.end_time is not None:
        latency = (trace.end_time - trace.start_time).total_seconds() * 1000
    costs = [o.cost for o in trace.observations if o.cost is not None]
    tokens_in = [o.tokens_in for o in trace.observations if o.tokens_in is not None]
    tokens_out = [o.tokens_out for o in trace.observations if o.tokens_out is not None]
    error = next(
        (o.status_message or "error" for o in trace.observations if (o.level or "") == "ERROR"),
        None,
    )
    sample = Sample(
        input=trace.input,
        output=trace.output,
        metadata=trace.metadata,
        item_id=trace.id,
        error=error,
        latency_ms=latency,
        cost=sum(costs) if costs else None,
        tokens_in=sum(tokens_in) if tokens_in else None,
        tokens_out=sum(tokens_out) if tokens_out else None,
        trace=trace_view(trace),
    )
    return apply_mapping(sample, paths) if paths else sample

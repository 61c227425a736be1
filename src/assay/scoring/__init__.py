"""Scoring: the scorer protocol, registry, built-in scorers, mappings, thresholds, composites."""

# Importing the built-in modules registers their scorers.
from assay.scoring import agent, embeddings, numeric, similarity, structured, text
from assay.scoring.base import (
    FunctionScorer,
    Sample,
    ScoreOutput,
    Scorer,
    as_list,
    make_score,
    normalise,
    run_scorer,
    scorer,
    to_score,
)
from assay.scoring.build import (
    EvaluatorScorer,
    ScorerSpec,
    all_of,
    any_of,
    build,
    build_all,
    check,
    composite,
    weighted_mean,
)
from assay.scoring.composite import Composite
from assay.scoring.mapping import MappedScorer, MappingError, Path, apply_mapping, parse_mapping
from assay.scoring.registry import (
    PLUGIN_GROUP,
    available,
    create,
    describe,
    load_plugins,
    register,
    registered,
)
from assay.scoring.thresholds import Threshold, ThresholdScorer, item_passed

__all__ = [
    "PLUGIN_GROUP",
    "Composite",
    "EvaluatorScorer",
    "FunctionScorer",
    "MappedScorer",
    "MappingError",
    "Path",
    "Sample",
    "ScoreOutput",
    "Scorer",
    "ScorerSpec",
    "Threshold",
    "ThresholdScorer",
    "agent",
    "all_of",
    "any_of",
    "apply_mapping",
    "as_list",
    "available",
    "build",
    "build_all",
    "check",
    "composite",
    "create",
    "describe",
    "embeddings",
    "item_passed",
    "load_plugins",
    "make_score",
    "normalise",
    "numeric",
    "parse_mapping",
    "register",
    "registered",
    "run_scorer",
    "scorer",
    "similarity",
    "structured",
    "text",
    "to_score",
    "weighted_mean",
]

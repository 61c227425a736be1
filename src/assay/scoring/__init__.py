"""Scoring: the scorer protocol, registry, built-in scorers, mappings, thresholds, composites.

The built-in scorers themselves are in :mod:`assay.scorers` (``exact_match``, ``contains``…);
this package exports what writing, registering, building and combining scorers needs.
"""

from assay.scoring.base import (
    FunctionScorer,
    Sample,
    ScoreOutput,
    Scorer,
    make_score,
    run_scorer,
    scorer,
)
from assay.scoring.build import (
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
from assay.scoring.llm_judge import RUBRICS, JudgeModel, LLMJudge, Rubric, parse_verdict, rubric_for
from assay.scoring.mapping import MappedScorer, MappingError, apply_mapping, parse_mapping
from assay.scoring.registry import available, create, describe, register, registered
from assay.scoring.thresholds import Threshold, ThresholdScorer, item_passed

__all__ = [
    "RUBRICS",
    "Composite",
    "FunctionScorer",
    "JudgeModel",
    "LLMJudge",
    "MappedScorer",
    "MappingError",
    "Rubric",
    "Sample",
    "ScoreOutput",
    "Scorer",
    "ScorerSpec",
    "Threshold",
    "ThresholdScorer",
    "all_of",
    "any_of",
    "apply_mapping",
    "available",
    "build",
    "build_all",
    "check",
    "composite",
    "create",
    "describe",
    "item_passed",
    "make_score",
    "parse_mapping",
    "parse_verdict",
    "register",
    "registered",
    "rubric_for",
    "run_scorer",
    "scorer",
    "weighted_mean",
]

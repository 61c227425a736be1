"""Scoring: the scorer protocol, registry and built-in scorers."""

from assay.scoring import builtins as _builtins  # noqa: F401  (registers the built-ins)
from assay.scoring.base import FunctionScorer, Sample, ScoreOutput, Scorer, run_scorer, scorer
from assay.scoring.registry import available, create, register, registered

__all__ = [
    "FunctionScorer",
    "Sample",
    "ScoreOutput",
    "Scorer",
    "available",
    "create",
    "register",
    "registered",
    "run_scorer",
    "scorer",
]

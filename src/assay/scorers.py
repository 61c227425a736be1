"""Public scorers: ``from assay.scorers import exact_match, contains``."""

from assay.scoring import Sample, Scorer, scorer
from assay.scoring.builtins import contains, exact_match

__all__ = ["Sample", "Scorer", "contains", "exact_match", "scorer"]

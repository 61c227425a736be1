"""Public scorers: ``from assay.scorers import exact_match, contains, ...``.

Each name builds a scorer: ``exact_match(ignore_case=True)``, ``contains(["refund"])``.
"""

from assay.engine.provider_judge import llm_judge
from assay.scoring import Sample, Scorer, all_of, any_of, composite, scorer, weighted_mean
from assay.scoring.agent import tool_arguments, tool_sequence, tool_used
from assay.scoring.embeddings import semantic_similarity
from assay.scoring.numeric import cost, latency, numeric_close, token_count
from assay.scoring.similarity import bleu, levenshtein, rouge_l, similarity, token_f1
from assay.scoring.structured import is_json, json_match, json_schema
from assay.scoring.text import (
    contains,
    contains_all,
    contains_any,
    ends_with,
    exact_match,
    icontains,
    length,
    regex,
    starts_with,
)

__all__ = [
    "Sample",
    "Scorer",
    "all_of",
    "any_of",
    "bleu",
    "composite",
    "contains",
    "contains_all",
    "contains_any",
    "cost",
    "ends_with",
    "exact_match",
    "icontains",
    "is_json",
    "json_match",
    "json_schema",
    "latency",
    "length",
    "levenshtein",
    "llm_judge",
    "numeric_close",
    "regex",
    "rouge_l",
    "scorer",
    "semantic_similarity",
    "similarity",
    "starts_with",
    "token_count",
    "token_f1",
    "tool_arguments",
    "tool_sequence",
    "tool_used",
    "weighted_mean",
]

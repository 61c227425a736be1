"""Lexical similarity: edit distance, fuzzy ratios, token F1, BLEU and ROUGE-L.

Each takes the reference from ``value`` or the expected output; a list of strings is several
references and the best one counts. Values are in [0, 1].
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

from rapidfuzz import fuzz
from rapidfuzz.distance import LCSseq
from rapidfuzz.distance import Levenshtein as _Lev

from assay.domain import ScoreCreate
from assay.scoring.base import Sample, make_score
from assay.scoring.text import expected_or
from assay.scoring.values import as_text, normalize, references, require, tokens

_ARTICLES = frozenset({"a", "an", "the"})


def _best(scores: list[tuple[float, dict[str, Any]]]) -> tuple[float, dict[str, Any]]:
    return max(scores, key=lambda s: s[0])


class Levenshtein:
    """Normalised edit similarity: ``1 - distance / max(len)``; metadata holds the distance."""

    def __init__(
        self,
        value: str | list[str] | None = None,
        *,
        ignore_case: bool = False,
        ignore_whitespace: bool = False,
        name: str = "levenshtein",
    ) -> None:
        self.name = name
        self.value = value
        self._norm = {"ignore_case": ignore_case, "ignore_whitespace": ignore_whitespace}

    def score(self, sample: Sample) -> ScoreCreate:
        out = normalize(as_text(sample.output), **self._norm)
        results = []
        for ref in references(expected_or(self.value, sample)):
            ref = normalize(ref, **self._norm)
            distance = _Lev.distance(out, ref)
            longest = max(len(out), len(ref))
            results.append(
                (1.0 if longest == 0 else 1 - distance / longest, {"distance": distance})
            )
        value, meta = _best(results)
        return make_score(self.name, round(value, 6), metadata=meta)


_RATIOS: dict[str, Callable[..., float]] = {
    "ratio": fuzz.ratio,
    "partial_ratio": fuzz.partial_ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "token_set_ratio": fuzz.token_set_ratio,
}


class SimilarityRatio:
    """A rapidfuzz similarity ratio (``ratio``, ``partial_ratio``, ``token_sort_ratio`` or
    ``token_set_ratio``) scaled to [0, 1]."""

    def __init__(
        self,
        value: str | list[str] | None = None,
        *,
        method: Literal["ratio", "partial_ratio", "token_sort_ratio", "token_set_ratio"] = "ratio",
        ignore_case: bool = False,
        name: str = "similarity",
    ) -> None:
        require(method in _RATIOS, "method", f"must be one of {', '.join(_RATIOS)}")
        self.name = name
        self.value = value
        self.method = _RATIOS[method]
        self.ignore_case = ignore_case

    def score(self, sample: Sample) -> ScoreCreate:
        out = normalize(as_text(sample.output), ignore_case=self.ignore_case)
        refs = references(expected_or(self.value, sample))
        value = max(
            1.0 if not out and not ref else self.method(out, ref) / 100.0
            for ref in (normalize(r, ignore_case=self.ignore_case) for r in refs)
        )
        return make_score(self.name, round(value, 6))


class TokenF1:
    """Harmonic mean of token precision and recall (SQuAD-style answer overlap)."""

    def __init__(
        self,
        value: str | list[str] | None = None,
        *,
        ignore_case: bool = True,
        remove_articles: bool = False,
        name: str = "token_f1",
    ) -> None:
        self.name = name
        self.value = value
        self.ignore_case = ignore_case
        self.remove_articles = remove_articles

    def _tokens(self, text: str) -> list[str]:
        found = tokens(text, ignore_case=self.ignore_case, words_only=True)
        if self.remove_articles:
            found = [t for t in found if t.casefold() not in _ARTICLES]
        return found

    def score(self, sample: Sample) -> ScoreCreate:
        out = self._tokens(as_text(sample.output))
        results = []
        for ref in references(expected_or(self.value, sample)):
            results.append(token_f1_score(out, self._tokens(ref)))
        value, meta = _best(results)
        return make_score(self.name, round(value, 6), metadata=meta)


def token_f1_score(out: list[str], ref: list[str]) -> tuple[float, dict[str, Any]]:
    if not out and not ref:
        return 1.0, {"precision": 1.0, "recall": 1.0}
    common = sum((Counter(out) & Counter(ref)).values())
    if common == 0:
        return 0.0, {"precision": 0.0, "recall": 0.0}
    precision, recall = common / len(out), common / len(ref)
    f1 = 2 * precision * recall / (precision + recall)
    return f1, {"precision": round(precision, 6), "recall": round(recall, 6)}


def _ngrams(toks: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))


def bleu_score(
    hypothesis: list[str], refs: list[list[str]], *, max_n: int = 4, smooth: bool = True
) -> tuple[float, dict[str, Any]]:
    """Sentence BLEU (Papineni et al. 2002) with clipped n-gram counts over all references,
    the closest reference length for the brevity penalty and, with ``smooth``, add-one
    smoothing of the n > 1 precisions (Lin & Och 2004)."""
    if not hypothesis:
        return (1.0 if all(not r for r in refs) else 0.0), {"brevity_penalty": 0.0}
    log_sum = 0.0
    precisions: list[float] = []
    for n in range(1, max_n + 1):
        hyp = _ngrams(hypothesis, n)
        best_ref: Counter[tuple[str, ...]] = Counter()
        for ref in refs:
            best_ref |= _ngrams(ref, n)
        clipped = sum(min(c, best_ref[g]) for g, c in hyp.items())
        total = max(sum(hyp.values()), 0)
        if smooth and n > 1:
            clipped, total = clipped + 1, total + 1
        if clipped == 0 or total == 0:
            return 0.0, {"precisions": [*precisions, 0.0]}
        precisions.append(round(clipped / total, 6))
        log_sum += math.log(clipped / total)
    hyp_len = len(hypothesis)
    ref_len = min((abs(len(r) - hyp_len), len(r)) for r in refs)[1]
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return bp * math.exp(log_sum / max_n), {"precisions": precisions, "brevity_penalty": bp}


class Bleu:
    """Sentence-level BLEU over word and punctuation tokens, in [0, 1]."""

    def __init__(
        self,
        value: str | list[str] | None = None,
        *,
        max_n: int = 4,
        smooth: bool = True,
        ignore_case: bool = True,
        name: str = "bleu",
    ) -> None:
        require(
            isinstance(max_n, int) and not isinstance(max_n, bool) and 1 <= max_n <= 8,
            "max_n",
            "must be a whole number from 1 to 8",
        )
        self.name = name
        self.value = value
        self.max_n = max_n
        self.smooth = smooth
        self.ignore_case = ignore_case

    def score(self, sample: Sample) -> ScoreCreate:
        hyp = tokens(as_text(sample.output), ignore_case=self.ignore_case)
        refs = [
            tokens(r, ignore_case=self.ignore_case)
            for r in references(expected_or(self.value, sample))
        ]
        value, meta = bleu_score(hyp, refs, max_n=self.max_n, smooth=self.smooth)
        return make_score(self.name, round(value, 6), metadata=meta)


def rouge_l_score(
    out: list[str], ref: list[str], beta: float = 1.0
) -> tuple[float, dict[str, Any]]:
    """ROUGE-L F-measure from the longest common subsequence of tokens (Lin 2004)."""
    if not out and not ref:
        return 1.0, {"precision": 1.0, "recall": 1.0}
    lcs = LCSseq.similarity(out, ref)
    if lcs == 0:
        return 0.0, {"precision": 0.0, "recall": 0.0, "lcs": 0}
    precision, recall = lcs / len(out), lcs / len(ref)
    f = (1 + beta**2) * precision * recall / (recall + beta**2 * precision)
    return f, {"precision": round(precision, 6), "recall": round(recall, 6), "lcs": lcs}


class RougeL:
    """ROUGE-L F-measure (longest common subsequence of word tokens), in [0, 1]."""

    def __init__(
        self,
        value: str | list[str] | None = None,
        *,
        beta: float = 1.0,
        ignore_case: bool = True,
        name: str = "rouge_l",
    ) -> None:
        require(
            isinstance(beta, int | float) and not isinstance(beta, bool) and beta > 0,
            "beta",
            "must be a number > 0",
        )
        self.name = name
        self.value = value
        self.beta = float(beta)
        self.ignore_case = ignore_case

    def score(self, sample: Sample) -> ScoreCreate:
        out = tokens(as_text(sample.output), ignore_case=self.ignore_case, words_only=True)
        results = [
            rouge_l_score(out, tokens(r, ignore_case=self.ignore_case, words_only=True), self.beta)
            for r in references(expected_or(self.value, sample))
        ]
        value, meta = _best(results)
        return make_score(self.name, round(value, 6), metadata=meta)


levenshtein = Levenshtein
similarity = SimilarityRatio
token_f1 = TokenF1
bleu = Bleu
rouge_l = RougeL

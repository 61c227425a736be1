"""Does a judge agree with people? Evaluator scores against human scores of the same results.

Categorical and pass/fail scores: Cohen's (1960) kappa, the agreement beyond what the two
raters' label frequencies give by chance, ``(p_o - p_e) / (1 - p_e)``. Numeric scores:
Pearson's correlation and Spearman's rank correlation (robust to a judge that is monotone
but not linear in the human scale); a policy's ``min_judge_agreement`` reads Spearman's.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from itertools import groupby

import numpy as np

from assay.domain import Agreement
from assay.errors import InvalidInput
from assay.store import Store
from assay.store.agreement import ScorePair, judge_human_pairs


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters' labels for the same items (None when undefined: no items,
    or both raters always give the one same label)."""
    if len(a) != len(b):
        raise InvalidInput(f"a and b differ in length ({len(a)} != {len(b)})", field="b")
    n = len(a)
    if n == 0:
        return None
    labels = {label: k for k, label in enumerate(dict.fromkeys([*a, *b]))}
    table = np.zeros((len(labels), len(labels)))
    np.add.at(table, ([labels[x] for x in a], [labels[y] for y in b]), 1)
    observed = float(np.trace(table)) / n
    expected = float(table.sum(axis=1) @ table.sum(axis=0)) / (n * n)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


def correlations(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, float | None]:
    """Pearson's and Spearman's correlation (None when undefined: fewer than 3 pairs, or a
    constant side)."""
    from scipy import stats  # loaded only when agreement is computed

    xv, yv = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xv.size < 3 or np.ptp(xv) == 0 or np.ptp(yv) == 0:
        return None, None
    return float(stats.pearsonr(xv, yv).statistic), float(stats.spearmanr(xv, yv).statistic)


def _label(numeric: float | None, string: str | None, passed: bool | None) -> Hashable:
    if passed is not None:
        return passed
    if string is not None:
        return string
    return numeric


def agreement_of(
    evaluator: str, name: str, version: int | None, pairs: Sequence[ScorePair]
) -> Agreement:
    """The agreement of one evaluator version's ``name`` scores with the human ones."""
    numeric = all(p.data_type == "numeric" for p in pairs) and all(
        p.judge_numeric is not None and p.human_numeric is not None for p in pairs
    )
    if numeric and pairs:
        pearson, spearman = correlations(
            [p.judge_numeric or 0.0 for p in pairs], [p.human_numeric or 0.0 for p in pairs]
        )
        return Agreement(
            evaluator=evaluator,
            version=version,
            score=name,
            kind="numeric",
            n=len(pairs),
            pearson=pearson,
            spearman=spearman,
        )
    judge = [_label(p.judge_numeric, p.judge_string, p.judge_passed) for p in pairs]
    human = [_label(p.human_numeric, p.human_string, p.human_passed) for p in pairs]
    return Agreement(
        evaluator=evaluator,
        version=version,
        score=name,
        kind="categorical",
        n=len(pairs),
        cohen_kappa=cohen_kappa(judge, human),
        observed_agreement=(
            sum(j == h for j, h in zip(judge, human, strict=True)) / len(pairs) if pairs else None
        ),
    )


def evaluator_agreement(store: Store, evaluator: str) -> list[Agreement]:
    """Per version and score name of the evaluator ``evaluator`` (name or id), its agreement
    with human scores on the same results; versions no human has scored are left out."""
    found = store.evaluators.get(evaluator)
    pairs = judge_human_pairs(store.db, store.project_id, evaluator=found.name)
    return [
        agreement_of(found.name, name, version, list(group))
        for (name, version), group in groupby(
            sorted(pairs, key=lambda p: (p.name, p.version or 0)),
            key=lambda p: (p.name, p.version),
        )
    ]


def scorer_agreement(store: Store, dataset_id: str, name: str) -> Agreement | None:
    """The agreement of score ``name`` with human scores over the runs of a dataset, for the
    newest evaluator version that has any; None when no result has both."""
    pairs = judge_human_pairs(store.db, store.project_id, dataset_id=dataset_id, names=[name])
    if not pairs:
        return None
    newest = max((p.version for p in pairs if p.version is not None), default=None)
    chosen = [p for p in pairs if p.version == newest]
    return agreement_of(name, name, newest, chosen)


__all__ = ["agreement_of", "cohen_kappa", "correlations", "evaluator_agreement", "scorer_agreement"]

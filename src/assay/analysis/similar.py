"""Near-duplicate texts among many: embeddings (cosine) or token sets (Jaccard), blockwise.

Both methods compare blocks of rows against all rows with one matrix product (dense for unit
embeddings, sparse for token sets), so 10,000 texts cost a few products of ``block x n``
instead of fifty million Python comparisons. Each text is linked to its most similar earlier
text at or above the threshold; :func:`duplicates` then maps every text of a group to the
group's first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

Method = Literal["embeddings", "token_jaccard"]
_BLOCK = 512
_TOKEN = re.compile(r"\w+", re.UNICODE)


def _best_earlier(sims: npt.NDArray[np.float64], start: int) -> tuple[list[int], list[float]]:
    """For each row ``start + r`` of a block: its most similar earlier column, and how much."""
    rows, n = sims.shape
    cols = np.arange(n)
    mask = cols[None, :] >= (start + np.arange(rows))[:, None]  # only earlier texts
    sims = np.where(mask, -np.inf, sims)
    best = np.argmax(sims, axis=1) if n else np.zeros(rows, dtype=np.intp)
    value = sims[np.arange(rows), best] if n else np.full(rows, -np.inf)
    return best.tolist(), value.tolist()


def _embedding_links(texts: Sequence[str]) -> tuple[list[int], list[float]]:
    from assay.scoring.embeddings import embed

    vectors = np.asarray(embed(list(texts)), dtype=np.float32)
    best: list[int] = []
    value: list[float] = []
    for start in range(0, len(texts), _BLOCK):
        block = vectors[start : start + _BLOCK] @ vectors.T
        b, v = _best_earlier(block.astype(np.float64), start)
        best += b
        value += v
    return best, value


def _jaccard_links(texts: Sequence[str]) -> tuple[list[int], list[float]]:
    from scipy import sparse

    vocabulary: dict[str, int] = {}
    indptr = [0]
    indices: list[int] = []
    for text in texts:
        tokens = {vocabulary.setdefault(t, len(vocabulary)) for t in _TOKEN.findall(text.lower())}
        indices.extend(sorted(tokens))
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float64)
    x = sparse.csr_matrix((data, indices, indptr), shape=(len(texts), max(1, len(vocabulary))))
    sizes = np.diff(np.asarray(indptr)).astype(np.float64)
    xt = x.T.tocsc()
    best: list[int] = []
    value: list[float] = []
    for start in range(0, len(texts), _BLOCK):
        stop = min(len(texts), start + _BLOCK)
        shared = (x[start:stop] @ xt).toarray()  # tokens in common, only where any are
        union = sizes[start:stop, None] + sizes[None, :] - shared
        with np.errstate(invalid="ignore", divide="ignore"):
            sims = np.where(union > 0, shared / union, 1.0)  # two empty texts are equal
        b, v = _best_earlier(sims, start)
        best += b
        value += v
    return best, value


def duplicates(
    texts: Sequence[str], *, method: Method, threshold: float
) -> dict[int, tuple[int, float]]:
    """Index of each near-duplicate text -> (index of the first text of its group, the
    similarity that linked it). Texts are linked to their most similar earlier text."""
    if not texts:
        return {}
    best, value = (_embedding_links if method == "embeddings" else _jaccard_links)(texts)
    first: dict[int, tuple[int, float]] = {}
    for i, (j, sim) in enumerate(zip(best, value, strict=True)):
        if i > 0 and sim >= threshold:
            root = first[j][0] if j in first else j
            first[i] = (root, float(sim))
    return first

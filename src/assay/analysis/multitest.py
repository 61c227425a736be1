"""Adjusting the p-values of several tests reported together.

A comparison of five scorers has five chances to call noise a difference. Holm's (1979)
step-down method keeps the chance of any false call at ``alpha`` (family-wise error);
Benjamini and Hochberg's (1995) step-up method keeps the expected share of false calls among
the calls made at ``alpha`` (false discovery rate), which gives more power with many scorers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from assay.domain import PAdjust
from assay.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]


def holm(p_values: npt.ArrayLike) -> FloatArray:
    """Holm-adjusted p-values: ``max_{j <= i} (m - j + 1) p_(j)``, capped at 1."""
    p = _checked(p_values)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    out = np.empty(m)
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def benjamini_hochberg(p_values: npt.ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values: ``min_{j >= i} m p_(j) / j``, capped at 1."""
    p = _checked(p_values)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    out = np.empty(m)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


def adjust(p_values: Sequence[float | None], method: PAdjust) -> list[float | None]:
    """Adjust the p-values that are present (None stays None) with ``method``."""
    if method not in ("holm", "bh", "none"):
        raise InvalidInput(f"p_adjust must be holm, bh or none, not {method!r}", field="p_adjust")
    present = [i for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = list(p_values)
    if method == "none" or not present:
        return out
    raw = np.array([p_values[i] for i in present], dtype=np.float64)
    fixed = holm(raw) if method == "holm" else benjamini_hochberg(raw)
    for i, value in zip(present, fixed.tolist(), strict=True):
        out[i] = value
    return out


def _checked(p_values: npt.ArrayLike) -> FloatArray:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise InvalidInput("p-values must be one-dimensional", field="p_values")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise InvalidInput("p-values must be between 0 and 1", field="p_values")
    return p

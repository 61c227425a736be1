"""Item ids as one fixed-width byte array, and rows found by key without Python objects.

A run frame keeps its item ids as their UTF-8 bytes in one NumPy ``S`` array: a UUID takes
36 bytes rather than the 144 of a ``<U36`` array or the 80 or so of a Python string, and two
runs are aligned by sorting and binary search over those arrays (:func:`find`) rather than
through sets and dicts of strings. UTF-8 keeps the order of the strings, so sorted ids are
sorted the same way either side.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import numpy as np
import numpy.typing as npt

IdArray = npt.NDArray[np.bytes_]
IntArray = npt.NDArray[np.intp]

#: Rows compared at a time when checking candidates, so no temporary copy of a column is
#: made whole.
CHUNK = 1 << 16


def encode(ids: Iterable[str] | npt.NDArray[np.str_] | IdArray) -> IdArray:
    """``ids`` as one fixed-width array of their UTF-8 bytes (given bytes are kept)."""
    if isinstance(ids, np.ndarray):
        if ids.dtype.kind == "S":
            return cast(IdArray, ids)
        try:
            return ids.astype(np.bytes_) if ids.size else np.empty(0, dtype="S1")
        except UnicodeEncodeError:
            values = ids.tolist()
    else:
        values = list(ids)
    if not values:
        return np.empty(0, dtype="S1")
    try:
        return np.array(values, dtype=np.bytes_)  # ASCII ids (UUIDs) convert at C speed
    except UnicodeEncodeError:
        return np.array([v.encode() for v in values], dtype=np.bytes_)


def decode(ids: IdArray) -> list[str]:
    """The strings of an array made by :func:`encode` (a block at a time: a ``<U`` copy of
    the whole array would take four bytes per character)."""
    out: list[str] = []
    for start in range(0, ids.size, CHUNK):
        block = ids[start : start + CHUNK]
        try:
            out.extend(block.astype(np.str_).tolist())
        except UnicodeDecodeError:
            out.extend(v.decode() for v in block.tolist())
    return out


def keyed(ids: IdArray, repetition: npt.NDArray[np.integer], width: int) -> IdArray:
    """One byte string per row naming its (item, repetition): the id padded to ``width``
    bytes, then the repetition in eight big-endian bytes. Equal keys are equal pairs."""
    out = np.zeros(ids.size, dtype=[("id", f"S{width}"), ("repetition", ">i8")])
    out["id"] = ids
    out["repetition"] = repetition
    return out.view(f"S{width + 8}")


def find(values: IdArray, wanted: IdArray) -> IntArray:
    """The index in ``values`` (distinct) of each of ``wanted``, -1 where it is absent."""
    if values.size == 0:
        return np.full(wanted.size, -1, dtype=np.intp)
    order = np.argsort(values, kind="stable")
    at = np.searchsorted(values, wanted, sorter=order)
    np.minimum(at, values.size - 1, out=at)
    found: IntArray = order[at]
    del order, at
    for start in range(0, wanted.size, CHUNK):
        rows = found[start : start + CHUNK]
        rows[values[rows] != wanted[start : start + CHUNK]] = -1
    return found


def has_duplicates(values: IdArray) -> bool:
    """Whether some value occurs twice."""
    if values.size < 2:
        return False
    ordered = np.sort(values)
    return bool((ordered[1:] == ordered[:-1]).any())

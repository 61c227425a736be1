"""Contrasts remembered by the values they were computed from.

A contrast's bootstrap interval and test cost a second or more on 100,000 paired items, and
the same contrast is asked for again and again: the comparison page and the gate it shows
compare the same two runs, and every page of a comparison's items recomputes its statistics.
The statistics are a pure function of the paired values, the clusters and the settings (every
random draw is seeded), so a contrast is kept under a digest of those arrays and the settings:
a run whose data changed gives other arrays, so nothing stale can be served.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from assay.domain import Contrast

#: Contrasts kept; the least recently used go first.
MAX_ENTRIES = 256

_lock = threading.Lock()
_memo: OrderedDict[tuple[Hashable, bytes], Contrast] = OrderedDict()


def digest(arrays: Sequence[np.ndarray[Any, Any]]) -> bytes:
    """A digest of the arrays' types, shapes and contents."""
    h = hashlib.blake2b(digest_size=20)
    for array in arrays:
        h.update(f"{array.dtype.str}{array.shape};".encode())
        h.update(np.ascontiguousarray(array).data)
    return h.digest()


def remembered(
    settings: Hashable, arrays: Sequence[np.ndarray[Any, Any]], compute: Callable[[], Contrast]
) -> Contrast:
    """``compute()``, or the contrast it gave before for equal ``settings`` and ``arrays``."""
    key = (settings, digest(arrays))
    with _lock:
        found = _memo.get(key)
        if found is not None:
            _memo.move_to_end(key)
            return found
    value = compute()
    with _lock:
        _memo[key] = value
        while len(_memo) > MAX_ENTRIES:
            _memo.popitem(last=False)
    return value


def clear() -> None:
    """Forget every remembered contrast."""
    with _lock:
        _memo.clear()

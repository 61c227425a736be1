"""The item ids of a format-2 snapshot, read out of its JSON header without a string per id.

Format 2 (what :mod:`assay.engine.snapshot` wrote before format 4) kept the ids as a JSON list
at the head of the header: ``{"format": 2, "item_ids": ["…", "…"], "scores": …}``. Parsed
with :mod:`json`, a million ids become a million Python strings (about 90 MB) before they are
packed into one byte array; here the quotes are located with NumPy and the ids copied into
the array a block of rows at a time. Ids holding a JSON escape (a backslash) go through
:mod:`json` as before.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from assay.analysis.item_keys import CHUNK, IdArray

ByteArray = npt.NDArray[np.uint8]

_HEAD = b'{"format": 2'
_PREFIX = _HEAD + b', "item_ids": ['
_QUOTE, _COMMA, _CLOSE, _SPACE, _ESCAPE = (ord(c) for c in '",] \\')


def header_ids(raw: ByteArray) -> tuple[IdArray | None, ByteArray]:
    """The ids of a format-2 header and the header without them, or ``(None, raw)`` when the
    header is laid out otherwise (it is then parsed whole)."""
    if raw[: len(_PREFIX)].tobytes() != _PREFIX:
        return None, raw
    body = raw[len(_PREFIX) :]
    if body.size and body[0] == _CLOSE:
        return np.empty(0, dtype="S1"), _rest(body[1:])
    quotes = _positions(body, _QUOTE)
    if quotes.size < 2 or quotes[0] != 0:
        return None, raw
    opens, closes = quotes[0::2], quotes[1::2]
    opens = opens[: closes.size]
    after = np.add(closes, 1)
    np.minimum(after, body.size - 1, out=after)
    follow = body[after]  # the byte after each closing quote: a comma, or the list's end
    del after
    ends = np.flatnonzero(follow == _CLOSE)
    if ends.size == 0:
        return None, raw
    count = int(ends[0]) + 1
    opens, closes, follow = opens[:count], closes[:count], follow[:count]
    end = int(closes[-1]) + 1
    if not _separated(body, opens, closes, follow) or _positions(body[:end], _ESCAPE).size:
        return None, raw
    starts = opens + 1
    lengths = closes - starts
    del quotes, opens, closes, follow
    return _copied(body, starts, lengths), _rest(body[end + 1 :])


def _separated(
    body: ByteArray,
    opens: npt.NDArray[np.intp],
    closes: npt.NDArray[np.intp],
    follow: ByteArray,
) -> bool:
    """Whether each string but the last is followed by ``,`` or ``, `` and the next one."""
    if not (follow[:-1] == _COMMA).all():
        return False
    gaps = opens[1:] - closes[:-1]
    spaced = gaps == 3
    return bool(((gaps == 2) | spaced).all() and (body[closes[:-1][spaced] + 2] == _SPACE).all())


def _positions(body: ByteArray, byte: int) -> npt.NDArray[np.intp]:
    """Where ``byte`` occurs in ``body``, compared a block at a time."""
    block = CHUNK * 64
    found = [
        np.flatnonzero(body[start : start + block] == byte) + start
        for start in range(0, body.size, block)
    ]
    return np.concatenate(found) if found else np.empty(0, dtype=np.intp)


def _copied(
    body: ByteArray, starts: npt.NDArray[np.intp], lengths: npt.NDArray[np.intp]
) -> IdArray:
    """The byte strings ``body[start : start + length]`` as one fixed-width array, gathered a
    block of rows at a time from a sliding window over ``body`` (no index per byte)."""
    width = max(int(lengths.max()), 1)
    if int(starts.max()) + width > body.size:
        body = np.concatenate([body, np.zeros(width, dtype=np.uint8)])
    windows = np.lib.stride_tricks.sliding_window_view(body, width)
    out = np.zeros(starts.size, dtype=f"S{width}")
    cells = out.view(np.uint8).reshape(starts.size, width)
    offsets = np.arange(width)
    for first in range(0, starts.size, CHUNK):
        block = windows[starts[first : first + CHUNK]]
        block[offsets >= lengths[first : first + CHUNK, None]] = 0
        cells[first : first + CHUNK] = block
    return out


def _rest(tail: ByteArray) -> ByteArray:
    """The header with its ids left out (``tail`` follows the list's closing bracket)."""
    return np.concatenate([np.frombuffer(_HEAD, dtype=np.uint8), tail])

"""Identifiers: time-ordered UUIDs (version 7 layout) so new rows land at the end of indexes."""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> str:
    """Return a UUIDv7 string: 48-bit Unix milliseconds, then 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a (12 bits)
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b (62 bits)
    return str(uuid.UUID(int=value))


def id_base() -> int:
    """A fresh UUIDv7 with room to count in its low bits: ``base + k`` is the k-th id of a
    plan, so ids sort in plan order and any page of them can be made on its own."""
    return uuid.UUID(new_id()).int & ~((1 << 61) - 1)


_LOW = (1 << 48) - 1  # the bits of an id's last group


def sequential_ids(n: int, base: int | None = None, start: int = 0) -> list[str]:
    """``n`` UUIDv7 ids that sort in the order they are returned (plan order), from the
    ``start``-th id of ``base`` (a fresh one by default)."""
    first = (id_base() if base is None else base) + start
    low = first & _LOW
    if low + n <= _LOW + 1:  # only the last group changes: format the rest once
        h = f"{first:032x}"  # what str(uuid.UUID(int=first)) gives, without building the UUID
        head = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-"
        return [f"{head}{i:012x}" for i in range(low, low + n)]
    out = []
    for i in range(first, first + n):
        h = f"{i:032x}"
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out

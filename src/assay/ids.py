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

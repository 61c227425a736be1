"""The interpreter settings runs hold: set by the first active run, restored by the last."""

from __future__ import annotations

import gc
import sys

from assay.interpreter import SWITCH_INTERVAL, relaxed_gc, short_switch_interval


def test_the_gc_stays_relaxed_while_any_run_is_active() -> None:
    before = gc.get_threshold()
    with relaxed_gc():
        assert gc.get_threshold()[0] >= 50_000
        with relaxed_gc():  # a second run in the same process
            pass
        assert gc.get_threshold()[0] >= 50_000  # the first still runs
    assert gc.get_threshold() == before


def test_the_switch_interval_is_short_while_any_run_of_async_calls_is_active() -> None:
    before = sys.getswitchinterval()
    with short_switch_interval():
        assert sys.getswitchinterval() == SWITCH_INTERVAL
        with short_switch_interval():
            pass
        assert sys.getswitchinterval() == SWITCH_INTERVAL
    assert sys.getswitchinterval() == before


def test_a_shorter_interval_the_process_chose_is_kept() -> None:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)
    chosen = sys.getswitchinterval()  # (kept in whole microseconds)
    try:
        with short_switch_interval():
            assert sys.getswitchinterval() == chosen
        assert sys.getswitchinterval() == chosen
    finally:
        sys.setswitchinterval(before)

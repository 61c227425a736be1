"""The interpreter settings a run holds: set by the first active run, restored by the last."""

from __future__ import annotations

import gc
import sys

from assay.engine.interpreter import SWITCH_INTERVAL, tuned_for_runs


def test_settings_hold_while_any_run_is_active_and_are_restored_after_the_last() -> None:
    before_interval, before_threshold = sys.getswitchinterval(), gc.get_threshold()
    with tuned_for_runs():
        assert sys.getswitchinterval() == SWITCH_INTERVAL
        assert gc.get_threshold()[0] >= 50_000
        with tuned_for_runs():  # a second run in the same process
            assert sys.getswitchinterval() == SWITCH_INTERVAL
        assert sys.getswitchinterval() == SWITCH_INTERVAL  # the first still runs
        assert gc.get_threshold()[0] >= 50_000
    assert sys.getswitchinterval() == before_interval
    assert gc.get_threshold() == before_threshold


def test_a_shorter_interval_the_process_chose_is_kept() -> None:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)
    chosen = sys.getswitchinterval()  # (kept in whole microseconds)
    try:
        with tuned_for_runs():
            assert sys.getswitchinterval() == chosen
        assert sys.getswitchinterval() == chosen
    finally:
        sys.setswitchinterval(before)

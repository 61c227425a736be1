"""Run frames sized for a million rows: byte item ids, one-value and shared columns, sparse
error texts, and keys found by sorting rather than through dicts of strings."""

from __future__ import annotations

import numpy as np
import pytest

from assay.analysis import RunFrame, compare_runs
from assay.analysis.frame import COMPLETED, RowTexts, ScoreColumn, align
from assay.analysis.item_keys import decode, encode, find, has_duplicates, keyed
from assay.errors import InvalidInput
from tests.unit.analysis_support import frame

IDS = ["b-2", "ä-1", "a-10", "日本-3", "a-9"]


def test_ids_are_utf8_bytes_that_decode_back_in_string_order() -> None:
    ids = encode(IDS)
    assert ids.dtype.kind == "S"
    assert ids.dtype.itemsize == max(len(i.encode()) for i in IDS)
    assert decode(ids) == IDS
    assert decode(np.sort(ids)) == sorted(IDS)  # UTF-8 keeps the order of the strings
    assert encode(np.array(IDS)).tolist() == ids.tolist()
    assert encode(ids) is ids
    assert encode([]).size == 0
    assert decode(encode(np.array([], dtype=np.str_))) == []


def test_find_gives_each_row_or_minus_one() -> None:
    values = encode(["x", "yy", "zzz", "ä"])
    wanted = encode(["zzz", "nope", "x", "ä", "longer than any value"])
    assert find(values, wanted).tolist() == [2, -1, 0, 3, -1]
    assert find(encode([]), wanted).tolist() == [-1] * 5
    assert find(values, encode([])).tolist() == []


def test_keys_of_trials_are_distinct_per_repetition() -> None:
    ids = encode(["a", "a", "b", "ab"])
    keys = keyed(ids, np.array([0, 1, 0, 0]), 2)
    assert not has_duplicates(keys)
    assert has_duplicates(keyed(ids, np.array([0, 0, 1, 1]), 2))  # ("a", 0) twice
    assert not has_duplicates(keyed(encode(["a", "a"]), np.array([256, 1]), 1))
    assert has_duplicates(encode(["q", "r", "q"]))


def test_frames_keep_ids_as_bytes_and_speak_strings() -> None:
    run = frame("A", [1, 0, 1, 1, 0], items=IDS)
    assert run.item_ids.dtype.kind == "S"
    assert run.id_list() == IDS
    assert run.keys(np.array([3, 1])) == [("日本-3", 0), ("ä-1", 0)]
    assert run.row_of("日本-3") == 3
    assert run.row_of("日本-3", 1) is None
    assert run.row_of("missing") is None
    assert run.item_count == 5
    trials = frame("T", [1, 0, 1], items=["ä", "ä", "b"], repetition=[0, 1, 0])
    assert trials.row_of("ä", 1) == 1
    assert sorted(decode(trials.distinct_ids())) == ["b", "ä"]
    assert trials.item_count == 2
    with pytest.raises(InvalidInput, match="two results for item ä repetition 1"):
        frame("D", [1, 0, 1], items=["ä", "ä", "ä"], repetition=[0, 1, 1])


def test_one_value_columns_are_broadcast_and_equal_columns_shared() -> None:
    flags = np.array([1.0, 0.0, np.nan, 1.0])
    run = RunFrame(
        run_id="r",
        name="r",
        item_ids=np.array(["a", "b", "c", "d"]),
        repetition=np.zeros(4, dtype=np.int64),
        status=np.full(4, COMPLETED, dtype=np.int8),
        passed=flags.copy(),
        latency_ms=np.array([1.0, 2.0, 3.0, 4.0]),
        cost=np.full(4, 0.25),
        judge_cost=np.full(4, np.nan),
        scores={
            "exact": ScoreColumn(flags.copy(), flags.copy()),
            "similar": ScoreColumn(np.array([0.5, 0.2, 0.1, 0.9]), np.full(4, np.nan)),
        },
    )
    for column in (run.repetition, run.status, run.cost, run.judge_cost):
        assert column.strides == (0,)
        assert not column.flags.writeable
    assert run.cost.tolist() == [0.25] * 4
    assert np.isnan(run.judge_cost).all()
    assert run.repetition.dtype == np.int64
    assert run.status.dtype == np.int8
    assert run.latency_ms.strides == (8,)
    exact = run.scores["exact"]
    assert exact.value is exact.passed is run.passed  # one array for the three
    np.testing.assert_array_equal(run.passed, flags)
    assert run.scores["similar"].passed.strides == (0,)
    assert run.scores["similar"].value is not run.passed
    assert exact.is_pass_fail
    assert not run.scores["similar"].is_pass_fail
    np.testing.assert_array_equal(run.pass_metric(), [1.0, 0.0, 0.0, 1.0])


def test_error_texts_are_kept_for_the_rows_that_have_one() -> None:
    texts = RowTexts(5, {1: "timeout", 4: "refused"})
    assert len(texts) == 5
    assert list(texts) == [None, "timeout", None, None, "refused"]
    assert texts[-1] == "refused"
    assert list(texts[1:4]) == ["timeout", None, None]
    assert list(texts[::-2]) == ["refused", None, None]
    assert list(texts.take(np.array([4, 0, 1, 1]))) == ["refused", None, "timeout", "timeout"]
    assert list(RowTexts(3, {}).take(np.array([2]))) == [None]
    with pytest.raises(IndexError):
        texts[5]


def test_runs_in_other_orders_align_by_key() -> None:
    base = frame("A", [1, 0, 1, 1], items=["ä", "ä", "b", "日本"], repetition=[0, 1, 0, 0])
    other = frame("B", [1, 1, 0, 1], items=["日本", "zz", "ä", "b"], repetition=[0, 0, 1, 1])
    rows_a, rows_b = align(base, other)
    assert rows_a.tolist() == [1, 3]  # (ä, 1) and (日本, 0)
    assert rows_b.tolist() == [2, 0]
    same_a, same_b = align(base, base)
    assert same_a.tolist() == same_b.tolist() == [0, 1, 2, 3]


def test_item_set_warning_counts_items_by_key() -> None:
    base = frame("A", [1, 1, 0, 1], items=["ä", "b", "c", "d"])
    run = frame("B", [1, 0, 1], items=["e", "d", "ä"])
    warning = next(w for w in compare_runs([base, run]).warnings if w.code == "item_set")
    assert "2 only in the baseline, 1 only in 'B'" in warning.message
    assert "the 2 shared items" in warning.message
    trials = frame("C", [1, 0, 1, 1], items=["ä", "ä", "b", "z"], repetition=[0, 1, 0, 0])
    warning = next(w for w in compare_runs([trials, run]).warnings if w.code == "item_set")
    assert "2 only in the baseline, 2 only in 'B'" in warning.message

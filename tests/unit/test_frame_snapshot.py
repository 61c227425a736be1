"""Run frame snapshots: format 4 round trips, and formats 3 and 2 still read back the same."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any

import numpy as np
import orjson
import pytest

from assay.analysis import RunFrame, snapshot
from assay.analysis.frame import COLUMNS
from assay.analysis.item_keys import encode
from assay.analysis.snapshot_ids import header_ids
from assay.domain import ResultStatus
from tests.unit.analysis_support import assert_same_frame, experiment, result, score

RUN = experiment("run-1", name="run one", version=2)


def _frame(ids: list[str]) -> RunFrame:
    rows = [
        result(
            "run-1",
            item,
            repetition=k % 2,
            status=ResultStatus.failed if k == 1 else ResultStatus.completed,
            passed=None if k == 1 else k % 3 != 0,
            error="timeout" if k == 1 else None,
            latency_ms=10.0 * k,
            scores=[]
            if k == 1
            else [score("exact", float(k % 3 != 0), k % 3 != 0), score("near", k / 10)],
        )
        for k, item in enumerate(ids)
    ]
    return RunFrame.from_results(rows, run_id="run-1", name="run one")


IDS = ["a", "a", "b", 'quote " in it', "ä", "ä", "日本", "back\\slash"]
PLAIN = ["q1", "q1", "q2", "q3", "q4", "q4"]


@pytest.mark.parametrize("ids", [IDS, PLAIN, []])
def test_format_4_round_trips_with_one_value_columns_stored_once(ids: list[str]) -> None:
    frame = _frame(ids)
    data = snapshot.dumps(frame)
    back = snapshot.loads(data, RUN)
    assert back is not None
    assert_same_frame(back, frame)
    assert (back.run_id, back.name, back.dataset_version) == ("run-1", "run one", 2)
    assert back.judge_spreads is None
    spread = {"judge": (0.04, 3, 7)}
    with_spread = snapshot.loads(
        snapshot.dumps(replace(frame, judge_spreads=spread)),
        RUN,
    )
    assert with_spread is not None
    assert with_spread.judge_spreads == spread
    with np.load(io.BytesIO(data)) as archive:
        assert archive["cost"].shape == ((1,) if ids else (0,))  # 0.01 on every row
        assert archive["latency_ms"].shape == (len(ids),)
        assert archive["item_ids"].dtype.kind == "S"
        assert json.loads(archive["header"].tobytes())["format"] == 4


def _format_3(frame: RunFrame) -> bytes:
    """What the format-3 writer stored: every column whole, ids as ASCII (else Unicode)."""
    names = list(frame.scores)
    header = {
        "format": 3,
        "scores": names,
        "unaligned": frame.unaligned,
        "errors": {row: e for row, e in enumerate(frame.errors or ()) if e is not None},
    }
    arrays: dict[str, Any] = {c: np.ascontiguousarray(getattr(frame, c)) for c in COLUMNS}
    ids = np.array(frame.id_list(), dtype=np.str_)
    try:
        arrays["item_ids"] = ids.astype(np.bytes_)
    except UnicodeEncodeError:
        arrays["item_ids"] = ids
    for i, name in enumerate(names):
        arrays[f"value_{i}"] = np.ascontiguousarray(frame.scores[name].value)
        arrays[f"passed_{i}"] = np.ascontiguousarray(frame.scores[name].passed)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


@pytest.mark.parametrize("ids", [IDS, PLAIN])
def test_format_3_reads_back_the_same(ids: list[str]) -> None:
    frame = _frame(ids)
    back = snapshot.loads(_format_3(frame), RUN)
    assert back is not None
    assert_same_frame(back, frame)


def _format_2(frame: RunFrame, *, engine: bool) -> bytes:
    """What format 2 stored: the ids in the header, written by the engine with orjson or by
    the frame writer with :func:`json.dumps`."""
    data = io.BytesIO(_format_3(frame))
    with np.load(data) as archive:
        arrays = {k: archive[k] for k in archive.files if k not in ("item_ids", "header")}
        header = json.loads(archive["header"].tobytes())
    rest = {
        "scores": header["scores"],
        "unaligned": header["unaligned"],
        "errors": header["errors"],
    }
    if engine:
        rest["judge_spreads"] = {}
        text = (
            b'{"format": 2, "item_ids": ['
            + orjson.dumps(frame.id_list())[1:-1]
            + b"], "
            + json.dumps(rest)[1:].encode()
        )
    else:
        text = json.dumps({"format": 2, "item_ids": frame.id_list(), **rest}).encode()
    arrays["header"] = np.frombuffer(text, dtype=np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


@pytest.mark.parametrize("engine", [True, False])
@pytest.mark.parametrize("ids", [IDS, PLAIN, ["ä", "日本"], []])
def test_format_2_reads_back_the_same(ids: list[str], engine: bool) -> None:
    frame = _frame(ids)
    back = snapshot.loads(_format_2(frame, engine=engine), RUN)
    assert back is not None
    assert_same_frame(back, frame)
    assert back.judge_spreads == ({} if engine else None)


def _header(ids: list[str], engine: bool) -> np.ndarray:
    rest = b'"scores": ["x"], "unaligned": 0, "errors": {"3": "a \\"b\\""}}'
    if engine:
        listed = orjson.dumps(ids)[1:-1]
        text = b'{"format": 2, "item_ids": [' + listed + b"], " + rest
    else:
        text = json.dumps({"format": 2, "item_ids": ids})[:-1].encode() + b", " + rest
    return np.frombuffer(text, dtype=np.uint8)


@pytest.mark.parametrize("engine", [True, False])
def test_format_2_ids_are_cut_out_of_the_header(engine: bool) -> None:
    ids = ["01a2-x", "b", "item ] with, brackets", "longest id of them all"]
    found, rest = header_ids(_header(ids, engine))
    assert found is not None
    assert found.dtype == np.dtype("S22")
    assert found.tolist() == [i.encode() for i in ids]
    assert json.loads(rest.tobytes()) == {
        "format": 2,
        "scores": ["x"],
        "unaligned": 0,
        "errors": {"3": 'a "b"'},
    }


def test_format_2_headers_with_escapes_or_another_layout_are_parsed_whole() -> None:
    for ids in (['a "b"'], ["back\\slash", "c"]):
        raw = _header(ids, engine=True)
        assert header_ids(raw)[0] is None
    assert header_ids(_header(["ä"], engine=False))[0] is None  # json.dumps escapes it
    found, _ = header_ids(_header(["ä"], engine=True))
    assert found is not None
    assert found.tolist() == ["ä".encode()]
    moved = np.frombuffer(b'{"item_ids": ["a"], "format": 2}', dtype=np.uint8)
    assert header_ids(moved)[0] is None


def test_another_format_is_not_read() -> None:
    data = io.BytesIO()
    np.savez(data, header=np.frombuffer(b'{"format": 1}', dtype=np.uint8))
    assert snapshot.loads(data.getvalue(), RUN) is None


@pytest.mark.parametrize("ids", [IDS, PLAIN, []])
@pytest.mark.parametrize("block", [3, snapshot.BLOCK])
def test_a_snapshot_holding_the_ids_of_a_frame_read_shares_them(
    ids: list[str], block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = _frame(ids)
    data = snapshot.dumps(frame)
    monkeypatch.setattr(snapshot, "BLOCK", block)  # compared a block of ids at a time
    like = frame.item_ids.copy()
    shared = snapshot.load(io.BytesIO(data), RUN, ids_like=like)
    assert shared is not None
    assert shared.item_ids is like
    assert_same_frame(shared, frame)
    if not ids:
        return
    last_differs = encode([*ids[:-1], "other"]).astype(like.dtype)
    for other in (last_differs, like[:-1], like.astype(f"S{like.itemsize + 1}")):
        back = snapshot.load(io.BytesIO(data), RUN, ids_like=other)
        assert back is not None
        assert back.item_ids is not other
        assert_same_frame(back, frame)
    older = snapshot.load(io.BytesIO(_format_3(frame)), RUN, ids_like=like)
    assert older is not None  # format 3: shared when stored as the same bytes, else read
    assert_same_frame(older, frame)

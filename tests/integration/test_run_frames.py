"""Stored run-frame snapshots: served while current, never after the run's data changed."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, func, insert, select

import assay
from assay.analysis import load_run, service, snapshot
from assay.analysis.frame import RunFrame
from assay.domain import (
    DatasetCreate,
    DatasetRunCreate,
    ItemCreate,
    RunItemCreate,
    ScoreCreate,
    ScoreDataType,
    ScoreSource,
)
from assay.engine.rescore import rescore_results
from assay.scorers import exact_match
from assay.store import Store, run_frames
from assay.store.tables import run_frame_parts
from assay.store.tables import run_frames as run_frames_table
from assay.store.types import utcnow

N = 12


@pytest.fixture
def run_id(store: Store) -> str:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa", [ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}") for i in range(N)]
    )

    def answer(x: dict[str, str]) -> str:
        if x["q"] == "q2":
            raise RuntimeError("no answer for q2")
        return x["q"] if x["q"] == "q1" else x["q"].upper()

    result = assay.evaluate("qa", answer, [exact_match()], name="base", store=store)
    assert result.status == "completed"
    return result.id


def _stored(store: Store, run_id: str) -> int:
    query = select(func.count()).where(run_frames_table.c.experiment_id == run_id)
    with store.db.read() as conn:
        return int(conn.execute(query).scalar_one())


def _same(a: RunFrame, b: RunFrame) -> None:
    assert a.item_ids.tolist() == b.item_ids.tolist()
    for column in ("repetition", "status", "passed", "latency_ms", "cost", "judge_cost"):
        np.testing.assert_array_equal(getattr(a, column), getattr(b, column))
    assert list(a.errors or ()) == list(b.errors or ())
    assert list(a.scores) == list(b.scores)
    for name in a.scores:
        np.testing.assert_array_equal(a.scores[name].value, b.scores[name].value)
        np.testing.assert_array_equal(a.scores[name].passed, b.scores[name].passed)
    assert (a.run_id, a.name, a.dataset_version, a.unaligned) == (
        b.run_id,
        b.name,
        b.dataset_version,
        b.unaligned,
    )


def _built_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every frame built from the results (rather than read from a snapshot)."""
    built: list[str] = []
    real = service._frame

    def spy(store: Store, experiment: Any, **options: Any) -> RunFrame:
        built.append(experiment.id)
        return real(store, experiment, **options)

    monkeypatch.setattr(service, "_frame", spy)
    return built


def test_a_run_stores_its_snapshot_when_it_ends(
    store: Store, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _stored(store, run_id) == 1
    built = _built_only(monkeypatch)
    first = load_run(store, run_id, outputs=False)
    assert built == []  # read from the snapshot
    _same(first, load_run(store, run_id))  # outputs always come from the results
    assert built == [run_id]

    with store.db.write() as conn:
        conn.execute(delete(run_frames_table).where(run_frames_table.c.experiment_id == run_id))
    again = load_run(store, run_id, outputs=False)  # no snapshot: built, then stored
    assert built == [run_id, run_id]
    assert _stored(store, run_id) == 1
    _same(first, again)
    load_run(store, run_id, outputs=False)
    assert built == [run_id, run_id]


def test_the_result_records_give_the_frame_the_columns_give(store: Store, run_id: str) -> None:
    """``RunFrame.from_experiment`` takes the records the store returns, as they come."""
    store.scores.upsert(
        ScoreCreate(name="helpful", value=0.5, source=ScoreSource.human),
        result_id=next(store.experiments.iter_results(run_id)).id,
    )
    experiment = store.experiments.get(run_id)
    from_records = RunFrame.from_experiment(experiment, store.experiments.iter_results(run_id))
    from_columns = load_run(store, run_id)
    _same(from_records, from_columns)
    assert list(from_records.outputs or ()) == list(from_columns.outputs or ())
    assert from_records.errors is not None
    assert "no answer for q2" in str(from_records.errors)


def _helpful(frame: RunFrame, item_id: str | None) -> float:
    row = frame.row_of(item_id or "")
    assert row is not None
    return float(frame.scores["helpful"].value[row])


def test_every_write_to_a_run_invalidates_its_snapshot(
    store: Store, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _built_only(monkeypatch)

    def fresh() -> RunFrame:
        before = len(built)
        frame = load_run(store, run_id, outputs=False)
        assert len(built) == before + 1, "a stale snapshot was served"
        _same(frame, load_run(store, run_id, outputs=False))  # and stored again
        return frame

    result = next(r for r in store.experiments.iter_results(run_id) if r.status == "completed")

    human = store.scores.upsert(
        ScoreCreate(
            name="helpful", value=0.25, data_type=ScoreDataType.numeric, source=ScoreSource.human
        ),
        result_id=result.id,
    )
    frame = fresh()
    assert _helpful(frame, result.item_id) == 0.25

    store.scores.upsert(
        ScoreCreate(
            name="helpful", value=0.75, data_type=ScoreDataType.numeric, source=ScoreSource.human
        ),
        result_id=result.id,
    )
    frame = fresh()
    assert _helpful(frame, result.item_id) == 0.75

    store.scores.delete(human.id)
    assert "helpful" not in fresh().scores

    rescore_results(store, run_id, [{"kind": "exact_match", "params": {"ignore_case": True}}])
    before = len(built)
    frame = load_run(store, run_id, outputs=False)
    assert len(built) == before  # re-scoring stored the new snapshot as it ended
    _same(frame, service._frame(store, store.experiments.get(run_id), outputs=False))
    assert np.nansum(frame.pass_metric()) == N - 1
    assert sum(e is not None and "no answer for q2" in e for e in frame.errors or ()) == 1


def test_uploads_to_an_external_run_invalidate_its_snapshot(store: Store, run_id: str) -> None:
    run = store.dataset_runs.create(DatasetRunCreate(dataset_name="qa", name="external"))
    item_ids = [i.id for i in store.datasets.list_items("qa").items]
    store.dataset_runs.add_items(
        run.id, [RunItemCreate(dataset_item_id=i, output="x") for i in item_ids[:3]]
    )
    assert len(load_run(store, run.id, outputs=False)) == 3
    store.dataset_runs.add_items(
        run.id, [RunItemCreate(dataset_item_id=i, output="y") for i in item_ids[3:5]]
    )
    assert len(load_run(store, run.id, outputs=False)) == 5


def test_a_snapshot_built_from_an_older_revision_is_not_saved(store: Store, run_id: str) -> None:
    experiment = store.experiments.get(run_id)
    with store.db.write() as conn:
        conn.execute(delete(run_frames_table).where(run_frames_table.c.experiment_id == run_id))
    with store.db.read() as conn:
        old = run_frames.revision(conn, run_id)
    data = snapshot.dumps(service._frame(store, experiment, outputs=False))
    with store.db.write() as conn:
        run_frames.touch(conn, [run_id])  # a write lands while the frame is being built
    run_frames.save(store.db, run_id, old, data)
    assert _stored(store, run_id) == 0
    assert run_frames.load(store.db, run_id) is None
    with store.db.read() as conn:
        run_frames.save(store.db, run_id, run_frames.revision(conn, run_id), data)
    assert run_frames.load(store.db, run_id) == data


def test_a_stored_snapshot_is_read_as_a_file_while_current(store: Store, run_id: str) -> None:
    with store.db.write() as conn:
        conn.execute(delete(run_frames_table).where(run_frames_table.c.experiment_id == run_id))
    with run_frames.opened(store.db, run_id) as missing:
        assert missing is None
    load_run(store, run_id, outputs=False)  # stores the snapshot again
    data = run_frames.load(store.db, run_id)
    assert data is not None
    with run_frames.opened(store.db, run_id) as file:
        assert file is not None
        assert file.read(10) == data[:10]
        assert file.seek(-5, io.SEEK_END) == len(data) - 5
        assert file.read() == data[-5:]
        file.seek(0)
        assert file.read() == data
        file.seek(0)
        loaded = snapshot.load(file, store.experiments.get(run_id))
    assert loaded is not None
    _same(loaded, load_run(store, run_id, outputs=False))
    with store.db.write() as conn:
        run_frames.touch(conn, [run_id])
    with run_frames.opened(store.db, run_id) as stale:
        assert stale is None


def _parts(store: Store, run_id: str) -> int:
    query = select(func.count()).where(run_frame_parts.c.experiment_id == run_id)
    with store.db.read() as conn:
        return int(conn.execute(query).scalar_one())


def test_a_large_snapshot_is_stored_and_read_a_part_at_a_time(store: Store, run_id: str) -> None:
    with store.db.read() as conn:
        current = run_frames.revision(conn, run_id)
    data = np.random.default_rng(7).bytes(2 * run_frames.PART + 12_345)  # three parts
    run_frames.save(store.db, run_id, current, data)
    assert _parts(store, run_id) == (0 if store.db.is_sqlite else 3)
    with run_frames.opened(store.db, run_id) as file:
        assert file is not None
        assert file.read(10) == data[:10]
        edge = run_frames.PART - 3  # a read across two parts
        assert file.seek(edge) == edge
        assert file.read(7) == data[edge : edge + 7]
        assert file.seek(-5, io.SEEK_END) == len(data) - 5
        assert file.read() == data[-5:]
        file.seek(0)
        assert file.read() == data
    smaller = data[: run_frames.PART // 2]  # replaced by a one-part snapshot: no part is left
    run_frames.save(store.db, run_id, current, smaller)
    assert _parts(store, run_id) == (0 if store.db.is_sqlite else 1)
    assert run_frames.load(store.db, run_id) == smaller
    store.experiments.delete(run_id)
    assert _parts(store, run_id) == 0


def test_a_snapshot_stored_whole_is_still_read(store: Store, run_id: str) -> None:
    with store.db.read() as conn:
        current = run_frames.revision(conn, run_id)
    data = b"a snapshot stored as one value"
    with store.db.write() as conn:
        conn.execute(delete(run_frames_table).where(run_frames_table.c.experiment_id == run_id))
        conn.execute(
            insert(run_frames_table).values(
                experiment_id=run_id, data_revision=current, data=data, created_at=utcnow()
            )
        )
    assert run_frames.load(store.db, run_id) == data


def test_snapshots_go_with_their_run(store: Store, run_id: str) -> None:
    load_run(store, run_id, outputs=False)
    assert _stored(store, run_id) == 1
    store.experiments.delete(run_id)
    assert _stored(store, run_id) == 0


def test_a_snapshot_of_another_format_is_ignored(
    store: Store, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = store.experiments.get(run_id)
    frame = load_run(store, run_id, outputs=False)
    again = snapshot.loads(snapshot.dumps(frame), experiment)
    assert again is not None
    _same(frame, again)
    monkeypatch.setattr(snapshot, "FORMAT", snapshot.FORMAT + 1)
    assert snapshot.loads(snapshot.dumps(frame), experiment) is not None
    monkeypatch.undo()
    older = snapshot.dumps(frame)
    monkeypatch.setattr(snapshot, "FORMAT", snapshot.FORMAT + 1)
    assert snapshot.loads(older, experiment) is None

"""A fresh run's snapshot is built by its writer as it writes; it equals the one read back from
the store, and the store is read instead whenever the writer's rows are not the run's whole
data."""

from __future__ import annotations

import asyncio
import enum
import io
import json
import math
import time
from typing import Any

import numpy as np
import pytest

import assay
from assay.domain import DatasetCreate, ItemCreate, ScoreCreate, ScoreSource
from assay.engine import RunOptions, snapshot
from assay.ids import id_base, sequential_ids
from assay.scorers import contains, exact_match, scorer
from assay.store import Store, run_frames
from assay.store.recording import Rows
from assay.targets import TargetOutput
from tests.integration.aggregate_support import stored_aggregates_are_computed


@pytest.fixture
def read_backs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The runs whose snapshot was read back from the store rather than spooled."""
    seen: list[str] = []
    read_back = snapshot.write

    def counted(store: Store, experiment_id: str, out: Any, **kwargs: Any) -> None:
        seen.append(experiment_id)
        read_back(store, experiment_id, out, **kwargs)

    monkeypatch.setattr(snapshot, "write", counted)
    return seen


def _stored_is_read_back(store: Store, experiment_id: str) -> None:
    stored = run_frames.load(store.db, experiment_id)
    assert stored is not None
    assert stored == snapshot.build(store, experiment_id)


def _qa(store: Store, n: int) -> None:
    """The dataset ``qa`` of ``n`` items, each expecting its own input."""
    store.datasets.create(DatasetCreate(name="qa"))
    items = [ItemCreate(input={"q": f"q{i}"}, expected_output=f"q{i}") for i in range(n)]
    store.datasets.add_items("qa", items)


def test_the_spooled_snapshot_is_the_read_back_one(store: Store, read_backs: list[str]) -> None:
    _qa(store, 2600)

    async def answer(x: dict[str, str]) -> TargetOutput:
        k = int(x["q"][1:])
        await asyncio.sleep((k * 7919 % 13) / 1000)  # results finish out of plan order
        if k % 97 == 5:
            raise RuntimeError(f"no answer for {x['q']}")
        return TargetOutput(output=x["q"] if k % 4 else "?", cost=k / 1000 if k % 3 else None)

    @scorer
    def length(output: Any) -> float | None:
        return None if output == "?" else float(len(output))

    run = assay.evaluate(
        "qa",
        answer,
        [exact_match(), contains("q"), length()],
        trials=2,  # 5,200 results: more than a page of the spool
        concurrency=40,
        max_retries=0,
        store=store,
        quiet=True,
    )
    assert run.summary.failed == 2 * 27
    assert run.summary.completed == 5200 - 54
    assert read_backs == []
    _stored_is_read_back(store, run.id)


def test_a_run_stopped_early_is_read_back(store: Store, read_backs: list[str]) -> None:
    def pricey(x: Any) -> TargetOutput:
        return TargetOutput(output="x", cost=1.0)

    data = [{"input": str(i)} for i in range(50)]
    run = assay.evaluate(data, pricey, concurrency=1, max_cost=3.0, store=store, quiet=True)
    assert run.summary.cancelled > 0  # rows the writer never wrote, added as the run ended
    assert read_backs == [run.id]
    _stored_is_read_back(store, run.id)
    stored_aggregates_are_computed(store, run.id)  # in SQL, as the snapshot was read back


def test_a_writer_process_run_is_spooled_by_its_runner(
    store: Store, read_backs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner spools the rows it sends to its writer process; the revisions the process
    reports confirm them, and the snapshot is not read back."""
    _qa(store, 700)

    async def answer(x: dict[str, str]) -> str:
        k = int(x["q"][1:])
        await asyncio.sleep((k * 7919 % 7) / 1000)  # results finish out of plan order
        return x["q"] if k % 4 else "?"

    prepared: list[bool] = []
    prepare = snapshot.Spool.prepare

    def noted(self: snapshot.Spool, experiment_id: str) -> None:
        prepare(self, experiment_id)
        prepared.append(self.counted is not None)

    monkeypatch.setattr(snapshot.Spool, "prepare", noted)
    options = RunOptions(concurrency=16, writer="process", batch_size=50)
    run = assay.evaluate(
        "qa", answer, [exact_match(), contains("q")], options=options, store=store, quiet=True
    )
    assert run.summary.completed == 700
    assert prepared == [True]  # built while the process committed its last batches
    assert read_backs == []
    _stored_is_read_back(store, run.id)
    stored_aggregates_are_computed(store, run.id)


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_a_score_added_during_the_run_is_read_back(
    store: Store, read_backs: list[str], writer: str
) -> None:
    def answer(x: dict[str, str]) -> str:
        if x["q"] == "q60":  # a person scores an earlier result while the run goes on
            while not store.experiments.list(search="scored during the run").items:
                time.sleep(0.01)  # the run's plan (and its new dataset) is being written
            run = store.experiments.get("scored during the run")
            while store.experiments.summary(run.id).completed == 0:
                time.sleep(0.01)
            done = next(r for r in store.experiments.iter_results(run.id) if r.output)
            store.scores.upsert(
                ScoreCreate(name="human", value=1.0, source=ScoreSource.human), result_id=done.id
            )
        return x["q"]

    data = [{"input": {"q": f"q{i}"}} for i in range(80)]
    run = assay.evaluate(
        data,
        answer,
        [contains("q")],
        name="scored during the run",
        options=RunOptions(concurrency=4, writer=writer, batch_size=20),
        store=store,
        quiet=True,
    )
    assert run.summary.completed == 80
    assert read_backs == [run.id]
    _stored_is_read_back(store, run.id)
    stored_aggregates_are_computed(store, run.id)
    stored = np.load(io.BytesIO(run_frames.load(store.db, run.id) or b""))
    assert json.loads(bytes(stored["header"]))["scores"] == ["contains", "human"]


def _rows(ids: list[str], k: list[int]) -> Rows:
    results = [
        ("completed", "x", None, 1.0, None, None, None, 1, True, None, None, ids[i], None,
         f"item-{i}", 0, "in", "out")
        for i in k
    ]  # fmt: skip
    return Rows(results, [(ids[i], "s", "numeric", float(i), None, None, None, "evaluator",
                           None, None, None, None, None, None, {}) for i in k])  # fmt: skip


@pytest.mark.parametrize(
    ("batches", "revisions", "end", "hold", "whole"),
    [
        ([[1, 0, 3], [2, 4]], [1, 2], 3, 10, True),  # out of order, then whole
        ([[1, 0, 3], [2, 4]], [1, 3], 4, 10, False),  # a write in between
        ([[1, 0, 3], [2, 4]], [1, None], 3, 10, False),  # a batch written the checked way
        ([[1, 0, 3], [2, 4]], [1, 2], 4, 10, False),  # the run's end wrote more rows
        ([[0, 1], [3, 4]], [1, 2], 3, 10, False),  # a planned result never written
        ([[4, 3, 2], [1, 0]], [1, 2], 3, 2, False),  # too many held for the first
    ],
)
def test_the_spool_declines_what_is_not_the_run_whole(
    store: Store,
    batches: list[list[int]],
    revisions: list[int | None],
    end: int,
    hold: int,
    whole: bool,
) -> None:
    ids = sequential_ids(5, id_base())
    spool = snapshot.Spool(ids[0], 5, page=2, hold=hold)
    for batch, revision in zip(batches, revisions, strict=True):
        spool.add(_rows(ids, batch), revision)
    out = io.BytesIO()
    assert spool.write(store, "no-such-run", end, out) is whole
    spool.close()
    if whole:  # in plan order, whatever order the results came in
        archive = np.load(io.BytesIO(out.getvalue()))
        assert [i.decode() for i in archive["item_ids"]] == [f"item-{i}" for i in range(5)]
        assert archive["value_0"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    else:
        assert out.getvalue() == b""


@pytest.mark.parametrize(
    ("revisions", "whole"),
    [
        ([1, 2], True),
        ([1, None], False),  # a batch written the checked way
        ([1, 3], False),  # a write in between
        ([1], False),  # a batch the process never committed
    ],
)
def test_a_spool_fed_by_a_writer_process_holds_the_run_once_confirmed(
    store: Store, revisions: list[int | None], whole: bool
) -> None:
    ids = sequential_ids(5, id_base())
    spool = snapshot.Spool(ids[0], 5, page=2)
    spool.add_sent(_rows(ids, [1, 0, 3]))
    spool.add_sent(_rows(ids, [2, 4]))
    out = io.BytesIO()
    assert not spool.write(store, "no-such-run", 3, out)  # its revisions not known yet
    spool.confirm(revisions)
    assert spool.write(store, "no-such-run", 3, out) is whole
    spool.close()
    if whole:
        archive = np.load(io.BytesIO(out.getvalue()))
        assert [i.decode() for i in archive["item_ids"]] == [f"item-{i}" for i in range(5)]
    else:
        assert out.getvalue() == b""


@pytest.mark.parametrize(
    ("revisions", "whole"), [([1, 2], True), ([1, 3], False)], ids=["confirmed", "declined"]
)
def test_a_spool_prepared_ahead_stores_what_it_would_have_built_at_the_end(
    store: Store, revisions: list[int | None], whole: bool
) -> None:
    """What a writer process sent is built into the archive and the page aggregates before the
    process has committed it; the run's end still checks the revisions, and stores the same
    archive the spool would have built then."""
    ids = sequential_ids(5, id_base())
    ahead, at_end = (snapshot.Spool(ids[0], 5, page=2) for _ in range(2))
    for spool in (ahead, at_end):
        spool.add_sent(_rows(ids, [1, 0, 3]))
    ahead.prepare("run")  # not every planned result yet: nothing is built
    assert ahead.counted is None
    for spool in (ahead, at_end):
        spool.add_sent(_rows(ids, [2, 4]))
    ahead.prepare("run")
    assert ahead.counted == at_end.tally.aggregates("run")
    outs = []
    for spool in (ahead, at_end):
        out = io.BytesIO()
        assert not spool.write(store, "no-such-run", 3, out)  # its revisions not known yet
        spool.confirm(revisions)
        assert spool.write(store, "no-such-run", 3, out) is whole
        spool.close()
        outs.append(out.getvalue())
    assert outs[0] == outs[1]
    assert (outs[0] != b"") is whole


def test_a_spool_leaves_to_the_end_the_judge_spreads_it_did_not_count(store: Store) -> None:
    ids = sequential_ids(2, id_base())
    rows = _rows(ids, [0, 1])
    # a spread's value the JSON column would not keep as it is: read back from the store
    rows.scores[:] = [(*r[:14], {"repetitions": 2, "std": math.nan}) for r in rows.scores]
    spool = snapshot.Spool(ids[0], 2, page=2)
    spool.add_sent(rows)
    spool.prepare("run")
    assert spool.counted is None
    spool.close()


@pytest.mark.parametrize(
    "names",
    [["a", "item-12", "é", "b", "item-3"], ["id-0", "id-1", "id-2", "id-3", "id-4"]],
    ids=["of several lengths", "of one length"],
)
def test_item_ids_are_padded_to_the_longest(store: Store, names: list[str]) -> None:
    ids = sequential_ids(5, id_base())
    rows = _rows(ids, [0, 1, 2, 3, 4])
    rows.results[:] = [(*r[:13], names[i], *r[14:]) for i, r in enumerate(rows.results)]
    spool = snapshot.Spool(ids[0], 5, page=2)
    spool.add(rows, 1)
    out = io.BytesIO()
    assert spool.write(store, "no-such-run", 2, out)
    spool.close()
    item_ids = np.load(io.BytesIO(out.getvalue()))["item_ids"]
    width = max(len(n.encode()) for n in names)
    assert item_ids.dtype == np.dtype(f"S{width}")
    assert [i.decode() for i in item_ids] == names


class _Repetitions(enum.IntEnum):
    FOUR = 4  # stored as 4; read back as an int, not as this


@pytest.mark.parametrize(
    ("odd", "outputs"),
    [(None, 51), (("std", math.nan), 50), (("repetitions", _Repetitions.FOUR), 51)],
    ids=["plain", "nan", "int enum"],
)
def test_judge_spreads_are_counted_as_written_and_read_back_when_they_cannot_be(
    store: Store,
    read_backs: list[str],
    odd: tuple[str, Any] | None,
    outputs: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A judge graded with repetitions leaves a spread in each score's metadata: the writer
    counts them; a value its JSON column would not keep as it is (a NaN is stored as null, an
    int enum as an int) makes it read them back."""
    spread_reads: list[str] = []
    read_spreads = snapshot.judge_spreads

    def counted(db: Any, experiment_id: str) -> Any:
        spread_reads.append(experiment_id)
        return read_spreads(db, experiment_id)

    monkeypatch.setattr(snapshot, "judge_spreads", counted)

    @scorer
    def judge(output: Any) -> list[ScoreCreate]:
        k = int(output[1:])
        meta: dict[str, Any] = {"std": k / 10, "repetitions": 3 if k % 5 else 5}
        if k % 7 == 0:
            meta = {"std": None, "repetitions": 3}  # a judge that agreed with itself: no spread
        if k == 11 and odd is not None:
            meta[odd[0]] = odd[1]
        return [
            ScoreCreate(name="judge", value=k % 2, metadata=meta),
            ScoreCreate(name="plain", value=1.0, metadata={"repetitions": 1, "std": 0.5}),
            ScoreCreate(name="nested", value=1.0, metadata={"note": {"repetitions": 4, "std": 1}}),
        ]

    data = [{"input": {"q": f"q{i}"}} for i in range(60)]
    run = assay.evaluate(
        data, lambda x: x["q"], [judge()], name="judged", concurrency=4, store=store, quiet=True
    )
    assert run.summary.completed == 60
    assert read_backs == []
    assert spread_reads == ([] if odd is None else [run.id])
    _stored_is_read_back(store, run.id)
    stored = np.load(io.BytesIO(run_frames.load(store.db, run.id) or b""))
    spreads = json.loads(bytes(stored["header"]))["judge_spreads"]
    assert list(spreads) == ["judge"]
    assert spreads["judge"][1:] == [3, outputs]

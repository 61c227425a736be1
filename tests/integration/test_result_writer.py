"""The result writer's batches: a batch of ``eager`` results is written as soon as no more
are waiting; a smaller one waits for its interval or the writer's close, unless the run has
no more calls to start (:meth:`ResultWriter.hurry`): then every batch goes at once."""

from __future__ import annotations

import threading
import time

from assay.domain import DatasetCreate, ExperimentCreate, ItemCreate, WorkItem
from assay.engine.writer import ResultWriter
from assay.store import Completion, Store


def _work(store: Store, n: int) -> tuple[str, list[WorkItem]]:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items("qa", [ItemCreate(input={"q": f"q{i}"}) for i in range(n)])
    experiment, work = store.experiments.create(ExperimentCreate(name="run", dataset="qa"))
    return experiment.id, work


def _done(w: WorkItem) -> Completion:
    return Completion(w.result_id, "completed", output="a", attempts=1, item=w)


def _completed(store: Store, experiment_id: str) -> int:
    return store.experiments.summary(experiment_id).completed


def _wait_written(writer: ResultWriter, n: int) -> None:
    waited = time.monotonic() + 10
    while writer.written < n and time.monotonic() < waited:
        time.sleep(0.01)
    assert writer.written == n


def test_an_eager_batch_is_written_before_its_interval_ends(store: Store) -> None:
    experiment_id, work = _work(store, 8)
    writer = ResultWriter(store, experiment_id, flush_interval=3600.0, eager=3, batch_size=100)
    try:
        for w in work[:3]:
            writer.submit(_done(w))
        _wait_written(writer, 3)
        assert _completed(store, experiment_id) == 3
        for w in work[3:5]:  # fewer than eager: held for the interval
            writer.submit(_done(w))
        time.sleep(0.3)
        assert writer.written == 3
        assert writer.backlog == 2
    finally:
        writer.close()
    assert writer.written == 5
    assert _completed(store, experiment_id) == 5


def test_once_hurried_every_batch_is_written_at_once(store: Store) -> None:
    experiment_id, work = _work(store, 4)
    writer = ResultWriter(store, experiment_id, flush_interval=3600.0, batch_size=100)
    try:
        for w in work[:2]:
            writer.submit(_done(w))
        time.sleep(0.3)
        assert writer.written == 0  # held for the interval
        writer.hurry()
        _wait_written(writer, 2)
        writer.submit(_done(work[2]))
        _wait_written(writer, 3)
        assert _completed(store, experiment_id) == 3
    finally:
        writer.close()
    assert writer.written == 3


def test_every_slot_may_say_it_ran_out_of_work_the_writer_wakes_once(store: Store) -> None:
    """A thousand slots each call :meth:`hurry` as they find no more work: the writer is woken
    once, not once per slot (each wake would commit the batch gathered so far)."""
    experiment_id, work = _work(store, 10)
    release = threading.Event()
    flushes: list[int] = []
    writer = ResultWriter(
        store,
        experiment_id,
        flush_interval=3600.0,
        batch_size=100,
        first_job=lambda: release.wait(10),  # the writer takes nothing until released
        on_written=flushes.append,
    )
    try:
        for w in work:
            writer.submit(_done(w))
            writer.hurry()
        release.set()
        _wait_written(writer, 10)
    finally:
        writer.close()
    assert flushes == [1, 10]  # the first result, woken; the rest once nothing more waited

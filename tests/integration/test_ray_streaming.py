"""A streamed plan on Ray: the driver cuts the work into shards by position while it reads it.

The plan's length is known without reading its items, so each shard's part is known up front
and is sent as soon as it has been read, the rest read while the first shards run. These tests
check the parts are the ones the whole work list was cut into, that each shard leaves once its
part is read (the reading off the event loop), and that a stop while parts are still being read
sends nothing more and ends the run cancelled, every result that did not run cancelled.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from assay.domain import ExperimentStatus, WorkItem
from assay.scaleout.driver import RayRunner
from assay.scaleout.shard import ShardSpec
from assay.store import Store
from assay.store.plan_stream import StreamedWork
from tests.fakes.ray_tasks import finished_calls, shout, shout_until_killed, slow_shout
from tests.integration.test_ray_executor import _prepared, _rows, _run, _unwritten_base
from tests.integration.test_ray_executor import cluster as cluster  # a fixture: our own

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


class Counted:
    """A plan's work that counts the items read, notes the threads reading them, and calls
    ``on_read(count)`` after each."""

    def __init__(self, work: Any, on_read: Callable[[int], None] | None = None) -> None:
        self.work = work
        self.on_read = on_read
        self.read = 0
        self.threads: set[int] = set()

    def __len__(self) -> int:
        return len(self.work)

    def __iter__(self) -> Iterator[WorkItem]:
        for item in self.work:
            self.read += 1
            self.threads.add(threading.get_ident())
            if self.on_read is not None:
                self.on_read(self.read)
            yield item


def _watch(runner: RayRunner, on_read: Callable[[int], None] | None = None) -> tuple[
    Counted, list[str], list[tuple[int, list[str], int]]
]:  # fmt: skip
    """The runner's streamed plan counted, its planned ids in plan order, and the list each
    shard the driver sends is noted in: (index, its result ids, items read by then)."""
    planned = runner.prepared.planned  # type: ignore[attr-defined]
    assert isinstance(planned.work, StreamedWork)
    ids = [w.result_id for w in planned.work]
    work = planned.work = Counted(planned.work, on_read)
    sent: list[tuple[int, list[str], int]] = []
    send = runner._send

    def spy(spec: ShardSpec) -> Any:
        sent.append((spec.index, [w.result_id for w in spec.work], work.read))
        return send(spec)

    runner._send = spy  # type: ignore[method-assign]
    return work, ids, sent


def test_a_streamed_run_is_cut_into_the_same_parts_and_runs_each_result_once(
    cluster: Any, store: Store, settings: Any, tmp_path: Any
) -> None:
    log = tmp_path / "calls"  # every finished call: (node, result id)
    task = functools.partial(shout_until_killed, "no such node", str(log))
    runner = _prepared(store, settings, task, 230, trials=2, shards=3, concurrency=4)
    _, ids, sent = _watch(runner)
    experiment = _run(runner)
    assert experiment.status == ExperimentStatus.completed
    # The parts the whole list was cut into: ceil(460 / 3) = 154 contiguous results each.
    size = math.ceil(len(ids) / 3)
    assert [part for _, part, _ in sent] == [ids[k : k + size] for k in range(0, 460, size)]
    assert [index for index, _, _ in sent] == [0, 1, 2]
    assert sorted(o.index for o in runner.outcomes) == [0, 1, 2]
    assert sorted(o.counts["done"] for o in runner.outcomes) == [152, 154, 154]
    calls = [result for _, result in finished_calls(log)]
    assert sorted(calls) == ids  # each planned result ran, once
    rows = _rows(store, experiment.id)
    assert [rid for rid, _ in rows] == ids  # and is stored once, under its planned id
    assert {status for _, status in rows} == {"completed"}


def test_the_first_shard_leaves_before_the_rest_of_the_work_is_read(
    cluster: Any, store: Store, settings: Any
) -> None:
    runner = _prepared(store, settings, shout, 300, shards=3)
    work, ids, sent = _watch(runner)
    experiment = _run(runner)
    assert experiment.status == ExperimentStatus.completed
    # Each shard left once its own part was read, not once the whole plan was.
    assert [(index, read) for index, _, read in sent] == [(0, 100), (1, 200), (2, 300)]
    assert threading.main_thread().ident not in work.threads  # read off the event loop
    assert [rid for rid, _ in _rows(store, experiment.id)] == ids


@pytest.mark.parametrize("how", ["cancel", "request", "error"])
def test_a_stop_while_parts_are_read_sends_nothing_more(
    cluster: Any, store: Store, settings: Any, how: str
) -> None:
    """Stopped while the second of three parts is read (``runner.cancel()``, as Ctrl+C does; a
    cancel request in the store, as the API makes; or the read failing): the first shard was
    sent and stops, the others are never sent, and the run ends cancelled (failed, with the
    error, when the read failed) with every result that did not run written as cancelled."""
    runner = _prepared(store, settings, slow_shout, 150, shards=3, concurrency=1)
    experiment_id = runner.prepared.experiment.id  # type: ignore[attr-defined]

    def stop_in_second_part(read: int) -> None:
        if read != 51:  # the second part's first item: the first shard has been sent
            return
        if how == "cancel":
            runner.cancel(reason="stopped while sending")
        elif how == "request":
            store.experiments.request_cancel(experiment_id)
            time.sleep(runner.options.poll_interval + 0.1)  # a poll is due once it is read
        else:
            raise RuntimeError("the store went away")

    work, ids, sent = _watch(runner, stop_in_second_part)
    experiment = _run(runner)
    status, error, last = {
        "cancel": (ExperimentStatus.cancelled, "stopped while sending", 100),
        "request": (ExperimentStatus.cancelled, "cancelled by request", 100),
        "error": (ExperimentStatus.failed, "RuntimeError: the store went away", 51),
    }[how]
    assert (experiment.status, experiment.error) == (status, error)
    assert [(index, read) for index, _, read in sent] == [(0, 50)]
    assert work.read == last  # the part being read when it stopped, nothing after it
    assert [o.index for o in runner.outcomes] == [0]
    rows = dict(_rows(store, experiment_id))
    assert list(rows) == ids  # every planned result has its row, once
    assert {rows[rid] for rid in ids[50:]} == {"cancelled"}  # never sent: cancelled
    assert {rows[rid] for rid in ids[:50]} <= {"completed", "cancelled"}
    assert store.experiments.summary(experiment_id).pending == 0
    assert _unwritten_base(store, experiment_id) is None

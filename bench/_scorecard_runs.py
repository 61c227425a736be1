"""Scorecard cases about runs: crash-resume, worker takeover, concurrent SQLite writers and
kill -9 of the server."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from _scorecard import (
    FakeProvider,
    Mode,
    Outcome,
    _dataset,
    _experiment_over,
    all_results,
    api_app,
    assay_cli,
    child_env,
    ok_json,
    python,
    start_server,
    store_for,
    wait_for,
)

# ------------------------------------------------------------------------- 1 crash-resume

CRASH_CHILD = """
import sys, time, assay
calls, n, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3] or None
def task(inp):
    with open(calls, "a") as f:
        f.write(f"{inp['i']}\\n")
    time.sleep(0.004)
    return inp["i"]
data = None if resume else [{"input": {"i": i}, "expected_output": i} for i in range(n)]
assay.evaluate(data, task, ["exact_match"], resume=resume, name="crash", dataset="crash",
               concurrency=4, quiet=True)
"""


def _calls(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def crash_resume(mode: Mode) -> Outcome:
    trials, n = mode.pick(2, 10), mode.pick(30, 200)
    rng = random.Random(mode.seed)
    lost = duplicated = 0
    for _ in range(trials):
        with tempfile.TemporaryDirectory(prefix="assay-crash-") as tmp:
            home, calls = Path(tmp), Path(tmp) / "calls.txt"
            env = child_env(home)
            kill_at = rng.randint(1, n - 1)
            proc = python(CRASH_CHILD, str(calls), str(n), "", env=env)
            wait_for(lambda: len(_calls(calls)) >= kill_at or proc.poll() is not None, 120)  # noqa: B023
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            store = store_for(home)
            try:
                runs = store.experiments.list(limit=1).items
                before = {
                    r.input["i"]
                    for r in (all_results(store, runs[0].id) if runs else [])
                    if r.status.value == "completed"
                }
            finally:
                store.close()
            first_phase = len(_calls(calls))
            resumed = python(CRASH_CHILD, str(calls), str(n), runs[0].id if runs else "", env=env)
            if resumed.wait(180) != 0:
                raise RuntimeError("the resumed run exited with an error")
            again = Counter(int(i) for i in _calls(calls)[first_phase:])
            store = store_for(home)
            try:
                runs = store.experiments.list(limit=1).items
                rows = all_results(store, runs[0].id)
            finally:
                store.close()
            done = Counter(r.input["i"] for r in rows if r.status.value == "completed" and r.scores)
            lost += n - len(done)
            # Calls for items whose result was stored before the kill, and extra rows.
            duplicated += max(0, len(rows) - n) + sum(again[i] for i in before)
    return Outcome(
        f"{trials} kills of a {n}-item run: lost {lost}, duplicated {duplicated}",
        {"trials": trials, "items": n, "lost": lost, "duplicated": duplicated},
        ok=lost == 0 and duplicated == 0,
    )


def worker_takeover(mode: Mode) -> Outcome:
    n, stale = mode.pick(40, 120), 1.5
    with (
        tempfile.TemporaryDirectory(prefix="assay-takeover-") as tmp,
        FakeProvider(delay=0.04) as fake,
    ):
        home = Path(tmp)
        with api_app(home, serve_worker=False) as http:
            dataset = _dataset(http, [{"input": {"q": f"item-{i}"}} for i in range(n)])
            config = {
                "endpoint": {
                    "url": f"{fake.url}/echo",
                    "body": {"q": "{{ q }}"},
                    "output_path": "answer",
                }
            }
            experiment = _experiment_over(http, dataset, config, concurrency=2)
            ok_json(http.post(f"/api/v1/experiments/{experiment}/start/"))
        env = child_env(home, ASSAY_WORKER_STALE_AFTER=str(stale), ASSAY_WORKER_POLL_INTERVAL="0.1")
        first = assay_cli("worker", "--until-idle", env=env, stdout=subprocess.DEVNULL)
        try:
            if not wait_for(lambda: len(fake.requests) >= n // 4, 60, 0.005):
                raise RuntimeError("the first worker never called the target")
            first.send_signal(signal.SIGSTOP)  # a stall: no heartbeat, calls frozen
            time.sleep(stale + 1.0)
            stalled = len(fake.requests)
            second = assay_cli("worker", "--until-idle", env=env, stdout=subprocess.DEVNULL)
            if second.wait(120) != 0:
                raise RuntimeError("the second worker failed")
            mark = len(fake.requests)
            if mark == stalled:
                raise RuntimeError("the second worker did not take the stalled run over")
            first.send_signal(signal.SIGCONT)
            first.wait(120)
        finally:
            first.send_signal(signal.SIGCONT)
            if first.poll() is None:
                first.kill()
                first.wait()
        late = {json.dumps(r.body) for r in fake.requests[mark:]}
        calls = Counter(json.dumps(r.body) for r in fake.requests)
    twice = sum(1 for c in calls.values() if c > 1)
    return Outcome(
        f"{len(late)} items called again by the stalled worker after takeover "
        f"({twice} of {n} called more than once)",
        {"items": n, "called_after_takeover": len(late), "called_more_than_once": twice},
        ok=len(late) == 0,
    )


# ------------------------------------------------------------------ 3 SQLite writers

WRITER_CHILD = """
import json, sys, assay
k, rounds, n = map(int, sys.argv[1:4])
out = {"runs": [], "errors": []}
for r in range(rounds):
    data = [{"input": {"w": k, "r": r, "i": i}, "expected_output": i} for i in range(n)]
    try:
        res = assay.evaluate(data, lambda inp: inp["i"], ["exact_match"], name=f"w{k}-{r}",
                             dataset=f"writers-{k}", quiet=True)
        out["runs"].append(res.id)
    except Exception as exc:
        out["errors"].append(f"{type(exc).__name__}: {exc}")
print(json.dumps(out))
"""


def sqlite_writers(mode: Mode) -> Outcome:
    writers, rounds, n = 8, mode.pick(1, 5), mode.pick(50, 300)
    with tempfile.TemporaryDirectory(prefix="assay-writers-") as tmp:
        home = Path(tmp)
        store_for(home).close()  # migrate once, as `assay db upgrade` would
        env = child_env(home)
        procs = [
            python(
                WRITER_CHILD,
                str(k),
                str(rounds),
                str(n),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for k in range(writers)
        ]
        outputs = [p.communicate(timeout=600) for p in procs]
        locked = sum(
            out.count("database is locked") + err.count("database is locked")
            for out, err in outputs
        )
        runs: list[str] = []
        failures = 0
        for out, _ in outputs:
            lines = out.strip().splitlines()
            report = json.loads(lines[-1]) if lines else {"runs": [], "errors": ["no output"]}
            runs += report["runs"]
            failures += len(report["errors"])
        store = store_for(home)
        try:
            found = sum(
                1
                for run in runs
                for r in all_results(store, run)
                if r.status.value == "completed" and r.scores
            )
        finally:
            store.close()
    expected = writers * rounds * n
    lost = expected - found
    return Outcome(
        f"{writers} processes x {rounds} runs x {n} items: {locked} 'database is locked', "
        f"{lost} rows lost, {failures} runs failed",
        {
            "writers": writers,
            "rows": expected,
            "locked": locked,
            "lost": lost,
            "failed_runs": failures,
        },
        ok=locked == 0 and lost == 0 and failures == 0,
    )


# ---------------------------------------------------------------- 4 server kill -9


def server_kill9(mode: Mode) -> Outcome:
    from assay import Assay

    trials, n, scored = mode.pick(1, 3), mode.pick(200, 1000), mode.pick(50, 200)
    acked = lost = 0
    for trial in range(trials):
        with tempfile.TemporaryDirectory(prefix="assay-kill9-") as tmp:
            home = Path(tmp)
            env = child_env(home, ASSAY_AUTH="none")
            proc, base = start_server(env, home / "server.log")
            try:
                with Assay(base) as client:
                    client.datasets.create("durable")
                    client.datasets.create_items("durable", [{"input": {"i": i}} for i in range(n)])
                    ids: list[str] = []
                    cursor = None
                    while len(ids) < n:
                        page = client.datasets.items("durable", limit=1000, cursor=cursor)
                        ids += [i.id for i in page.items]
                        cursor = page.next_cursor
                    run = client.dataset_runs.create(dataset_name="durable", name=f"t{trial}")
                    results: list[str] = []
                    for first in range(0, n, 50):
                        batch = [
                            {"datasetItemId": item, "output": f"out-{item}"}
                            for item in ids[first : first + 50]
                        ]
                        results += client.dataset_runs.create_items(
                            dataset_run_id=run.id, items=batch
                        ).result_ids
                    scores = [
                        client.scores.create("durable", 1.0, result_id=rid).id
                        for rid in results[:scored]
                    ]
            finally:
                proc.kill()  # right after the last acknowledgement
                proc.wait()
            proc, base = start_server(env, home / "server-2.log")
            try:
                with Assay(base) as client:
                    kept: set[str] = set()
                    cursor = None
                    while True:
                        page = client.experiments.results(run.id, limit=1000, cursor=cursor)
                        kept |= {r.id for r in page.results if r.output is not None}
                        cursor = page.next_cursor
                        if cursor is None:
                            break
                    score_ids = {
                        s.id for s in client.scores.list(experiment_id=run.id, limit=1000).items
                    }
            finally:
                proc.terminate()
                proc.wait(30)
            acked += len(results) + len(scores)
            lost += len(set(results) - kept) + len(set(scores) - score_ids)
    return Outcome(
        f"{trials} kill -9 after {acked} acknowledged results and scores: {lost} lost",
        {"trials": trials, "acknowledged": acked, "lost": lost},
        ok=lost == 0,
    )

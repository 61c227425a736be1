"""The reliability and security scorecard: one line per case, each with its figure.

    python bench/reliability.py                    # every case, full trials
    python bench/reliability.py --short            # fewer trials: a minute or two, for CI
    python bench/reliability.py --only crash-resume,sqlite-writers

Every case runs against the public surfaces (the REST API in process or a real ``assay serve``,
the SDK, the CLI, ``evaluate()``, the worker) and prints ``<case>  <figure>``; a case that
cannot run prints ``ERROR <reason>`` on its line and the others go on. ``ok``/``FAIL`` after a
figure says whether the case met its expectation (``--`` when it has none). The last line sums
up. Writes ``bench/results/reliability.json``. What each line means: docs/security.md,
"The scorecard".
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
RESULTS = ROOT / "bench" / "results" / "reliability.json"
for _path in (str(ROOT), str(SRC)):  # this tree's assay, and the test fakes
    if _path not in sys.path:
        sys.path.insert(0, _path)

from tests.fakes.provider import FakeProvider  # noqa: E402

from api import start_server  # noqa: E402  (bench/api.py, next to this script)

#: Words the server uses when it refuses an outbound address.
REFUSAL = re.compile(
    r"internal address|not allowed|outbound|metadata service|forbidden|refus", re.IGNORECASE
)
FINISHED = {"completed", "failed", "cancelled"}
OPENAI_KEY = "sk-scorecard-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-scorecard-0123456789"


@dataclass
class Outcome:
    """A case's figure line (after its name), its figures, and whether it met expectations."""

    text: str
    figures: dict[str, Any] = field(default_factory=dict)
    ok: bool | None = None


@dataclass(frozen=True)
class Mode:
    short: bool
    seed: int

    def pick(self, short: int | float, full: int | float) -> Any:
        return short if self.short else full


# ---------------------------------------------------------------------------------- helpers


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for an assay subprocess on ``home``: this tree's code, no stray settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env.pop("OPENAI_API_KEY", None)
    env.pop("ANTHROPIC_API_KEY", None)
    env.update(
        PYTHONPATH=os.pathsep.join([str(SRC), str(ROOT)]),
        ASSAY_HOME=str(home),
        ASSAY_QUIET="1",
        ASSAY_PROJECT="scorecard",
    )
    env.update(extra)
    return env


def python(code: str, *args: str, env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True, **kw)


def assay_cli(*args: str, env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "assay", *args], env=env, text=True, **kw)


def wait_for(check: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def p95(samples: list[float]) -> float:
    if len(samples) < 2:
        return round(samples[0], 1) if samples else 0.0
    return round(statistics.quantiles(samples, n=20, method="inclusive")[18], 1)


def store_for(home: Path, project: str = "scorecard") -> Any:
    from assay.config import Settings
    from assay.store import open_store

    return open_store(Settings(home=home), project=project)


def all_results(store: Any, experiment_id: str) -> list[Any]:
    return list(store.experiments.iter_results(experiment_id))


@contextlib.contextmanager
def api_app(home: Path, **settings: Any) -> Iterator[Any]:
    """The REST API in process (a TestClient seen as a loopback client), lifespan running."""
    from fastapi.testclient import TestClient

    from assay.config import Settings
    from assay.server import create_app

    values = {"project": "scorecard", "worker_poll_interval": 0.1, **settings}
    app = create_app(Settings(home=home, **values))
    with TestClient(
        app,
        base_url="http://127.0.0.1",
        client=("127.0.0.1", 50000),
        raise_server_exceptions=False,
        headers=CLIENT,
    ) as client:
        yield client


#: Scripts, like the SDK, say they are no web page (the server refuses writes a page could send).
CLIENT = {"X-Assay-Client": "scorecard"}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def new_key(home: Path, project: str) -> str:
    store = store_for(home, project)
    try:
        return str(store.keys.create("scorecard").secret_key)
    finally:
        store.close()


def ok_json(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"HTTP {response.status_code} {response.text[:300]}"
        )
    return response.json() if response.content else None


def wait_experiment(http: Any, experiment_id: str, timeout: float, headers: Any = None) -> Any:
    """The experiment once it has finished, or as it is when ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    while True:
        body = ok_json(
            http.get(
                f"/api/v1/experiments/{experiment_id}/",
                params={"runs_limit": 1000},
                headers=headers,
            )
        )
        if body["status"] in FINISHED or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


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


# ------------------------------------------------------------------- 2 worker takeover


def _experiment_over(http: Any, dataset: str, config: dict[str, Any], **extra: Any) -> str:
    body = {"name": f"scorecard-{uuid.uuid4().hex[:6]}", "dataset_id": dataset, "config": config}
    created = ok_json(http.post("/api/v1/experiments/", json={**body, **extra}))
    return str(created["id"])


def _dataset(http: Any, items: list[dict[str, Any]], headers: Any = None) -> str:
    name = f"scorecard-{uuid.uuid4().hex[:8]}"
    dataset = ok_json(http.post("/api/v1/datasets/", json={"name": name}, headers=headers))
    ok_json(
        http.post(
            f"/api/v1/datasets/{dataset['id']}/import/", json={"items": items}, headers=headers
        )
    )
    return str(dataset["id"])


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


# ------------------------------------------------------------ 5 cross-project matrix


def _populate(http: Any, headers: dict[str, str], marker: str) -> dict[str, str]:
    """One of each thing in a project, every name and payload carrying ``marker``."""

    def post(path: str, body: Any) -> Any:
        return ok_json(http.post(path, json=body, headers=headers))

    ids: dict[str, str] = {}
    dataset = post("/api/v1/datasets/", {"name": f"{marker}-data"})
    ids["dataset_id"], ids["dataset_name"] = dataset["id"], dataset["name"]
    item = post(f"/api/v1/datasets/{dataset['id']}/items/", {"input": {"q": marker}})
    ids["item_id"] = item["id"]
    prompt = post("/api/v1/prompts/", {"name": f"{marker}-prompt", "template": marker})
    ids["prompt_name"] = prompt["name"]
    endpoint = post(
        "/api/v1/endpoints/", {"name": f"{marker}-ep", "url": "https://93.184.216.34/x"}
    )
    ids["endpoint_id"] = endpoint["id"]
    trace_id = f"{marker}-trace"
    post("/api/v1/traces/", {"traces": [{"id": trace_id, "name": marker, "input": marker}]})
    ids["trace_id"] = trace_id
    evaluator = post("/api/v1/evaluators/", {"name": f"{marker}-eval", "kind": "exact_match"})
    ids["evaluator_id"] = evaluator["id"]
    post(f"/api/v1/datasets/{dataset['id']}/evaluators/", {"evaluator_id": evaluator["id"]})
    run = post("/api/v1/dataset-runs/", {"datasetName": dataset["name"], "name": f"{marker}-run"})
    ids["experiment_id"] = run["id"]
    uploaded = post(
        f"/api/v1/dataset-runs/{run['id']}/items/",
        {"items": [{"datasetItemId": item["id"], "output": marker}]},
    )
    ids["result_id"] = uploaded["result_ids"][0]
    score = post("/api/v1/scores/", {"name": marker, "value": 1.0, "result_id": ids["result_id"]})
    ids["score_id"] = score["id"]
    return ids


def _value_for(name: str, path: str, ids: dict[str, str]) -> Any:
    """The other project's value for a parameter or body field called ``name``."""
    key = name.replace("-", "_")
    key = re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()  # datasetItemId -> dataset_item_id
    if key in ("name", "dataset_name", "dataset"):
        return ids["prompt_name"] if path.startswith("/api/v1/prompts") else ids["dataset_name"]
    aliases = {
        "dataset_run_id": "experiment_id",
        "run_id": "experiment_id",
        "dataset_item_id": "item_id",
        "experiment_ids": "experiment_id",
        "ids": "experiment_id",
        "baseline": "experiment_id",
        "candidate": "experiment_id",
        "prompt": "prompt_name",
    }
    key = aliases.get(key, key)
    if key == "version":
        return 1
    return ids.get(key)


def _fill(
    schema: dict[str, Any],
    spec: dict[str, Any],
    path: str,
    ids: dict[str, str],
    name: str = "",
    depth: int = 0,
) -> Any:
    """A small body for ``schema``: the other project's ids wherever a field names one."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    other = _value_for(name, path, ids) if name else None
    if other is not None:
        return [other] if schema.get("type") == "array" else other
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _fill(options[0], spec, path, ids, name, depth) if options else None
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        wanted = [
            p
            for p in props
            if p in schema.get("required", []) or _value_for(p, path, ids) is not None
        ]
        if depth > 3:
            return {}
        return {p: _fill(props[p], spec, path, ids, p, depth + 1) for p in wanted}
    if kind == "array":
        return [_fill(schema.get("items", {}), spec, path, ids, "", depth + 1)]
    if "enum" in schema:
        return schema["enum"][0]
    return {"integer": 1, "number": 1.0, "boolean": False, "string": "x"}.get(str(kind), "x")


def cross_project(mode: Mode) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="assay-tenants-") as tmp:
        home = Path(tmp)
        key_a, key_b = new_key(home, "tenant-a"), new_key(home, "tenant-b")
        with api_app(home, auth="keys", serve_worker=False) as http:
            marker = f"bmark{uuid.uuid4().hex[:10]}"
            ids = _populate(http, bearer(key_b), marker)
            spec = http.app.openapi()
            # Names and caller-chosen trace ids are per project: another project may reuse them.
            own_namespace = {"dataset_name", "prompt_name", "trace_id"}
            secrets = [v for k, v in ids.items() if k not in own_namespace]
            calls = []
            for path, operations in spec["paths"].items():
                for method, operation in operations.items():
                    calls.append((method.upper() == "DELETE", path, method.upper(), operation))
            requests = leaked = errors = 0
            leaks: list[str] = []
            statuses: Counter[int] = Counter()
            for _, path, method, operation in sorted(calls, key=lambda c: c[:3]):
                url, params = path, {}
                for param in operation.get("parameters", []):
                    value = _value_for(param["name"], path, ids)
                    if param["in"] == "path":
                        url = url.replace("{" + param["name"] + "}", str(value or "x"))
                    elif param["in"] == "query" and (value is not None or param.get("required")):
                        params[param["name"]] = value if value is not None else "x"
                body = None
                content = operation.get("requestBody", {}).get("content", {})
                if "application/json" in content:
                    body = _fill(content["application/json"]["schema"], spec, path, ids)
                response = http.request(
                    method, url, params=params, json=body, headers=bearer(key_a)
                )
                requests += 1
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    errors += 1
                elif response.status_code < 300 and (
                    any(s in response.text for s in secrets)
                    or (marker in response.text and marker not in f"{url}{params}{body}")
                ):
                    leaked += 1
                    leaks.append(f"{method} {path}")
    return Outcome(
        f"{requests} requests with the other project's ids: {leaked} leaked, {errors} 5xx",
        {
            "requests": requests,
            "leaked": leaked,
            "server_errors": errors,
            "leaks": leaks,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
        },
        ok=leaked == 0 and errors == 0,
    )


# ----------------------------------------------------------------------------- 6 SSRF


class _Redirect(BaseHTTPRequestHandler):
    """Answers every request with a redirect to ``target`` + the request's path."""

    target = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _redirect(self) -> None:
        self.send_response(302)
        self.send_header("location", self.target + self.path)
        self.send_header("content-length", "0")
        self.end_headers()

    do_GET = do_POST = _redirect


@contextlib.contextmanager
def patched_dns(names: dict[str, str], rebind: set[str]) -> Iterator[None]:
    """Resolve test names in this process: ``names`` to fixed addresses; a ``rebind`` name to
    a public address when the URL check asks and to loopback for everyone else."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in rebind:
            checking = any(
                "assay/outbound" in f.filename.replace(os.sep, "/")
                for f in traceback.extract_stack()
            )
            address = "2606:4700:4700::1111" if checking else "127.0.0.1"
        else:
            address = names.get(name, "")
        if not address:
            return real(host, port, *args, **kwargs)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, int(port or 0), 0, 0) if ":" in address else (address, int(port or 0))
        return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = real


def ssrf_urls(port: int, redirector: int) -> list[tuple[str, str]]:
    """(label, URL with ``TOKEN`` where the attribution token goes)."""
    p = port
    return [
        ("127.0.0.1", f"http://127.0.0.1:{p}/TOKEN"),
        ("127.1", f"http://127.1:{p}/TOKEN"),
        ("decimal", f"http://2130706433:{p}/TOKEN"),
        ("hex", f"http://0x7f000001:{p}/TOKEN"),
        ("octal", f"http://017700000001:{p}/TOKEN"),
        ("[::1]", f"http://[::1]:{p}/TOKEN"),
        ("v4-mapped", f"http://[::ffff:127.0.0.1]:{p}/TOKEN"),
        ("nat64", f"http://[64:ff9b::7f00:1]:{p}/TOKEN"),
        ("6to4", f"http://[2002:7f00:1::]:{p}/TOKEN"),
        ("metadata-ip", f"http://169.254.169.254:{p}/TOKEN"),
        ("metadata-name", f"http://metadata.google.internal:{p}/TOKEN"),
        ("name->link-local", f"http://metadata.scorecard.test:{p}/TOKEN"),
        ("name->loopback", f"http://localhost.scorecard.test:{p}/TOKEN"),
        ("userinfo", f"http://good.example@127.0.0.1:{p}/TOKEN"),
        ("fragment", f"http://127.0.0.1:{p}/TOKEN#@good.example/"),
        ("redirect", f"http://allowed.scorecard.test:{redirector}/TOKEN"),
        ("template", "http://{{ host }}/TOKEN"),
        ("rebinding", f"http://rebind.scorecard.test:{p}/TOKEN"),
    ]


def _run_outcome(
    http: Any, headers: dict[str, str], experiment: str, deadline: float, hit: Callable[[], bool]
) -> str:
    """Start an experiment; the text of its errors once it ends, is refused or hits."""
    started = http.post(f"/api/v1/experiments/{experiment}/start/", headers=headers)
    if 400 <= started.status_code < 500:
        return f"HTTP {started.status_code} {started.text}"
    ok_json(started)
    end = time.monotonic() + deadline
    body: dict[str, Any] = {}
    while time.monotonic() < end and not hit():
        body = ok_json(http.get(f"/api/v1/experiments/{experiment}/", headers=headers))
        if body["status"] in FINISHED:
            break
        time.sleep(0.05)
    if body.get("status") not in FINISHED:
        http.post(f"/api/v1/experiments/{experiment}/cancel/", headers=headers)
        body = wait_experiment(http, experiment, 10, headers)
    errors = [str(r.get("error") or "") for r in body.get("runs", [])]
    return " ".join([str(body.get("error") or ""), *errors])


def ssrf(mode: Mode) -> Outcome:
    deadline = mode.pick(3.0, 8.0)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="assay-ssrf-")))
        fake = stack.enter_context(FakeProvider())
        port = int(fake.url.rsplit(":", 1)[1])
        redirect_server = ThreadingHTTPServer(
            ("127.0.0.1", 0),
            type("R", (_Redirect,), {"target": f"http://127.0.0.1:{port}"}),
        )
        threading.Thread(target=redirect_server.serve_forever, daemon=True).start()
        stack.callback(redirect_server.server_close)
        stack.callback(redirect_server.shutdown)
        redirector = int(redirect_server.server_address[1])
        stack.enter_context(
            patched_dns(
                {
                    "metadata.scorecard.test": "169.254.169.254",
                    "localhost.scorecard.test": "127.0.0.1",
                    "allowed.scorecard.test": "127.0.0.1",
                },
                rebind={"rebind.scorecard.test"},
            )
        )
        key = new_key(tmp, "tenant")
        http = stack.enter_context(
            api_app(tmp, auth="keys", outbound_allow=["allowed.scorecard.test"])
        )
        auth = bearer(key)
        dataset = _dataset(
            http,
            [{"input": {"q": "hi", "host": f"127.0.0.1:{port}"}, "expected_output": "hi"}],
            auth,
        )
        run = ok_json(
            http.post(
                "/api/v1/dataset-runs/",
                headers=auth,
                json={"datasetName": dataset, "name": "judged"},
            )
        )
        item = ok_json(http.get(f"/api/v1/datasets/{dataset}/items/", headers=auth))["items"][0]
        ok_json(
            http.post(
                f"/api/v1/dataset-runs/{run['id']}/items/",
                headers=auth,
                json={"items": [{"datasetItemId": item["id"], "output": "hi"}]},
            )
        )

        def endpoint_target(url: str) -> str:
            config = {"endpoint": {"url": url, "body": {"q": "{{ q }}"}, "timeout": 2}}
            created = http.post(
                "/api/v1/experiments/",
                headers=auth,
                json={"name": "ssrf", "dataset_id": dataset, "config": config},
            )
            if 400 <= created.status_code < 500:
                return f"HTTP {created.status_code} {created.text}"
            return _run_outcome(http, auth, ok_json(created)["id"], deadline, hit)

        def saved_endpoint(url: str) -> str:
            saved = http.post(
                "/api/v1/endpoints/",
                headers=auth,
                json={
                    "name": f"ssrf-{uuid.uuid4().hex[:6]}",
                    "url": url,
                    "timeout_s": 2.0,
                    "body_template": '{"q": "{{ q }}"}',
                },
            )
            if 400 <= saved.status_code < 500:
                return f"HTTP {saved.status_code} {saved.text}"
            created = http.post(
                "/api/v1/experiments/",
                headers=auth,
                json={
                    "name": "ssrf",
                    "dataset_id": dataset,
                    "config": {"endpoint_id": ok_json(saved)["id"]},
                },
            )
            if 400 <= created.status_code < 500:
                return f"HTTP {created.status_code} {created.text}"
            return _run_outcome(http, auth, ok_json(created)["id"], deadline, hit)

        def judge(url: str) -> str:
            name = f"judge-{uuid.uuid4().hex[:6]}"
            params = {"model": "gpt-4o-mini", "base_url": url, "max_retries": 0, "timeout": 2}
            saved = http.post(
                "/api/v1/evaluators/",
                headers=auth,
                json={"name": name, "kind": "llm_judge", "params": params},
            )
            if 400 <= saved.status_code < 500:
                return f"HTTP {saved.status_code} {saved.text}"
            ok_json(saved)
            scored = http.post(
                f"/api/v1/dataset-runs/{run['id']}/score/",
                headers=auth,
                json={"evaluators": [name]},
            )
            if 400 <= scored.status_code < 500:
                return f"HTTP {scored.status_code} {scored.text}"
            return str(ok_json(scored).get("first_error") or "")

        entries = {
            "endpoint-target": endpoint_target,
            "llm-judge": judge,
            "saved-endpoint": saved_endpoint,
        }
        refused = total = hits = 0
        missed: list[str] = []
        token = ""

        def hit() -> bool:
            return any(token in r.path for r in fake.requests)

        for entry, attempt in entries.items():
            for label, template in ssrf_urls(port, redirector):
                token = f"ssrf-{uuid.uuid4().hex[:10]}"
                answer = attempt(template.replace("TOKEN", token))
                total += 1
                reached = hit()
                hits += reached
                # For a redirect or a rebinding name the listener is the only witness; so for
                # a template where nothing renders it (a judge's base_url is no template).
                said_no = answer.startswith("HTTP 4") or bool(REFUSAL.search(answer))
                quiet = label in ("redirect", "rebinding", "template")
                if not reached and (said_no or quiet):
                    refused += 1
                else:
                    missed.append(f"{entry}:{label}")
    return Outcome(
        f"{refused}/{total} refused ({100 * refused / total:.0f} %), "
        f"{hits} requests reached the loopback listener",
        {"refused": refused, "total": total, "listener_hits": hits, "not_refused": missed},
        ok=refused == total and hits == 0,
    )


# ---------------------------------------------------------------------- 7 credentials


def credentials(mode: Mode) -> Outcome:
    saved = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    os.environ.update(OPENAI_API_KEY=OPENAI_KEY, ANTHROPIC_API_KEY=ANTHROPIC_KEY)
    try:
        with tempfile.TemporaryDirectory(prefix="assay-creds-") as tmp, FakeProvider() as fake:
            home = Path(tmp)
            auth = bearer(new_key(home, "tenant"))
            # Loopback is allowed here so that the address guard does not hide what is sent.
            with api_app(home, auth="keys", outbound_allow=["127.0.0.1"]) as http:
                dataset = _dataset(http, [{"input": {"q": "hi"}, "expected_output": "hi"}], auth)
                ok_json(
                    http.post(
                        "/api/v1/prompts/",
                        headers=auth,
                        json={"name": "creds", "template": "{{ q }}"},
                    )
                )
                for provider, url in (
                    ("openai", fake.openai_url),
                    ("anthropic", fake.anthropic_url),
                ):
                    config = {
                        "prompt_name": "creds",
                        "model": "m",
                        "provider": provider,
                        "base_url": url,
                        "max_tokens": 16,
                    }
                    created = ok_json(
                        http.post(
                            "/api/v1/experiments/",
                            headers=auth,
                            json={
                                "name": f"creds-{provider}",
                                "dataset_id": dataset,
                                "config": config,
                            },
                        )
                    )
                    ok_json(http.post(f"/api/v1/experiments/{created['id']}/start/", headers=auth))
                    wait_experiment(http, created["id"], 30, auth)
                run = ok_json(
                    http.post(
                        "/api/v1/dataset-runs/",
                        headers=auth,
                        json={"datasetName": dataset, "name": "judged"},
                    )
                )
                item = ok_json(http.get(f"/api/v1/datasets/{dataset}/items/", headers=auth))[
                    "items"
                ][0]
                ok_json(
                    http.post(
                        f"/api/v1/dataset-runs/{run['id']}/items/",
                        headers=auth,
                        json={"items": [{"datasetItemId": item["id"], "output": "hi"}]},
                    )
                )
                for provider, url in (
                    ("openai", fake.openai_url),
                    ("anthropic", fake.anthropic_url),
                ):
                    params = {"model": "m", "provider": provider, "base_url": url, "max_retries": 0}
                    ok_json(
                        http.post(
                            "/api/v1/evaluators/",
                            headers=auth,
                            json={
                                "name": f"judge-{provider}",
                                "kind": "llm_judge",
                                "params": params,
                            },
                        )
                    )
                    ok_json(
                        http.post(
                            f"/api/v1/dataset-runs/{run['id']}/score/",
                            headers=auth,
                            json={"evaluators": [f"judge-{provider}"]},
                        )
                    )
            requests = list(fake.requests)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    carried = [
        r
        for r in requests
        if any(OPENAI_KEY in v or ANTHROPIC_KEY in v for v in r.headers.values())
    ]
    if len(requests) < 4:
        raise RuntimeError(f"only {len(requests)} of 4 calls reached the listener")
    return Outcome(
        f"{len(carried)} of {len(requests)} tenant-directed requests carried the server's keys",
        {"requests": len(requests), "with_server_credentials": len(carried)},
        ok=not carried,
    )


# ---------------------------------------------------------------------- 8 bombs

#: Bombs by server: a bomb that never ends holds its server's worker, so it goes last.
BOMBS: list[list[tuple[str, str | None]]] = [
    [
        ("template range(10**8)", "{% for i in range(10**8) %}x{% endfor %}"),
        (
            "template nested loops",
            "{% for i in range(10**5) %}{% for j in range(10**5) %}x{% endfor %}{% endfor %}",
        ),
    ],
    [("regex (a+)+$", None)],  # an endpoint answering 30 a's and a '!', scored by the regex
]


def _bomb_config(
    http: httpx.Client, template: str | None, fake: FakeProvider
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A prompt target rendering ``template``, or (None) the regex scorer on an echo."""
    if template is not None:
        prompt = f"bomb-{uuid.uuid4().hex[:6]}"
        ok_json(http.post("/api/v1/prompts/", json={"name": prompt, "template": template}))
        return {"prompt_name": prompt, "model": "m", "base_url": fake.openai_url}, []
    endpoint = {"url": f"{fake.url}/echo", "body": {"q": "{{ q }}"}, "output_path": "answer"}
    return {"endpoint": endpoint}, [{"kind": "regex", "params": {"pattern": "(a+)+$"}}]


def _bombs_on_one_server(
    bombs: list[tuple[str, str | None]], cap: float, fake: FakeProvider
) -> dict[str, tuple[float, float]]:
    """Per bomb: (wall time of its item, capped; worst /health latency meanwhile)."""
    out: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="assay-bomb-") as tmp:
        home = Path(tmp)
        env = child_env(home, ASSAY_AUTH="none", ASSAY_WORKER_POLL_INTERVAL="0.1")
        proc, base = start_server(env, home / "server.log")
        try:
            with httpx.Client(base_url=base, timeout=30, headers=CLIENT) as http:
                dataset = _dataset(http, [{"input": {"q": "a" * 30 + "!"}}])
                for name, template in bombs:
                    config, scorers = _bomb_config(http, template, fake)
                    experiment = _experiment_over(http, dataset, config, scorers=scorers)
                    start = time.monotonic()
                    ok_json(http.post(f"/api/v1/experiments/{experiment}/start/"))
                    health: list[float] = []
                    while (left := cap - (time.monotonic() - start)) > 0:
                        t0 = time.monotonic()
                        try:  # a server that cannot answer within the cap is unresponsive
                            http.get("/health", timeout=left + 1).raise_for_status()
                            health.append(time.monotonic() - t0)
                            status = http.get(
                                f"/api/v1/experiments/{experiment}/",
                                timeout=left + 1,
                                params={"runs_limit": 0},
                            ).json()["status"]
                        except httpx.TimeoutException:
                            health.append(time.monotonic() - t0)
                            break
                        if status in FINISHED:
                            break
                        time.sleep(0.2)
                    out[name] = min(time.monotonic() - start, cap), max(health, default=0.0)
        finally:
            proc.kill()
            proc.wait()
    return out


def bombs(mode: Mode) -> Outcome:
    cap = mode.pick(3.0, 20.0)
    measured: dict[str, tuple[float, float]] = {}
    with FakeProvider() as fake:
        for group in BOMBS:
            measured.update(_bombs_on_one_server(group, cap, fake))
    worst = max(took for took, _ in measured.values())
    health = max(slowest for _, slowest in measured.values())
    parts = [f"{n} {'>=' if t >= cap else ''}{t:.1f} s" for n, (t, _) in measured.items()]
    responsive = health < 1.0
    return Outcome(
        f"worst item {'>=' if worst >= cap else ''}{worst:.1f} s ({'; '.join(parts)}); "
        f"worst /health {health * 1000:.0f} ms: {'responsive' if responsive else 'UNRESPONSIVE'}",
        {
            "cap_s": cap,
            "bombs": {
                n: {"item_s": round(t, 2), "health_max_s": round(h, 3)}
                for n, (t, h) in measured.items()
            },
            "worst_item_s": round(worst, 2),
            "worst_health_s": round(health, 3),
        },
        ok=worst < cap and responsive,
    )


# ---------------------------------------------------------------------- 9 schemathesis


def schema_fuzz(mode: Mode) -> Outcome:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as hypothesis_settings

    from assay.config import Settings
    from assay.server import create_app

    examples = mode.pick(1, 10)
    calls = server_errors = 0
    failing: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="assay-fuzz-") as tmp:
        home = Path(tmp)
        headers = bearer(new_key(home, "scorecard"))
        app = create_app(Settings(home=home, project="scorecard", auth="keys", serve_worker=False))
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        for result in schema.get_all_operations():
            operation = result.ok()

            @given(case=operation.as_strategy())
            @hypothesis_settings(
                max_examples=examples,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def call(case: Any) -> None:
                nonlocal calls, server_errors
                response = case.call(headers=headers)
                calls += 1
                if response.status_code >= 500:
                    server_errors += 1
                    failing.add(operation.label)  # noqa: B023

            call()
        app.state.assay.db.dispose()
    return Outcome(
        f"{server_errors}/{calls} generated requests answered 5xx ({len(failing)} operations)",
        {"requests": calls, "server_errors": server_errors, "operations": sorted(failing)},
        ok=server_errors == 0,
    )


# ------------------------------------------------------------------------ 10 bad keys


def bad_keys(mode: Mode) -> Outcome:
    bad_requests = 200
    with tempfile.TemporaryDirectory(prefix="assay-badkeys-") as tmp:
        home = Path(tmp)
        legit = bearer(new_key(home, "scorecard"))
        proc, base = start_server(child_env(home, ASSAY_AUTH="keys"), home / "server.log")
        try:
            # The legitimate client comes from another address (127.0.0.2): failed logins
            # are limited per address, and one address is the attacker's.
            other = httpx.HTTPTransport(local_address="127.0.0.2")
            refused: list[int] = []
            with httpx.Client(base_url=base, timeout=30, transport=other) as good:

                def sample() -> float:
                    t0 = time.perf_counter()
                    answer = good.get("/api/v1/projects/current/", headers=legit)
                    if answer.status_code != 200:
                        refused.append(answer.status_code)
                    return (time.perf_counter() - t0) * 1000

                baseline = [sample() for _ in range(mode.pick(20, 50))]
                during: list[float] = []
                done = threading.Event()

                def legit_client() -> None:
                    while not done.is_set():
                        during.append(sample())
                        time.sleep(0.01)

                thread = threading.Thread(target=legit_client)
                thread.start()
                statuses: Counter[int] = Counter()
                try:
                    with httpx.Client(base_url=base, timeout=30) as attacker:
                        for i in range(bad_requests):
                            secret = base64.urlsafe_b64encode(os.urandom(24)).decode()
                            response = attacker.get(
                                "/api/v1/datasets/", headers=bearer(f"sk-{i}-{secret}")
                            )
                            statuses[response.status_code] += 1
                finally:
                    done.set()
                    thread.join()
        finally:
            proc.terminate()
            proc.wait(30)
    limited = statuses[429]
    return Outcome(
        f"{limited}/{bad_requests} bad-key requests got 429; legitimate p95 "
        f"{p95(during)} ms meanwhile (alone {p95(baseline)} ms), {len(refused)} of its "
        f"{len(baseline) + len(during)} refused",
        {
            "bad_requests": bad_requests,
            "rate_limited": limited,
            "statuses": {str(k): v for k, v in statuses.items()},
            "legit_p95_ms": p95(during),
            "legit_alone_p95_ms": p95(baseline),
            "legit_refused": len(refused),
        },
        ok=limited > 0 and not refused,
    )


# ----------------------------------------------------------------------------- main

CASES: dict[str, Callable[[Mode], Outcome]] = {
    "crash-resume": crash_resume,
    "worker-takeover": worker_takeover,
    "sqlite-writers": sqlite_writers,
    "server-kill9": server_kill9,
    "cross-project": cross_project,
    "ssrf": ssrf,
    "credentials": credentials,
    "bombs": bombs,
    "schemathesis": schema_fuzz,
    "bad-keys": bad_keys,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="Fewer trials (CI).")
    parser.add_argument("--only", help=f"Comma-separated cases: {', '.join(CASES)}.")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",")] if args.only else list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    mode = Mode(short=args.short, seed=args.seed)

    report: dict[str, Any] = {}
    width = max(len(n) for n in names)
    for name in names:
        start = time.monotonic()
        try:
            outcome = CASES[name](mode)
            verdict = {True: "ok", False: "FAIL", None: "--"}[outcome.ok]
            line = f"{outcome.text}  [{verdict}]"
            report[name] = {"figures": outcome.figures, "ok": outcome.ok, "line": outcome.text}
        except (Exception, SystemExit) as exc:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            line = f"ERROR {reason}"
            report[name] = {"error": reason, "ok": None}
        report[name]["seconds"] = round(time.monotonic() - start, 1)
        print(f"{name:<{width}}  {line}", flush=True)

    met = sum(1 for r in report.values() if r["ok"] is True)
    failed = sum(1 for r in report.values() if r["ok"] is False)
    errors = sum(1 for r in report.values() if "error" in r)
    print(
        f"summary: {len(names)} cases, {met} met expectations, {failed} did not, "
        f"{errors} errors ({'short' if args.short else 'full'} mode)",
        flush=True,
    )
    result = {
        "benchmark": "reliability",
        "mode": "short" if args.short else "full",
        "cases": report,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

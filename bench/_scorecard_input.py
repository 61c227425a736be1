"""Scorecard cases about hostile input: template and regex bombs, schema fuzzing, bad keys."""

from __future__ import annotations

import base64
import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from _scorecard import (
    CLIENT,
    FINISHED,
    FakeProvider,
    Mode,
    Outcome,
    _dataset,
    _experiment_over,
    bearer,
    child_env,
    new_key,
    ok_json,
    p95,
    start_server,
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

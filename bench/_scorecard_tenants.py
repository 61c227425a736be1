"""Scorecard cases about tenants: the cross-project matrix, SSRF and credentials."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _scorecard import (
    ANTHROPIC_KEY,
    FINISHED,
    OPENAI_KEY,
    REFUSAL,
    FakeProvider,
    Mode,
    Outcome,
    _dataset,
    api_app,
    bearer,
    new_key,
    ok_json,
    wait_experiment,
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

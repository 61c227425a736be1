"""A real local HTTP server speaking the OpenAI and Anthropic shapes, with faults on demand.

    with FakeProvider() as fake:
        fake.script(Fault(429, retry_after_ms=50), Fault(500))   # the next two requests fail
        fake.when("poison", Fault(400))                           # requests mentioning "poison"
        target = PromptTarget(model="gpt-4o-mini", prompt="{{ q }}", base_url=fake.openai_url)

Routes: ``POST /v1/chat/completions`` (OpenAI), ``POST /v1/messages`` (Anthropic) and
``POST /echo`` (any JSON: answers ``{"answer": ..., "echo": body}``). Replies are deterministic:
``reply(text)`` of the last user message (default: ``"echo: " + text``); token usage counts
words. Every request is recorded with its arrival time; ``max_in_flight`` is the peak number of
requests handled at once. Setting ``hold = True`` makes every later request hang (as
``Fault(hang=True)``): a run then cannot finish, however slowly or quickly the machine runs it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Fault:
    """What to do instead of (or before) answering one request.

    ``status``: answer with this HTTP status (and ``retry_after`` seconds / ``retry_after_ms``
    headers); ``hang``: never answer (until the server closes); ``delay``: answer normally
    after this many seconds; ``drop``: close the connection without answering.
    """

    status: int | None = None
    retry_after: float | None = None
    retry_after_ms: float | None = None
    delay: float = 0.0
    hang: bool = False
    drop: bool = False
    body: dict[str, Any] | None = None


@dataclass
class Request:
    at: float
    path: str
    body: Any
    headers: dict[str, str]
    fault: Fault | None = None


@dataclass
class _Rule:
    needle: str
    faults: deque[Fault] = field(default_factory=deque)


def _words(text: str) -> int:
    return len(str(text).split())


def _text(content: Any) -> str:
    if isinstance(content, list):  # content blocks
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default backlog of 5 resets connections under load


class FakeProvider:
    def __init__(self, *, delay: float = 0.0, reply: Callable[[str], str] | None = None) -> None:
        self.delay = delay
        self.hold = False
        self.reply = reply or (lambda text: f"echo: {text}")
        self.requests: list[Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._queue: deque[Fault] = deque()
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ setup
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_url(self) -> str:
        return self.url

    def script(self, *faults: Fault) -> None:
        """The next requests (in arrival order) get these faults, one each."""
        with self._lock:
            self._queue.extend(faults)

    def when(self, needle: str, *faults: Fault) -> None:
        """Requests whose body contains ``needle`` get these faults, one each, in order."""
        with self._lock:
            self._rules.append(_Rule(needle, deque(faults)))

    def requests_for(self, needle: str) -> list[Request]:
        return [r for r in self.requests if needle in json.dumps(r.body)]

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ serving
    def _fault_for(self, raw: str) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.needle in raw and rule.faults:
                    return rule.faults.popleft()
            if self._queue:
                return self._queue.popleft()
        return None

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def answer(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        if path == "/v1/chat/completions":
            messages = body.get("messages", [])
            prompt = " ".join(_text(m.get("content", "")) for m in messages)
            last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
            text = self.reply(_text(last.get("content", "")))
            return 200, {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": _words(prompt),
                    "completion_tokens": _words(text),
                    "total_tokens": _words(prompt) + _words(text),
                },
            }
        if path == "/v1/messages":
            messages = body.get("messages", [])
            if "max_tokens" not in body:
                return 400, {"type": "error", "error": {"message": "max_tokens: required"}}
            prompt = " ".join(_text(m.get("content", "")) for m in messages)
            prompt = f"{body.get('system', '')} {prompt}".strip()
            text = self.reply(_text(messages[-1].get("content", "")) if messages else "")
            return 200, {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": body.get("model"),
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": _words(prompt), "output_tokens": _words(text)},
            }
        if path == "/echo":
            value = body.get("q") if isinstance(body, dict) else body
            return 200, {"answer": self.reply(str(value)), "echo": body}
        return 404, {"error": f"no route {path}"}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeProvider
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        fake = self.fake
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = raw
        fault = fake._fault_for(raw)
        fake.requests.append(
            Request(time.monotonic(), self.path, body, dict(self.headers.items()), fault)
        )
        fake._enter()
        try:
            if fake.hold or (fault is not None and fault.hang):
                fake._release.wait(60)
                self.close_connection = True
                return
            if fault is not None and fault.drop:
                self.close_connection = True
                return
            pause = (fault.delay if fault is not None else 0.0) or fake.delay
            if pause:
                time.sleep(pause)
            if fault is not None and fault.status is not None:
                headers = {}
                if fault.retry_after is not None:
                    headers["retry-after"] = f"{fault.retry_after:g}"
                if fault.retry_after_ms is not None:
                    headers["retry-after-ms"] = f"{fault.retry_after_ms:g}"
                payload = fault.body or {"error": {"message": f"injected {fault.status}"}}
                self._send(fault.status, payload, headers)
                return
            status, payload = fake.answer(self.path, body)
            self._send(status, payload, {})
        finally:
            fake._leave()

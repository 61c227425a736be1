"""Request-size limit as plain ASGI middleware.

A declared ``Content-Length`` over the limit is refused before the body is read; a chunked body
is read up to the limit and refused as soon as it passes it. Both answer 413 in the envelope.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Largest version number a query may name (the columns are 32-bit on PostgreSQL).
MAX_VERSION = 2_147_483_647


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await self._refuse(send, 400, "bad_request", "malformed Content-Length header")
                return
            if size > self.max_bytes:
                await self._too_large(send)
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        # No declared length: buffer up to the limit, then replay to the app.
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await self._refuse(
            send,
            413,
            "payload_too_large",
            f"request body is larger than the limit of {self.max_bytes} bytes",
        )

    async def _refuse(self, send: Send, status: int, code: str, message: str) -> None:
        body = json.dumps(
            {"error": {"code": code, "message": message, "details": {"limit": self.max_bytes}}}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

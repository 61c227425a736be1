"""Prompt + model targets: a chat template filled from each item, sent to a model provider."""

from __future__ import annotations

from typing import Any

import httpx

from assay.domain import ModelOptions, WorkItem
from assay.errors import InvalidInput
from assay.outbound import Policy, active, async_client
from assay.targets.base import TargetError, TargetOutput
from assay.targets.model import Model, model_options
from assay.targets.pricing import PriceTable
from assay.targets.providers import PROVIDERS, ProviderEndpoint, guarded, send
from assay.targets.templating import RenderError, check, render_text, variables

_ROLES = ("system", "user", "assistant", "developer", "tool")
#: A prompt target's model defaults (the run's settings win over timeout, rpm and tpm).
DEFAULTS = ModelOptions(provider="openai", timeout=120.0)


class PromptTarget:
    """Renders ``prompt`` (one user message) or ``messages`` and calls ``provider``/``model``.

    ``params`` pass through to the API (``temperature``, ``max_tokens``, ``top_p``, ``stop``,
    ``seed``, ``response_format``, …). Cost = tokens times the price of the model (per 1M tokens).
    """

    kind = "prompt"

    def __init__(
        self,
        options: ModelOptions | None = None,
        *,
        prompt: str | None = None,
        messages: list[dict[str, Any]] | None = None,
        system: str | None = None,
        params: dict[str, Any] | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        connection: str | None = None,
        prices: PriceTable | None = None,
        source: dict[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        outbound: Policy | None = None,
        **model: Any,
    ) -> None:
        """``options`` (or its fields as keywords: ``model``, ``provider``, ``temperature``,
        ``max_tokens``, ``timeout``, ``rpm``, ``tpm``, ``price``…) say which model and how;
        ``source`` records the stored prompt the messages came from."""
        self.model_call = Model(
            model_options(options, model, "target."),
            DEFAULTS,
            base_url=base_url,
            api_key=api_key,
            params=params,
            prices=prices,
        )
        if (prompt is None) == (messages is None):
            raise InvalidInput(
                "target: give exactly one of 'prompt' or 'messages'", field="target.messages"
            )
        chat = [{"role": "user", "content": prompt}] if prompt is not None else list(messages or [])
        if system is not None:
            chat.insert(0, {"role": "system", "content": system})
        for i, m in enumerate(chat):
            if not isinstance(m, dict) or m.get("role") not in _ROLES or "content" not in m:
                raise InvalidInput(
                    f"target.messages[{i}]: expected {{role, content}} with role in "
                    f"{', '.join(_ROLES)}",
                    field=f"target.messages[{i}]",
                )
            if isinstance(m["content"], str):
                check(m["content"], f"target.messages[{i}].content")
        settings = self.model_call.options
        self.provider = self.model_call.provider
        self.model = self.model_call.name
        self.messages = chat
        self.params = self.model_call.params
        self.timeout = settings.timeout
        self.rpm = settings.rpm
        self.tpm = settings.tpm
        self.connection = connection
        self.endpoint: ProviderEndpoint = self.model_call.endpoint
        self.source = dict(source) if source else None
        self._transport = transport
        self._outbound = guarded(self.endpoint, outbound or active(), "target.base_url")
        self._client: httpx.AsyncClient | None = None

    @property
    def rate_key(self) -> str:
        return self.model_call.rate_key

    def spec(self) -> dict[str, Any]:
        spec = {
            "type": "prompt",
            "provider": self.provider,
            "model": self.model,
            "messages": self.messages,
            "params": self.params,
            "base_url": self.endpoint.base_url,
            "connection": self.connection,
        }
        if self.source:  # where the messages came from (display only; not read back)
            spec["source"] = self.source
        return spec

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = async_client(
                self._outbound, timeout=self.timeout, transport=self._transport
            )
        return self._client

    def render(self, item: WorkItem) -> list[dict[str, Any]]:
        values = variables(item)
        try:
            return [
                {**m, "content": render_text(m["content"], values)}
                if isinstance(m["content"], str)
                else m
                for m in self.messages
            ]
        except RenderError as exc:
            raise TargetError(str(exc)) from None

    def estimate_tokens(self, item: WorkItem) -> int:
        """Rough token count of a request (for tokens-per-minute limits before the call)."""
        chars = sum(len(str(m["content"])) for m in self.messages) + len(str(item.input))
        return chars // 4 + int(self.params.get("max_tokens") or 256)

    async def call(self, item: WorkItem) -> TargetOutput:
        messages = self.render(item)
        reply = await send(
            self.client, PROVIDERS[self.provider], self.endpoint, self.model, messages, self.params
        )
        cost = self.model_call.cost(reply.tokens_in, reply.tokens_out)
        return TargetOutput(
            output=reply.text,
            tokens_in=reply.tokens_in,
            tokens_out=reply.tokens_out,
            cost=cost,
            metadata={"finish_reason": reply.raw_finish} if reply.raw_finish else {},
            tool_calls=reply.tool_calls,
            request=messages,
            model=self.model,
            parameters=dict(self.params),
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

"""Model providers: the OpenAI-compatible chat-completions API and the Anthropic messages API.

Each provider turns rendered chat messages plus parameters into one HTTP request and the reply
into text, token usage and tool calls. Connections come from a stored connection, explicit
settings, or the usual environment variables (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``,
``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from assay.errors import Forbidden, InvalidInput
from assay.outbound import Policy
from assay.targets.base import TargetError
from assay.targets.http import classify, decode, transport_error

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
ANTHROPIC_DEFAULT_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"


@dataclass(slots=True)
class Reply:
    text: str | None
    tokens_in: int | None
    tokens_out: int | None
    tool_calls: list[Mapping[str, Any]] = field(default_factory=list)
    raw_finish: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderEndpoint:
    """Where a provider call goes and the key sent there (not a stored ``assay.domain.Endpoint``).
    ``default``: the provider's own URL (built in or from the environment), where the
    environment's key may go; any other URL is the user's."""

    base_url: str
    api_key: str | None
    default: bool = False


#: provider → (key variable, URL variable, built-in URL)
_ENVIRONMENT = {
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL", OPENAI_DEFAULT_URL),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", ANTHROPIC_DEFAULT_URL),
}


def same_url(a: str | None, b: str | None) -> bool:
    return (a or "").rstrip("/") == (b or "").rstrip("/")


def default_url(provider: str, env: Mapping[str, str] | None = None) -> str:
    """The provider's own URL: from the environment (``OPENAI_BASE_URL``…) or built in."""
    if provider not in _ENVIRONMENT:
        raise InvalidInput(
            f"target.provider must be 'openai' or 'anthropic', got {provider!r}",
            field="target.provider",
        )
    _, url_name, builtin = _ENVIRONMENT[provider]
    return (os.environ if env is None else env).get(url_name) or builtin


def resolve(
    provider: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ProviderEndpoint:
    """The endpoint of a call: ``base_url`` or the provider's default URL, and its key.

    A key from the environment goes only to the provider's default URL: a ``base_url`` that
    differs gets the ``api_key`` given with it, or no key at all.
    """
    own = default_url(provider, env)
    env = os.environ if env is None else env
    key_name, _, builtin = _ENVIRONMENT[provider]
    url = base_url or own
    default = same_url(url, own)
    key = api_key or (env.get(key_name) if default else None)
    if not key and same_url(url, builtin):
        local = ", or a base_url for a local OpenAI-compatible server"
        raise InvalidInput(
            f"no {'OpenAI' if provider == 'openai' else 'Anthropic'} API key: set {key_name}, "
            f"or give the target a connection{local if provider == 'openai' else ''}",
            field="target.connection",
        )
    return ProviderEndpoint(url.rstrip("/"), key, default)


def guarded(endpoint: ProviderEndpoint, policy: Policy | None, field: str) -> Policy | None:
    """The policy for calls to ``endpoint``, its URL checked now (InvalidInput naming
    ``field``); None for the provider's own URL, which the operator configured."""
    if endpoint.default or policy is None:
        return None
    try:
        policy.screen_url(endpoint.base_url)
    except (Forbidden, InvalidInput) as exc:
        raise InvalidInput(f"{field}: {exc.message}", field=field) from None
    return policy


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


class OpenAIProvider:
    """``POST {base_url}/chat/completions`` (OpenAI, Azure-compatible gateways, vLLM, Ollama…)."""

    name = "openai"

    def request(
        self,
        endpoint: ProviderEndpoint,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        headers = {"content-type": "application/json"}
        if endpoint.api_key:
            headers["authorization"] = f"Bearer {endpoint.api_key}"
        body = {"model": model, "messages": messages, **params}
        return f"{endpoint.base_url}/chat/completions", headers, body

    def parse(self, payload: Any) -> Reply:
        try:
            choice = payload["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise TargetError(
                f"unexpected chat-completions response: {str(payload)[:200]}"
            ) from None
        usage = payload.get("usage") or {}
        return Reply(
            text=message.get("content"),
            tokens_in=_int(usage.get("prompt_tokens")),
            tokens_out=_int(usage.get("completion_tokens")),
            tool_calls=list(message.get("tool_calls") or []),
            raw_finish=choice.get("finish_reason"),
        )


class AnthropicProvider:
    """``POST {base_url}/v1/messages``; system messages move to the ``system`` field."""

    name = "anthropic"

    def request(
        self,
        endpoint: ProviderEndpoint,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        headers = {
            "content-type": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
        }
        if endpoint.api_key:
            headers["x-api-key"] = endpoint.api_key
        system = [m["content"] for m in messages if m.get("role") == "system"]
        chat = [m for m in messages if m.get("role") != "system"]
        body: dict[str, Any] = {"model": model, "messages": chat, "max_tokens": 1024, **params}
        if system:
            body["system"] = "\n\n".join(str(s) for s in system)
        base = endpoint.base_url
        path = "/messages" if base.endswith("/v1") else "/v1/messages"
        return f"{base}{path}", headers, body

    def parse(self, payload: Any) -> Reply:
        try:
            blocks = payload["content"]
        except (KeyError, TypeError):
            raise TargetError(f"unexpected messages response: {str(payload)[:200]}") from None
        texts = [b.get("text", "") for b in blocks if b.get("type") == "text"]
        tools = [b for b in blocks if b.get("type") == "tool_use"]
        usage = payload.get("usage") or {}
        return Reply(
            text="".join(texts) if texts or not tools else None,
            tokens_in=_int(usage.get("input_tokens")),
            tokens_out=_int(usage.get("output_tokens")),
            tool_calls=tools,
            raw_finish=payload.get("stop_reason"),
        )


PROVIDERS: dict[str, OpenAIProvider | AnthropicProvider] = {
    "openai": OpenAIProvider(),
    "anthropic": AnthropicProvider(),
}


async def send(
    client: httpx.AsyncClient,
    provider: OpenAIProvider | AnthropicProvider,
    endpoint: ProviderEndpoint,
    model: str,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
) -> Reply:
    url, headers, body = provider.request(endpoint, model, messages, params)
    what = f"{provider.name} {model}"
    try:
        response = await client.post(url, headers=headers, json=body)
    except (httpx.HTTPError, Forbidden) as exc:
        raise transport_error(exc, what) from None
    if response.status_code >= 300:
        raise classify(response, what)
    return provider.parse(decode(response, what))

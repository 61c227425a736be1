"""Judge models over the target providers, with the engine's retries and rate limits.

:class:`ProviderJudge` sends a judge's messages through the same provider code as prompt
targets (OpenAI-compatible chat completions or Anthropic messages), retries what the engine
retries (timeouts, connection errors, 408/429/5xx, honouring ``Retry-After``; never other
4xx), and prices the call from the same price table. The ``llm_judge`` scorer kind is declared in
:data:`assay.plugins.BUILTIN` and registered on the scorer registry's first lookup.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx

from assay.engine.limits import limiter_for
from assay.engine.retry import RetryPolicy, classify
from assay.errors import InvalidInput
from assay.outbound import Policy, active, async_client
from assay.retrying import retry_call_async
from assay.scoring.llm_judge import JudgeReply, LLMJudge, rubric_for
from assay.targets import Price, PriceTable
from assay.targets.providers import PROVIDERS, ProviderEndpoint, Reply, guarded, resolve, send


async def _held(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """Yields ``client`` once; closing the generator closes the client.

    The event loop tracks async generators and closes the live ones when ``asyncio.run``
    finishes (``shutdown_asyncgens``), so a client held this way lives exactly as long as the
    loop it was made in, keeping connections alive between judge calls.
    """
    try:
        yield client
    finally:
        await client.aclose()


_ClientKey = tuple[Policy | None, int]
_CLIENTS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop,
    dict[_ClientKey, tuple[AsyncIterator[httpx.AsyncClient], httpx.AsyncClient]],
] = weakref.WeakKeyDictionary()
_CLIENTS_LOCK = threading.Lock()


async def _client(
    policy: Policy | None, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    """The running loop's HTTP client for judge calls, shared by every judge in that loop
    with the same outbound policy.

    Connections stay alive between calls; the client closes when the loop finishes. Timeouts
    are applied per attempt by the caller.
    """
    loop = asyncio.get_running_loop()
    key = (policy, 0 if transport is None else id(transport))
    with _CLIENTS_LOCK:
        held = _CLIENTS.setdefault(loop, {}).get(key)
    if held is None:
        client = async_client(policy, timeout=None, transport=transport)
        holder = _held(client)
        await anext(holder)
        with _CLIENTS_LOCK:
            held = _CLIENTS[loop].setdefault(key, (holder, client))
    return held[1]


class JudgeCallError(Exception):
    """A judge call failed for good (after retries, or with a non-retryable error)."""


class ProviderJudge:
    """A :class:`~assay.scoring.llm_judge.JudgeModel` calling ``provider``/``model``."""

    def __init__(
        self,
        *,
        model: str,
        provider: str = "openai",
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float | None = 0.0,
        max_tokens: int | None = 512,
        params: Mapping[str, Any] | None = None,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 2.0,
        backoff_max: float = 60.0,
        rpm: int | None = None,
        tpm: int | None = None,
        price: Mapping[str, float] | None = None,
        prices: PriceTable | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        outbound: Policy | None = None,
    ) -> None:
        if provider not in PROVIDERS:
            raise InvalidInput(
                f"judge provider must be 'openai' or 'anthropic', got {provider!r}",
                field="params.provider",
            )
        if not isinstance(model, str) or not model:
            raise InvalidInput("the judge needs a model name", field="params.model")
        if timeout <= 0:
            raise InvalidInput("timeout must be positive", field="params.timeout")
        self.provider = provider
        self.model = model
        self.endpoint: ProviderEndpoint = resolve(provider, base_url=base_url, api_key=api_key)
        self._outbound = guarded(self.endpoint, outbound or active(), "params.base_url")
        self.params: dict[str, Any] = dict(params or {})
        if temperature is not None:
            self.params.setdefault("temperature", temperature)
        if max_tokens is not None:
            self.params.setdefault("max_tokens", max_tokens)
        self.timeout = timeout
        self.policy = RetryPolicy(max_retries, backoff_base, backoff_max)
        self.rpm = rpm
        self.tpm = tpm
        try:
            self._price = Price(float(price["input"]), float(price["output"])) if price else None
        except (KeyError, TypeError, ValueError):
            raise InvalidInput(
                "price: expected {input, output} in USD per 1M tokens", field="params.price"
            ) from None
        self._prices = prices
        self._transport = transport
        self.calls = 0
        self.retries = 0

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"

    def _cost(self, tokens_in: int | None, tokens_out: int | None) -> float | None:
        if self._price is not None:
            return self._price.cost(tokens_in, tokens_out)
        if self._prices is None:
            self._prices = PriceTable.load()
        return self._prices.cost(self.provider, self.model, tokens_in, tokens_out)

    async def complete(self, messages: list[dict[str, str]]) -> JudgeReply:
        """One judge call, retried like a target call; raises :class:`JudgeCallError`."""
        provider = PROVIDERS[self.provider]
        limiter = limiter_for(f"{self.provider}:{self.endpoint.base_url}", self.rpm, self.tpm)
        estimate = sum(len(m["content"]) for m in messages) // 4 + int(
            self.params.get("max_tokens") or 256
        )
        start = time.perf_counter()
        client = await _client(self._outbound, self._transport)
        attempts = 0

        async def attempt(number: int) -> Reply:
            nonlocal attempts
            attempts = number
            event = await limiter.acquire(estimate) if limiter is not None else None
            self.calls += 1
            async with asyncio.timeout(self.timeout):
                reply = await send(
                    client, provider, self.endpoint, self.model, messages, self.params
                )
            if event is not None and limiter is not None:
                limiter.settle(event, (reply.tokens_in or 0) + (reply.tokens_out or 0))
            return reply

        def retried(_attempt: int, _exc: BaseException, _wait: float) -> None:
            self.retries += 1

        try:
            reply = await retry_call_async(
                attempt,
                self.policy,
                lambda exc: classify(exc, self.timeout).retryable,
                on_retry=retried,
            )
        except Exception as exc:
            failure = classify(exc, self.timeout)
            tries = f" (after {attempts} attempts)" if attempts > 1 else ""
            raise JudgeCallError(f"judge call failed{tries}: {failure.message}") from None
        return JudgeReply(
            text=reply.text,
            tokens_in=reply.tokens_in,
            tokens_out=reply.tokens_out,
            cost=self._cost(reply.tokens_in, reply.tokens_out),
            latency_ms=round((time.perf_counter() - start) * 1000, 3),
            model=self.label,
        )


def llm_judge(
    *,
    model: str,
    rubric: str = "correctness",
    provider: str = "openai",
    base_url: str | None = None,
    api_key: str | None = None,
    criteria: str | None = None,
    choices: Mapping[str, float] | Sequence[str] | None = None,
    pass_choices: Sequence[str] | None = None,
    temperature: float | None = 0.0,
    max_tokens: int | None = 512,
    params: Mapping[str, Any] | None = None,
    timeout: float = 60.0,
    max_retries: int = 5,
    backoff_base: float = 2.0,
    backoff_max: float = 60.0,
    rpm: int | None = None,
    tpm: int | None = None,
    price: Mapping[str, float] | None = None,
    name: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LLMJudge:
    """LLM-as-judge: a model grades each output by a rubric; choices map to scores.

    ``rubric``: correctness, faithfulness, helpfulness, safety or custom (with ``criteria``).
    ``choices``: labels best first, or label → score; ``pass_choices``: labels that pass
    (default: the best-scoring ones). Keys come from the environment (``OPENAI_API_KEY``,
    ``ANTHROPIC_API_KEY``) unless ``api_key`` is given.
    """
    spec = rubric_for(rubric, criteria=criteria, choices=choices, pass_choices=pass_choices)
    judge = ProviderJudge(
        model=model,
        provider=provider,
        base_url=base_url,
        api_key=api_key,
        temperature=temperature,
        max_tokens=max_tokens,
        params=params,
        timeout=timeout,
        max_retries=max_retries,
        backoff_base=backoff_base,
        backoff_max=backoff_max,
        rpm=rpm,
        tpm=tpm,
        price=price,
        transport=transport,
    )
    return LLMJudge(judge, spec, name=name)

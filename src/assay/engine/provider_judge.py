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

from assay.domain import BackoffOptions, ModelOptions
from assay.engine.limits import limiter_for
from assay.engine.retry import RetryPolicy, classify
from assay.outbound import Policy, active, async_client
from assay.retrying import retry_call_async
from assay.scoring.llm_judge import JudgeReply, LLMJudge, rubric_for
from assay.targets import PriceTable
from assay.targets.model import Model, model_options
from assay.targets.providers import PROVIDERS, ProviderEndpoint, Reply, guarded, send


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


#: A judge's model defaults: deterministic, short answers, its own timeout and retries.
DEFAULTS = ModelOptions(
    provider="openai",
    temperature=0.0,
    max_tokens=512,
    timeout=60.0,
    max_retries=5,
    backoff=BackoffOptions(),
)


class JudgeCallError(Exception):
    """A judge call failed for good (after retries, or with a non-retryable error)."""


class ProviderJudge:
    """A :class:`~assay.scoring.llm_judge.JudgeModel` calling a model given by
    :class:`~assay.domain.ModelOptions` (or its fields as keywords: ``model``, ``provider``,
    ``temperature``, ``max_tokens``, ``timeout``, ``max_retries``, ``backoff``, ``rpm``,
    ``tpm``, ``price``; ``backoff_base``/``backoff_max`` still work)."""

    def __init__(
        self,
        options: ModelOptions | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        params: Mapping[str, Any] | None = None,
        prices: PriceTable | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        outbound: Policy | None = None,
        **model: Any,
    ) -> None:
        self.model_call = Model(
            model_options(options, model, "params."),
            DEFAULTS,
            base_url=base_url,
            api_key=api_key,
            params=params,
            prices=prices,
            prefix="params.",
        )
        settings = self.model_call.options
        backoff = settings.backoff or BackoffOptions()
        self.provider = self.model_call.provider
        self.model = self.model_call.name
        self.endpoint: ProviderEndpoint = self.model_call.endpoint
        self._outbound = guarded(self.endpoint, outbound or active(), "params.base_url")
        self.params = self.model_call.params
        self.timeout = settings.timeout or 60.0
        self.policy = RetryPolicy(
            5 if settings.max_retries is None else settings.max_retries, backoff.base, backoff.max
        )
        self.rpm = settings.rpm
        self.tpm = settings.tpm
        self._transport = transport
        self.calls = 0
        self.retries = 0

    @property
    def label(self) -> str:
        return self.model_call.label

    async def complete(self, messages: list[dict[str, str]]) -> JudgeReply:
        """One judge call, retried like a target call; raises :class:`JudgeCallError`."""
        provider = PROVIDERS[self.provider]
        limiter = limiter_for(self.model_call.rate_key, self.rpm, self.tpm)
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
            cost=self.model_call.cost(reply.tokens_in, reply.tokens_out),
            latency_ms=round((time.perf_counter() - start) * 1000, 3),
            model=self.label,
        )


def llm_judge(
    *,
    rubric: str = "correctness",
    criteria: str | None = None,
    choices: Mapping[str, float] | Sequence[str] | None = None,
    pass_choices: Sequence[str] | None = None,
    name: str | None = None,
    repetitions: int = 1,
    options: ModelOptions | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    params: Mapping[str, Any] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    **model: Any,
) -> LLMJudge:
    """LLM-as-judge: a model grades each output by a rubric; choices map to scores.

    ``rubric``: correctness, faithfulness, helpfulness, safety or custom (with ``criteria``).
    ``choices``: labels best first, or label → score; ``pass_choices``: labels that pass
    (default: the best-scoring ones). ``repetitions``: grade each output this many times
    (the mean is the score; the values and their spread are kept in its metadata). The
    model is :class:`~assay.domain.ModelOptions`, given as ``options`` or as its fields
    (``model``, ``provider``, ``temperature`` (default 0), ``max_tokens`` (512), ``timeout``
    (60 s), ``max_retries`` (5), ``backoff``, ``rpm``, ``tpm``, ``price``), the same fields a
    prompt target takes. Keys come from the
    environment (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``) unless ``api_key`` is given.
    """
    spec = rubric_for(rubric, criteria=criteria, choices=choices, pass_choices=pass_choices)
    judge = ProviderJudge(
        options,
        base_url=base_url,
        api_key=api_key,
        params=params,
        transport=transport,
        **model,
    )
    return LLMJudge(judge, spec, name=name, repetitions=repetitions)

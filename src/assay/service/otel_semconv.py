"""What a span's attributes say about an LLM call, read from two conventions.

- OpenTelemetry GenAI (``gen_ai.*``): operation, system/provider, request and response model,
  request parameters, usage, messages as attributes (``gen_ai.input.messages``,
  ``gen_ai.prompt``/``gen_ai.completion`` as JSON or flattened ``gen_ai.prompt.0.role``) or as
  span events (``gen_ai.user.message``, ``gen_ai.choice``…), tool call arguments and results.
- OpenInference (``openinference.span.kind``, ``llm.*``, ``input.value``/``output.value``,
  ``llm.input_messages.0.message.role``…, ``session.id``, ``user.id``, ``tag.tags``).

:func:`read` takes the attributes it maps out of the dict it is given (they become columns);
what stays behind is kept as the observation's metadata.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from assay.domain import ObservationType

_GENERATION_KINDS = {"LLM", "EMBEDDING"}
_GENERATION_OPS = {"chat", "text_completion", "generate_content", "embeddings", "completion"}
_PARAMETERS = (
    "temperature",
    "max_tokens",
    "top_p",
    "top_k",
    "frequency_penalty",
    "presence_penalty",
    "stop_sequences",
    "seed",
    "choice.count",
    "encoding_formats",
)
_INPUT_TOKENS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
)
_OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
_COST = ("gen_ai.usage.cost", "llm.cost.total")
_PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_INDEX = re.compile(r"\d{1,6}")


@dataclass
class Semantics:
    """The columns a span's attributes fill; None where the span does not say."""

    type: ObservationType = ObservationType.span
    model: str | None = None
    provider: str | None = None
    model_parameters: dict[str, Any] | None = None
    input: Any = None
    output: Any = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    session_id: str | None = None
    user_id: str | None = None
    tags: list[str] = field(default_factory=list)


def _json(value: Any) -> Any:
    """A JSON document given as text, parsed; anything else as it is."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            # An escaped NUL would come back as a character no PostgreSQL text can hold.
            return orjson.loads(value.replace("\\u0000", "\\ufffd"))
        except orjson.JSONDecodeError:
            return value
    return value


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value >= 0 and value == value:
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _first(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    found = None
    for key in keys:
        value = attrs.pop(key, None)
        if found is None:
            found = value
    return found


def _unflatten(attrs: dict[str, Any], prefix: str) -> list[Any] | None:
    """Take ``prefix.0.message.role``-style keys out of ``attrs`` as a list of objects."""
    keys = [k for k in attrs if k.startswith(prefix)]
    if not keys:
        return None
    rows: dict[int, dict[str, Any]] = {}
    for key in keys:
        value = attrs.pop(key)
        index, _, rest = key[len(prefix) :].partition(".")
        if not _INDEX.fullmatch(index) or not rest:
            continue
        node = rows.setdefault(int(index), {})
        parts = [p for p in rest.split(".") if p not in ("message", "tool_call", "message_content")]
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if parts:
            node[parts[-1]] = value
    return [_lists(rows[i]) for i in sorted(rows)]


def _lists(node: Any) -> Any:
    """Objects whose keys are all indexes (``{"0": …, "1": …}``) as lists, all the way down."""
    if not isinstance(node, dict):
        return node
    if node and all(_INDEX.fullmatch(k) for k in node):
        return [_lists(node[k]) for k in sorted(node, key=int)]
    return {k: _lists(v) for k, v in node.items()}


def _value(attrs: dict[str, Any], name: str) -> Any:
    value = attrs.pop(f"{name}.value", None)
    mime = attrs.pop(f"{name}.mime_type", None)
    if isinstance(value, str) and (mime == "application/json" or mime is None):
        return _json(value)
    return value


def _single(messages: list[Any] | None) -> Any:
    if messages is not None and len(messages) == 1:
        return messages[0]
    return messages


def _event_messages(events: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    """GenAI messages recorded as span events: (input messages, output choices)."""
    inputs: list[Any] = []
    outputs: list[Any] = []
    for event in events:
        name = event.get("name")
        attrs = event.get("attributes") or {}
        content = _json(attrs.get("gen_ai.event.content", attrs.get("content")))
        if name in _MESSAGE_EVENTS:
            if isinstance(content, dict):
                inputs.append({"role": _MESSAGE_EVENTS[name], **content})
            else:
                inputs.append({"role": _MESSAGE_EVENTS[name], "content": content})
        elif name == "gen_ai.choice":
            message = _json(attrs.get("message", content))
            outputs.append(message if message is not None else attrs)
    return inputs, outputs


def _messages(attrs: dict[str, Any], events: list[dict[str, Any]]) -> tuple[Any, Any]:
    """A generation's input and output messages, whichever way the span records them."""
    for event in events:
        if event.get("name") == "gen_ai.client.inference.operation.details":
            for key, value in (event.get("attributes") or {}).items():
                attrs.setdefault(key, value)
    system = _json(attrs.pop("gen_ai.system_instructions", None))
    inputs = (
        _unflatten(attrs, "llm.input_messages.")
        or _json(attrs.pop("gen_ai.input.messages", None))
        or _unflatten(attrs, "gen_ai.prompt.")
        or _json(attrs.pop("gen_ai.prompt", None))
    )
    outputs = (
        _unflatten(attrs, "llm.output_messages.")
        or _json(attrs.pop("gen_ai.output.messages", None))
        or _unflatten(attrs, "gen_ai.completion.")
        or _json(attrs.pop("gen_ai.completion", None))
    )
    if inputs is None and outputs is None:
        event_in, event_out = _event_messages(events)
        inputs, outputs = event_in or None, event_out or None
    if system is not None and isinstance(inputs, list):
        inputs = [{"role": "system", "content": system}, *inputs]
    if isinstance(outputs, list):
        outputs = _single(outputs)
    return inputs, outputs


def _type(attrs: dict[str, Any]) -> ObservationType:
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str):
        kind = kind.upper()
        if kind in _GENERATION_KINDS:
            return ObservationType.generation
        return ObservationType.tool if kind == "TOOL" else ObservationType.span
    operation = attrs.get("gen_ai.operation.name")
    if operation in _GENERATION_OPS:
        return ObservationType.generation
    if operation == "execute_tool":
        return ObservationType.tool
    if operation is None and ("gen_ai.request.model" in attrs or "llm.model_name" in attrs):
        return ObservationType.generation
    return ObservationType.span


def _parameters(attrs: dict[str, Any]) -> dict[str, Any] | None:
    params: dict[str, Any] = {}
    for name in _PARAMETERS:
        value = attrs.pop(f"gen_ai.request.{name}", None)
        if value is not None:
            params[name] = value
    invocation = _json(attrs.pop("llm.invocation_parameters", None))
    if isinstance(invocation, dict):
        params = {**invocation, **params}
    return params or None


def read(attrs: dict[str, Any], events: list[dict[str, Any]]) -> Semantics:
    """What the span's attributes and events say; mapped attributes leave ``attrs``."""
    found = Semantics(type=_type(attrs))
    response_model = attrs.pop("gen_ai.response.model", None)
    request_model = attrs.pop("gen_ai.request.model", None)
    model = response_model or request_model or attrs.pop("llm.model_name", None)
    attrs.pop("llm.model_name", None)
    found.model = model[:200] if isinstance(model, str) and model else None
    provider = next((attrs[k] for k in _PROVIDER if isinstance(attrs.get(k), str)), None)
    found.provider = provider.lower() if provider else None
    found.model_parameters = _parameters(attrs)
    found.tokens_in = _count(_first(attrs, _INPUT_TOKENS))
    found.tokens_out = _count(_first(attrs, _OUTPUT_TOKENS))
    attrs.pop("llm.token_count.total", None)
    attrs.pop("gen_ai.usage.total_tokens", None)
    cost = _first(attrs, _COST)
    if isinstance(cost, int | float) and not isinstance(cost, bool) and 0 <= cost < float("inf"):
        found.cost = float(cost)
    value_in, value_out = _value(attrs, "input"), _value(attrs, "output")
    messages_in, messages_out = _messages(attrs, events)
    tool_in = _json(attrs.pop("gen_ai.tool.call.arguments", None))
    tool_out = _json(attrs.pop("gen_ai.tool.call.result", None))
    if found.type is ObservationType.generation:
        found.input = messages_in if messages_in is not None else value_in
        found.output = messages_out if messages_out is not None else value_out
    else:
        found.input = next((v for v in (value_in, tool_in, messages_in) if v is not None), None)
        found.output = next((v for v in (value_out, tool_out, messages_out) if v is not None), None)
    session = _first(attrs, ("session.id", "gen_ai.conversation.id"))
    user = _first(attrs, ("user.id", "enduser.id"))
    found.session_id = str(session)[:200] if session not in (None, "") else None
    found.user_id = str(user)[:200] if user not in (None, "") else None
    tags = _json(attrs.pop("tag.tags", None))
    if isinstance(tags, str):
        tags = [tags]
    if isinstance(tags, list):
        found.tags = [str(t)[:100] for t in tags if isinstance(t, str | int) and str(t)][:50]
    metadata = attrs.get("metadata")
    if isinstance(metadata, str):
        attrs["metadata"] = _json(metadata)
    return found

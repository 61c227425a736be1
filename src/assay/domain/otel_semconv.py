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
_FLAT = ("llm.input_messages.", "llm.output_messages.", "gen_ai.prompt.", "gen_ai.completion.")
_PARAMETER_KEYS = tuple(f"gen_ai.request.{name}" for name in _PARAMETERS)
_MODEL = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
_SESSION = ("session.id", "gen_ai.conversation.id")
_USER = ("user.id", "enduser.id")
_TOTALS = ("llm.token_count.total", "gen_ai.usage.total_tokens")
_MESSAGES = (
    "gen_ai.system_instructions",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.prompt",
    "gen_ai.completion",
)
_TOOL = ("gen_ai.tool.call.arguments", "gen_ai.tool.call.result")
_VALUES = ("input.value", "input.mime_type", "output.value", "output.mime_type")
_VALUE_KEYS = {
    "input": ("input.value", "input.mime_type"),
    "output": ("output.value", "output.mime_type"),
}
_PARAMETER_SET = frozenset({*_PARAMETER_KEYS, "llm.invocation_parameters"})
_CONTEXT_SET = frozenset({*_SESSION, *_USER, "tag.tags", "metadata"})
#: Attribute key -> the flattened-message prefix it starts with ("" for none), for the keys
#: seen most (bounded).
_FLAT_OF: dict[str, str] = {}
#: Every attribute :func:`read` may take out (besides the flattened messages).
KNOWN = frozenset(
    {
        *_PARAMETER_KEYS,
        *_MODEL,
        *_INPUT_TOKENS,
        *_OUTPUT_TOKENS,
        *_TOTALS,
        *_COST,
        *_SESSION,
        *_USER,
        *_MESSAGES,
        *_TOOL,
        *_VALUES,
        "llm.invocation_parameters",
        "tag.tags",
        "metadata",
    }
)


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


def _first(attrs: dict[str, Any], keys: tuple[str, ...], present: frozenset[str]) -> Any:
    """The first of ``keys`` set; all of them leave ``attrs``."""
    found = None
    if present.isdisjoint(keys):
        return None
    for key in keys:
        if key in present:
            value = attrs.pop(key)
            if found is None:
                found = value
    return found


_UNPARSED: Any = object()
_NESTING = frozenset({"message", "tool_call", "message_content"})
#: Flattened-message key -> (message index, path inside the message), for the keys seen most.
_FLAT_PATHS: dict[str, tuple[int, tuple[str, ...]] | None] = {}


def _flat_path(rest: str) -> tuple[int, tuple[str, ...]] | None:
    """``0.message.role`` as ``(0, ("role",))``; None when it names no message field."""
    index, _, rest = rest.partition(".")
    if not (index.isdigit() and len(index) <= 6 and index.isascii()) or not rest:
        return None
    return int(index), tuple(p for p in rest.split(".") if p not in _NESTING)


def _unflatten(attrs: dict[str, Any], prefix: str, flat: dict[str, list[str]]) -> list[Any] | None:
    """Take ``prefix.0.message.role``-style keys out of ``attrs`` as a list of objects."""
    keys = flat.get(prefix)
    if not keys:
        return None
    rows: dict[int, dict[str, Any]] = {}
    for key in keys:
        value = attrs.pop(key)
        path = _FLAT_PATHS.get(key, _UNPARSED)
        if path is _UNPARSED:
            path = _flat_path(key[len(prefix) :])
            if len(_FLAT_PATHS) < 10_000:
                _FLAT_PATHS[key] = path
        if path is None:
            continue
        index, parts = path
        node = rows.setdefault(index, {})
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
    for k in node:
        if not (k.isdigit() and len(k) <= 6 and k.isascii()):
            return {k: _lists(v) if isinstance(v, dict) else v for k, v in node.items()}
    if node:
        return [_lists(node[k]) for k in sorted(node, key=int)]
    return node


def _value(attrs: dict[str, Any], name: str, present: frozenset[str]) -> Any:
    value_key, mime_key = _VALUE_KEYS[name]
    value = attrs.pop(value_key, None) if value_key in present else None
    mime = attrs.pop(mime_key, None) if mime_key in present else None
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


def _messages(
    attrs: dict[str, Any],
    events: list[dict[str, Any]],
    present: frozenset[str],
    flat: dict[str, list[str]],
) -> tuple[Any, Any]:
    """A generation's input and output messages, whichever way the span records them."""
    for event in events:
        if event.get("name") == "gen_ai.client.inference.operation.details":
            for key, value in (event.get("attributes") or {}).items():
                if key not in attrs:
                    attrs[key] = value
                    present = present | {key}

    def take(key: str) -> Any:
        return _json(attrs.pop(key)) if key in present else None

    system = take("gen_ai.system_instructions")
    inputs = (
        _unflatten(attrs, "llm.input_messages.", flat)
        or take("gen_ai.input.messages")
        or _unflatten(attrs, "gen_ai.prompt.", flat)
        or take("gen_ai.prompt")
    )
    outputs = (
        _unflatten(attrs, "llm.output_messages.", flat)
        or take("gen_ai.output.messages")
        or _unflatten(attrs, "gen_ai.completion.", flat)
        or take("gen_ai.completion")
    )
    if inputs is None and outputs is None and events:
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


def _parameters(attrs: dict[str, Any], present: frozenset[str]) -> dict[str, Any] | None:
    if present.isdisjoint(_PARAMETER_SET):
        return None
    params: dict[str, Any] = {}
    for name, key in zip(_PARAMETERS, _PARAMETER_KEYS, strict=True):
        if key in present:
            params[name] = attrs.pop(key)
    if "llm.invocation_parameters" in present:
        invocation = _json(attrs.pop("llm.invocation_parameters"))
        if isinstance(invocation, dict):
            params = {**invocation, **params}
    return params or None


def _usage(found: Semantics, attrs: dict[str, Any], present: frozenset[str]) -> None:
    found.tokens_in = _count(_first(attrs, _INPUT_TOKENS, present))
    found.tokens_out = _count(_first(attrs, _OUTPUT_TOKENS, present))
    _first(attrs, _TOTALS, present)
    cost = _first(attrs, _COST, present)
    if isinstance(cost, int | float) and not isinstance(cost, bool) and 0 <= cost < float("inf"):
        found.cost = float(cost)


def _context(found: Semantics, attrs: dict[str, Any], present: frozenset[str]) -> None:
    if present.isdisjoint(_CONTEXT_SET):
        return
    session = _first(attrs, _SESSION, present)
    user = _first(attrs, _USER, present)
    found.session_id = str(session)[:200] if session not in (None, "") else None
    found.user_id = str(user)[:200] if user not in (None, "") else None
    if "tag.tags" in present:
        tags = _json(attrs.pop("tag.tags"))
        if isinstance(tags, str):
            tags = [tags]
        if isinstance(tags, list):
            found.tags = [str(t)[:100] for t in tags if isinstance(t, str | int) and str(t)][:50]
    if "metadata" in present and isinstance(attrs["metadata"], str):
        attrs["metadata"] = _json(attrs["metadata"])


def _flat_prefix(key: str) -> str:
    prefix = _FLAT_OF.get(key)
    if prefix is None:
        prefix = next((p for p in _FLAT if key.startswith(p)), "")
        if len(_FLAT_OF) < 10_000:
            _FLAT_OF[key] = prefix
    return prefix


def read(attrs: dict[str, Any], events: list[dict[str, Any]]) -> Semantics:
    """What the span's attributes and events say; mapped attributes leave ``attrs``."""
    present = KNOWN.intersection(attrs)
    flat: dict[str, list[str]] = {}
    flat_of = _FLAT_OF
    for key in attrs:
        prefix = flat_of.get(key)
        if prefix is None:
            prefix = _flat_prefix(key)
        if prefix:
            flat.setdefault(prefix, []).append(key)
    found = Semantics(type=_type(attrs))
    if not present and not flat and not events:  # nothing to take out: a plain span
        found.provider = _provider(attrs)
        return found
    model = _first(attrs, _MODEL, present)
    found.model = model[:200] if isinstance(model, str) and model else None
    found.provider = _provider(attrs)
    found.model_parameters = _parameters(attrs, present)
    _usage(found, attrs, present)
    value_in, value_out = _value(attrs, "input", present), _value(attrs, "output", present)
    messages_in, messages_out = _messages(attrs, events, present, flat)
    tool_in = _json(attrs.pop("gen_ai.tool.call.arguments", None))
    tool_out = _json(attrs.pop("gen_ai.tool.call.result", None))
    if found.type is ObservationType.generation:
        found.input = messages_in if messages_in is not None else value_in
        found.output = messages_out if messages_out is not None else value_out
    else:
        found.input = next((v for v in (value_in, tool_in, messages_in) if v is not None), None)
        found.output = next((v for v in (value_out, tool_out, messages_out) if v is not None), None)
    _context(found, attrs, present)
    return found


def _provider(attrs: dict[str, Any]) -> str | None:
    for key in _PROVIDER:
        value = attrs.get(key)
        if isinstance(value, str):
            return value.lower() if value else None
    return None

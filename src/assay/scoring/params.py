"""What a registered scorer takes, read from its factory's signature, for forms that build one.

:func:`parameters` lists a kind's parameters with the input that suits each (a checkbox for a
``bool``, a choice for a ``Literal``, a number, plain text or JSON); :func:`read_params` turns
the text a form sent back into the evaluator's ``params``, naming ``params.<name>`` on error.
A factory that takes model settings (an LLM judge: ``options: ModelOptions`` and ``**model``)
offers the model fields of :class:`~assay.domain.ModelOptions` as parameters of their own.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from assay.domain import ModelOptions
from assay.errors import InvalidInput
from assay.scoring.registry import available, describe, factory

Widget = Literal["bool", "choice", "number", "integer", "text", "json"]

#: Parameters a form does not offer: the evaluator's own name, objects that only code can
#: pass, and provider keys (judges read them from the server's environment).
HIDDEN = frozenset({"name", "transport", "options", "params", "api_key"})
#: Model settings offered for a factory that takes ``**model`` (read from ModelOptions).
MODEL_FIELDS = ("model", "provider", "temperature", "max_tokens")
_LITERAL = re.compile(r"^Literal\[(.*)\]$")


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a scorer kind, as a form shows it."""

    name: str
    annotation: str
    widget: Widget
    required: bool
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""

    @property
    def default_text(self) -> str:
        """The default as the form's placeholder shows it."""
        if self.required or self.default is None:
            return ""
        if isinstance(self.default, str):
            return self.default
        return json.dumps(self.default)


def _widget(annotation: str) -> tuple[Widget, tuple[str, ...]]:
    bare = annotation.replace(" | None", "").strip()
    literal = _LITERAL.match(bare)
    if literal:
        return "choice", tuple(v.strip().strip("'\"") for v in literal.group(1).split(","))
    if bare == "bool":
        return "bool", ()
    if bare == "int":
        return "integer", ()
    if bare == "float":
        return "number", ()
    if bare == "str":
        return "text", ()
    return "json", ()


def _annotation(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return "Any"
    return value if isinstance(value, str) else getattr(value, "__name__", str(value))


def _model_params() -> list[Param]:
    params = []
    for name in MODEL_FIELDS:
        field = ModelOptions.model_fields[name]
        text = str(field.annotation).replace("typing.", "")  # e.g. "str | None"
        widget, choices = _widget(text)
        params.append(Param(name, text, widget, False, None, choices, help=field.description or ""))
    return params


def parameters(kind: str) -> list[Param]:
    """The parameters a form offers for scorer ``kind``, in signature order."""
    made = factory(kind)
    try:
        signature = inspect.signature(made)
    except (TypeError, ValueError):
        return []
    found: list[Param] = []
    for p in signature.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            if "options" in signature.parameters:
                found.extend(_model_params())
            continue
        if p.kind is p.VAR_POSITIONAL or p.name in HIDDEN:
            continue
        annotation = _annotation(p.annotation)
        widget, choices = _widget(annotation)
        required = p.default is inspect.Parameter.empty
        default = None if required else p.default
        found.append(Param(p.name, annotation, widget, required, default, choices))
    return found


def catalogue() -> dict[str, tuple[str, list[Param]]]:
    """Every registered kind: its one-line description and its parameters."""
    return {kind: (describe(kind), parameters(kind)) for kind in available()}


def _read(param: Param, text: str) -> Any:
    field = f"params.{param.name}"
    if param.widget == "bool":
        if text not in ("true", "false"):
            raise InvalidInput(f"{field}: true or false, not {text!r}", field=field)
        return text == "true"
    if param.widget == "choice":
        if text not in param.choices:
            raise InvalidInput(
                f"{field}: one of {', '.join(param.choices)} (got {text!r})", field=field
            )
        return text
    if param.widget in ("number", "integer"):
        try:
            number = float(text)
        except ValueError:
            raise InvalidInput(f"{field}: {text!r} is not a number", field=field) from None
        if param.widget == "integer":
            if number != int(number):
                raise InvalidInput(f"{field}: a whole number, not {text!r}", field=field)
            return int(number)
        return number
    if param.widget == "text":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if {"str", "Any"} & {part.strip() for part in param.annotation.split("|")}:
            return text  # a plain word where text is accepted
        raise InvalidInput(
            f"{field}: not valid JSON ({exc.msg} at character {exc.pos + 1})", field=field
        ) from None


def read_params(kind: str, values: Mapping[str, str]) -> dict[str, Any]:
    """A kind's ``params`` from a form's text values; empty values keep the default."""
    params: dict[str, Any] = {}
    for param in parameters(kind):
        text = (values.get(param.name) or "").strip()
        if not text:
            if param.required:
                raise InvalidInput(
                    f"params.{param.name}: required for {kind}", field=f"params.{param.name}"
                )
            continue
        params[param.name] = _read(param, text)
    return params


__all__ = ["Param", "catalogue", "parameters", "read_params"]

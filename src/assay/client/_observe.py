"""``@assay.observe()``: trace a function's calls, nested through ``contextvars``.

    @assay.observe()
    def answer(question: str) -> str: ...

    @assay.observe(as_type="generation")
    async def call_model(messages: list[dict]) -> str: ...

Each call becomes an observation with the call's arguments as input, its return value (or a
generator's items) as output, its start and end times, and ``ERROR`` with the exception when
it raises (the exception still propagates). A call made inside another observed call — or
inside ``with trace:`` / ``with trace.span(...):`` — is its child, across ``await`` and in
tasks it starts; the outermost call starts a new trace holding it.

Outside a running ``evaluate()`` target the observations go to the client set with
``assay.configure(...)`` (or ``observe(client=...)``), else to one made from ``ASSAY_URL``
and the key variables; with neither configured, nothing is exported. Inside a target they
are steps of the result's trace (see :mod:`._inrun`).

Tracing never changes what the function does: a failure to record is logged, not raised.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, TypeVar, overload

from assay.client import _inrun
from assay.client._handles import Kind, ObservationHandle, RunScope, TraceHandle, current

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("assay.client.tracing")

_default: Any = None  # the client @observe exports through
_default_lock = threading.Lock()
_UNSET = object()


def configure(client: Any = None, **options: Any) -> Any:
    """Set the client ``@observe`` uses: ``configure(client)`` with an ``Assay`` or
    ``AsyncAssay``, or ``configure(base_url=..., public_key=..., secret_key=...)`` to make
    one. ``tracing=dict(sample_rate=..., mask=...)`` sets its tracing options. Returns it."""
    global _default
    tracing = options.pop("tracing", None)
    if client is None:
        from assay.client._sync import Assay

        client = Assay(**options)
    elif options:
        raise TypeError("give a client or the options to make one, not both")
    if tracing is not None:
        client.configure_tracing(**tracing)
    with _default_lock:
        _default = client
    return client


def get_client() -> Any:
    """The client ``@observe`` exports through: the configured one, else one made from
    ``ASSAY_URL`` (None when neither is set)."""
    global _default
    if _default is None and os.environ.get("ASSAY_URL"):
        with _default_lock:
            if _default is None:
                from assay.client._sync import Assay

                _default = Assay()
    return _default


def current_observation() -> ObservationHandle | TraceHandle:
    """The innermost open observation (or trace) in this context, to ``update`` it; when
    none is open (or nothing records it), a handle whose updates go nowhere."""
    found = current.get()
    if isinstance(found, ObservationHandle | TraceHandle):
        return found
    return ObservationHandle(RunScope(None), "span", None, {})


@overload
def observe(func: F, /) -> F: ...
@overload
def observe(
    func: None = None,
    /,
    *,
    name: str | None = None,
    as_type: Kind = "span",
    capture_input: bool = True,
    capture_output: bool = True,
    client: Any = None,
) -> Callable[[F], F]: ...
def observe(
    func: Any = None,
    /,
    *,
    name: str | None = None,
    as_type: Kind = "span",
    capture_input: bool = True,
    capture_output: bool = True,
    client: Any = None,
) -> Any:
    """Record every call of the decorated function (sync or async, plain or generator) as
    an observation of type ``as_type`` named ``name`` (default: the function's name)."""

    def decorate(fn: Callable[..., Any]) -> Any:
        spec = _Spec(fn, name, as_type, capture_input, capture_output, client)
        if inspect.isasyncgenfunction(fn):
            return functools.wraps(fn)(_async_generator(fn, spec))
        if inspect.iscoroutinefunction(fn):
            return functools.wraps(fn)(_coroutine(fn, spec))
        if inspect.isgeneratorfunction(fn):
            return functools.wraps(fn)(_generator(fn, spec))
        return functools.wraps(fn)(_function(fn, spec))

    return decorate(func) if func is not None else decorate


class _Spec:
    """What one decorated function records, and how it names its arguments."""

    __slots__ = ("capture_input", "capture_output", "client", "kind", "name", "names", "rest")

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None,
        kind: Kind,
        capture_input: bool,
        capture_output: bool,
        client: Any,
    ) -> None:
        self.name = name or getattr(fn, "__name__", "call")
        self.kind, self.client = kind, client
        self.capture_input, self.capture_output = capture_input, capture_output
        self.names: list[str | None] = []
        self.rest: str | None = None
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            params = []
        for i, param in enumerate(params):
            if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                skip = i == 0 and param.name in ("self", "cls")
                self.names.append(None if skip else param.name)
            elif param.kind is param.VAR_POSITIONAL:
                self.rest = param.name

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The call's arguments by parameter name (``self``/``cls`` left out)."""
        named: dict[str, Any] = {}
        names = self.names
        for i, value in enumerate(args):
            if i < len(names):
                key = names[i]
                if key is not None:
                    named[key] = value
            else:
                named[self.rest or "args"] = list(args[len(names) :])
                break
        named.update(kwargs)
        return named

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ObservationHandle | None:
        """The observation for one call, or None when nothing records it."""
        try:
            parent = current.get()
            inputs = self.arguments(args, kwargs) if self.capture_input else None
            if parent is None:
                recorder = _inrun.recorder()
                if recorder is not None:
                    parent = RunScope(recorder)
                else:
                    client = self.client or get_client()
                    if client is None:
                        return None
                    parent = client._tracer().trace(name=self.name, input=inputs)
            fields = {"input": inputs} if inputs is not None else {}
            obs = ObservationHandle(parent, self.kind, self.name, fields, nested=True)
            if isinstance(parent, TraceHandle):
                obs.root = parent  # ends with the call, with its output
            return obs
        except Exception:
            log.exception("could not start recording %s", self.name)
            return None

    def finish(
        self,
        obs: ObservationHandle,
        output: Any,
        error: BaseException | None,
        *,
        entered: bool = True,
    ) -> None:
        """Leave the context of ``obs`` (when ``entered``) and end it with the call's
        ``output`` or ``error``, and the trace started for it."""
        if entered:
            obs._exit()
        try:
            if error is not None:
                obs.fail(error)
            captured = output if self.capture_output and error is None else None
            obs.end(output=captured) if captured is not None else obs.end()
            root = obs.root
            if root is not None:
                root.end(output=captured) if captured is not None else root.end()
        except Exception:
            log.exception("could not record %s", self.name)


def _collected(items: list[Any]) -> Any:
    """A generator's output: its items, or their concatenation when all are strings."""
    if items and all(isinstance(i, str) for i in items):
        return "".join(items)
    return items


def _function(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        obs = spec.start(args, kwargs)
        if obs is None:
            return fn(*args, **kwargs)
        obs._enter()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            spec.finish(obs, None, exc)
            raise
        spec.finish(obs, result, None)
        return result

    return wrapper


def _coroutine(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        obs = spec.start(args, kwargs)
        if obs is None:
            return await fn(*args, **kwargs)
        obs._enter()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            spec.finish(obs, None, exc)
            raise
        spec.finish(obs, result, None)
        return result

    return wrapper


def _generator(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        obs = spec.start(args, kwargs)
        inner = fn(*args, **kwargs)
        if obs is None:
            return (yield from inner)
        items: list[Any] = []
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            obs._enter()  # the body runs in the observation's context, step by step
            try:
                item = inner.throw(thrown) if thrown is not None else inner.send(sent)
            except StopIteration as stop:
                spec.finish(obs, _collected(items), None)
                return stop.value
            except BaseException as exc:
                spec.finish(obs, None, exc)
                raise
            obs._exit()
            items.append(item)
            thrown = None
            try:
                sent = yield item
            except GeneratorExit:
                inner.close()
                spec.finish(obs, _collected(items), None, entered=False)
                raise
            except BaseException as exc:
                thrown = exc

    return wrapper


def _async_generator(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        obs = spec.start(args, kwargs)
        inner = fn(*args, **kwargs)
        if obs is None:
            async for item in inner:
                yield item
            return
        items: list[Any] = []
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            obs._enter()
            try:
                item = await (inner.athrow(thrown) if thrown is not None else inner.asend(sent))
            except StopAsyncIteration:
                spec.finish(obs, _collected(items), None)
                return
            except BaseException as exc:
                spec.finish(obs, None, exc)
                raise
            obs._exit()
            items.append(item)
            thrown = None
            try:
                sent = yield item
            except GeneratorExit:
                await inner.aclose()
                spec.finish(obs, _collected(items), None, entered=False)
                raise
            except BaseException as exc:
                thrown = exc

    return wrapper


__all__ = ["configure", "current_observation", "get_client", "observe"]

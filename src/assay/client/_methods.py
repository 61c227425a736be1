"""Client methods made from request specs, declared once for both clients.

A namespace (``client.datasets``, ``client.experiments``…) lists its methods as
``name = Method(spec)``. ``spec`` is a pure function of the method's arguments that returns
the :class:`~assay.client._base.Call` to send; its signature and docstring are the method's.
Read from a namespace of ``Assay`` (``Namespace[Blocking]``), the method sends the call and
returns the parsed answer; read from one of ``AsyncAssay`` (``Namespace[Awaiting]``), it is a
coroutine function doing the same. The method is made on first read and kept on the
namespace.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar, Generic, ParamSpec, Protocol, TypeVar, overload

from assay.client._base import Call

P = ParamSpec("P")
T = TypeVar("T")


class Blocking:
    """The mode of ``Assay``'s namespaces: a method returns its answer."""


class Awaiting:
    """The mode of ``AsyncAssay``'s namespaces: a method is a coroutine function."""


M = TypeVar("M", Blocking, Awaiting)


@dataclass(frozen=True)
class Download:
    """A request whose answer is streamed into ``out``; the method returns the bytes
    written."""

    call: Call[bytes]
    out: BinaryIO


class Runner(Protocol):
    """What a namespace needs of its client."""

    _awaits: ClassVar[bool]

    def _run(self, call: Call[Any]) -> Any: ...

    def _download(self, download: Download) -> Any: ...


class Namespace(Generic[M]):
    """A group of a client's methods (``client.datasets``…)."""

    def __init__(self, client: Runner) -> None:
        self._c = client


class _Shell(Generic[P, T]):
    """A method of a namespace, made from ``spec`` (see the module's docstring)."""

    def __init__(
        self,
        spec: Callable[P, Any],
        answer: str,
        prepare: Callable[[Runner, dict[str, Any]], None] | None = None,
    ) -> None:
        self._spec = spec
        self._answer = answer  # the method's return annotation
        self._prepare = prepare
        self._name = self._qualname = spec.__name__
        self._signature: inspect.Signature | None = None
        self.__doc__ = spec.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name, self._qualname = name, f"{owner.__qualname__}.{name}"

    def __repr__(self) -> str:  # what help() on a namespace shows
        return f"{self._qualname}{self.signature()}"

    @overload
    def __get__(self, namespace: None, owner: type) -> _Shell[P, T]: ...
    @overload
    def __get__(self, namespace: Namespace[Blocking], owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, namespace: Namespace[Awaiting], owner: type
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, namespace: Namespace[Any] | None, owner: type) -> Any:
        if namespace is None:
            return self
        method = self._bind(namespace._c)
        namespace.__dict__[self._name] = method  # later reads find it there
        return method

    def _sender(self, client: Runner) -> Callable[[Any], Any]:
        """How ``client`` sends what the spec makes."""
        raise NotImplementedError

    def _bind(self, client: Runner) -> Callable[..., Any]:
        spec, send, prepare = self._spec, self._sender(client), self._prepare

        def request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if prepare is not None:
                prepare(client, kwargs)
            return spec(*args, **kwargs)

        method: Callable[..., Any]
        if client._awaits:

            async def method(*args: Any, **kwargs: Any) -> Any:
                return await send(request(args, kwargs))

        else:

            def method(*args: Any, **kwargs: Any) -> Any:
                return send(request(args, kwargs))

        functools.update_wrapper(method, spec)
        method.__name__, method.__qualname__ = self._name, self._qualname
        method.__annotations__ = {**spec.__annotations__, "return": self._answer}
        method.__signature__ = self.signature()  # type: ignore[union-attr]
        return method

    def signature(self) -> inspect.Signature:
        """The spec's signature, returning what the method returns."""
        if self._signature is None:
            spec = inspect.signature(self._spec)
            self._signature = spec.replace(return_annotation=self._answer)
        return self._signature


class Method(_Shell[P, T]):
    """A namespace's method sending the :class:`Call` that ``spec`` makes; ``prepare``, if
    given, first adjusts the keyword arguments with the client."""

    def __init__(
        self,
        spec: Callable[P, Call[T]],
        *,
        prepare: Callable[[Runner, dict[str, Any]], None] | None = None,
    ) -> None:
        # The spec modules postpone annotations: ``-> Call[X]`` is the string "Call[X]".
        answer = str(spec.__annotations__["return"]).removeprefix("Call[").removesuffix("]")
        super().__init__(spec, answer, prepare)

    def _sender(self, client: Runner) -> Callable[[Any], Any]:
        return client._run


class Streamed(_Shell[P, int]):
    """A namespace's method streaming the answer of the :class:`Download` ``spec`` makes
    into its file; it returns the bytes written."""

    def __init__(self, spec: Callable[P, Download]) -> None:
        super().__init__(spec, "int")

    def _sender(self, client: Runner) -> Callable[[Any], Any]:
        return client._download

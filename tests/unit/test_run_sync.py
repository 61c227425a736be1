"""run_sync: the blocking form of a coroutine, inside a running event loop or not."""

from __future__ import annotations

import asyncio
import threading

import pytest

from assay.sync import loop_running, run_sync


async def where() -> str:
    await asyncio.sleep(0)
    return threading.current_thread().name


async def fails() -> None:
    raise ValueError("inside")


async def interrupted() -> None:
    raise KeyboardInterrupt


def test_outside_a_loop_runs_here() -> None:
    assert not loop_running()
    assert run_sync(where()) == threading.current_thread().name
    with pytest.raises(ValueError, match="inside"):
        run_sync(fails())


async def test_inside_a_running_loop_runs_on_a_helper_thread() -> None:
    assert loop_running()
    assert run_sync(where(), name="assay-test-helper") == "assay-test-helper"
    with pytest.raises(ValueError, match="inside"):
        run_sync(fails())


def test_keyboard_interrupt_is_plain_outside_a_loop() -> None:
    with pytest.raises(KeyboardInterrupt) as caught:
        run_sync(interrupted())
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


async def test_keyboard_interrupt_is_plain_inside_a_loop() -> None:
    with pytest.raises(KeyboardInterrupt) as caught:
        run_sync(interrupted())
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_runs_on_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")  # a dependency wherever it has a wheel
    monkeypatch.delenv("ASSAY_EVENT_LOOP", raising=False)
    assert run_sync(loop_module()).startswith("uvloop")


async def test_runs_on_uvloop_inside_a_running_loop_too(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.delenv("ASSAY_EVENT_LOOP", raising=False)
    assert run_sync(loop_module()).startswith("uvloop")


def test_the_event_loop_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_EVENT_LOOP", "asyncio")
    assert run_sync(loop_module()).startswith("asyncio")
    monkeypatch.setenv("ASSAY_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="ASSAY_EVENT_LOOP must be uvloop or asyncio, not 'trio'"):
        run_sync(loop_module())

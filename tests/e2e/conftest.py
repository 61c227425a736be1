"""The browser the dashboard tests drive: Debian's Chromium through Playwright."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium (never a downloaded browser), one per test module."""
    if shutil.which("chromium") is None and not Path("/usr/bin/chromium").exists():
        pytest.fail("the browser tests need Debian's Chromium: apt-get install chromium")
    expect.set_options(timeout=30_000)  # generous: a loaded machine is only slower
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()

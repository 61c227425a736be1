"""Every dashboard page checked by axe-core in Chromium, in the light and the dark theme, and
the header's theme toggle (stored, applied before the body renders, kept across navigation and
HTMX swaps).

axe-core is the npm package pinned in ``tests/e2e/axe/package-lock.json`` (``npm ci --prefix
tests/e2e/axe``; ``scripts/test`` and CI install it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e import showcase
from tests.e2e.test_dashboard_browser import UNSET
from tests.e2e.test_serve import start

pytestmark = pytest.mark.e2e

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


@dataclass(frozen=True)
class Site:
    url: str
    pages: list[tuple[str, str]]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("a11y") / "home"
    seeded = showcase.seed(home)
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    proc, url = start({**env, "ASSAY_HOME": str(home), "ASSAY_AUTH": "none"})
    yield Site(url, showcase.pages(seeded))
    proc.terminate()
    proc.wait(timeout=10)


def open_page(browser: Browser, site: Site, scheme: str, width: int = 1280) -> Page:
    """A page in a new context whose system setting is ``scheme`` (light or dark)."""
    context = browser.new_context(
        base_url=site.url,
        color_scheme=scheme,  # type: ignore[arg-type]
        viewport={"width": width, "height": 800},
    )
    context.set_default_timeout(30_000)
    return context.new_page()


def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page, every <details> opened first
    so the forms inside them are checked too."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [v for v in found if v.get("impact") in BLOCKING]


def describe(name: str, v: dict[str, Any]) -> str:
    targets = "; ".join(
        f"{', '.join(n['target'])} ({n.get('failureSummary', '').splitlines()[-1].strip()})"
        for n in v["nodes"][:4]
    )
    return f"{name}: {v['id']} [{v['impact']}] {v['help']} — {targets}"


@pytest.mark.parametrize(("scheme", "width"), [("light", 1024), ("dark", 1440)])
def test_every_page_has_no_serious_violations(
    browser: Browser,
    site: Site,
    scheme: str,
    width: int,
) -> None:
    """axe-core finds nothing serious or critical; nothing is wider than the window (a wide
    table scrolls in its own box)."""
    if not AXE.exists():
        pytest.fail("axe-core is not installed: npm ci --prefix tests/e2e/axe")
    page = open_page(browser, site, scheme, width)
    problems: list[str] = []
    try:
        for name, path in site.pages:
            response = page.goto(path)
            assert response is not None
            expected = 404 if name == "error" else 200
            assert response.status == expected, f"{name} {path}: HTTP {response.status}"
            dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
            assert dark == (scheme == "dark")
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > width:
                problems.append(f"{name}: {wide} px wide in a {width} px window")
            problems += [describe(name, v) for v in violations(page)]
    finally:
        page.context.close()
    assert not problems, "\n".join(problems)


def background(page: Page, selector: str) -> str:
    return str(page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor"))


def test_theme_toggle_is_stored_and_survives_navigation_and_swaps(
    browser: Browser,
    site: Site,
) -> None:
    page = open_page(browser, site, "light")
    # What <html> carries when the body starts: the theme must be on it before first paint.
    page.add_init_script(
        """new MutationObserver((_, observer) => {
             if (document.body) {
               window.__themeAtBody = document.documentElement.dataset.theme || 'none';
               observer.disconnect();
             }
           }).observe(document, {childList: true, subtree: true});"""
    )
    try:
        page.goto("/datasets")
        light = background(page, "body")
        expect(page.locator("#theme")).to_have_value("system")
        page.locator("#theme").select_option("dark")
        assert page.evaluate("localStorage.getItem('assay-theme')") == "dark"
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        dark = background(page, "body")
        assert dark != light

        page.locator("header nav").get_by_role("link", name="Runs").click()
        expect(page).to_have_url(f"{site.url}/runs")
        assert page.evaluate("window.__themeAtBody") == "dark"
        expect(page.locator("#theme")).to_have_value("dark")
        assert background(page, "body") == dark

        # An HTMX swap (the datasets search) keeps the theme, and what it brings is themed.
        page.goto("/datasets")
        page.evaluate("window.__sameDocument = true")
        card = background(page, "#datasets table")
        page.locator("input[name=q]").fill("billing")
        expect(page.locator("#datasets tbody tr")).to_have_count(1)
        assert page.evaluate("window.__sameDocument") is True
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        assert background(page, "#datasets table") == card
        page.go_back()
        expect(page.locator("#theme")).to_have_value("dark")
        assert background(page, "body") == dark

        # Back to the system's setting: no pinned theme, the light system wins.
        page.locator("#theme").select_option("system")
        assert page.evaluate("document.documentElement.dataset.theme") is None
        page.reload()
        assert page.evaluate("window.__themeAtBody") == "none"
        assert background(page, "body") == light
        page.emulate_media(color_scheme="dark")
        assert background(page, "body") == dark
    finally:
        page.context.close()

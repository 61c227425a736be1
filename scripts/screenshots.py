"""Screenshots of every dashboard page for docs/dashboard.md, into docs/img/.

Seeds a fresh project (tests/e2e/showcase.py: the ``assay demo`` data plus trials, a failed
run, prompt versions, traces and an online rule), starts ``assay serve`` on it, and captures
each page with Playwright and Debian's Chromium at 1440 and 1024 px wide (at most 1400 px
tall), and a few pages in the dark theme. It also reports any page wider than its viewport.

Usage: PYTHONPATH=src python scripts/screenshots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WIDTHS = (1440, 1024)
MAX_HEIGHT = 1400
DARK = ("dataset-runs", "run-trials", "trace", "prompt-compare")


def capture(url: str, pages: list[tuple[str, str]], out: Path) -> list[str]:
    """Write the PNGs; return the pages whose content is wider than the viewport."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    overflowing = []
    shots = [(w, "light", pages) for w in WIDTHS]
    shots.append((WIDTHS[0], "dark", [p for p in pages if p[0] in DARK]))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for width, scheme, chosen in shots:
            context = browser.new_context(
                base_url=url,
                viewport={"width": width, "height": 900},
                color_scheme=scheme,  # type: ignore[arg-type]
            )
            page = context.new_page()
            for name, path in chosen:
                page.goto(path)
                page.wait_for_load_state("networkidle")
                wide = page.evaluate("document.documentElement.scrollWidth")
                if wide > width:
                    overflowing.append(f"{name} at {width} px: {wide} px wide")
                height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_HEIGHT)
                suffix = "-dark" if scheme == "dark" else ""
                page.screenshot(
                    path=str(out / f"{name}-{width}{suffix}.png"),
                    full_page=True,
                    clip={"x": 0, "y": 0, "width": width, "height": height},
                )
            context.close()
        browser.close()
    return overflowing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    from tests.e2e import showcase
    from tests.e2e.test_serve import start

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        seeded = showcase.seed(home)
        unset = ("ASSAY_DATABASE_URL", "ASSAY_PROJECT", "ASSAY_URL", "ASSAY_SECRET_KEY")
        env = {k: v for k, v in os.environ.items() if k not in unset}
        proc, url = start({**env, "ASSAY_HOME": str(home), "ASSAY_AUTH": "none"})
        try:
            overflowing = capture(url, showcase.pages(seeded), args.out)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    for line in overflowing:
        print(f"wider than the viewport: {line}")
    total = sum(f.stat().st_size for f in args.out.glob("*.png"))
    print(f"{len(list(args.out.glob('*.png')))} screenshots in {args.out}, {total / 1e6:.1f} MB")
    return 1 if overflowing else 0


if __name__ == "__main__":
    sys.exit(main())

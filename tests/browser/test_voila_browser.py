"""The quickstart's App as a Voila page (a dashboard: no notebook around it), narrow."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from harness import ARTIFACTS, Browser, voila

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_app_as_a_narrow_voila_page(tmp_path, chromium):
    notebook = tmp_path / "quickstart.ipynb"
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", notebook)
    env = {"FGS_CACHE_DIR": str(tmp_path / "cache"), "FGS_MAST_SERVER": "http://127.0.0.1:9"}
    with voila(notebook, env) as url:
        with Browser(viewport=(720, 1000)) as browser:
            page = browser.new_page(default_timeout_ms=180_000)
            # the template's icon font comes from a CDN: answer it here (no network)
            page.route("**/*", lambda route: route.fulfill(status=200, body="")
                       if not route.request.url.startswith("http://127.0.0.1") else
                       route.continue_())
            page.goto(url)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.fgs-timeseries-panel path')]"
                ".some(p => (p.getAttribute('d') || '').length > 1000)")
            page.wait_for_selector("canvas.fgs-frame-canvas")
            page.wait_for_timeout(1500)
            ARTIFACTS.mkdir(exist_ok=True)
            page.locator(".fgs-timeseries-panel").first.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            page.screenshot(path=str(ARTIFACTS / "voila-narrow.png"))
            widths = page.evaluate(
                "() => { const a = document.querySelector('.fgs-app');"
                " return [a.scrollWidth, a.clientWidth, document.documentElement.scrollWidth,"
                " window.innerWidth]; }")
            assert widths[0] - widths[1] <= 1, f"the App overflows its page: {widths}"
            assert widths[2] <= widths[3] + 1, f"the page scrolls sideways: {widths}"
            # every panel at its readable height, and hover works here too
            heights = page.eval_on_selector_all(".fgs-timeseries-panel",
                                                "els => els.map(e => e.offsetHeight)")
            assert heights and min(heights) >= 150, heights
            panel = page.locator(".fgs-timeseries-panel").first
            panel.scroll_into_view_if_needed()
            box = panel.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
            page.wait_for_function(
                "() => document.querySelector('.fgs-ts-readout')?.innerText.startsWith('t = ')",
                timeout=15_000)
            serious = [e for e in browser.errors if "favicon" not in e]
            assert not serious, serious

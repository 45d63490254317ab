"""The quickstart's App as a Voila page (a dashboard: no notebook around it), narrow; and
failures there, in words."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from harness import ARTIFACTS, Browser, voila, voila_server, write_notebook

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


# -- failures in words on a Voila page that hides tracebacks (Voila's default) ---------------

FAILING_FIRST_CELL = [
    "from fgs_widgets import Session\nsession = Session()\nsession.open_program(1534)",
    "print('never reached: Voila stops at a failed cell')",
]
APP_WITH_FAILED_DOWNLOAD = [
    "from fgs_widgets import App, Session\nsession = Session()\n"
    "session.open_program(1534, block=False)  # in the background, as the App's button does\n"
    "session.download_job.wait()",
    "App(session)",
]


def _offline_page(browser: Browser):
    """A page whose requests beyond this machine (the template's icon font) get an empty
    answer."""
    page = browser.new_page(default_timeout_ms=120_000)
    page.route("**/*", lambda route: route.fulfill(status=200, body="")
               if not route.request.url.startswith("http://127.0.0.1") else route.continue_())
    return page


def test_failures_reach_a_voila_page_in_words(tmp_path, chromium):
    """Voila shows a failed cell as "There was an error when executing cell [1]. Please run
    Voilà with --show_tracebacks=True..." and nothing more; our failure's message and what
    to do are on the page too, and an App shows its background job's failure; never the
    MAST token."""
    write_notebook(tmp_path / "failing.ipynb", FAILING_FIRST_CELL)
    write_notebook(tmp_path / "app_failed.ipynb", APP_WITH_FAILED_DOWNLOAD)
    secret = "voila-secret-token-3f9a"
    env = {"FGS_CACHE_DIR": str(tmp_path / "cache"), "FGS_MAST_SERVER": "http://127.0.0.1:9",
           "FGS_TIMEOUT": "2", "MAST_API_TOKEN": secret}
    ARTIFACTS.mkdir(exist_ok=True)
    with voila_server(tmp_path, env, show_tracebacks=False) as (url, token), \
            Browser(viewport=(1000, 700)) as browser:
        page = _offline_page(browser)
        page.goto(f"{url}/voila/render/failing.ipynb?token={token}")
        page.wait_for_selector(".fgs-failure")
        text = page.locator("body").inner_text()
        assert "There was an error when executing cell" in text  # Voila's own words
        assert "Traceback" not in text and "never reached" not in text
        words = page.locator(".fgs-failure").inner_text()
        assert "fgs_widgets could not do this (MastUnreachable)" in words
        assert "MAST (http://127.0.0.1:9) unreachable" in words
        assert "What to do: use read_fine_guide on local files or the sample program" in words
        assert page.locator(".fgs-failure").is_visible()
        page.screenshot(path=str(ARTIFACTS / "voila-failure.png"), full_page=True)
        assert secret not in page.content()

        # a page of its own: leaving a Voila page POSTs a kernel shutdown that the tree
        # mode's server refuses (403, no _xsrf), a console error unrelated to this test
        page = _offline_page(browser)
        page.goto(f"{url}/voila/render/app_failed.ipynb?token={token}")
        page.wait_for_selector(".fgs-app-status .fgs-error")
        status = page.locator(".fgs-app-status").inner_text()
        assert status.startswith("download failed: MAST (http://127.0.0.1:9) unreachable"), \
            status
        page.locator(".fgs-app").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "voila-app-failure.png"))
        assert secret not in page.content()
        serious = [e for e in browser.errors if "favicon" not in e]
        assert not serious, serious

"""The quickstart's App in JupyterLab + headless Chromium: renders, links, zooms."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from harness import browser_page, jupyterlab, open_and_run_all, wait_for_file_line

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"


def _chromium_or_skip() -> None:
    if not Path("/usr/bin/chromium").exists():
        if os.environ.get("FGS_REQUIRE_BROWSER"):
            pytest.fail("FGS_REQUIRE_BROWSER is set but /usr/bin/chromium is missing "
                        "(apt-get install chromium)")
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")


def test_quickstart_app_in_jupyterlab(tmp_path):
    _chromium_or_skip()
    ARTIFACTS.mkdir(exist_ok=True)
    notebook = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    # a test-only last cell: the kernel writes what the widgets set, for the test to read
    notebook.cells.append(nbformat.v4.new_code_cell(
        "from pathlib import Path\n"
        "_log = Path('linked.log')\n"
        "def _note(change):\n"
        "    with _log.open('a') as f:\n"
        "        f.write(f\"{change['name']} {change['new']}\\n\")\n"
        "session.observe(_note, names=['cursor', 'window'])"))
    nbformat.write(notebook, tmp_path / "quickstart.ipynb")
    log = tmp_path / "linked.log"
    env = {"FGS_CACHE_DIR": str(tmp_path / "cache"), "FGS_MAST_SERVER": "http://127.0.0.1:9"}
    with jupyterlab(tmp_path, env) as (url, token), browser_page() as (page, errors):
        open_and_run_all(page, url, token, "quickstart.ipynb")
        page.wait_for_selector("canvas.fgs-frame-canvas", timeout=120_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.fgs-timeseries-panel path')]"
            ".some(p => (p.getAttribute('d')||'').length > 1000)", timeout=120_000)
        page.wait_for_function(
            "() => document.querySelector('.fgs-fv-readout')?.innerText.startsWith('frame 0 ')",
            timeout=30_000)

        # a page screenshot with the plots in view: an element screenshot of the App, taller
        # than the viewport, is stitched from JupyterLab's inner scroller and comes out garbled
        page.locator(".fgs-timeseries-panel").first.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / "app-full-range.png"))

        # the picker's filters show "all" (a None value used to render as no selection)
        shown = page.eval_on_selector_all(
            ".fgs-program-picker select",
            "els => els.map(s => s.selectedIndex >= 0 ? s.options[s.selectedIndex].text : '')")
        assert shown == ["all", "all", "all"], shown

        # scrub: three steps forward in the browser move the Python cursor to 3
        step = page.locator(".fgs-fv-step-forward").first
        for _ in range(3):
            step.click()
        page.wait_for_function(
            "() => document.querySelector('.fgs-fv-readout').innerText.startsWith('frame 3 ')",
            timeout=10_000)
        wait_for_file_line(log, lambda line: line == "cursor 3")

        # zoom: the mouse wheel over a time-series panel narrows the session's window
        # (scrolled into view first: a wheel at coordinates outside the viewport hits nothing;
        # retried because bqplot attaches its PanZoom handlers only once the figure is drawn)
        panel = page.locator(".fgs-timeseries-panel").first
        panel.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        for attempt in range(5):
            box = panel.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
            for _ in range(4):
                page.mouse.wheel(0, -200)
                page.wait_for_timeout(150)
            try:
                window = wait_for_file_line(log, lambda line: line.startswith("window ("),
                                            timeout=8.0)
                break
            except AssertionError:
                page.screenshot(path=str(ARTIFACTS / f"app-zoom-attempt-{attempt}.png"))
                if attempt == 4:
                    raise
        start, stop = (float(v) for v in window[len("window ("):-1].split(","))
        assert 0 < (stop - start) * 86400 < 1400  # narrower than the 24-minute program

        # the token box: typed, then Tab; the kernel takes the token out of widget state and
        # the box comes back empty with a placeholder saying a token is held
        secret = "browser-token-0c9e51"
        password = ".fgs-program-picker input[type=password]"
        box = page.locator(password).first
        box.scroll_into_view_if_needed()
        box.fill(secret)
        box.press("Tab")
        page.wait_for_function(
            f"() => document.querySelector('{password}').placeholder.startsWith('token received')",
            timeout=10_000)
        assert box.input_value() == ""
        page.screenshot(path=str(ARTIFACTS / "app-token-received.png"))
        assert secret not in page.content()

        page.wait_for_timeout(500)
        page.locator(".fgs-app").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "app-jupyterlab.png"), full_page=True)
        page.locator(".fgs-app").first.screenshot(path=str(ARTIFACTS / "app-widget.png"))
    serious = [e for e in errors if "favicon" not in e]
    assert not serious, serious
    shutil.copy(log, ARTIFACTS / "linked.log")

"""The quickstart's App in JupyterLab + headless Chromium: renders, links, zooms."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from app_steps import (
    assert_views_tell_the_truth,
    click_picks_frame,
    hover_panel,
    quickstart_with_logs,
    wait_for_app,
)
from harness import (
    browser_page,
    jupyterlab,
    notebook_in_lab,
    open_and_run_all,
    wait_for_file_line,
    write_notebook,
)

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
    # with a test-only last cell: the kernel writes what the widgets set, for the test to read
    quickstart_with_logs(tmp_path)
    log = tmp_path / "linked.log"
    env = {"FGS_CACHE_DIR": str(tmp_path / "cache"), "FGS_MAST_SERVER": "http://127.0.0.1:9"}
    with jupyterlab(tmp_path, env) as (url, token), browser_page() as (page, errors):
        open_and_run_all(page, url, token, "quickstart.ipynb")
        wait_for_app(page)

        # a page screenshot with the plots in view: an element screenshot of the App, taller
        # than the viewport, is stitched from JupyterLab's inner scroller and comes out garbled
        page.locator(".fgs-timeseries-panel").first.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / "app-full-range.png"))
        assert_views_tell_the_truth(page, "series")

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
        # the widgets' messages queue behind the notebook's cells in the kernel: the log cell
        # (last) runs after the full fit, which compiles its kernel cold in a fresh clone
        wait_for_file_line(log, lambda line: line == "cursor 3", timeout=240)

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

        # hover: the readout names time, frame and value; a click (no drag) picks that frame
        _, hovered, point = hover_panel(page)
        click_picks_frame(page, point, hovered, log)

        # the periodogram panel draws a line once the fit is done, without a button press
        page.locator(".fgs-periodogram").first.scroll_into_view_if_needed()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.fgs-periodogram path.line')]"
            ".some(p => (p.getAttribute('d') || '').length > 200)", timeout=180_000)
        page.wait_for_timeout(1500)  # the full fit may still land and redraw it once
        # ... and with it the highest peak chosen and the series folded on it
        page.wait_for_function(
            "() => { const s = document.querySelector('.fgs-peaks select');"
            " return s && s.options.length > 0 && s.selectedIndex === 0; }", timeout=30_000)
        page.wait_for_function(
            "() => document.querySelectorAll('.fgs-fold .dot').length > 10", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "app-periodogram.png"))
        assert_views_tell_the_truth(page)

        # narrow (a side panel, a phone, Voila in a small window): nothing overflows
        page.set_viewport_size({"width": 760, "height": 1000})
        page.wait_for_timeout(1500)
        page.locator(".fgs-timeseries-panel").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "app-narrow.png"))
        overflow = page.evaluate(
            "() => { const a = document.querySelector('.fgs-app');"
            " return a.scrollWidth - a.clientWidth; }")
        assert overflow <= 1, f"the App is {overflow} px wider than its cell at 760 px"
        assert_views_tell_the_truth(page)
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.wait_for_timeout(1000)

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


# -- readouts in a narrow notebook (JupyterLab's file browser open) ---------------------------

READOUT_CELLS = [
    "from fgs_widgets import App, Session\n"
    "session = Session()\n"
    "session.load_sample()\n"
    "session.fit_frames('quick', block=True)\n"
    "session.add_local_events()",
    "app = App(session, columns=('flux', 'x_mean', 'y_mean'))\napp",
]

#: a readout's geometry: overflow, its box against its container's, each item's and line's
_READOUT_JS = """([selector, container]) => {
    const el = document.querySelector(selector);
    const box = el.getBoundingClientRect();
    const outer = el.closest(container).getBoundingClientRect();
    const items = [...el.querySelectorAll('.fgs-ts-item')].map(item => {
        const r = item.getBoundingClientRect();
        return {text: item.innerText, clipped: item.scrollWidth > item.clientWidth + 1,
                outside: r.left < box.left - 0.5 || r.right > box.right + 0.5
                    || r.bottom > box.bottom + 0.5};
    });
    const style = getComputedStyle(el);
    return {text: el.innerText, scroll: el.scrollWidth, client: el.clientWidth,
            scrollHeight: el.scrollHeight, clientHeight: el.clientHeight,
            height: box.height, lineHeight: parseFloat(style.lineHeight),
            inside: box.left >= outer.left - 0.5 && box.right <= outer.right + 0.5,
            items};
}"""


def _open_file_browser(page) -> float:
    """Open JupyterLab's left file browser (if it is not open); its width in pixels."""
    stack = "#jp-left-stack"
    hidden = page.evaluate(f"() => document.querySelector('{stack}').classList"
                           ".contains('lm-mod-hidden')")
    if hidden:
        page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='filebrowser']").click()
    page.wait_for_function(f"() => document.querySelector('{stack}')"
                           ".getBoundingClientRect().width > 150")
    page.wait_for_timeout(500)  # the notebook re-lays out; the pointer re-measures
    return page.evaluate(f"() => document.querySelector('{stack}').getBoundingClientRect().width")


def _assert_readout_fits(page, selector: str, container: str) -> dict:
    """The readout's full text is in view: no overflow, nothing clipped, inside its viewer."""
    shown = page.evaluate(_READOUT_JS, [selector, container])
    assert shown["scroll"] <= shown["client"] + 1, f"{selector} overflows: {shown}"
    assert shown["scrollHeight"] <= shown["clientHeight"] + 1, f"{selector} cut below: {shown}"
    assert shown["inside"], f"{selector} sticks out of {container}: {shown}"
    assert not [item for item in shown["items"] if item["clipped"] or item["outside"]], shown
    return shown


def _hover_series(page, panel_number: int, fraction: float) -> str:
    """Hover a time-series panel at ``fraction`` of its width; the readout's text."""
    panel = page.locator(".fgs-timeseries-panel").nth(panel_number)
    box = panel.bounding_box()
    page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] * 0.5)
    page.wait_for_function(
        "() => document.querySelector('.fgs-ts-readout')?.innerText.startsWith('t = ')",
        timeout=10_000)
    page.wait_for_timeout(200)
    return page.locator(".fgs-ts-readout").first.inner_text()


def test_readouts_fit_beside_the_file_browser(tmp_path, chromium):
    """At 1400 px with the file browser open (a hub user's Lab) the series readout shows the
    value and flags after the column name, the frame viewer's every line, neither clipped;
    hovering does not move the plots."""
    notebook = write_notebook(tmp_path / "readouts.ipynb", READOUT_CELLS)
    env = {"FGS_CACHE_DIR": str(tmp_path / "cache"), "FGS_MAST_SERVER": "http://127.0.0.1:9"}
    with notebook_in_lab(notebook, browser_options={"viewport": (1400, 1000)},
                         lab_options={"env": env}) as run:
        page = run.page
        page.wait_for_selector("canvas.fgs-frame-canvas", timeout=120_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.fgs-timeseries-panel path')]"
            ".some(p => (p.getAttribute('d')||'').length > 1000)", timeout=120_000)
        page.wait_for_function(
            "() => document.querySelector('.fgs-fv-readout')?.innerText.startsWith('frame 0 ')",
            timeout=30_000)
        assert _open_file_browser(page) > 150
        page.locator(".fgs-timeseries-panel").nth(1).scroll_into_view_if_needed()
        page.wait_for_timeout(300)

        hint = _assert_readout_fits(page, ".fgs-ts-readout", ".fgs-timeseries")
        top = page.locator(".fgs-timeseries-panel").first.bounding_box()["y"]
        text = _hover_series(page, 1, 0.4)
        # the value after the column name, and the flags after it ("no flags" or their names)
        assert re.search(r"· x_mean = -?[0-9.]+(e[-+]?[0-9]+)? · \S", text), text
        shown = _assert_readout_fits(page, ".fgs-ts-readout", ".fgs-timeseries")
        # two lines are kept whether it holds the hint or a value: the plots do not jump
        assert shown["height"] == hint["height"] >= 2 * shown["lineHeight"] - 1, (hint, shown)
        assert page.locator(".fgs-timeseries-panel").first.bounding_box()["y"] == top

        viewer = _assert_readout_fits(page, ".fgs-fv-readout", ".fgs-frame-viewer")
        lines = viewer["text"].split("\n")
        assert lines[0].startswith("frame 0 of 14,336"), lines
        assert re.fullmatch(r"colour linear robust \S+…\S+", lines[2]), lines
        assert lines[3].startswith("x ") and " σ " in lines[3], lines
        # each line on one line: four lines tall, no wrapped line
        assert viewer["height"] <= 4 * viewer["lineHeight"] + 1, viewer
        run.screenshot("readouts-file-browser.png")
        page.locator(".fgs-app").first.screenshot(
            path=str(ARTIFACTS / "readouts-file-browser-app.png"))

        # narrower still (a laptop with the side bar open): the readout wraps between items
        page.set_viewport_size({"width": 1000, "height": 1000})
        page.wait_for_timeout(1000)
        page.locator(".fgs-timeseries-panel").nth(1).scroll_into_view_if_needed()
        text = _hover_series(page, 1, 0.6)
        shown = _assert_readout_fits(page, ".fgs-ts-readout", ".fgs-timeseries")
        assert " · x_mean = " in text and shown["height"] >= 2 * shown["lineHeight"] - 1, shown
        _assert_readout_fits(page, ".fgs-fv-readout", ".fgs-frame-viewer")
        run.screenshot("readouts-file-browser-1000px.png")
        assert run.errors == [], run.errors

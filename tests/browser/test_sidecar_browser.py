"""``App(session).show(where="sidecar")`` in the browser: a JupyterLab panel beside the
notebook; inline with a note naming the front end in Jupyter Notebook 7 and in Voila.

The front end is told by the browser (`fgs_widgets.widgets.placement`), so each check
is the whole path: the probe's view reads the page, the kernel hears it and places the
App, the page draws it.  Notebook 7's page (``/notebooks/...``) comes from a JupyterLab
server too: the notebook server extension is loaded beside JupyterLab's.
"""

from __future__ import annotations

import pytest
from harness import (
    ARTIFACTS,
    Browser,
    JupyterLab,
    run_all,
    run_all_cells,
    voila,
    wait_for_app_kernel_idle,
    wait_for_kernel_idle,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SETUP = ("from fgs_widgets import App, Session\n"
         "session = Session()\n"
         "session.load_sample()")
SHOW = "app = App(session)\napp.show(where='sidecar')"
#: the panel the sidecar extension adds to JupyterLab's shell
SIDECAR = ".jupyterlab-sidecar"
#: a time-series line is drawn (the summaries reached the browser)
SERIES_DRAWN = ("(root) => [...root.querySelectorAll('.fgs-timeseries-panel path')]"
                ".some(p => (p.getAttribute('d') || '').length > 1000)")
#: Notebook 7.6's own error, also without any widget of ours (see test_hub_browser.py)
NOTEBOOK7_NOISE = "pageerror: Cannot read properties of undefined (reading 'schema')"
#: run a code cell appended to the notebook (the sidecar takes the shell's focus, so the
#: notebook is found among the main area's widgets and activated first)
RUN_NEW_CELL = """async (code) => {
    const app = window.jupyterapp;
    const panel = [...app.shell.widgets('main')].find(w => w.content?.widgets);
    app.shell.activateById(panel.id);
    const notebook = panel.content;
    notebook.activeCellIndex = notebook.widgets.length - 1;
    await app.commands.execute('notebook:insert-cell-below');
    notebook.activeCell.model.sharedModel.setSource(code);
    await app.commands.execute('notebook:run-cell');
}"""


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server (Notebook 7's pages too), ``window.jupyterapp`` exposed in both.

    One per test: after JupyterLab's page has loaded a font, the same server answers
    Notebook 7's request for the file of that name (in its own static folder) with 403
    ("not in root static directory"), a console error unrelated to this test.
    """
    env = {"FGS_MAST_SERVER": "http://127.0.0.1:9"}
    with JupyterLab(tmp_path, env=env, extra_args=[
            "--LabApp.expose_app_in_browser=True",
            "--JupyterNotebookApp.expose_app_in_browser=True"]) as server:
        try:
            yield server
        except Exception as exc:
            exc.add_note(f"JupyterLab log (tail):\n{server.log_text()[-2000:]}")
            raise


def _assert_shown_inline(page, placement: str, front_end: str):
    """The App drawn in the ``placement`` box under the note naming ``front_end`` (the start
    of its text), and no side panel anywhere; returns the note."""
    note = page.locator(f"{placement} .fgs-placement-note")
    note.wait_for()
    page.wait_for_selector(f"{placement} .fgs-app canvas.fgs-frame-canvas")
    page.locator(placement).scroll_into_view_if_needed()
    page.wait_for_function(f"() => ({SERIES_DRAWN})(document.querySelector({placement!r}))")
    text = note.inner_text()
    assert text.startswith(front_end) and text.endswith(
        " has no JupyterLab side panel, so the App is shown here."), text
    assert note.is_visible()
    assert _count(page, SIDECAR) == 0
    return note


def _count(page, selector: str) -> int:
    return page.eval_on_selector_all(selector, "els => els.length")


def _hover_readout(page, scope: str) -> str:
    """Hover the middle of the first series panel under ``scope``; its readout's text."""
    panel = page.locator(f"{scope} .fgs-timeseries-panel").first
    panel.scroll_into_view_if_needed()
    box = panel.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.wait_for_function(
        f"() => document.querySelector('{scope} .fgs-ts-readout')?.innerText"
        ".startsWith('t = ')", timeout=15_000)
    return page.locator(f"{scope} .fgs-ts-readout").first.inner_text()


def test_lab_shows_the_app_in_a_panel_beside_the_notebook(chromium, lab):
    write_notebook(lab.root_dir / "lab.ipynb", [SETUP, SHOW])
    ARTIFACTS.mkdir(exist_ok=True)
    with Browser(viewport=(1600, 1000)) as browser:
        page = browser.new_page(default_timeout_ms=120_000)
        page.goto(lab.url("lab/tree/lab.ipynb", reset=True))
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        wait_for_kernel_idle(page, 90_000)
        run_all(page)
        page.wait_for_selector(f"{SIDECAR} .fgs-app canvas.fgs-frame-canvas")
        page.wait_for_function(f"() => ({SERIES_DRAWN})(document.querySelector('{SIDECAR}'))")
        # in JupyterLab's dock area beside the notebook, not in the cell's output
        assert _count(page, SIDECAR) == 1
        assert _count(page, ".jp-Notebook .fgs-app") == 0
        assert _count(page, f"{SIDECAR} .fgs-app") == 1
        where = page.evaluate(f"""() => {{
            const side = document.querySelector('{SIDECAR}');
            const notebook = document.querySelector('.jp-NotebookPanel').getBoundingClientRect();
            return {{dock: !!side.closest('.lm-DockPanel'), inNotebook: !!side.closest(
                '.jp-Notebook'), left: side.getBoundingClientRect().left,
                notebookRight: notebook.right}};
        }}""")
        assert where["dock"] and not where["inNotebook"], where
        assert where["left"] >= where["notebookRight"] - 1, f"not to the right: {where}"
        tab = page.locator(".lm-DockPanel .lm-TabBar-tab", has_text="FGS guide star")
        assert tab.count() == 1 and tab.first.is_visible()
        note = page.locator(".jp-Notebook .fgs-placement-note").inner_text()
        assert note == "The App is in the side panel “FGS guide star”.", note
        # the App works there: its header, tab bar and hover readout
        header = page.locator(f"{SIDECAR} .fgs-header").inner_text()
        assert header.startswith("FGS guide star · ") and "frames" in header, header
        assert page.locator(f"{SIDECAR} .lm-TabBar-tab", has_text="Periodogram").is_visible()
        page.screenshot(path=str(ARTIFACTS / "sidecar_lab.png"))
        readout = _hover_readout(page, SIDECAR)
        assert "frame" in readout, readout
        page.screenshot(path=str(ARTIFACTS / "sidecar_lab_hover.png"))

        # shown again: the same App, one panel (the earlier one closed)
        page.evaluate(RUN_NEW_CELL, "app.show(where='sidecar', title='FGS again')")
        page.wait_for_selector(".lm-DockPanel .lm-TabBar-tab:has-text('FGS again')")
        page.wait_for_function(f"() => ({SERIES_DRAWN})(document.querySelector('{SIDECAR}'))")
        page.wait_for_function(f"() => document.querySelectorAll('{SIDECAR}').length === 1",
                               timeout=10_000)
        assert page.locator(".lm-TabBar-tab", has_text="FGS guide star").count() == 0
        assert _count(page, ".jp-Notebook .fgs-app") == 0
        page.screenshot(path=str(ARTIFACTS / "sidecar_lab_again.png"))

        # closing the App closes its panel
        page.evaluate(RUN_NEW_CELL, "app.close()")
        page.wait_for_function(f"() => document.querySelectorAll('{SIDECAR}').length === 0",
                               timeout=30_000)
        assert page.locator(".lm-TabBar-tab", has_text="FGS again").count() == 0
        page.screenshot(path=str(ARTIFACTS / "sidecar_lab_closed.png"))
        assert not browser.errors, browser.errors


def test_notebook7_shows_the_app_inline_with_a_note(chromium, lab):
    write_notebook(lab.root_dir / "nb7.ipynb", [SETUP, SHOW])
    with Browser(viewport=(1280, 1000)) as browser:
        page = browser.new_page(default_timeout_ms=120_000)
        page.goto(lab.url("notebooks/nb7.ipynb"))
        page.wait_for_function("() => window.jupyterapp !== undefined")
        page.evaluate("async () => { await window.jupyterapp.restored; }")
        wait_for_app_kernel_idle(page)
        run_all_cells(page)
        note = _assert_shown_inline(page, ".jp-Notebook .fgs-placement", "Jupyter Notebook 7.")
        note.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "sidecar_notebook7_fallback.png"))
        readout = _hover_readout(page, ".fgs-placement")
        assert "frame" in readout, readout
        serious = [e for e in browser.errors if e != NOTEBOOK7_NOISE]
        assert not serious, serious


def test_voila_shows_the_app_inline_with_a_note(tmp_path, chromium):
    notebook = write_notebook(tmp_path / "voila.ipynb", [SETUP, SHOW])
    env = {"FGS_MAST_SERVER": "http://127.0.0.1:9"}
    with voila(notebook, env) as url, Browser(viewport=(1280, 1000)) as browser:
        page = browser.new_page(default_timeout_ms=180_000)
        # the template's icon font comes from a CDN: answer it here (no network)
        page.route("**/*", lambda route: route.fulfill(status=200, body="")
                   if not route.request.url.startswith("http://127.0.0.1") else
                   route.continue_())
        page.goto(url)
        _assert_shown_inline(page, ".fgs-placement", "Voila 0.")
        assert _count(page, ".fgs-app") == 1
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "sidecar_voila_fallback.png"))
        readout = _hover_readout(page, ".fgs-placement")
        assert "frame" in readout, readout
        serious = [e for e in browser.errors if "favicon" not in e]
        assert not serious, serious

"""The App's Science tab in JupyterLab + headless Chromium: light curve, model, coefficients."""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

import pytest
from harness import notebook_in_lab, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts"  # gitignored, as the others

SETUP = """\
from fgs_widgets.model import Session
from fgs_widgets.archive import sample
from fgs_widgets.widgets import App

session = Session()
session.load_sample()
session.fit_frames("quick", block=True)
session.load_science(sample.sample_program().science_path)
session.decorrelate(["x_mean", "y_mean"])
session.detect_tilts()
print("science", len(session.science), session.decorrelation.summary())
"""
SHOW = "app = App(session)\napp"

#: what the Science tab's two figures draw (the first: flux points, model; the second: residuals)
_FIGURES_JS = """() => [...document.querySelectorAll('.fgs-science-figure')]
  .filter(f => f.getBoundingClientRect().width > 0).map(f => {
    const box = f.getBoundingClientRect();
    const lines = [...f.querySelectorAll('path.line')].map(p => (p.getAttribute('d') || '').length);
    const clipped = [...f.querySelectorAll('g.axis .tick text, g.axis text.axislabel')]
      .filter(t => { const r = t.getBoundingClientRect();
        return r.width > 0 && (r.left < box.left - 0.5 || r.right > box.right + 0.5
          || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5); })
      .map(t => t.textContent);
    const ticks = [...f.querySelectorAll('g.axis')].map(a => [...a.querySelectorAll('.tick text')]
      .filter(t => t.getBoundingClientRect().width > 0).map(t => t.textContent));
    return {dots: f.querySelectorAll('.dot').length, lines, clipped, ticks,
            width: box.width, height: box.height}; })"""


def _wait(run, condition_js: str, what: str, timeout: float = 180.0) -> None:
    """Poll the page until ``condition_js`` holds; fail at once on a JS or Python error."""
    deadline = time.monotonic() + timeout
    while True:
        if run.errors:
            pytest.fail(f"browser errors while waiting for {what}: {run.errors}")
        tracebacks = run.page.eval_on_selector_all(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
            "els => els.map(e => e.innerText).filter(t => t.includes('Traceback')"
            " || t.includes('Error:'))")
        if tracebacks:
            pytest.fail(f"a notebook cell failed while waiting for {what}: {tracebacks[0][-2000:]}")
        if run.page.evaluate(condition_js):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout:.0f} s")
        run.page.wait_for_timeout(250)


def _screenshot(run, name: str) -> Path:
    """A page screenshot with the panel's top at the top of the view (an element screenshot
    of a panel taller than the viewport is stitched from Lab's scroller and garbled)."""
    run.page.locator(".fgs-science-panel").first.evaluate(
        "e => e.scrollIntoView({block: 'start'})")
    run.page.wait_for_timeout(600)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    run.page.screenshot(path=str(path))
    return path


def _assert_nice(labels: list[str]) -> None:
    """At least three ticks, evenly spaced by 1, 2, 2.5 or 5 x 10^k."""
    values = [float(t.replace("\u2212", "-")) for t in labels if t.strip()]
    assert len(values) >= 3, labels
    steps = {round(b - a, 12) for a, b in itertools.pairwise(values)}
    assert len(steps) == 1, labels
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(abs(mantissa - m) < 1e-6 for m in (1, 2, 2.5, 5)), labels


def test_science_tab_in_jupyterlab(tmp_path, chromium):
    notebook = write_notebook(tmp_path / "science.ipynb", [SETUP, SHOW])
    options = {"env": {"FGS_MAST_SERVER": "http://127.0.0.1:9"}}
    with notebook_in_lab(notebook, lab_options=options,
                         browser_options={"viewport": (1400, 1000)}) as run:
        page = run.page
        _wait(run, "() => !!document.querySelector('.fgs-app .widget-tab')", "App")
        tab = page.locator(".fgs-app .widget-tab .lm-TabBar-tab", has_text="Science").first
        tab.scroll_into_view_if_needed()
        tab.click()
        _wait(run, """() => { const f = [...document.querySelectorAll('.fgs-science-figure')]
                .filter(f => f.getBoundingClientRect().width > 0);
              return f.length === 2 && f[0].querySelectorAll('.dot').length >= 127
                && [...f[0].querySelectorAll('path.line')]
                     .some(p => (p.getAttribute('d') || '').length > 500); }""",
              "science points and model line")
        page.wait_for_timeout(1000)  # the time axis' ticks and the y ranges settle
        _screenshot(run, "science_panel_full_range.png")

        # zoom the shared axis onto the integrations (a button of the panel)
        page.locator(".fgs-science-panel button", has_text="zoom to science").first.click()
        page.wait_for_timeout(1500)
        path = _screenshot(run, "science_panel.png")
        assert path.stat().st_size > 10_000

        figures = page.evaluate(_FIGURES_JS)
        assert len(figures) == 2, figures
        flux, lower = figures
        assert flux["dots"] >= 127 and lower["dots"] >= 127, (flux["dots"], lower["dots"])
        assert max(flux["lines"]) > 500, flux["lines"]  # the model (and the overlays)
        for figure in figures:
            assert not figure["clipped"], f"labels cut by the figure edge: {figure['clipped']}"
            assert figure["width"] > 600, figure["width"]
        assert len([t for t in lower["ticks"][0] if t.strip()]) >= 3, lower["ticks"]
        for labels in (flux["ticks"][1], lower["ticks"][0], lower["ticks"][1]):
            _assert_nice(labels)
        coefficients = page.locator(".fgs-science-coefficients").first.inner_text()
        assert "x_mean" in coefficients and "ppm" in coefficients, coefficients
        legend = page.locator(".fgs-science-legend").first.inner_text()
        assert "model" in legend and "x_mean" in legend and "tilt" in legend, legend
        assert page.locator(".fgs-science-panel .fgs-error").count() == 0
        # hover: the integration under the pointer; a click picks its frame in every view
        box = page.locator(".fgs-science-figure").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        _wait(run, """() => (document.querySelector('.fgs-science-panel .fgs-ts-readout')
                             ?.textContent || '').includes('integration')""", "hover readout")
        page.screenshot(path=str(SCREENSHOTS / "science_hover.png"))
        readout = page.locator(".fgs-science-panel .fgs-ts-readout").first.text_content()
        assert "MJD UTC" in readout and "BJD_TDB" in readout and "residual" in readout, readout
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        _wait(run, """() => { const r = document.querySelector('.fgs-fv-readout');
                              return r && /^frame [1-9]/.test(r.textContent); }""",
              "the frame picked in the science panel")
        printed = " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
        assert "science 127 " in printed and "residual rms" in printed, printed
        print("notebook:", [line for line in printed.splitlines() if line.startswith("science")])
        serious = [e for e in run.errors if "favicon" not in e]
        assert not serious, serious

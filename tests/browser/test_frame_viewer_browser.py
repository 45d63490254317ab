"""FrameViewer in JupyterLab + headless Chromium: draws, steps, plays across blocks, syncs back.

The kernel logs what reaches Python (session cursor, viewer block start) to files the test
polls, so each check covers the whole path browser -> comm -> kernel.
"""

from __future__ import annotations

import time

import pytest
from harness import notebook_in_lab, wait_for_lines, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

N_FRAMES = 3000
BLOCK = 128  # small, so playback must cross blocks within a few seconds

SETUP = f"""\
import numpy as np
import pandas as pd
import ipywidgets as W
from fgs_widgets.data import GuideStarData
from fgs_widgets.engine.psf import gaussian2d
from fgs_widgets.model import Session
from fgs_widgets.widgets import FrameViewer

n = {N_FRAMES}
rng = np.random.default_rng(0)
time = np.linspace(60000.0, 60000.0 + (n - 1) * 0.0625 / 86400, n)
k = np.arange(n)
# a star drifting on a circle, elongated and rotated, on a background with noise
truth = np.column_stack([np.full(n, 2000.0), 3.5 + 1.2 * np.cos(k / 40), 3.5 + 1.2 * np.sin(k / 40),
                         np.full(n, 1.3), np.full(n, 0.7), np.full(n, 0.5), np.full(n, 50.0)])
frames = (gaussian2d(truth) + rng.normal(0, 10, (n, 8, 8))).astype(np.float32)
frames[0, 7, 0] = np.nan  # row 7, column 0: must be the top-left pixel, in magenta
products = pd.DataFrame({{"file_name": ["synthetic_cal.fits"], "path": ["synthetic"],
    "program": ["01234"], "observation": ["001"], "visit": ["001"], "guider": ["GUIDER1"],
    "gs_id": ["S0"], "data_start": [time[0]], "data_end": [time[-1]], "n_frames": [n]}})
session = Session()
session.data = GuideStarData(frames=frames, time=time, flux=frames.sum(axis=(1, 2)).astype(float),
                             quality=np.zeros(n, dtype=np.uint16),
                             segments=np.zeros(n, dtype=np.int32), products=products)
session.fit = pd.DataFrame(truth, columns=["amplitude", "x_mean", "y_mean", "x_stddev",
                                           "y_stddev", "theta", "offset"])
"""

SHOW = f"""\
viewer = FrameViewer(session, block_size={BLOCK}, fps=64)
slider = W.IntSlider(0, min=0, max=n - 1, description="cursor")
_link = W.jslink((viewer, "cursor"), (slider, "value"))

def _log(name):
    def write(change):
        with open(name, "a") as f:
            f.write(f"{{change['new']}}\\n")
    return write

session.observe(_log("cursor.log"), names="cursor")
viewer.observe(_log("block.log"), names="block_start")
viewer.observe(_log("scale.log"), names="scale")
viewer.observe(_log("limits.log"), names="limits")
W.VBox([viewer, slider])
"""

READOUT = "document.querySelector('.fgs-fv-readout')"
# a checksum of the canvas pixels: tells whether a redraw changed the picture
CANVAS_SUM = """() => {
    const c = document.querySelector('canvas.fgs-frame-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i += 4) h = (h * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) >>> 0;
    return h;
}"""


def test_frame_viewer_steps_plays_and_syncs(tmp_path, chromium):
    """Needs /usr/bin/chromium (the `chromium` fixture skips without it)."""
    notebook = write_notebook(tmp_path / "frame_viewer.ipynb", [SETUP, SHOW])
    cursor_log, block_log = tmp_path / "cursor.log", tmp_path / "block.log"
    with notebook_in_lab(notebook) as run:
        page = run.page
        started = time.perf_counter()
        page.wait_for_selector("canvas.fgs-frame-canvas", timeout=90_000)
        page.wait_for_function(f"() => {READOUT}?.dataset.index === '0'", timeout=30_000)
        run.mark("widget_drawn", started)

        # the canvas holds a picture, not a blank fill
        colours = page.evaluate("""() => {
            const c = document.querySelector('canvas.fgs-frame-canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const seen = new Set();
            for (let i = 0; i < d.length; i += 4 * 97) {
                seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
            }
            return seen.size;
        }""")
        assert colours > 10, f"canvas looks blank ({colours} colours)"
        # orientation: row 0 at the bottom (origin="lower"), so row 7 column 0 is top-left
        corner = page.evaluate("""() => [...document.querySelector('canvas.fgs-frame-canvas')
            .getContext('2d').getImageData(5, 5, 1, 1).data]""")
        assert corner == [255, 0, 255, 255], corner
        run.screenshot("frame_viewer_first.png", selector=".fgs-frame-viewer")

        step = page.locator(".fgs-fv-step-forward").first
        for _ in range(3):
            step.click()
        page.wait_for_function(f"() => {READOUT}.dataset.index === '3'", timeout=10_000)
        assert page.locator(".fgs-fv-readout").first.inner_text().startswith("frame 3 of ")
        wait_for_lines(cursor_log, lambda lines: lines[-1:] == ["3"])
        page.wait_for_function(  # jslink'ed slider follows
            "() => document.querySelector('.widget-slider .widget-readout').innerText.trim()"
            " === '3'", timeout=10_000)
        page.locator(".fgs-fv-step-back").first.click()
        before_play = len(wait_for_lines(cursor_log, lambda lines: lines[-1:] == ["2"]))
        run.screenshot("frame_viewer_step.png", selector=".fgs-frame-viewer")

        # play at 64 fps: through several 128-frame blocks without stopping
        started = time.perf_counter()
        page.locator(".fgs-fv-play").first.click()
        wait_for_lines(cursor_log, lambda lines: int(lines[-1]) >= 300, timeout=30)
        run.mark("play_300_frames", started)
        # 300 frames at 64 fps is 4.7 s; a stall at each block end would show here
        assert run.timings["play_300_frames"] < 2 * 300 / 64, run.timings
        page.locator(".fgs-fv-play").first.click()  # pause: the timer stops at once
        page.wait_for_function("() => document.querySelector('.fgs-fv-play').textContent === '▶'",
                               timeout=5_000)
        shown = int(page.evaluate(f"() => {READOUT}.dataset.index"))
        # the pause sends the frame it stopped on
        lines = wait_for_lines(cursor_log, lambda lines: int(lines[-1]) == shown, timeout=10)
        reported = [int(v) for v in lines[before_play:]]
        assert reported == sorted(reported)  # playback only moved forward
        blocks = [int(v) for v in block_log.read_text().split()]
        assert len(blocks) >= 3 and blocks == sorted(blocks), blocks  # prefetched blocks
        # throttled: far fewer kernel updates than frames played (<= 10 Hz)
        assert len(reported) < (shown - 2) / 2, (len(reported), shown)
        print(f"\nplayed {shown - 2} frames, {len(reported)} cursor updates reached the kernel")
        page.wait_for_timeout(300)  # nothing moves while paused
        assert int(page.evaluate(f"() => {READOUT}.dataset.index")) == shown

        # a click on the canvas steps (and focuses it); then the keyboard steps
        page.locator(".fgs-frame-canvas").first.click()
        wait_for_lines(cursor_log, lambda lines: lines[-1:] == [str(shown + 1)])
        page.keyboard.press("ArrowRight")
        wait_for_lines(cursor_log, lambda lines: lines[-1:] == [str(shown + 2)])

        # the colour-scale menu reaches Python
        page.locator(".fgs-fv-scale").first.select_option("log")
        wait_for_lines(tmp_path / "scale.log", lambda lines: lines[-1:] == ["log"])
        page.wait_for_function(f"() => {READOUT}.innerText.includes(' log ')", timeout=5_000)

        # asinh redraws the same (paused) frame with other colours
        before = page.evaluate(CANVAS_SUM)
        page.locator(".fgs-fv-scale").first.select_option("asinh")
        wait_for_lines(tmp_path / "scale.log", lambda lines: lines[-1:] == ["asinh"])
        page.wait_for_function(f"() => {READOUT}.innerText.includes(' asinh ')", timeout=5_000)
        assert page.evaluate(CANVAS_SUM) != before, "asinh left the canvas as it was"
        assert int(page.evaluate(f"() => {READOUT}.dataset.index")) == shown + 2

        # the limits menu sits by the stretch menu, robust by default, shown in the readout
        limits = page.locator(".fgs-fv-controls .fgs-fv-limits").first
        assert limits.input_value() == "robust"
        text = page.locator(".fgs-fv-readout").first.inner_text()
        assert text.startswith(f"frame {shown + 2:,} ") and " asinh robust " in text, text
        limits.select_option("frame")
        wait_for_lines(tmp_path / "limits.log", lambda lines: lines[-1:] == ["frame"])
        page.wait_for_function(f"() => {READOUT}.innerText.includes(' asinh frame ')",
                               timeout=5_000)

        path = run.screenshot("frame_viewer_lab.png")
        run.screenshot("frame_viewer_widget.png", selector=".fgs-frame-viewer")
        assert path.stat().st_size > 10_000
        assert run.errors == [], run.errors
    print(f"\ntimings (s): {run.timings}")

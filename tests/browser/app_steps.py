"""Steps on the quickstart's App in a browser page, shared by the browser tests.

Each step uses real input (mouse, clicks) and waits for what the page shows; the Python
side is read from files a test-only notebook cell appends to (`quickstart_with_logs`), so
a check covers browser -> comm -> kernel.  Front-end neutral: JupyterLab, Notebook 7 and
Voila pages alike (JupyterLab renders only the cells in view, so each step scrolls its
element into view first).
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import nbformat
from harness import wait_for_file_line

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "notebooks" / "quickstart.ipynb"

#: a test-only last cell: the kernel writes the session's cursor and window changes
LINKED_LOG_CELL = (
    "from pathlib import Path\n"
    "_log = Path('linked.log')\n"
    "def _note(change):\n"
    "    with _log.open('a') as f:\n"
    "        f.write(f\"{change['name']} {change['new']}\\n\")\n"
    "session.observe(_note, names=['cursor', 'window'])")
#: and the series that have a periodogram, each time that changes (its own file: a
#: periodogram computed after the fit must not come between a click and its cursor line)
PERIODOGRAM_LOG_CELL = (
    "def _note_periodograms(change):\n"
    "    with open('periodograms.log', 'a') as f:\n"
    "        f.write('periodograms ' + ','.join(sorted(change['new'] or {})) + '\\n')\n"
    "session.observe(_note_periodograms, names=['periodograms'])")

READOUT = "document.querySelector('.fgs-fv-readout')"
#: a period as the panel labels it ("37.6 s", "3.52 min", "1.2 h")
PERIOD_LABEL = re.compile(r"^\d[\d.]* (s|min|h)$")
#: the one label of a periodogram without a significant peak
NO_PEAK = "no significant peak"


def quickstart_with_logs(folder: Path, cells: tuple[str, ...] = (LINKED_LOG_CELL,),
                         name: str = "quickstart.ipynb") -> Path:
    """Write the quickstart notebook with ``cells`` appended into ``folder``."""
    notebook = nbformat.read(QUICKSTART, as_version=4)
    notebook.cells.extend(nbformat.v4.new_code_cell(source) for source in cells)
    path = Path(folder) / name
    nbformat.write(notebook, path)
    return path


def wait_for_app(page, timeout_ms: float = 120_000) -> None:
    """The App is drawn: frame canvas, a time-series line, the frame readout at frame 0."""
    page.wait_for_selector("canvas.fgs-frame-canvas", timeout=timeout_ms)
    # run-all leaves the notebook scrolled to its last cell; JupyterLab renders only the
    # cells in view (innerText of an off-screen one is empty), so bring the App back
    page.locator("canvas.fgs-frame-canvas").first.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.fgs-timeseries-panel path')]"
        ".some(p => (p.getAttribute('d')||'').length > 1000)", timeout=timeout_ms)
    page.wait_for_function(
        f"() => {READOUT}?.innerText.startsWith('frame 0 ')", timeout=30_000)


def frame_index(page) -> int:
    """The frame the frame viewer shows (its readout's ``data-index``)."""
    return int(page.evaluate(f"() => {READOUT}.dataset.index"))


def hover_panel(page, panel: int = 1, at: float = 0.4) -> tuple[str, int, tuple[float, float]]:
    """Hover time-series panel ``panel`` at ``at`` of its width; the readout names time, UTC,
    MJD and frame.  Returns (readout text, frame named, mouse position)."""
    locator = page.locator(".fgs-timeseries-panel").nth(panel)
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    point = (box["x"] + box["width"] * at, box["y"] + box["height"] * 0.5)
    page.mouse.move(*point)
    page.wait_for_function(
        "() => document.querySelector('.fgs-ts-readout')?.innerText.startsWith('t = ')",
        timeout=10_000)
    readout = page.locator(".fgs-ts-readout").first.inner_text()
    assert " UTC · frame " in readout and "MJD 5" in readout, readout
    frame = int(readout.split(" · frame ")[1].split(" ")[0].replace(",", ""))
    return readout, frame, point


def click_picks_frame(page, point: tuple[float, float], frame: int, log: Path) -> None:
    """A click (no drag) at ``point`` moves the session's cursor and the frame viewer to
    ``frame`` (the frame the hover readout named there)."""
    page.mouse.click(*point)
    wait_for_file_line(log, lambda line: line == f"cursor {frame}")
    page.wait_for_function(
        f"() => {READOUT}.innerText.startsWith('frame {frame:,} ')", timeout=10_000)
    assert frame_index(page) == frame


def play_advances(page, log: Path, frames: int = 16) -> tuple[int, int]:
    """Play moves the frame viewer on by at least ``frames``; pause stops it and sends
    the frame it stopped on to Python.  Returns (first, last) frame index."""
    first = frame_index(page)
    play = page.locator(".fgs-fv-play").first
    play.scroll_into_view_if_needed()
    play.click()
    page.wait_for_function(f"() => Number({READOUT}.dataset.index) >= {first + frames}",
                           timeout=20_000)
    play.click()  # pause
    page.wait_for_function("() => document.querySelector('.fgs-fv-play').textContent === '▶'",
                           timeout=5_000)
    last = frame_index(page)
    assert last >= first + frames, (first, last)
    wait_for_file_line(log, lambda line: line == f"cursor {last}")
    page.wait_for_timeout(300)  # nothing moves while paused
    assert frame_index(page) == last
    return first, last


def periodogram_labels(page) -> list[str]:
    """The peak labels drawn on the periodogram figure."""
    return page.evaluate(
        "() => [...document.querySelectorAll('.fgs-periodogram text.label')]"
        ".map(t => t.textContent.trim()).filter(Boolean)")


def wait_for_periodogram(page, series: str | None = None,
                         timeout_ms: float = 180_000) -> list[str]:
    """The periodogram figure draws a line and labels its peaks (of ``series`` when given:
    its title starts with the series' name).  Returns the peak labels."""
    page.locator(".fgs-periodogram").first.scroll_into_view_if_needed()
    title = f"&& (f.querySelector('text.mainheading')?.textContent || '').startsWith(" \
            f"'{series},')" if series else ""
    page.wait_for_function(
        "() => { const f = document.querySelector('.fgs-periodogram');"
        " return f && [...f.querySelectorAll('path.line')]"
        ".some(p => (p.getAttribute('d') || '').length > 200)"
        f" && f.querySelectorAll('text.label').length > 0 {title}; }}", timeout=timeout_ms)
    labels = periodogram_labels(page)
    # significant peaks are labelled with their period; a series without one (noise) says
    # so in one line instead
    assert labels and (all(PERIOD_LABEL.match(label) for label in labels)
                       or (len(labels) == 1 and labels[0].startswith(NO_PEAK))), labels
    return labels


def periodogram_by_button(page, series: str, log: Path) -> tuple[list[str], list[str]]:
    """The periodogram panel's action: with *compute after fit* off, choosing ``series``
    (one without a periodogram yet) draws nothing new until the *Periodogram* button
    computes it.  Waits for Python to hold it and the figure to draw it with its peaks;
    returns (peak labels on the figure, rows of the peaks list)."""
    panel = page.locator(".fgs-periodogram-panel").first
    panel.scroll_into_view_if_needed()
    panel.locator(".widget-checkbox input").first.uncheck()  # compute after fit
    panel.locator(".widget-dropdown select").first.select_option(series)
    panel.locator("button", has_text="Periodogram").first.click()
    wait_for_file_line(log, lambda line: series in line.split(" ", 1)[-1].split(","),
                       timeout=60)
    labels = wait_for_periodogram(page, series, timeout_ms=60_000)
    rows = [" ".join(row.split()) for row in  # the rows are padded with no-break spaces
            panel.locator("select[size] option").all_inner_texts()]
    assert rows and all(" power " in row and " FAP " in row for row in rows), rows
    if labels[0].startswith(NO_PEAK):  # then no row may read as a finding
        assert all(row.endswith("not significant") for row in rows), rows
    return labels, rows


# -- what the plots say: scales, ticks, clipping ---------------------------------------------
#: per figure: tick label texts per axis, labels outside the figure, data line's y pixels
_FIGURES_JS = """() => [...document.querySelectorAll('.fgs-timeseries-panel, .fgs-periodogram')]
  .filter(fig => fig.getBoundingClientRect().width > 0).map(fig => {
    const box = fig.getBoundingClientRect();
    const axes = [...fig.querySelectorAll('g.axis')].map(axis => [...axis.querySelectorAll(
        '.tick text')].filter(t => t.getBoundingClientRect().width > 0).map(t => t.textContent));
    const clipped = [...fig.querySelectorAll('g.axis .tick text')].filter(t => {
        const r = t.getBoundingClientRect();
        return r.width > 0 && (r.left < box.left - 0.5 || r.right > box.right + 0.5
            || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5); }).map(t => t.textContent);
    const area = fig.querySelector('rect.plotarea_background').getBoundingClientRect();
    // the data line: the longest path (event bands and the cursor are Lines marks too)
    const path = [...fig.querySelectorAll('path.line')].sort((a, b) =>
        (b.getAttribute('d') || '').length - (a.getAttribute('d') || '').length)[0];
    const ctm = path ? path.getScreenCTM() : null;
    const ys = !path ? [] : [...(path.getAttribute('d') || '').matchAll(
        /(-?[0-9.]+(?:e-?[0-9]+)?),(-?[0-9.]+(?:e-?[0-9]+)?)/g)]
        .map(m => ctm.f + ctm.d * parseFloat(m[2]) - area.top);
    return {kind: fig.classList.contains('fgs-periodogram') ? 'periodogram' : 'series',
            axes, clipped, height: area.height, ys}; })"""


def _nice_step(values: list[float]) -> bool:
    """Equal steps of 1, 2, 2.5 or 5 x 10^k."""
    steps = [b - a for a, b in itertools.pairwise(values)]
    if not steps:
        return True
    step = steps[0]
    if step <= 0 or any(abs(s - step) > 1e-6 * abs(step) for s in steps):
        return False
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
    return any(abs(mantissa - m) < 1e-6 for m in (1, 2, 2.5, 5))


def _nice_log(values: list[float]) -> bool:
    """Log-axis ticks at 1, 2, 3 or 5 x 10^k, or equal nice steps inside one decade."""
    mantissas = [v / 10 ** math.floor(math.log10(v) + 1e-9) for v in values if v > 0]
    return (all(any(abs(m - n) < 1e-6 for n in (1, 2, 2.5, 3, 5)) for m in mantissas)
            or _nice_step(values))


def assert_views_tell_the_truth(page, kinds: str = "series periodogram") -> None:
    """Issue 15's defects, as the page shows them: scales, ticks, clipping."""
    figures = [f for f in page.evaluate(_FIGURES_JS) if f["kind"] in kinds.split()]
    assert figures, "no time-series or periodogram figure in the page"
    for number, figure in enumerate(figures):
        where = f"{figure['kind']} figure {number}"
        assert not figure["clipped"], f"{where}: tick labels cut by the figure edge: " \
            f"{figure['clipped']}"
        for labels in figure["axes"]:
            values = [float(text.replace("\u2212", "-")) for text in labels if text.strip()]
            if not values:
                continue  # a hidden axis (the upper panels share the bottom one's time axis)
            assert len(values) >= 2, f"{where}: a single tick {labels} tells no scale"
            log_axis = figure["kind"] == "periodogram" and labels is figure["axes"][0]
            assert (_nice_log(values) if log_axis else _nice_step(values)), \
                f"{where}: ticks {labels} are not at nice numbers"
        ys = sorted(figure["ys"])
        if figure["kind"] == "series" and len(ys) > 100:
            # the bulk of the good frames fills the panel: the 5-95 % of the drawn points span
            # at least a quarter of its height, and nearly all of them are inside it
            bulk = ys[int(0.95 * len(ys))] - ys[int(0.05 * len(ys))]
            inside = sum(0 <= y <= figure["height"] for y in ys) / len(ys)
            assert bulk >= 0.25 * figure["height"], \
                f"{where}: the bulk spans {bulk:.0f} of {figure['height']:.0f} px"
            assert inside >= 0.97, f"{where}: only {inside:.1%} of the points are in view"

"""The time-series lines re-decimated in the browser (issue 30), in JupyterLab + Chromium.

The kernel's every message reaches the browser ``DELAY_MS`` late (a remote hub), so a
line redrawn sooner after a wheel or a drag cannot have come from the kernel.  The test
process builds the same frames as the notebook (`synthetic_guide_star`, its source is
the notebook's cell) and checks every drawn line against the Python reference
(`engine.line_summary`): the full view, zooms and a pan drawn from the summary levels at
once, a deep zoom first drawn from the finest level and then from the raw frames the
kernel sends, and, on the page, the line's path, the flagged-frame ticks, the hover
readout and the cursor a click moves.
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from harness import (
    delay_kernel_answers_cell,
    notebook_errors,
    notebook_in_lab,
    run_all,
    write_notebook,
)

from fgs_widgets.engine.line_summary import (
    choose_source,
    detail_range,
    draw_from,
    line_levels,
    source_for_frames,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts"  # gitignored, as the others
DELAY_MS = 400.0  # every kernel message reaches the browser this late
N_FRAMES = 800_000
SEED = 30
LINE_STYLE = "rgb(51, 51, 51)"  # the data line (#333333)
CURSOR_STYLE = "rgb(227, 119, 194)"  # the cursor (#e377c2)


def synthetic_guide_star(n=800_000, seed=30):
    """A deterministic guide-star series: 53-65 ms cadence varying frame to frame, two
    files with a 400 s gap between them, 0.2 % of frames flagged (negative flux), a slow
    oscillation in noise and one spike; frames are a zero-stride view (no memory)."""
    import numpy as np
    import pandas as pd

    from fgs_widgets.data import GuideStarData, Quality

    rng = np.random.default_rng(seed)
    step = rng.uniform(0.053, 0.065, n)
    seconds = np.cumsum(step) - step[0]
    split = n // 3
    seconds[split:] += 400.0
    time = 60_000.0 + seconds / 86_400.0
    flux = 1e5 + 400.0 * np.sin(seconds / 900.0) + rng.normal(0.0, 300.0, n)
    flux[n // 2] = 2e5
    quality = np.zeros(n, dtype=np.uint16)
    quality[rng.random(n) < 0.002] = int(Quality.NEGATIVE_FLUX)
    quality[[0, split]] |= int(Quality.FILE_START)
    quality[split] |= int(Quality.GAP_BEFORE)
    products = pd.DataFrame({"file_name": ["a_cal.fits", "b_cal.fits"], "path": ["a", "b"],
                             "gs_id": ["A", "A"], "data_start": [time[0], time[split]],
                             "data_end": [time[split - 1], time[-1]],
                             "first_frame": [0, split], "n_frames": [split, n - split]})
    return GuideStarData(frames=np.broadcast_to(np.zeros((1, 8, 8), np.float32), (n, 8, 8)),
                         time=time, flux=flux, quality=quality,
                         segments=(np.arange(n) >= split).astype(np.int32), products=products)


SHOW = f"""\
from fgs_widgets.model import Session
from fgs_widgets.widgets import TimeseriesViewer

session = Session()
session.data = synthetic_guide_star({N_FRAMES}, {SEED})
viewer = TimeseriesViewer(session, columns=("flux",))
viewer
"""

#: before any cell runs: the registry the module fills (it keeps one that exists), with
#: every draw's record kept, and the time of every wheel and press/drag/release
_HOOK_JS = """() => {
  const log = window.__fgsTest = {inputs: [], records: []};
  const reg = globalThis.__fgsSeriesLines = {last: {}, draws: [], requests: 0, answers: 0};
  const push = reg.draws.push.bind(reg.draws);
  reg.draws.push = (d) => { log.records.push(reg.last[d.id]); return push(d); };
  for (const type of ['wheel', 'mousedown', 'mousemove', 'mouseup']) {
    window.addEventListener(type, (e) => { if (type !== 'mousemove' || e.buttons)
      log.inputs.push({type, time: performance.now()}); }, {capture: true, passive: true});
  }
}"""
#: the draws recorded after ``since`` (ms, page clock), without their points
_RECORDS_JS = """(since) => window.__fgsTest.records.map((r, index) => ({index,
  start: r.start, stop: r.stop, width: r.width, pending: r.pending, time: r.time,
  series: r.series.map(s => ({block: s.block, lo: s.lo, hi: s.hi, enough: s.enough}))}))
  .filter(r => r.time > since)"""
#: the points of record ``index`` (NaN as null)
_POINTS_JS = """(index) => window.__fgsTest.records[index].series.map(s => ({
  x: Array.from(s.x), y: Array.from(s.y, v => Number.isNaN(v) ? null : v)}))"""
#: what the panel shows: plot area, the data line's and the cursor's points (path pixels),
#: the flagged-frame ticks' x (pixels), the readout
_PAGE_JS = """() => {
  const f = document.querySelector('.fgs-timeseries-panel');
  const area = f && f.querySelector('rect.plotarea_background');
  if (!area) return {missing: true, line: [], cursor: [], dots: [], now: performance.now()};
  const box = area.getBoundingClientRect();
  const paths = [...f.querySelectorAll('path.line')];
  const pairs = (style) => { const p = paths.find(q =>
      (q.getAttribute('style') || '').includes(style));
    return [...((p && p.getAttribute('d')) || '').matchAll(
      /(-?[0-9.]+(?:e[-+]?[0-9]+)?),(-?[0-9.]+(?:e[-+]?[0-9]+)?)/g)].map(m => [+m[1], +m[2]]); };
  const dots = [...f.querySelectorAll('.dot')].map(d => {
    const m = /translate\\(\\s*(-?[0-9.e+-]+)/.exec(d.parentNode.getAttribute('transform') || '');
    return m ? +m[1] : null; });
  const axis = [...f.querySelectorAll('g.axis')].find(a => /time since/.test(a.textContent));
  const ticks = !axis ? [] : [...axis.querySelectorAll('.tick')].map(t => [
    +(/translate\\(\\s*(-?[0-9.e+-]+)/.exec(t.getAttribute('transform') || '') || [0, NaN])[1],
    t.textContent.trim()]).filter(t => t[1]);
  return {width: +area.getAttribute('width'), left: box.left, top: box.top, ticks,
          axis_label: axis ? (axis.querySelector('text.axislabel')?.textContent || '') : '',
          height: box.height, line: pairs('LINE'), cursor: pairs('CURSOR'), dots,
          readout: document.querySelector('.fgs-ts-readout')?.innerText || '',
          status: document.querySelector('.fgs-ts-status')?.innerText || '',
          requests: globalThis.__fgsSeriesLines.requests,
          answers: globalThis.__fgsSeriesLines.answers, now: performance.now()}; }
""".replace("'LINE'", repr(LINE_STYLE)).replace("'CURSOR'", repr(CURSOR_STYLE))


@dataclass
class Reference:
    """The frames as the viewer holds them and the summary levels it sends."""

    seconds: np.ndarray
    values: np.ndarray  # flagged frames NaN, as the viewer masks them
    levels: list
    gap: float

    @classmethod
    def build(cls) -> Reference:
        """The notebook's data, made here by the same code."""
        data = synthetic_guide_star(N_FRAMES, SEED)
        seconds = (data.time - data.time[0]) * 86400.0
        values = np.where(data.good, np.asarray(data.flux, dtype=np.float64), np.nan)
        return cls(seconds, values, line_levels(seconds, values), 10 * data.cadence)

    def source(self, meta: dict):
        """The source a record's series was drawn from (its block and frame range)."""
        if meta["lo"] == 0 and meta["hi"] == len(self.seconds):
            for level in self.levels:
                if level.block == meta["block"]:
                    return level
        return source_for_frames(self.seconds, self.values, meta["lo"], meta["hi"],
                                 meta["block"])

    def frames_in(self, record: dict) -> int:
        """Frames with a time in the record's window."""
        lo = np.searchsorted(self.seconds, record["start"], "left")
        return int(np.searchsorted(self.seconds, record["stop"], "right") - lo)


def _window(record: dict) -> tuple[float, float]:
    return record["start"], record["stop"]


def _wait_for(run, fetch, done, what: str, timeout: float = 20.0):
    """Poll ``fetch()`` until ``done(value)``; fail with the last value, or at once on a
    browser error or a failed notebook cell."""
    deadline = time.monotonic() + timeout
    while True:
        if [e for e in run.errors if "favicon" not in e]:
            pytest.fail(f"browser errors while waiting for {what}: {run.errors}")
        failed = notebook_errors(run.page)
        if failed:
            pytest.fail(f"a notebook cell failed while waiting for {what}: {failed}")
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            seen = {k: len(v) if isinstance(v, list) else v for k, v in value.items()} \
                if isinstance(value, dict) else value
            pytest.fail(f"no {what} after {timeout:.0f} s; last seen: {str(seen)[:1500]}")
        run.page.wait_for_timeout(25)


def _page(run) -> dict:
    return run.page.evaluate(_PAGE_JS)


def _records(run, since: float) -> list[dict]:
    return run.page.evaluate(_RECORDS_JS, since)


def _last_input(run, kind: str) -> float:
    """Page time (ms) of the last input event of ``kind``."""
    times = [e["time"] for e in run.page.evaluate("() => window.__fgsTest.inputs")
             if e["type"] == kind]
    assert times, f"no {kind} event reached the page"
    return times[-1]


def _settle(run, quiet_ms: float = 2 * DELAY_MS + 400) -> dict:
    """Wait until the kernel is idle and nothing was drawn for ``quiet_ms``; the last draw."""
    def quiet():
        now = _page(run)["now"]
        last = _records(run, 0)
        busy = "Busy" in run.page.inner_text("#jp-main-statusbar")
        return {"quiet": not busy and last and now - last[-1]["time"] > quiet_ms,
                "last": last[-1] if last else None}
    return _wait_for(run, quiet, lambda v: v["quiet"], "a settled page", 60)["last"]


def _assert_drawn_as_reference(run, ref: Reference, record: dict, what: str) -> list:
    """The record's points are the reference's for its window, width and source."""
    points = run.page.evaluate(_POINTS_JS, record["index"])
    assert len(points) == len(record["series"]) == 1, (what, record)
    for meta, drawn in zip(record["series"], points, strict=True):
        x_ref, y_ref = draw_from(ref.source(meta), _window(record), record["width"], ref.gap)
        x = np.asarray(drawn["x"], dtype=np.float64)
        y = np.array([np.nan if v is None else v for v in drawn["y"]], dtype=np.float64)
        context = (f"{what}: the browser's line differs from draw_from() for window "
                   f"{_window(record)}, width {record['width']}, source {meta}")
        assert len(x) > 0, context
        np.testing.assert_array_equal(x, x_ref, err_msg=context)
        np.testing.assert_array_equal(y, y_ref, err_msg=context)
        if meta["lo"] == 0 and meta["hi"] == len(ref.seconds):  # a level: the one Python picks
            chosen, enough = choose_source(ref.levels, _window(record), record["width"])
            assert (chosen.block, enough) == (meta["block"], meta["enough"]), (what, meta)
    return points


def _assert_path_is_record(run, record: dict, points: list, what: str) -> dict:
    """What the user sees: the data line's path has the record's points, in order, at the
    pixels the visible x range maps them to (within 1 px).

    The window fills the plot area: the shared time scale allows no padding (bqplot would
    inset the marks, not the axis, by half the flag ticks' size), so marks, ticks and
    the pointer put a time at the same pixel.  Returns the page and that mapping
    (seconds -> path pixels).
    """
    x = np.asarray(points[0]["x"], dtype=np.float64)
    y = np.array([np.nan if v is None else v for v in points[0]["y"]], dtype=np.float64)
    keep = ~np.isnan(y)
    page = _wait_for(run, lambda: _page(run), lambda p: len(p["line"]) == keep.sum(),
                     f"{what}: a path of {keep.sum()} points (the record's)", 5)
    px = np.asarray(page["line"], dtype=np.float64)
    span = record["stop"] - record["start"]
    for data, pixels, axis in ((x[keep], px[:, 0], "x"), (y[keep], px[:, 1], "y")):
        slope, offset = np.polyfit(data - data.mean(), pixels, 1)
        off = np.max(np.abs(offset + slope * (data - data.mean()) - pixels))
        assert off < 0.05, f"{what}: the path's {axis} is not the record's ({off:.2f} px off)"
    slope, offset = np.polyfit(x[keep] - record["start"], px[:, 0], 1)
    pad_left, pad_right = offset, page["width"] - (offset + slope * span)
    assert abs(pad_left) < 0.5 and abs(pad_right) < 0.5, (
        f"{what}: the record's window [{record['start']}, {record['stop']}] maps to "
        f"[{pad_left:.2f}, {page['width'] - pad_right:.2f}] px of a {page['width']} px plot")
    page["pad"] = pad = 0.5 * (pad_left + pad_right)
    page["to_px"] = lambda s: pad + (s - record["start"]) / span * (page["width"] - 2 * pad)
    expected = page["to_px"](x[keep][[0, -1]])
    assert np.all(np.abs(px[[0, -1], 0] - expected) <= 1.0), (
        f"{what}: first/last points at {px[[0, -1], 0]} px, the window puts them at "
        f"{expected} px")
    return page


def _assert_axis_agrees(page: dict, what: str) -> None:
    """The time axis' tick labels sit where the line's mapping puts their times (1 px):
    the line is drawn against the axis the user reads."""
    unit = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}[
        page["axis_label"].rsplit("(", 1)[-1].rstrip(")")]
    ticks = [(px, float(text.replace("\u2212", "-").replace(",", "")) * unit)
             for px, text in page["ticks"]]
    assert len(ticks) >= 2, f"{what}: ticks {page['ticks']}"
    off = [(text, px, page["to_px"](value)) for (px, text), (_, value) in
           zip(page["ticks"], ticks, strict=True) if abs(page["to_px"](value) - px) > 1.0]
    assert not off, f"{what}: ticks (label, drawn px, px of the line's mapping): {off}"


def _assert_settled_view(run, record: dict, what: str) -> dict:
    """Once the kernel has answered: the path is the record's and the axis agrees."""
    points = run.page.evaluate(_POINTS_JS, record["index"])
    page = _assert_path_is_record(run, record, points, what)
    _assert_axis_agrees(page, what)
    return page


def _action_draw(run, ref: Reference, kind: str, what: str, pending: bool = False) -> dict:
    """The first draw after the last ``kind`` input: there well before the kernel could
    have answered, pending or not as expected, equal to the reference, shown on the page."""
    since = _last_input(run, kind)
    rows = _wait_for(run, lambda: _records(run, since), bool,
                     f"{what}: a draw after the {kind}", 5)
    record = rows[0]
    latency = record["time"] - since
    assert latency < DELAY_MS, (
        f"{what}: the first draw came {latency:.0f} ms after the {kind}, not before the "
        f"kernel's answers ({DELAY_MS:.0f} ms late) could arrive")
    assert record["pending"] is pending, (what, record)
    print(f"{what}: drawn {latency:.1f} ms after the {kind}")
    points = _assert_drawn_as_reference(run, ref, record, what)
    if not pending:
        record["page"] = _assert_path_is_record(run, record, points, what)
    return record


def _panel_point(page: dict, fraction: float) -> tuple[float, float]:
    """Viewport coordinates at ``fraction`` of the plot area's width, mid-height."""
    return page["left"] + fraction * page["width"], page["top"] + 0.5 * page["height"]


def _screenshot(run, name: str) -> Path:
    run.page.locator(".fgs-timeseries").first.evaluate(
        "e => e.scrollIntoView({block: 'start'})")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    run.page.screenshot(path=str(path))
    return path


def _check_full_view(run, ref: Reference) -> None:
    """Every draw of the full view (the first at the default width, then at the
    browser's) equals the reference; the path shows the last; the spike is drawn."""
    _wait_for(run, lambda: [r for r in _records(run, 0) if r["series"]], bool,
              "the first draw of the line", 150)
    _wait_for(run, lambda: _page(run), lambda p: not p.get("missing"), "the panel", 30)
    # the browser measures the plot; the kernel passes its width on to the lines
    _wait_for(run, lambda: (_records(run, 0)[-1]["width"], _page(run)["width"]),
              lambda w: abs(w[0] - w[1]) <= 0.05 * w[1], "a draw at the plot's width", 30)
    last = _settle(run)
    # the module draws once when the scale is there, before the series are: nothing
    records = [r for r in _records(run, 0) if r["series"]]
    for record in records:
        assert _window(record) == pytest.approx((0.0, ref.seconds[-1]), abs=1e-6), record
        assert record["pending"] is False, record
        points = _assert_drawn_as_reference(run, ref, record, "the full view")
    assert records[-1]["index"] == last["index"]
    assert 2e5 in points[0]["y"], "the spike is not drawn"
    _wait_for(run, lambda: _page(run)["status"], lambda s: f"{N_FRAMES:,} frames in view" in s,
              "the kernel's status of the full view", 10)
    _assert_settled_view(run, last, "the full view")
    _screenshot(run, "series_lines_full.png")


def _check_zoom_and_pan(run, ref: Reference) -> dict:
    """Three wheel zooms and a drag: each drawn from the levels before the kernel could
    answer, no detail asked; the kernel then follows the browser's window."""
    run.page.locator(".fgs-timeseries-panel").first.scroll_into_view_if_needed()
    page = _page(run)
    run.page.mouse.move(*_panel_point(page, 0.45))
    previous = _records(run, 0)[-1]
    for k in range(3):
        run.page.mouse.wheel(0, -200)
        record = _action_draw(run, ref, "wheel", f"wheel zoom {k + 1}")
        ratio = (record["stop"] - record["start"]) / (previous["stop"] - previous["start"])
        assert ratio == pytest.approx(math.exp(-0.2), rel=1e-6), (previous, record)
        previous = record
    x, y = _panel_point(page, 0.6)
    run.page.mouse.move(x, y)
    run.page.mouse.down()
    run.page.mouse.move(x - 150, y, steps=6)
    run.page.mouse.up()
    record = _action_draw(run, ref, "mousemove", "the pan")
    span = previous["stop"] - previous["start"]
    assert record["stop"] - record["start"] == pytest.approx(span, rel=1e-9)
    inner = page["width"] - 2 * record["page"]["pad"]  # the plot's x range, in pixels
    assert (record["start"] - previous["start"]) / span * inner == pytest.approx(150, abs=0.5)
    assert not any(r["pending"] for r in _records(run, previous["time"])), "a pan waited"
    assert _page(run)["requests"] == page["requests"], "the levels resolve these views"
    last = _settle(run)
    assert _window(last) == _window(record), "the view moved after the kernel's answers"
    frames = ref.frames_in(record)
    _wait_for(run, lambda: _page(run)["status"], lambda s: f"{frames:,} frames in view" in s,
              f"the kernel's status of the browser's window ({frames:,} frames)", 10)
    _assert_settled_view(run, last, "the zoomed and panned view")
    _screenshot(run, "series_lines_zoomed.png")
    return record


def _check_deep_zoom(run, ref: Reference) -> dict:
    """A wheel to a few thousand frames: drawn at once from the finest level (pending),
    detail asked; the kernel's raw frames drawn after the delay; a small pan then is
    drawn from them at once, without asking again."""
    page = _page(run)
    run.page.mouse.move(*_panel_point(page, 0.5))
    run.page.mouse.wheel(0, -5000)
    first = _action_draw(run, ref, "wheel", "the deep zoom", pending=True)
    (meta,) = first["series"]
    finest = ref.levels[0]
    assert (meta["block"], meta["lo"], meta["hi"], meta["enough"]) == (
        finest.block, 0, len(ref.seconds), False), f"not drawn from the finest level: {meta}"
    assert 1_000 < ref.frames_in(first) < 10_000, first
    _wait_for(run, lambda: _page(run)["requests"], lambda n: n == page["requests"] + 1,
              "one detail request", 2)
    since = _last_input(run, "wheel")
    answered = _wait_for(run, lambda: [r for r in _records(run, since) if not r["pending"]],
                         bool, "the drawing of the kernel's detail", 30)[0]
    assert answered["time"] - since >= DELAY_MS, "the detail cannot be there before the delay"
    print(f"the deep zoom's detail: drawn {answered['time'] - since:.0f} ms after the wheel")
    assert _window(answered) == _window(first)
    lo, hi, block = detail_range(ref.seconds, _window(first), first["width"])
    (meta,) = answered["series"]
    assert block == 1 and (meta["block"], meta["lo"], meta["hi"], meta["enough"]) == (
        1, lo, hi, True), f"not drawn from the raw frames of [{lo}, {hi}): {meta}"
    points = _assert_drawn_as_reference(run, ref, answered, "the deep zoom's detail")
    _assert_path_is_record(run, answered, points, "the deep zoom's detail")
    _settle(run)
    page = _page(run)
    assert page["answers"] == page["requests"], "a detail request was not answered"
    requests = page["requests"]
    x, y = _panel_point(page, 0.5)
    run.page.mouse.move(x, y)
    run.page.mouse.down()
    run.page.mouse.move(x + 0.2 * page["width"], y, steps=4)
    run.page.mouse.up()
    record = _action_draw(run, ref, "mousemove", "the pan in the deep view")
    assert (record["series"][0]["lo"], record["series"][0]["hi"]) == (lo, hi), record
    last = _settle(run)
    assert _window(last) == _window(record), "the view moved after the kernel's answers"
    assert _page(run)["requests"] == requests, "the detail at hand covers a small pan"
    return record


def _check_marks_hover_cursor(run, ref: Reference, record: dict) -> None:
    """In the deep view: a red tick under every flagged frame in view, the hover readout
    names the frame under the pointer, and a click moves the cursor line onto it."""
    page = _assert_settled_view(run, record, "the deep view")
    span, to_px = record["stop"] - record["start"], page["to_px"]
    flagged = ref.seconds[np.isnan(ref.values)]
    flagged = flagged[(flagged >= record["start"]) & (flagged <= record["stop"])]
    dots = np.sort([d for d in page["dots"] if d is not None and -0.5 <= d <= page["width"] + 0.5])
    assert len(flagged) >= 1, "the deep view should hold flagged frames (data changed?)"
    assert len(dots) == len(flagged) and np.all(np.abs(dots - to_px(flagged)) <= 1.0), (
        f"flag ticks at {dots} px, flagged frames in view at {to_px(flagged)} px")
    cursor = page["cursor"][0][0] if page["cursor"] else None
    point = _panel_point(page, 0.3)
    run.page.mouse.move(*point)
    seconds = record["start"] + (point[0] - page["left"]) / page["width"] * span
    nearest = int(np.argmin(np.abs(ref.seconds - seconds)))
    frame_read = lambda r: int(r.split(" · frame ")[1].split(" ")[0].replace(",", ""))  # noqa: E731
    # the browser puts the pointer on whole pixels: within a pixel's frames (and one)
    slack = 1 + math.ceil(ref.frames_in(record) / page["width"])
    text = _wait_for(run, lambda: _page(run)["readout"],
                     lambda r: " · frame " in r and abs(frame_read(r) - nearest) <= slack,
                     f"the hover readout of frame {nearest:,} (under the pointer)", 10)
    frame = frame_read(text)
    run.page.mouse.click(*point)
    expected = to_px(ref.seconds[frame])
    moved = _wait_for(run, lambda: _page(run)["cursor"],
                      lambda c: bool(c) and abs(c[0][0] - expected) <= 1.0,
                      f"the cursor line at frame {frame:,} ({expected:.1f} px; was {cursor})", 10)
    assert cursor is None or abs(cursor - expected) > 1.0, "the cursor was there already"
    assert all(abs(x - moved[0][0]) < 1e-6 for x, _ in moved), moved  # a vertical line
    run.page.wait_for_timeout(300)
    _screenshot(run, "series_lines_deep.png")


def _check_click_right_after_a_zoom(run, ref: Reference) -> None:
    """A click just after a wheel (before the kernel has heard of the zoom) picks the
    frame under the pointer in the browser's new window, not in the kernel's old one."""
    page = _page(run)
    run.page.mouse.move(*_panel_point(page, 0.7))
    run.page.mouse.wheel(0, 300)  # out
    since = _last_input(run, "wheel")
    record = _wait_for(run, lambda: _records(run, since), bool, "the zoom's draw", 5)[0]
    point = _panel_point(page, 0.25)
    run.page.mouse.click(*point)
    clicked = run.page.evaluate("() => performance.now()")
    assert clicked - since < DELAY_MS, "the click came after the kernel heard of the zoom"
    span = record["stop"] - record["start"]
    seconds = record["start"] + (point[0] - page["left"]) / page["width"] * span
    frame = int(np.argmin(np.abs(ref.seconds - seconds)))
    expected = (ref.seconds[frame] - record["start"]) / span * page["width"]
    _wait_for(run, lambda: _page(run)["cursor"],
              lambda c: bool(c) and abs(c[0][0] - expected) <= 1.0,
              f"the cursor at the clicked frame {frame:,} ({expected:.1f} px)", 10)


def test_lines_are_redrawn_in_the_browser_before_the_kernel_answers(tmp_path, chromium):
    """Issue 30: zooms and pans drawn by the browser alone, equal to the Python reference."""
    ref = Reference.build()
    cells = [delay_kernel_answers_cell(DELAY_MS),
             inspect.getsource(synthetic_guide_star) + "\n\n" + SHOW]
    notebook = write_notebook(tmp_path / "series_lines.ipynb", cells)
    options = {"env": {"FGS_WARMUP": "0", "FGS_MAST_SERVER": "http://127.0.0.1:9"},
               "extra_args": ["--LabApp.expose_app_in_browser=True"]}  # notebook_errors
    with notebook_in_lab(notebook, run=False, lab_options=options,
                         browser_options={"viewport": (1100, 900)}) as run:
        run.page.evaluate(_HOOK_JS)
        run_all(run.page)
        _check_full_view(run, ref)
        _check_zoom_and_pan(run, ref)
        deep = _check_deep_zoom(run, ref)
        _check_marks_hover_cursor(run, ref, deep)
        _check_click_right_after_a_zoom(run, ref)
        serious = [e for e in run.errors if "favicon" not in e]
        assert not serious, serious

"""Latency of the App in a real browser: first draw, wheel zoom, bytes per zoom, playback.

For each N a notebook builds a Session with N synthetic frames and a quick fit
(`profile_viewer_build.synthetic_data`: float32 (N, 8, 8) frames, several files) and
displays ``App(session, columns=("flux", "x_mean", "y_mean"))`` in a private JupyterLab
driven by headless Chromium (``tests/browser/harness.py``).  Measured:

* **first draw**: Run All -> every ``.fgs-timeseries-panel`` shows a line (a ``path``
  with a long ``d``, checked on each animation frame), split into the kernel's cells
  (imports; data synthesis; App construction; display) and the browser's share after
  the App cell ended.  The target applies from the ``App(...)`` call (the data exist and
  the widget modules are imported) to every line drawn.
* **wheel zoom**: >= 12 wheel events over the first panel, alternating in and out.  A
  MutationObserver on every panel records when its line (the longest ``path``) changes,
  on ``performance.now()``: *first* (all panels redrawn client-side, bqplot rescaling
  the old points), *data* (all panels redrawn again, with the kernel's new decimation),
  *settled* (the last change, after a quiet period).  The kernel logs when the x-scale
  message arrives and is handled (``xs.set_state`` wrapped), which splits *settled* into
  browser -> kernel and kernel receipt -> settled (the kernel's busy time alongside: it
  may still be working, e.g. on y scales, after the lines were sent).
* **bytes per zoom**: websocket frames the page receives during a zoom (Playwright
  ``framereceived``).
* **playback**: ``.fgs-fv-play`` clicked with the viewer's ``fps`` at its maximum; over a
  few seconds, *draws/s* (readout updates, one per canvas paint call) and *shown/s*
  (animation frames whose readout index differs from the previous one: what reaches the
  screen).

Baselines in the same run: a plain bqplot Figure with one 2,000-point Lines mark and
PanZoom (the browser's own redraw), and three such figures on one x scale whose
2,000-point lines are recomputed in the kernel on every zoom (the kernel round-trip
floor).

Results are printed as a table with the targets and written as JSON (default
``benchmarks/results/browser_latency.json``; the folder is created).

Run: ``python benchmarks/bench_browser.py [--points 1000000 4000000] [--zooms 12]``
(needs Chromium at /usr/bin/chromium and the playwright package; a few minutes).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from harness import (  # noqa: E402  (the harness lives with the browser tests)
    Browser,
    JupyterLab,
    chromium_missing,
    open_notebook,
    write_notebook,
)

TARGETS = {"zoom_median_ms": 60.0, "first_draw_s_at_4e6": 3.0, "playback_fps": 30.0}
COLUMNS = ("flux", "x_mean", "y_mean")
PANEL = ".fgs-timeseries-panel"
BASELINE_PANEL = ".fgs-baseline-panel"
READOUT = ".fgs-fv-readout"
LONG_PATH = 1000  # characters of `d`: a drawn line, not an axis or an empty mark
LOG = "kernel.jsonl"

# -- notebook cells ------------------------------------------------------------------------
KERNEL_LOG = f"""\
import json, sys, time
def _log(event, **values):
    with open({LOG!r}, "a") as f:
        f.write(json.dumps({{"event": event, "t": time.time() * 1e3, **values}}) + "\\n")
def _cell_end(result):
    _log("cell_end", cell=result.info.raw_cell.splitlines()[0][:40])
get_ipython().events.register("post_run_cell", _cell_end)
"""

TIMED_SCALE = """\
def _timed_scale(scale, name):
    # log when a scale message from the browser arrives and when it is handled
    handle = scale.set_state
    def set_state(state):
        start = time.time() * 1e3
        handle(state)
        _log(name, t0=start, t1=time.time() * 1e3, keys=sorted(state))
    scale.set_state = set_state
"""


def app_cells(n: int) -> list[str]:
    synth = (f"# data\n{KERNEL_LOG}_log('synth_start')\n"
             f"sys.path.insert(0, {str(BENCH_DIR)!r})\n"
             "from profile_viewer_build import synthetic_session\n"
             "_log('synth_imported')\n"
             f"session = synthetic_session({n})\n"
             "_log('synth_end', frames=len(session.data))")
    build = (f"# app\n{TIMED_SCALE}_log('build_start')\n"
             "from fgs_widgets.widgets import App\n"
             "_log('build_imported')\n"
             f"app = App(session, columns={COLUMNS!r})\n"
             "viewer = app.frame_viewer\n"
             "if hasattr(viewer, 'fps'):\n"
             "    viewer.fps = 1e9  # clipped to the trait's maximum\n"
             "if hasattr(getattr(app, 'timeseries', None), 'xs'):\n"
             "    _timed_scale(app.timeseries.xs, 'xs_msg')\n"
             "_log('build_end', fps=getattr(viewer, 'fps', None))\n"
             "app")
    return [synth, build]


def baseline_cells(points: int, kernel: bool) -> list[str]:
    """One client-side figure, or three figures whose lines the kernel re-sends per zoom."""
    common = (f"# baseline\n{KERNEL_LOG}{TIMED_SCALE}"
              "import bqplot as bq, ipywidgets as W, numpy as np\n"
              f"x = np.linspace(0, 1000, {points})\n"
              "xs = bq.LinearScale(min=0.0, max=1000.0)\n"
              "def figure(i):\n"
              "    line = bq.Lines(x=x, y=np.sin(x / (20 + i)), scales={'x': xs, "
              "'y': bq.LinearScale()})\n"
              "    fig = bq.Figure(marks=[line], axes=[bq.Axis(scale=xs)], "
              "interaction=bq.interacts.PanZoom(scales={'x': [xs]}), "
              "layout=W.Layout(height='150px', width='100%'))\n"
              f"    fig.add_class({BASELINE_PANEL[1:]!r})\n"
              "    return fig, line\n")
    if not kernel:
        return [common + "_timed_scale(xs, 'xs_msg')\nfig, _ = figure(0)\n_log('build_end')\nfig"]
    resend = ("figures = [figure(i) for i in range(3)]\n"
              "def redraw(change=None):\n"
              "    a, b = xs.min, xs.max\n"
              "    for i, (_, line) in enumerate(figures):\n"
              f"        u = np.linspace(a, b, {points})\n"
              "        with line.hold_sync():\n"
              "            line.x, line.y = u, np.sin(u / (20 + i))\n"
              "xs.observe(redraw, names=['min', 'max'])\n"
              "_timed_scale(xs, 'xs_msg')\n_log('build_end')\n"
              "W.VBox([f for f, _ in figures])")
    return [common + resend]


# -- page-side instruments ---------------------------------------------------------------------
INSTRUMENTS = """() => {
  if (window.__fgsBench) return;
  const longest = (panel) => {
    let best = "";
    for (const p of panel.querySelectorAll("path")) {
      const d = p.getAttribute("d") || "";
      if (d.length > best.length) best = d;
    }
    return best;
  };
  const zoom = { armed: false, wheel: null, panels: [], last: [], changes: [], observer: null };
  document.addEventListener("wheel", () => {
    if (zoom.armed) { zoom.wheel = performance.now(); zoom.armed = false; }
  }, { capture: true, passive: true });
  const play = { running: false };
  window.__fgsBench = {
    clock: () => performance.timeOrigin + performance.now(),
    arm(selector) {
      zoom.panels = [...document.querySelectorAll(selector)];
      zoom.last = zoom.panels.map(longest);
      zoom.changes = zoom.panels.map(() => []);
      zoom.wheel = null;
      zoom.armed = true;
      if (zoom.observer) zoom.observer.disconnect();
      zoom.observer = new MutationObserver(() => {
        const now = performance.now();
        zoom.panels.forEach((panel, i) => {
          const d = longest(panel);
          if (d !== zoom.last[i]) { zoom.last[i] = d; zoom.changes[i].push(now); }
        });
      });
      for (const panel of zoom.panels) {
        zoom.observer.observe(panel, { subtree: true, childList: true, attributes: true,
                                       attributeFilter: ["d"] });
      }
      return zoom.panels.length;
    },
    zoomState: () => ({ wheel: zoom.wheel, changes: zoom.changes, now: performance.now(),
                        origin: performance.timeOrigin }),
    startPlay(selector) {
      const readout = document.querySelector(selector);
      Object.assign(play, { running: true, rafs: 0, shown: 0, draws: 0,
                            first: readout.dataset.index, start: performance.now() });
      let previous = readout.dataset.index, drawn = readout.dataset.index;
      play.observer = new MutationObserver(() => {
        if (readout.dataset.index !== drawn) { drawn = readout.dataset.index; play.draws++; }
      });
      play.observer.observe(readout, { childList: true, characterData: true, subtree: true,
                                       attributes: true });
      const loop = () => {
        if (!play.running) return;
        play.rafs++;
        if (readout.dataset.index !== previous) { previous = readout.dataset.index; play.shown++; }
        requestAnimationFrame(loop);
      };
      requestAnimationFrame(loop);
    },
    stopPlay(selector) {
      play.running = false;
      play.observer.disconnect();
      const seconds = (performance.now() - play.start) / 1e3;
      const last = document.querySelector(selector).dataset.index;
      return { seconds, rafs: play.rafs, shown: play.shown, draws: play.draws,
               first: Number(play.first), last: Number(last) };
    },
  };
}"""

FIRST_DRAW = """([selector, minLength, panels]) => {
  const found = [...document.querySelectorAll(selector)];
  const drawn = found.filter((panel) => [...panel.querySelectorAll("path")]
    .some((p) => (p.getAttribute("d") || "").length > minLength));
  const now = performance.timeOrigin + performance.now();
  if (drawn.length && !window.__fgsFirstLine) window.__fgsFirstLine = now;
  return found.length >= panels && drawn.length === found.length ? now : false;
}"""


# -- measurement -------------------------------------------------------------------------------
@dataclass
class Traffic:
    """Websocket payload bytes and frames the page received (and sent) since `reset`."""

    received: int = 0
    frames: int = 0
    sent: int = 0
    sockets: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("websocket", self._on_socket)

    def _on_socket(self, ws: Any) -> None:
        self.sockets.append(ws.url.split("?")[0])
        ws.on("framereceived", self._on_received)
        ws.on("framesent", self._on_sent)

    @staticmethod
    def _size(payload: str | bytes) -> int:
        return len(payload) if isinstance(payload, bytes) else len(payload.encode("utf-8"))

    def _on_received(self, payload: str | bytes) -> None:
        self.received += self._size(payload)
        self.frames += 1

    def _on_sent(self, payload: str | bytes) -> None:
        self.sent += self._size(payload)

    def reset(self) -> None:
        self.received = self.frames = self.sent = 0


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for_event(path: Path, event: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in read_log(path):
            if entry["event"] == event:
                return entry
        time.sleep(0.1)
    raise TimeoutError(f"the kernel did not log {event!r} in {timeout:.0f} s "
                       f"(log: {read_log(path)[-5:]})")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1) if values else float("nan"),
            "p95": round(percentile(values, 95), 1),
            "min": round(min(values), 1) if values else float("nan"),
            "max": round(max(values), 1) if values else float("nan")}


def run_all_timed(page: Any) -> float:
    """Run > Run All Cells; the epoch ms of the click that runs them."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    item = page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first
    item.wait_for()
    clicked = time.time() * 1e3
    item.click()
    return clicked


def one_zoom(page: Any, traffic: Traffic, selector: str, delta: float, *, need_data: bool,
             quiet_ms: float, timeout_ms: float) -> dict[str, Any] | None:
    """Wheel once over the first panel; None if no panel changed (handlers not attached)."""
    panel = page.locator(selector).first
    box = panel.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    count = page.evaluate("s => window.__fgsBench.arm(s)", selector)
    traffic.reset()
    page.mouse.wheel(0, delta)
    started = time.monotonic()
    state: dict[str, Any] = {}
    while (time.monotonic() - started) * 1e3 < timeout_ms:
        page.wait_for_timeout(25)
        state = page.evaluate("() => window.__fgsBench.zoomState()")
        changes = state["changes"]
        enough = all(len(c) >= (2 if need_data else 1) for c in changes)
        if state["wheel"] is not None and enough and changes:
            last = max(c[-1] for c in changes)
            if state["now"] - last >= quiet_ms:
                break
    changes, wheel = state.get("changes") or [], state.get("wheel")
    if wheel is None or not changes or not all(changes):
        return None
    complete = all(len(c) >= (2 if need_data else 1) for c in changes)
    result = {
        "delta": delta, "panels": count, "changes": [len(c) for c in changes],
        "first_ms": max(c[0] for c in changes) - wheel,
        "data_ms": (max(c[1] for c in changes) - wheel) if need_data and complete else None,
        "settled_ms": max(c[-1] for c in changes) - wheel,
        "complete": complete,
        "wheel_epoch": state["origin"] + wheel,
        "settled_epoch": state["origin"] + max(c[-1] for c in changes),
        "bytes_received": traffic.received, "frames_received": traffic.frames,
        "bytes_sent": traffic.sent,
    }
    return result


def zoom_series(page: Any, traffic: Traffic, log: Path, selector: str, zooms: int, *,
                need_data: bool, quiet_ms: float = 400.0) -> dict[str, Any]:
    """Warm up (bqplot attaches PanZoom once drawn), then `zooms` alternating wheels."""
    panel = page.locator(selector).first
    panel.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    for _ in range(10):  # warm-up: until a wheel does something, then back out
        if one_zoom(page, traffic, selector, -200, need_data=need_data, quiet_ms=quiet_ms,
                    timeout_ms=5000) is not None:
            break
        page.wait_for_timeout(500)
    else:
        raise RuntimeError(f"no wheel zoom registered over {selector}")
    one_zoom(page, traffic, selector, 200, need_data=need_data, quiet_ms=quiet_ms,
             timeout_ms=5000)
    results = []
    for i in range(zooms):
        delta = -200 if i % 2 == 0 else 200
        result = one_zoom(page, traffic, selector, delta, need_data=need_data,
                          quiet_ms=quiet_ms, timeout_ms=15_000)
        if result is None:
            continue
        results.append(result)
    # the kernel's side of each zoom: scale messages handled between wheel and settled
    entries = [e for e in read_log(log) if e["event"] == "xs_msg"]
    for result in results:
        mine = [e for e in entries
                if result["wheel_epoch"] - 5 <= e["t0"] <= result["settled_epoch"] + 5]
        result["kernel_msgs"] = len(mine)
        if mine:
            result["to_kernel_ms"] = mine[0]["t0"] - result["wheel_epoch"]
            result["kernel_ms"] = sum(e["t1"] - e["t0"] for e in mine)
            # the kernel sends the lines before it has finished (y scales, axes, status):
            # measured from its receiving the message, not from its end
            result["received_to_drawn_ms"] = result["settled_epoch"] - mine[0]["t0"]
    return aggregate_zooms(results)


def aggregate_zooms(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the complete zooms only: one whose kernel redraw never arrived would
    bias the settled time low (its count is reported as ``incomplete``)."""
    complete = [r for r in results if r["complete"]]

    def pick(key: str) -> list[float]:
        return [r[key] for r in complete if r.get(key) is not None]

    out: dict[str, Any] = {"n": len(results),
                           "incomplete": sum(not r["complete"] for r in results)}
    for key in ("first_ms", "data_ms", "settled_ms", "to_kernel_ms", "kernel_ms",
                "received_to_drawn_ms"):
        values = pick(key)
        if values:
            out[key] = summary(values)
    for key in ("bytes_received", "frames_received", "bytes_sent", "kernel_msgs"):
        values = pick(key)
        if values:
            out[f"{key}_median"] = statistics.median(values)
    out["each"] = [{k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()
                    if not k.endswith("_epoch")} for r in results]
    return out


def playback(page: Any, seconds: float) -> dict[str, Any]:
    readout = page.locator(READOUT).first
    readout.scroll_into_view_if_needed()
    idle = page.evaluate("""() => new Promise((done) => {
      let n = 0; const start = performance.now();
      const loop = () => { n++; if (performance.now() - start < 1000) requestAnimationFrame(loop);
                           else done(n / ((performance.now() - start) / 1e3)); };
      requestAnimationFrame(loop);
    })""")
    page.evaluate("s => window.__fgsBench.startPlay(s)", READOUT)
    page.locator(".fgs-fv-play").first.click()
    page.wait_for_timeout(seconds * 1e3)
    stats = page.evaluate("s => window.__fgsBench.stopPlay(s)", READOUT)
    page.locator(".fgs-fv-play").first.click()  # pause
    span = stats["seconds"]
    return {"seconds": round(span, 2), "draws_per_s": round(stats["draws"] / span, 1),
            "shown_per_s": round(stats["shown"] / span, 1),
            "raf_per_s": round(stats["rafs"] / span, 1), "idle_raf_per_s": round(idle, 1),
            "frames_advanced_per_s": round((stats["last"] - stats["first"]) / span, 1)}


@contextmanager
def lab_page(root: Path, notebook: str) -> Iterator[tuple[Any, Traffic, Browser]]:
    """A private JupyterLab on ``root`` and a Chromium page on ``notebook``, idle kernel."""
    with JupyterLab(root) as lab, Browser(viewport=(1400, 1000)) as browser:
        page = browser.new_page(default_timeout_ms=180_000)
        traffic = Traffic()
        traffic.attach(page)
        try:
            open_notebook(page, lab, notebook, timeout_ms=180_000)
            page.evaluate(INSTRUMENTS)
            yield page, traffic, browser
        except Exception as exc:
            exc.add_note(f"JupyterLab log (tail):\n{lab.log_text()[-2000:]}")
            raise


def measure_app(n: int, zooms: int, play_seconds: float, workdir: Path) -> dict[str, Any]:
    root = workdir / f"app_{n}"
    root.mkdir()
    write_notebook(root / "bench.ipynb", app_cells(n))
    log = root / LOG
    with lab_page(root, "bench.ipynb") as (page, traffic, browser):
        clicked = run_all_timed(page)
        drawn = page.wait_for_function(FIRST_DRAW, arg=[PANEL, LONG_PATH, len(COLUMNS)],
                                       polling="raf", timeout=300_000).json_value()
        first_line = page.evaluate("() => window.__fgsFirstLine")
        events = {e["event"]: e for e in read_log(log)}
        cell_ends = [e for e in read_log(log) if e["event"] == "cell_end"]
        if "build_end" not in events:
            events["build_end"] = wait_for_event(log, "build_end", 60)
        app_end = next((e["t"] for e in cell_ends if e["cell"].startswith("# app")), None)
        first = {
            "run_all_to_first_line_s": (first_line - clicked) / 1e3,
            "run_all_to_all_panels_s": (drawn - clicked) / 1e3,
            "kernel_start_s": (events["synth_start"]["t"] - clicked) / 1e3,
            "kernel_imports_s": (events["synth_imported"]["t"] - events["synth_start"]["t"]
                                 + events["build_imported"]["t"] - events["build_start"]["t"]
                                 ) / 1e3,
            "kernel_synth_s": (events["synth_end"]["t"] - events["synth_imported"]["t"]) / 1e3,
            "kernel_build_s": (events["build_end"]["t"] - events["build_imported"]["t"]) / 1e3,
            "kernel_display_s": (app_end - events["build_end"]["t"]) / 1e3 if app_end else None,
            "browser_after_cell_s": (drawn - app_end) / 1e3 if app_end else None,
            # the target's measure: from the App cell's start (data exist) to all lines
            # drawn, less the first import of the widget modules (once per kernel)
            "first_draw_s": (drawn - events["build_imported"]["t"]) / 1e3,
        }
        first = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in first.items()}
        zoom = zoom_series(page, traffic, log, PANEL, zooms, need_data=True)
        play = playback(page, play_seconds)
        errors = list(browser.errors)
    return {"frames": n, "first_draw": first, "zoom": zoom, "playback": play,
            "fps_trait": events["build_end"].get("fps"), "console_errors": errors[:10]}


def measure_baseline(points: int, kernel: bool, zooms: int, workdir: Path) -> dict[str, Any]:
    root = workdir / f"baseline_{'kernel' if kernel else 'client'}"
    root.mkdir()
    write_notebook(root / "bench.ipynb", baseline_cells(points, kernel))
    log = root / LOG
    with lab_page(root, "bench.ipynb") as (page, traffic, browser):
        run_all_timed(page)
        page.wait_for_function(FIRST_DRAW, arg=[BASELINE_PANEL, LONG_PATH, 3 if kernel else 1],
                               polling="raf", timeout=120_000)
        zoom = zoom_series(page, traffic, log, BASELINE_PANEL, zooms, need_data=kernel)
        errors = list(browser.errors)
    return {"points": points, "kernel_resend": kernel, "zoom": zoom,
            "console_errors": errors[:10]}


# -- report ----------------------------------------------------------------------------------
def fmt(value: Any, unit: str = "", digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{value:,.{digits}f}{unit}"


def print_report(results: dict[str, Any]) -> None:
    print("\ntargets: zoom median <= 60 ms, first draw <= 3 s at 4x10^6, playback >= 30 fps")
    rows = []
    for key, run in results["app"].items():
        first, zoom, play = run["first_draw"], run["zoom"], run["playback"]
        settled = zoom.get("settled_ms", {})
        rows.append((f"App, {int(key):,} frames",
                     fmt(first["first_draw_s"], " s", 2),
                     fmt(first["run_all_to_all_panels_s"], " s", 1),
                     fmt(zoom.get("first_ms", {}).get("median"), " ms"),
                     fmt(settled.get("median"), " ms"), fmt(settled.get("p95"), " ms"),
                     fmt(zoom.get("bytes_received_median", 0) / 1024, " KiB", 1),
                     f"{fmt(play['shown_per_s'], '', 1)} / {fmt(play['draws_per_s'], '', 1)}"))
    for name, run in results["baselines"].items():
        zoom = run["zoom"]
        settled = zoom.get("settled_ms", {})
        rows.append((name, "", "", fmt(zoom.get("first_ms", {}).get("median"), " ms"),
                     fmt(settled.get("median"), " ms"), fmt(settled.get("p95"), " ms"),
                     fmt(zoom.get("bytes_received_median", 0) / 1024, " KiB", 1), ""))
    header = ("", "first draw", "Run All->drawn", "zoom first", "zoom median", "zoom p95",
              "bytes/zoom", "fps shown/draws")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    print("\nfirst draw = App() call -> every panel's line drawn; zoom = wheel -> every "
          "panel's line settled with the kernel's data (first = bqplot's client-side rescale)")
    for key, run in results["app"].items():
        first, zoom = run["first_draw"], run["zoom"]
        print(f"\n{int(key):,} frames: Run All -> kernel starts "
              f"{fmt(first['kernel_start_s'], ' s', 2)}, imports "
              f"{fmt(first['kernel_imports_s'], ' s', 2)}, synthesis "
              f"{fmt(first['kernel_synth_s'], ' s', 2)}, App() "
              f"{fmt(first['kernel_build_s'], ' s', 2)}, display "
              f"{fmt(first['kernel_display_s'], ' s', 2)}, browser after the cell "
              f"{fmt(first['browser_after_cell_s'], ' s', 2)}")
        parts = [f"{label} {fmt(zoom[key]['median'], ' ms')}" for key, label in
                 (("to_kernel_ms", "wheel->kernel"), ("kernel_ms", "kernel busy"),
                  ("received_to_drawn_ms", "kernel received->settled"),
                  ("data_ms", "wheel->first data drawn"))
                 if key in zoom]
        print(f"  zoom medians: {', '.join(parts)}; {zoom.get('kernel_msgs_median', 0):.0f} "
              f"scale message(s) per wheel, {zoom.get('frames_received_median', 0):.0f} "
              f"websocket frames received; {zoom['n']} zooms ({zoom['incomplete']} without "
              "a data redraw)")
        play = run["playback"]
        print(f"  playback at fps={run['fps_trait']}: {play['shown_per_s']} frames/s shown "
              f"(rAF {play['raf_per_s']}/s, idle {play['idle_raf_per_s']}/s), "
              f"{play['draws_per_s']} draws/s, data index "
              f"+{play['frames_advanced_per_s']}/s")
        if run["console_errors"]:
            print(f"  console errors: {run['console_errors'][:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--zooms", type=int, default=12)
    parser.add_argument("--play-seconds", type=float, default=3.0)
    parser.add_argument("--baseline-points", type=int, default=2000)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "browser_latency.json")
    args = parser.parse_args()
    reason = chromium_missing()
    if reason:
        sys.exit(f"cannot run: {reason}")

    results: dict[str, Any] = {
        "meta": {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "python": platform.python_version(),
                 "machine": platform.machine(), "zooms": args.zooms,
                 "columns": list(COLUMNS)},
        "targets": TARGETS, "app": {}, "baselines": {}}
    with tempfile.TemporaryDirectory(prefix="fgs-bench-browser-") as tmp:
        workdir = Path(tmp)
        if not args.no_baselines:
            for kernel in (False, True):
                name = (f"bqplot {args.baseline_points:,} pts" +
                        (", 3 panels re-sent by kernel" if kernel else ", client only"))
                print(f"baseline: {name} ...", flush=True)
                results["baselines"][name] = measure_baseline(
                    args.baseline_points, kernel, args.zooms, workdir)
        for n in args.points:
            print(f"App with {n:,} frames ...", flush=True)
            results["app"][str(n)] = measure_app(n, args.zooms, args.play_seconds, workdir)
    print_report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

"""TimeseriesViewer: flux and fit columns in stacked bqplot panels sharing one time axis.

What a reader sees should be true at a glance:

- each panel's y range is the bulk of its good frames (`engine.scales.robust_range`:
  percentiles per observation, padded), not min/max of everything, so one flagged
  frame or lone spike cannot flatten a star that moves ±0.05 px ("full range" shows
  everything);
- flagged frames are not drawn as data: they are red ticks at the panel's foot, and
  the readout names their flags ("show flagged" draws their values too);
- ticks sit at 1, 2, 2.5 or 5 × 10^k, recomputed on every zoom, with large values'
  power of ten in the axis label; time is elapsed s / min / h since the first frame,
  with the MJD and UTC of the pointer in the readout;
- hovering any panel shows time, value, frame and flags; a click (one that does not
  drag) picks the frame in every view, while wheel and drag zoom and pan.

The lines are re-decimated in the browser (`SeriesLines`): each shown series goes
there once as min/max summaries, and every zoom and pan frame redraws each pixel
column's min and max without waiting for the kernel, which is asked only for views
narrower than the summaries resolve.  The kernel still follows the window (the
session's window, y ranges, ticks, flagged-frame marks).  Without the front-end bundle
(``client_side=False``) the kernel re-decimates every panel on each zoom instead.
"""

from __future__ import annotations

import functools
import html
import threading
from collections.abc import Callable, Iterable

import bqplot as bq
import ipywidgets as W
import numpy as np
import traitlets as t

from ..data import Quality
from ..engine.binning import block_extrema, break_gaps, decimate_for_display
from ..engine.line_summary import base_block, line_levels
from ..model import Session
from ._bundle import BundleMissingError, bundle
from ._common import Follower, close_figure, show_bulk_range, show_range
from ._time_axis import MARGIN, MARGIN_X_AXIS, TimeAxis
from .pointer import PlotPointer, readout_html
from .series_lines import SeriesLines

__all__ = ["TimeseriesViewer"]

_FLAG_COLOR = "#d62728"
#: seconds without a zoom or pan frame from the browser before the kernel follows it
SETTLE_SECONDS = 0.12
HINT = "hover a plot for its values · click picks a frame · wheel zooms · drag pans"


def _hint() -> str:
    """The readout while the pointer is over no plot: what hovering and clicking do."""
    return readout_html(HINT.split(" · "), escape=True)


def _drawing(method: Callable) -> Callable:
    """One drawing at a time: a fit's observers draw in its thread while zooms and the
    browser's size reports draw in the kernel's, and two interleaved drawings leave an
    axis with one's tick values and the other's labels."""

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._draw_lock:
            return method(self, *args, **kwargs)

    return locked


class _SeriesPlot:
    """One figure: a series, its flagged frames, binned overlay, cursor and events."""

    def __init__(self, column: str, axis: TimeAxis, height: int, show_x_axis: bool):
        self.column = column
        xs = axis.scale
        self.ys = bq.LinearScale()
        self.unit = unit = bq.LinearScale(min=0.0, max=1.0)
        self.line = bq.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": self.ys},
                             colors=["#333333"], stroke_width=0.8)
        # flagged frames: a tick at the panel's foot each (their values are not data)
        self.flags = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": unit},
                                marker="triangle-up", default_size=18, colors=[_FLAG_COLOR],
                                opacities=[0.8], enable_hover=False)
        self.flagged_values = bq.Scatter(x=np.zeros(0), y=np.zeros(0),
                                         scales={"x": xs, "y": self.ys}, default_size=10,
                                         colors=[_FLAG_COLOR], enable_hover=False,
                                         visible=False)
        self.binned = bq.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": self.ys},
                               colors=["#1f77b4"], marker="circle", marker_size=12,
                               stroke_width=1.5, visible=False)
        self.bands, self.instants = axis.event_marks(unit)
        self.cursor = axis.cursor_mark(unit)
        self.x_axis = bq.Axis(scale=xs, label="", visible=show_x_axis, tick_values=np.zeros(0))
        self.y_axis = bq.Axis(scale=self.ys, side="left", label=column, label_offset="52px",
                              tick_values=np.zeros(0))
        margin = {**MARGIN, "bottom": MARGIN_X_AXIS if show_x_axis else MARGIN["bottom"]}
        self.figure = bq.Figure(
            marks=[self.bands, self.instants, self.line, self.flagged_values, self.binned,
                   self.flags, self.cursor],
            axes=[self.x_axis, self.y_axis], fig_margin=margin,
            layout=W.Layout(height=f"{height}px", width="100%"), min_aspect_ratio=0.01,
            max_aspect_ratio=100)
        self.figure.add_class("fgs-timeseries-panel")

    def close(self) -> None:
        """Close every widget of the figure (marks, axes, scales are widgets of their own)."""
        close_figure(self.figure, self.ys, self.unit)


def _constant(value):
    return lambda: value


def _bundle_installed() -> bool:
    try:
        bundle("series_lines.js")
    except BundleMissingError:
        return False
    return True


class TimeseriesViewer(Follower, W.VBox):
    """Stacked time series linked to a `Session` (cursor, window, events).

    Parameters
    ----------
    session : Session
    columns : iterable of str
        Series to show ("flux" and/or fit columns); changeable from the widget.
    width_px : int
        Plot width used for decimation until the browser reports the real one.
    panel_height : int
        Pixels per panel (also a slider in the widget).
    client_side : bool, optional
        Re-decimate the lines in the browser at every zoom and pan (`SeriesLines`);
        default: whenever the front-end bundle is installed.  False: the kernel sends
        each panel's lines anew on every zoom.

    Notes
    -----
    Traits a script may set: ``columns``, ``binned``, ``bin_seconds``,
    ``show_flagged`` (draw flagged frames' values), ``full_range`` (y from min/max
    of everything drawn instead of the good frames' bulk), ``panel_height``.
    """

    columns = t.List(t.Unicode())
    binned = t.Bool(False)
    bin_seconds = t.Float(10.0)
    show_flagged = t.Bool(False)
    full_range = t.Bool(False)
    panel_height = t.Int(170, help="pixels per panel (at least 100)")

    def __init__(self, session: Session, columns: Iterable[str] = ("flux",), width_px: int = 900,
                 panel_height: int = 170, client_side: bool | None = None, **kwargs):
        self.session = session
        if client_side is None:
            client_side = _bundle_installed()
        #: the time axis (x scale, origin, ticks, event and cursor marks) every plot on
        #: this viewer shares, and the science panel with it
        self.time_axis = TimeAxis(session, width_px)
        self.xs = self.time_axis.scale
        self.panels: list[_SeriesPlot] = []
        self._updating = False
        self._ready = False  # build once, at the end of __init__
        self._draw_lock = threading.RLock()
        self._settle_lock = threading.Lock()
        self._settle_timer: threading.Timer | None = None
        self._closed = False
        self._drawn: tuple | None = None  # the window last drawn
        self._cache: dict = {}
        self._line_index: list[int | None] = []  # panel -> series of `lines`
        self.selector = W.SelectMultiple(description="series", rows=4,
                                         layout=W.Layout(width="240px"))
        box = {"indent": False, "layout": W.Layout(width="auto")}
        self.binned_box = W.Checkbox(description="binned", **box)
        self.flagged_box = W.Checkbox(description="show flagged", **box)
        self.full_range_box = W.Checkbox(description="full range", **box)
        self.height_slider = W.IntSlider(value=panel_height, min=100, max=600, step=10,
                                         description="height", continuous_update=False,
                                         layout=W.Layout(width="220px"))
        self.reset_button = W.Button(description="reset zoom", icon="expand",
                                     layout=W.Layout(width="120px"))
        self.status = W.HTML()
        self.pointer = PlotPointer(scale=self.xs, margin_left=MARGIN["left"],
                                   margin_right=MARGIN["right"], readout=_hint())
        self.figures = W.VBox(layout=W.Layout(width="100%"))
        #: the browser's side of the lines (None: the kernel sends them on every zoom)
        self.lines = SeriesLines(self.xs, width_px) if client_side else None
        toggles = W.VBox([self.binned_box, self.flagged_box, self.full_range_box],
                         layout=W.Layout(width="auto"))
        actions = W.VBox([self.reset_button, self.height_slider, self.status],
                         layout=W.Layout(width="auto"))
        controls = W.HBox([self.selector, toggles, actions],
                          layout=W.Layout(flex_flow="row wrap"))
        super().__init__([controls, self.pointer, self.figures], **kwargs)
        self.layout.width = "100%"
        self.add_class("fgs-timeseries")
        for widget, name in ((self.binned_box, "binned"), (self.flagged_box, "show_flagged"),
                             (self.full_range_box, "full_range"),
                             (self.height_slider, "panel_height")):
            W.link((widget, "value"), (self, name))
        self.panel_height = panel_height
        self.reset_button.on_click(lambda _: self.reset_zoom())
        self.selector.observe(self._on_select, names="value")
        self.xs.observe(self._on_scale, names=["min", "max"])
        self.pointer.observe(self._on_hover, names="hover")
        self.pointer.observe(self._on_pointer_pick, names="pick")
        self.pointer.observe(self._on_width, names="plot_width")
        for handler, names in ((self._on_data, ["data", "fit", "quick_fit"]),
                               (self._on_cursor, "cursor"), (self._on_events, "events"),
                               (self._on_window, "window")):
            self.watch(session, handler, names)
        self.own(self.pointer)
        if self.lines is not None:
            self.own(self.lines)
            self.pointer.navigate = True
        self._refresh_options()
        self.columns = list(columns)
        self._ready = True
        self._on_data()

    def close(self) -> None:
        """Stop following the session; close the plots shown now and the widget."""
        with self._settle_lock:
            self._closed = True
            if self._settle_timer is not None:
                self._settle_timer.cancel()
        for panel in self.panels:
            panel.close()
        super().close()

    # -- building ---------------------------------------------------------------------
    @t.observe("columns")
    @_drawing
    def _build(self, change=None) -> None:
        if not self._ready:
            return
        available = self.session.columns() if self.session.data is not None else ["flux"]
        wanted = [c for c in self.columns if c in available] or ["flux"]
        for panel in self.panels:  # replaced: their widgets would stay open in the kernel
            panel.close()
        self.panels = [_SeriesPlot(c, self.time_axis, self.panel_height, i == len(wanted) - 1)
                       for i, c in enumerate(wanted)]
        if self.lines is None:  # else the pointer zooms and pans (`navigate`)
            for panel in self.panels:
                panel.figure.interaction = bq.interacts.PanZoom(scales={"x": [self.xs]})
        self.figures.children = [p.figure for p in self.panels]
        self._redraw()
        self._on_cursor()
        self._on_events()
        if tuple(self.selector.value) != tuple(wanted):
            self.selector.value = tuple(wanted)

    def _on_select(self, change) -> None:
        if list(change["new"]) and list(change["new"]) != self.columns:
            self.columns = list(change["new"])

    @t.observe("binned", "bin_seconds", "show_flagged", "full_range")
    def _on_option(self, change=None) -> None:
        self._redraw()

    @t.validate("panel_height")
    def _valid_height(self, proposal) -> int:
        return max(100, int(proposal["value"]))

    @t.observe("panel_height")
    def _on_height(self, change) -> None:
        for panel in self.panels:
            panel.figure.layout.height = f"{change['new']}px"
        self._redraw()  # more height, more y ticks

    def _on_width(self, change) -> None:
        """The browser measured the plot area: decimate to its real width."""
        width = int(change["new"])
        if width > 50 and abs(width - self.width_px) > 0.05 * self.width_px:
            self.width_px = width
            if self.lines is not None:
                self.lines.width_px = width
            self._redraw()

    # -- data and zoom ------------------------------------------------------------------
    def _refresh_options(self) -> None:
        options = self.session.columns() if self.session.data is not None else ["flux"]
        if tuple(self.selector.options) != tuple(options):
            keep = tuple(v for v in self.selector.value if v in options)
            self.selector.options = options
            self.selector.value = keep

    def _on_data(self, change=None) -> None:
        data = self.session.data
        self._cache = {}  # swapped, not cleared: a redraw in another thread keeps its own
        self._refresh_options()
        if data is None or len(data) == 0:
            return
        if change is None or change["name"] == "data":
            self._updating = True  # the build below draws the new range once
            try:
                self.reset_zoom()
            finally:
                self._updating = False
        self._build()

    def _frames(self) -> dict:
        """Per-data arrays every redraw needs, computed once per data.

        A new dict replaces the old one: observers of a fit run in its thread while
        hovers and zooms run in the kernel's, so a dict in use is never emptied.
        """
        data = self.session.data
        cache = self._cache
        if cache.get("data") is not data:
            from astropy.time import Time

            good, seconds, cadence = data.good, data.seconds, data.cadence
            flagged = np.flatnonzero(~good)
            start = Time(data.time[0], format="mjd", scale="utc").isot[:19].replace("T", " ")
            cache = {"data": data, "seconds": seconds, "good": good, "flagged": flagged,
                     "flagged_seconds": seconds[flagged], "groups": self._observations(data),
                     "cadence": cadence if np.isfinite(cadence) else 0.0, "start_utc": start}
            self._cache = cache
        return cache

    @staticmethod
    def _observations(data) -> np.ndarray:
        """Observation of each frame (levels differ between them), as small integers."""
        products = data.products
        column = "observation" if "observation" in products else None
        if column is None or len(products) == 0:
            return np.zeros(len(data), dtype=np.int32)
        codes = products[column].astype(str).factorize()[0].astype(np.int32)
        return codes[np.asarray(data.segments)]

    def _values(self, column: str) -> tuple[np.ndarray, np.ndarray, object]:
        """(raw, good, blocks) of a series: good has flagged frames as NaN (not data),
        blocks its `block_extrema` (a zoom then scans N/256 values, not N).

        Cached per source table: `Session.series` converts a float32 fit column anew
        on every call, which at 4x10^6 frames is a 16 MB copy per panel per zoom.
        """
        s = self.session
        sources = (s.data, s.fit, s.quick_fit)
        frames = self._frames()
        cached = frames.get(("values", column))
        if cached is None or any(a is not b for a, b in zip(cached[0], sources, strict=True)):
            raw = np.asarray(s.series(column)[1], dtype=np.float64)
            masked = np.where(frames["good"], raw, np.nan)
            cached = (sources, raw, masked, block_extrema(masked, base_block(len(masked))))
            frames[("values", column)] = cached
        return cached[1], cached[2], cached[3]

    def _levels(self, column: str) -> tuple[np.ndarray, list]:
        """(good values, `line_levels`) of a series: what the browser gets once."""
        _, masked, blocks = self._values(column)
        frames = self._frames()
        cached = frames.get(("levels", column))
        if cached is None or cached[0] is not masked:
            cached = (masked, line_levels(frames["seconds"], masked, blocks=blocks))
            frames[("levels", column)] = cached
        return cached

    def reset_zoom(self) -> None:
        """Show the whole series."""
        data = self.session.data
        if data is None or len(data) == 0:
            return
        span = (data.time[-1] - data.time[0]) * 86400.0
        self.time_axis.show(0.0, max(span, 1e-3))

    @property
    def width_px(self) -> int:
        """The plots' width in pixels (the browser reports it; decimation follows it)."""
        return self.time_axis.width_px

    @width_px.setter
    def width_px(self, value: int) -> None:
        self.time_axis.width_px = int(value)

    def _window_seconds(self) -> tuple[float, float] | None:
        return self.time_axis.window()

    def _on_scale(self, change=None) -> None:
        if self.lines is not None and self.xs._property_lock:
            # from the browser, which has drawn the lines already: follow once the wheel
            # or drag pauses, not at each of its frames (each answer costs the page a
            # re-render of every panel, and a backlog would replay stale windows)
            with self._settle_lock:
                if self._settle_timer is not None:
                    self._settle_timer.cancel()
                self._settle_timer = threading.Timer(SETTLE_SECONDS, self._follow_scale)
                self._settle_timer.daemon = True
                self._settle_timer.start()
            return
        self._follow_scale()

    def _follow_scale(self) -> None:
        """The session's window, y ranges, ticks, flagged ticks and status for the x
        scale's window."""
        if self._closed:
            return
        window = self._window_seconds()
        # a zoom sets min and max together (ipywidgets holds the notifications), so the
        # second notification finds this window drawn already
        if self._updating or self.session.data is None or window == self._drawn:
            return
        if window is not None:  # the session's window first: the binned overlay uses it
            data = self.session.data
            full = (0.0, (data.time[-1] - data.time[0]) * 86400.0)
            self._updating = True
            try:
                if window[0] <= full[0] and window[1] >= full[1]:
                    self.session.window = None
                else:
                    self.session.window = (self.time_axis.mjd(window[0]),
                                           self.time_axis.mjd(window[1]))
            finally:
                self._updating = False
        self._redraw()

    def _on_window(self, change) -> None:
        if self._updating:
            return
        if change["new"] is None:
            self.reset_zoom()
            return
        start, stop = change["new"]
        self._updating = True
        try:
            self.time_axis.show(*self.time_axis.seconds([start, stop]))
        finally:
            self._updating = False
        self._redraw()

    # -- drawing --------------------------------------------------------------------------
    @_drawing
    def _redraw(self) -> None:
        """Follow the visible window: y ranges, flagged ticks, axis, status, and the lines
        (sent once to the browser, which re-decimates them; else re-decimated here)."""
        data = self.session.data
        if data is None or len(data) == 0 or not self.panels:
            return
        frames = self._frames()
        seconds = frames["seconds"]
        self._drawn = self._window_seconds()
        window = self._drawn or (0.0, float(seconds[-1]))
        lo, hi = (int(np.searchsorted(seconds, window[0], "left")),
                  int(np.searchsorted(seconds, window[1], "right")))
        flagged = self._flagged_in_view(window)
        if self.lines is not None:
            self._publish()
        shown = 0
        for i, panel in enumerate(self.panels):
            try:
                _, values, blocks = self._values(panel.column)
            except KeyError:
                continue
            if self.lines is not None:  # computed only for "full range" (it costs a zoom)
                line = functools.partial(self.drawn_line, i)
            else:
                x, y = break_gaps(*decimate_for_display(seconds, values, self.width_px, window,
                                                        blocks=blocks),
                                  self._gap_seconds(window))
                with panel.line.hold_sync():
                    panel.line.x, panel.line.y = x, y
                shown = max(shown, len(x))
                line = _constant((x, y))
            self._draw_flags(panel, flagged)
            self._scale_y(panel, values, lo, hi, line)
            self._draw_binned(panel)
        self._time_axis(window)
        with self.pointer.hold_sync():
            self.pointer.x_min, self.pointer.x_max = window
        n_flagged = len(self._flagged_between(lo, hi))
        flagged_text = (f", <span style='color:{_FLAG_COLOR}'>{n_flagged:,} flagged "
                        "(▲)</span>" if n_flagged else "")
        self.status.value = (f"<span class='fgs-ts-status'>start {frames['start_utc']} UTC (MJD "
                             f"{self.time_axis.t0:.5f})<br>{hi - lo:,} frames in view"
                             f"{flagged_text}"
                             + ("" if self.lines is not None else f", {shown:,} points drawn")
                             + "</span>")

    def _publish(self) -> None:
        """Send the panels' summaries to the browser (once per data: nothing on a zoom)."""
        seconds = self._frames()["seconds"]
        lines, series, index = [], [], []
        for panel in self.panels:
            try:
                series.append((seconds, *self._levels(panel.column)))
            except KeyError:
                index.append(None)
                continue
            index.append(len(lines))
            lines.append(panel.line)
        self.lines.show(lines, series, self._min_gap())
        self._line_index = index

    def drawn_line(self, panel: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) of panel number ``panel``'s line as drawn now (in the browser once
        the detail it asks for has arrived, or as sent by the kernel without the bundle).
        """
        if self.lines is None:
            line = self.panels[panel].line
            return np.asarray(line.x, dtype=np.float64), np.asarray(line.y, dtype=np.float64)
        window = self._drawn or (0.0, float(self._frames()["seconds"][-1]))
        index = self._line_index[panel] if panel < len(self._line_index) else None
        return (np.zeros(0), np.zeros(0)) if index is None else self.lines.drawn(index, window)

    def _flagged_between(self, lo: int, hi: int) -> np.ndarray:
        """Flagged frames with index in [lo, hi) (the indices are sorted)."""
        flagged = self._frames()["flagged"]
        return flagged[np.searchsorted(flagged, lo):np.searchsorted(flagged, hi)]

    def _flagged_in_view(self, window: tuple[float, float]) -> np.ndarray:
        """Flagged frames in the window, one per pixel column (what the foot ticks show).

        With the lines drawn in the browser, also one view width each side: a pan then
        shows the ticks it uncovers at once, before the kernel hears of it.
        """
        frames = self._frames()
        seconds, times = frames["seconds"], frames["flagged_seconds"]
        span = window[1] - window[0]
        reach = span if self.lines is not None else 0.0
        inside = frames["flagged"][np.searchsorted(times, window[0] - reach, "left"):
                                   np.searchsorted(times, window[1] + reach, "right")]
        columns = self.width_px * (1 + 2 * int(reach > 0))
        if len(inside) <= columns:
            return inside
        column = np.floor((seconds[inside] - window[0]) / span * self.width_px).astype(np.int64)
        return inside[np.r_[True, np.diff(column) != 0]]

    def _draw_flags(self, panel: _SeriesPlot, flagged: np.ndarray) -> None:
        x = self._frames()["seconds"][flagged]
        with panel.flags.hold_sync():
            panel.flags.x, panel.flags.y = x, np.full(len(x), 0.04)
        panel.flagged_values.visible = self.show_flagged
        if self.show_flagged:
            raw = self._values(panel.column)[0]
            with panel.flagged_values.hold_sync():
                panel.flagged_values.x, panel.flagged_values.y = x, raw[flagged]

    def _scale_y(self, panel: _SeriesPlot, values: np.ndarray, lo: int, hi: int,
                 line: Callable[[], tuple[np.ndarray, np.ndarray]]) -> None:
        """The bulk of the good frames in view, or everything drawn (``line()``) with
        "full range"."""
        frames = self._frames()
        if self.full_range:
            parts = [line()[1]]
            if self.show_flagged:  # every flagged frame in view, not only those drawn
                parts.append(self._values(panel.column)[0][self._flagged_between(lo, hi)])
            finite = np.concatenate(parts)
            finite = finite[np.isfinite(finite)]
            span = (float(finite.min()), float(finite.max())) if finite.size else None
            if span is not None:
                pad = (span[1] - span[0]) * 0.05 or abs(span[1]) * 0.01 or 1.0
                span = (span[0] - pad, span[1] + pad)
                if not all(np.isfinite(span)):  # values near the float limits
                    span = (float(finite.min()), float(finite.max()))
        else:
            show_bulk_range(panel.ys, panel.y_axis, values[lo:hi], self.panel_height,
                            panel.column, good=frames["good"][lo:hi],
                            groups=frames["groups"][lo:hi])
            return
        if span is not None:
            show_range(panel.ys, panel.y_axis, span, self.panel_height, panel.column)

    def _draw_binned(self, panel: _SeriesPlot) -> None:
        panel.binned.visible = self.binned
        if self.binned and panel.column in self.session.columns():
            table = self.session.binned(panel.column, self.bin_seconds)
            if len(table):
                with panel.binned.hold_sync():
                    panel.binned.x = self.time_axis.seconds(table["time"].to_numpy())
                    panel.binned.y = table["mean"].to_numpy()

    def _time_axis(self, window: tuple[float, float]) -> None:
        """Elapsed-time ticks in the unit that suits the span; none that would be clipped."""
        for panel in self.panels:
            if panel.x_axis.visible:  # hidden axes draw nothing: no message for them
                self.time_axis.label(panel.x_axis, window)

    def _gap_seconds(self, window: tuple[float, float]) -> float:
        """Spacing that counts as a gap: 10 cadences, and at least two pixel columns."""
        span = window[1] - window[0]
        return max(self._min_gap(), 2 * span / self.width_px)

    def _min_gap(self) -> float:
        """Spacing that breaks a line however wide the view: 10 cadences (the browser's
        lines take the larger of this and two pixel columns, as `_gap_seconds` does)."""
        return 10 * self._frames()["cadence"]

    # -- cursor, hover, pick ------------------------------------------------------------------
    @_drawing
    def _on_cursor(self, change=None) -> None:
        data = self.session.data
        if data is None or len(data) == 0:
            return
        x = float(self._frames()["seconds"][self.session.cursor])
        for panel in self.panels:
            panel.cursor.x = np.array([x, x])

    def _nearest(self, seconds: float) -> int:
        times = self._frames()["seconds"]
        index = int(np.clip(np.searchsorted(times, seconds), 0, len(times) - 1))
        if index > 0 and abs(times[index - 1] - seconds) < abs(times[index] - seconds):
            index -= 1
        return index

    def pick(self, seconds: float) -> None:
        """Move the session's cursor to the frame nearest ``seconds`` (as a click does)."""
        if self.session.data is not None and len(self.session.data):
            self.session.cursor = self._nearest(seconds)

    def _on_pointer_pick(self, change) -> None:
        if "x" in change["new"]:
            self.pick(float(change["new"]["x"]))

    def _on_hover(self, change) -> None:
        where = change["new"]
        if not where or self.session.data is None or not len(self.session.data):
            self.pointer.readout = _hint()
            return
        self.pointer.readout = self.describe(float(where["x"]), int(where.get("panel", 0)))

    def describe(self, seconds: float, panel: int = 0) -> str:
        """The readout (HTML) for the pointer at ``seconds`` over panel number ``panel``.

        Time since start, MJD and UTC, the frame under the pointer (the one a click
        picks), the panel's value and the frame's flags; when another frame within one
        pixel column is flagged (its ▲ is under the pointer), that frame and its flags.
        """
        from astropy.time import Time

        data = self.session.data
        frames = self._frames()
        index = self._nearest(seconds)
        column = self.panels[panel].column if 0 <= panel < len(self.panels) else "flux"
        try:
            value = float(self._values(column)[0][index])
        except KeyError:
            value = float("nan")
        mjd = float(data.time[index])
        utc = Time(mjd, format="mjd", scale="utc").isot.replace("T", " ")[:23]
        flags = Quality.describe(int(data.quality[index]))
        flag_text = (f"<span class='fgs-ts-flag'>{'flagged: ' if not frames['good'][index] else ''}"
                     f"{html.escape(', '.join(flags))}</span>" if flags else "no flags")
        items = [f"t = {float(frames['seconds'][index]):,.3f} s", f"MJD {mjd:.6f}", f"{utc} UTC",
                 f"frame {index:,}", f"{html.escape(column)} = {value:.6g}", flag_text]
        near = self._flagged_near(seconds)
        if near is not None and near != index:
            names = ", ".join(Quality.describe(int(data.quality[near])))
            items.append(f"<span class='fgs-ts-flag'>▲ frame {near:,} flagged: "
                         f"{html.escape(names)}</span>")
        return readout_html(items)

    def _flagged_near(self, seconds: float) -> int | None:
        """The flagged frame nearest ``seconds`` if within one pixel column, else None."""
        frames = self._frames()
        flagged, times = frames["flagged"], frames["flagged_seconds"]
        if not len(flagged):
            return None
        window = self._window_seconds() or (0.0, float(frames["seconds"][-1]))
        tolerance = (window[1] - window[0]) / max(self.width_px, 1)
        j = int(np.searchsorted(times, seconds))
        near = [k for k in (j - 1, j) if 0 <= k < len(flagged)
                and abs(times[k] - seconds) <= tolerance]
        return int(flagged[min(near, key=lambda k: abs(times[k] - seconds))]) if near else None

    # -- events -------------------------------------------------------------------------------
    @_drawing
    def _on_events(self, change=None) -> None:
        events = self.session.events if self.session.data is not None else None
        for panel in self.panels:
            self.time_axis.draw_events(panel.bands, panel.instants, events)

"""TimeseriesViewer: flux and fit columns in stacked bqplot panels sharing one time axis.

Every panel is re-decimated in the kernel (min/max per pixel column) whenever
the shared x scale changes, so 10^6-point series never reach the browser.  The
x axis is seconds since the first frame (its MJD is in the axis label).
"""

from __future__ import annotations

from collections.abc import Iterable

import bqplot as bq
import ipywidgets as W
import numpy as np
import traitlets as t

from ..engine.binning import break_gaps, decimate_for_display
from ..model import Session

__all__ = ["TimeseriesViewer"]

_EVENT_COLORS = {"hga_move": "#ff7f0e", "guide_star_change": "#1f77b4", "file_boundary": "#999",
                 "jump": "#d62728", "outlier": "#9467bd", "transition": "#2ca02c"}


class _Panel:
    """One figure: a series, its binned overlay, the cursor and event overlays."""

    def __init__(self, column: str, xs: bq.LinearScale, height: int, show_x_axis: bool):
        self.column = column
        self.ys = bq.LinearScale()
        unit = bq.LinearScale(min=0.0, max=1.0)
        self.line = bq.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": self.ys},
                             colors=["#333333"], stroke_width=0.8)
        self.binned = bq.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": self.ys},
                               colors=["#d62728"], marker="circle", marker_size=12,
                               stroke_width=1.5, visible=False)
        self.bands = bq.Lines(x=np.zeros((0, 4)), y=np.zeros((0, 4)),
                              scales={"x": xs, "y": unit}, fill="inside",
                              fill_opacities=[0.25], colors=["#ff7f0e"], stroke_width=0.5)
        self.instants = bq.Lines(x=np.zeros((0, 2)), y=np.zeros((0, 2)),
                                 scales={"x": xs, "y": unit}, colors=["#1f77b4"],
                                 line_style="dashed", stroke_width=1)
        self.cursor = bq.Lines(x=np.zeros(2), y=np.array([0.0, 1.0]),
                               scales={"x": xs, "y": unit}, colors=["#e377c2"], stroke_width=2)
        x_axis = bq.Axis(scale=xs, label="", num_ticks=6, visible=show_x_axis)
        y_axis = bq.Axis(scale=self.ys, side="left", label=column, num_ticks=4,
                         tick_format=".4g", label_offset="55px")
        self.figure = bq.Figure(
            marks=[self.bands, self.instants, self.line, self.binned, self.cursor],
            axes=[x_axis, y_axis], fig_margin={"top": 8, "bottom": 30 if show_x_axis else 8,
                                              "left": 80, "right": 10},
            layout=W.Layout(height=f"{height}px", width="100%"), min_aspect_ratio=0.01,
            max_aspect_ratio=100)
        self.figure.add_class("fgs-timeseries-panel")
        self.x_axis = x_axis


class TimeseriesViewer(W.VBox):
    """Stacked time series linked to a `Session` (cursor, window, events).

    Parameters
    ----------
    session : Session
    columns : iterable of str
        Series to show ("flux" and/or fit columns); changeable from the widget.
    width_px : int
        Plot width used for decimation (points per pixel column).
    panel_height : int
        Pixels per panel.
    """

    columns = t.List(t.Unicode())
    binned = t.Bool(False)
    bin_seconds = t.Float(10.0)
    mode = t.Enum(["zoom", "pick"], "zoom")

    def __init__(self, session: Session, columns: Iterable[str] = ("flux",), width_px: int = 900,
                 panel_height: int = 150, **kwargs):
        self.session = session
        self.width_px = int(width_px)
        self.panel_height = int(panel_height)
        self.xs = bq.LinearScale()
        self.panels: list[_Panel] = []
        self._t0 = 0.0
        self._updating = False
        self.selector = W.SelectMultiple(description="series", rows=4,
                                         layout=W.Layout(width="260px"))
        self.binned_box = W.Checkbox(description="binned", indent=False,
                                     layout=W.Layout(width="90px"))
        self.mode_buttons = W.ToggleButtons(options=[("pan/zoom", "zoom"), ("pick frame", "pick")],
                                            style={"button_width": "90px"})
        self.reset_button = W.Button(description="reset zoom", layout=W.Layout(width="120px"))
        self.status = W.HTML()
        self.figures = W.VBox(layout=W.Layout(width="100%"))
        controls = W.HBox([self.selector, W.VBox([self.binned_box, self.reset_button],
                                                 layout=W.Layout(min_width="125px")),
                           self.mode_buttons, self.status])
        super().__init__([controls, self.figures], **kwargs)
        self.add_class("fgs-timeseries")
        W.link((self.binned_box, "value"), (self, "binned"))
        W.link((self.mode_buttons, "value"), (self, "mode"))
        self.reset_button.on_click(lambda _: self.reset_zoom())
        self.selector.observe(self._on_select, names="value")
        self.xs.observe(self._on_scale, names=["min", "max"])
        session.observe(self._on_data, names=["data", "fit", "quick_fit"])
        session.observe(self._on_cursor, names="cursor")
        session.observe(self._on_events, names="events")
        session.observe(self._on_window, names="window")
        self._refresh_options()
        self.columns = list(columns)
        self._on_data()

    def close(self) -> None:
        """Stop following the session and close the widget."""
        for handler, names in ((self._on_data, ["data", "fit", "quick_fit"]),
                               (self._on_cursor, "cursor"), (self._on_events, "events"),
                               (self._on_window, "window")):
            try:
                self.session.unobserve(handler, names=names)
            except ValueError:  # already closed
                pass
        super().close()

    # -- building ---------------------------------------------------------------------
    @t.observe("columns")
    def _build(self, change=None) -> None:
        available = self.session.columns() if self.session.data is not None else ["flux"]
        wanted = [c for c in self.columns if c in available] or ["flux"]
        self.panels = [_Panel(c, self.xs, self.panel_height, i == len(wanted) - 1)
                       for i, c in enumerate(wanted)]
        self.figures.children = [p.figure for p in self.panels]
        self._apply_mode()
        self._label_axis()
        self._redraw()
        self._on_cursor()
        self._on_events()
        if tuple(self.selector.value) != tuple(wanted):
            self.selector.value = tuple(wanted)

    def _on_select(self, change) -> None:
        if list(change["new"]) and list(change["new"]) != self.columns:
            self.columns = list(change["new"])

    @t.observe("mode")
    def _apply_mode(self, change=None) -> None:
        for panel in self.panels:
            if self.mode == "zoom":
                panel.figure.interaction = bq.interacts.PanZoom(scales={"x": [self.xs]})
            else:
                picker = bq.interacts.IndexSelector(scale=self.xs, marks=[panel.line])
                picker.observe(self._on_pick, names="selected")
                panel.figure.interaction = picker

    @t.observe("binned", "bin_seconds")
    def _on_binned(self, change=None) -> None:
        self._redraw()

    def _label_axis(self) -> None:
        if self.panels and self.session.data is not None and len(self.session.data):
            self.panels[-1].x_axis.label = f"seconds since MJD {self._t0:.6f}"

    # -- data and zoom ------------------------------------------------------------------
    def _refresh_options(self) -> None:
        options = self.session.columns() if self.session.data is not None else ["flux"]
        if tuple(self.selector.options) != tuple(options):
            keep = tuple(v for v in self.selector.value if v in options)
            self.selector.options = options
            self.selector.value = keep

    def _on_data(self, change=None) -> None:
        data = self.session.data
        self._refresh_options()
        if data is None or len(data) == 0:
            return
        self._t0 = float(data.time[0])
        if change is None or change["name"] == "data":
            self.reset_zoom()
        self._build()

    def reset_zoom(self) -> None:
        """Show the whole series."""
        data = self.session.data
        if data is None or len(data) == 0:
            return
        span = (data.time[-1] - data.time[0]) * 86400.0
        with self.xs.hold_trait_notifications():
            self.xs.min, self.xs.max = 0.0, max(span, 1e-3)

    def _seconds(self, mjd: np.ndarray) -> np.ndarray:
        return (np.asarray(mjd, dtype=np.float64) - self._t0) * 86400.0

    def _window_seconds(self) -> tuple[float, float] | None:
        if self.xs.min is None or self.xs.max is None:
            return None
        return float(self.xs.min), float(self.xs.max)

    def _on_scale(self, change=None) -> None:
        if self._updating or self.session.data is None:
            return
        window = self._window_seconds()
        if window is not None:  # the session's window first: the binned overlay uses it
            data = self.session.data
            full = (0.0, (data.time[-1] - data.time[0]) * 86400.0)
            self._updating = True
            try:
                if window[0] <= full[0] and window[1] >= full[1]:
                    self.session.window = None
                else:
                    self.session.window = (self._t0 + window[0] / 86400.0,
                                           self._t0 + window[1] / 86400.0)
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
            with self.xs.hold_trait_notifications():
                self.xs.min = float((start - self._t0) * 86400.0)
                self.xs.max = float((stop - self._t0) * 86400.0)
        finally:
            self._updating = False
        self._redraw()

    def _redraw(self) -> None:
        """Re-decimate every panel to the visible window (kernel side)."""
        data = self.session.data
        if data is None or len(data) == 0:
            return
        window = self._window_seconds()
        seconds = self._seconds(data.time)
        shown = 0
        for panel in self.panels:
            try:
                _, values = self.session.series(panel.column)
            except KeyError:
                continue
            x, y = break_gaps(*decimate_for_display(seconds, values, self.width_px, window),
                               self._gap_seconds(window))
            with panel.line.hold_sync():
                panel.line.x, panel.line.y = x, y
            shown = max(shown, len(x))
            finite = y[np.isfinite(y)]
            if finite.size:
                lo, hi = float(finite.min()), float(finite.max())
                pad = (hi - lo) * 0.05 or abs(hi) * 0.01 or 1.0
                panel.ys.min, panel.ys.max = lo - pad, hi + pad
            panel.binned.visible = self.binned
            if self.binned and panel.column in self.session.columns():
                table = self.session.binned(panel.column, self.bin_seconds)
                if len(table):
                    panel.binned.x = self._seconds(table["time"].to_numpy())
                    panel.binned.y = table["mean"].to_numpy()
        n_window = len(data) if window is None else int(np.searchsorted(
            seconds, window[1], "right") - np.searchsorted(seconds, window[0], "left"))
        self.status.value = (f"<span class='fgs-ts-status'>{n_window:,} frames in view, "
                             f"{shown:,} points drawn</span>")

    def _gap_seconds(self, window: tuple[float, float] | None) -> float:
        """Spacing that counts as a gap: 10 cadences, and at least two pixel columns."""
        data = self.session.data
        span = (window[1] - window[0]) if window else (data.time[-1] - data.time[0]) * 86400
        cadence = data.cadence if np.isfinite(data.cadence) else 0.0
        return max(10 * cadence, 2 * span / self.width_px)

    # -- cursor -----------------------------------------------------------------------------
    def _on_cursor(self, change=None) -> None:
        data = self.session.data
        if data is None or len(data) == 0:
            return
        x = float(self._seconds(data.time[self.session.cursor]))
        for panel in self.panels:
            panel.cursor.x = np.array([x, x])

    def _on_pick(self, change) -> None:
        selected = change["new"]
        if selected is None or len(selected) == 0 or self.session.data is None:
            return
        self.pick(float(selected[0]))

    def pick(self, seconds: float) -> None:
        """Move the session's cursor to the frame nearest ``seconds`` (as a click does)."""
        times = self._seconds(self.session.data.time)
        index = int(np.clip(np.searchsorted(times, seconds), 0, len(times) - 1))
        if index > 0 and abs(times[index - 1] - seconds) < abs(times[index] - seconds):
            index -= 1
        self.session.cursor = index

    # -- events -------------------------------------------------------------------------------
    def _on_events(self, change=None) -> None:
        events = self.session.events
        if events is None or len(events) == 0 or self.session.data is None:
            for panel in self.panels:
                panel.bands.x, panel.bands.y = np.zeros((0, 4)), np.zeros((0, 4))
                panel.instants.x, panel.instants.y = np.zeros((0, 2)), np.zeros((0, 2))
            return
        intervals = events[np.isfinite(events["end"]) & (events["kind"] != "file_boundary")]
        instants = events[~events.index.isin(intervals.index)]
        bx = np.column_stack([self._seconds(intervals["time"])] * 2
                             + [self._seconds(intervals["end"])] * 2)
        by = np.tile([0.0, 1.0, 1.0, 0.0], (len(intervals), 1))
        ix = np.repeat(self._seconds(instants["time"])[:, None], 2, axis=1)
        iy = np.tile([0.0, 1.0], (len(instants), 1))
        band_colors = [_EVENT_COLORS.get(k, "#888") for k in intervals["kind"]] or ["#ff7f0e"]
        line_colors = [_EVENT_COLORS.get(k, "#888") for k in instants["kind"]] or ["#1f77b4"]
        for panel in self.panels:
            with panel.bands.hold_sync():
                panel.bands.x, panel.bands.y = bx, by
                panel.bands.colors = band_colors
                panel.bands.fill_colors = band_colors
                panel.bands.fill_opacities = [0.25] * max(len(intervals), 1)
                panel.bands.labels = list(intervals["label"].astype(str))
            with panel.instants.hold_sync():
                panel.instants.x, panel.instants.y = ix, iy
                panel.instants.colors = line_colors
                panel.instants.labels = list(instants["label"].astype(str))

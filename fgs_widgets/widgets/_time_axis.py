"""The time axis the series viewer and the science panel share.

One bqplot x scale in seconds since an origin (the first frame; the first science
integration while no guide-star data are loaded), the window it shows, its ticks, and
the marks every plot on it draws alike: events (bands and dashed instants) and the
cursor.  Plots built on one `TimeAxis` zoom and pan together and place a time at the
same x.
"""

from __future__ import annotations

from typing import Any

import bqplot as bq
import numpy as np

from ..engine.scales import Ticks, time_ticks
from ._common import set_ticks

__all__ = ["CHAR_PX", "CURSOR_COLOR", "MARGIN", "MARGIN_X_AXIS", "PX_PER_X_TICK", "TimeAxis"]

#: figure margins (px) of the plots on the axis; the right one holds half of the last x label
MARGIN = {"top": 10, "bottom": 8, "left": 72, "right": 28}
MARGIN_X_AXIS = 34  # bottom margin of the plot that shows the time axis
#: pixels per x tick: labels are up to ~40 px wide
PX_PER_X_TICK = 70
CHAR_PX = 7  # width of a tick label character at bqplot's default font, for overhang checks
CURSOR_COLOR = "#e377c2"

_EVENT_COLORS = {"hga_move": "#ff7f0e", "guide_star_change": "#1f77b4", "file_boundary": "#999",
                 "jump": "#d62728", "tilt": "#d62728", "outlier": "#9467bd",
                 "transition": "#2ca02c"}


class TimeAxis:
    """Seconds since the session's start on one shared scale.

    Parameters
    ----------
    session : Session
        Whose data (else science series) give the origin.
    width_px : int
        The plots' width in pixels (ticks and decimation follow it).

    Attributes
    ----------
    scale : bqplot.LinearScale
        The x scale of every plot on this axis (its min/max are the window shown).
    width_px : int
    """

    def __init__(self, session: Any, width_px: int = 900):
        self.session = session
        # no padding: bqplot would inset the marks (not the axis) by the widest marker's
        # half size, so a time's tick, mark and pointer position would differ by pixels
        self.scale = bq.LinearScale(allow_padding=False)
        self.width_px = int(width_px)

    @property
    def t0(self) -> float:
        """The origin (MJD): the first frame, else the first science integration, else 0."""
        data = self.session.data
        if data is not None and len(data):
            return float(data.time[0])
        science = self.session.science
        if science is not None and len(science):
            return float(science.start[0])
        return 0.0

    @property
    def since(self) -> str:
        """What the origin is, as the axis label says it."""
        return "start" if self.session.data is not None else "first integration"

    def seconds(self, mjd: Any) -> np.ndarray:
        """x of MJD times."""
        return (np.asarray(mjd, dtype=np.float64) - self.t0) * 86400.0

    def mjd(self, seconds: float) -> float:
        """The MJD time at x = ``seconds``."""
        return self.t0 + float(seconds) / 86400.0

    def window(self) -> tuple[float, float] | None:
        """(lo, hi) seconds shown, or None before anything set the scale."""
        if self.scale.min is None or self.scale.max is None:
            return None
        return float(self.scale.min), float(self.scale.max)

    def show(self, lo: float, hi: float) -> None:
        """Show [lo, hi] seconds: one change of the scale (observers see both ends set)."""
        with self.scale.hold_trait_notifications():
            self.scale.min, self.scale.max = float(lo), float(hi)

    def ticks(self, window: tuple[float, float]) -> tuple[Ticks, str]:
        """Elapsed-time ticks over ``window`` without those whose label the figure's
        margins would clip; returns (ticks, unit)."""
        plot = max(int(self.width_px), 100)
        ticks, unit = time_ticks(*window, max_ticks=max(2, plot // PX_PER_X_TICK))
        span = window[1] - window[0]
        keep = []
        for i, (value, label) in enumerate(zip(ticks.values, ticks.labels, strict=True)):
            pixel = (value - window[0]) / span * plot
            half = CHAR_PX * len(label) / 2 + 2
            if pixel - half >= -MARGIN["left"] and pixel + half <= plot + MARGIN["right"]:
                keep.append(i)
        return Ticks(ticks.values[keep], [ticks.labels[i] for i in keep], 0, ticks.step), unit

    def label(self, axis: bq.Axis, window: tuple[float, float]) -> None:
        """Put ``window``'s ticks and "time since start (unit)" on ``axis``."""
        ticks, unit = self.ticks(window)
        set_ticks(axis, ticks)
        # short: it must fit a narrow side panel; the start's date is in the status
        axis.label = f"time since {self.since} ({unit})"

    # -- marks on the axis -------------------------------------------------------------------
    def event_marks(self, unit: bq.Scale) -> tuple[bq.Lines, bq.Lines]:
        """The two marks that show the session's events: (bands, instants), both empty.

        Parameters
        ----------
        unit : bqplot.Scale
            A 0–1 scale: bands and instants span the plot's whole height.
        """
        xs = self.scale
        bands = bq.Lines(x=np.zeros((0, 4)), y=np.zeros((0, 4)), scales={"x": xs, "y": unit},
                         fill="inside", fill_opacities=[0.25], colors=["#ff7f0e"],
                         stroke_width=0.5)
        instants = bq.Lines(x=np.zeros((0, 2)), y=np.zeros((0, 2)),
                            scales={"x": xs, "y": unit}, colors=["#1f77b4"],
                            line_style="dashed", stroke_width=1)
        return bands, instants

    def draw_events(self, bands: bq.Lines, instants: bq.Lines, events: Any) -> None:
        """Events with an end as shaded bands, the others (and file boundaries) as dashed
        lines, on the marks of `event_marks`; None or an empty table clears them."""
        if events is None or len(events) == 0:
            bands.x, bands.y = np.zeros((0, 4)), np.zeros((0, 4))
            instants.x, instants.y = np.zeros((0, 2)), np.zeros((0, 2))
            return
        seconds = self.seconds
        intervals = events[np.isfinite(events["end"]) & (events["kind"] != "file_boundary")]
        moments = events[~events.index.isin(intervals.index)]
        bx = np.column_stack([seconds(intervals["time"])] * 2 + [seconds(intervals["end"])] * 2)
        by = np.tile([0.0, 1.0, 1.0, 0.0], (len(intervals), 1))
        ix = np.repeat(seconds(moments["time"])[:, None], 2, axis=1)
        iy = np.tile([0.0, 1.0], (len(moments), 1))
        band_colors = [_EVENT_COLORS.get(k, "#888") for k in intervals["kind"]] or ["#ff7f0e"]
        line_colors = [_EVENT_COLORS.get(k, "#888") for k in moments["kind"]] or ["#1f77b4"]
        with bands.hold_sync():
            bands.x, bands.y = bx, by
            bands.colors = band_colors
            bands.fill_colors = band_colors
            bands.fill_opacities = [0.25] * max(len(intervals), 1)
            bands.labels = list(intervals["label"].astype(str))
        with instants.hold_sync():
            instants.x, instants.y = ix, iy
            instants.colors = line_colors
            instants.labels = list(moments["label"].astype(str))

    def cursor_mark(self, unit: bq.Scale, **kwargs: Any) -> bq.Lines:
        """A vertical line over the plot's whole height (``unit``: a 0–1 scale) at the
        cursor; `place_cursor` moves it."""
        style = {"colors": [CURSOR_COLOR], "stroke_width": 2, **kwargs}
        return bq.Lines(x=np.zeros(2), y=np.array([0.0, 1.0]),
                        scales={"x": self.scale, "y": unit}, **style)

    def place_cursor(self, marks: list[bq.Lines], mjd: float | None) -> None:
        """Move cursor marks to ``mjd`` (None: hide them)."""
        if mjd is not None:
            x = float(self.seconds(mjd))
            for mark in marks:
                mark.x = np.array([x, x])
        for mark in marks:
            mark.visible = mjd is not None

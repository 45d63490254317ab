"""PeriodogramPanel: Lomb–Scargle of the chosen series over the session's window."""

from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as W
import numpy as np

from ..engine.binning import decimate_for_display
from ..jobs import JobState
from ..model import Session
from ._common import Panel

__all__ = ["PeriodogramPanel"]


class PeriodogramPanel(Panel):
    """Periodogram (log period axis), its peaks, and the series folded on a chosen peak.

    Computing is the session's ``periodogram_job`` (in the background); the panel draws
    whatever ``session.periodograms`` holds for the chosen series, however it got there
    (this panel, a script, the seed API's ``periodogram()``).
    """

    def __init__(self, session: Session, auto: bool = False, **kwargs):
        self.column = W.Dropdown(description="series", layout=W.Layout(width="220px"))
        self.compute_button = W.Button(description="Periodogram", icon="signal",
                                       button_style="primary")
        self.auto = W.Checkbox(value=auto, description="update on zoom", indent=False)
        # explicit domains until there is data: an empty log scale renders NaN ticks
        xs = self.period_scale = bq.LogScale(min=1.0, max=1000.0)
        ys = self.power_scale = bq.LinearScale(min=0.0, max=1.0)
        self.line = bq.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": ys},
                             colors=["#333"], stroke_width=1)
        self.marker = bq.Lines(x=np.ones(2), y=np.array([0.0, 1.0]),
                               scales={"x": xs, "y": bq.LinearScale(min=0.0, max=1.0)},
                               colors=["#d62728"], visible=False)
        self.figure = bq.Figure(marks=[self.line, self.marker], axes=[
            bq.Axis(scale=xs, label="period (s)"),
            bq.Axis(scale=ys, side="left", label="power", tick_format=".2g")],
            layout=W.Layout(height="260px", width="100%"),
            fig_margin={"top": 10, "bottom": 40, "left": 60, "right": 10})
        self.figure.add_class("fgs-periodogram")
        self.peaks = W.Select(description="peaks", rows=5, layout=W.Layout(width="360px"))
        fx, fy = bq.LinearScale(min=0.0, max=1.0), bq.LinearScale(min=0.0, max=1.0)
        self.fold_scale = fy
        self.folded = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales={"x": fx, "y": fy},
                                 default_size=8, colors=["#1f77b4"])
        self.fold_figure = bq.Figure(marks=[self.folded], axes=[
            bq.Axis(scale=fx, label="phase"),
            bq.Axis(scale=fy, side="left", tick_format=".4g")],
            layout=W.Layout(height="220px", width="360px"),
            fig_margin={"top": 10, "bottom": 40, "left": 60, "right": 10})
        super().__init__(session, **kwargs)
        self.children = [W.HBox([self.column, self.compute_button, self.auto]), self.status,
                         self.figure, W.HBox([self.peaks, self.fold_figure])]
        self.add_class("fgs-periodogram-panel")
        self.compute_button.on_click(lambda _: self.compute())
        self.peaks.observe(self._on_peak, names="value")
        self.column.observe(self._on_column, names="value")
        self.watch(session, self._on_data, ["data", "fit", "quick_fit"])
        self.watch(session, self._on_window, "window")
        self.watch(session, self._draw, "periodograms")
        self.watch(session.periodogram_job, self._on_job, "state")
        self._on_data()

    def _on_data(self, change=None) -> None:
        columns = self.session.columns() if self.session.data is not None else []
        self.column.options = columns
        if self.session.parameter in columns:
            self.column.value = self.session.parameter
        self.compute_button.disabled = not columns
        if len(self.line.x) == 0:  # nothing drawn yet: say how to get something
            self.status.info(
                "Pick a series and press Periodogram: Lomb–Scargle over the time window zoomed "
                "in the plots (all of it when not zoomed). Click a peak to fold the series on it."
                if columns else "Load data first; the periodogram of any series shows here.")

    def _on_column(self, change) -> None:
        if change["new"]:
            self.session.parameter = change["new"]
            self._draw()

    def _on_window(self, change) -> None:
        if self.auto.value and self.session.data is not None:
            self.compute()

    def compute(self, block: bool = False) -> None:
        """Periodogram of the selected series over the current window (in the background)."""
        column = self.column.value
        if column:
            self.attempt(lambda: self.session.compute_periodograms([column], block=block))

    def _on_job(self, change) -> None:
        job = self.session.periodogram_job
        if change["new"] is JobState.RUNNING:
            self.status.busy(f"periodogram of {job.kind}…")
        elif change["new"] is JobState.FAILED:
            self.fail(job.error)

    def _draw(self, change=None) -> None:
        column = self.column.value
        result = self.session.periodograms.get(column)
        if result is None:
            return
        keep = result.frequency > 0
        periods, power = 1.0 / result.frequency[keep][::-1], result.power[keep][::-1]
        # up to 2x10^5 grid points: send the min/max envelope per pixel column (in log period,
        # the axis the plot uses) so peaks stay visible and the browser gets ~2,000 points
        log_x, power = decimate_for_display(np.log10(periods), power, 1000)
        periods = 10.0**log_x
        with self.line.hold_sync():
            self.line.x, self.line.y = periods, power
        self.period_scale.min, self.period_scale.max = float(periods[0]), float(periods[-1])
        self.power_scale.min, self.power_scale.max = 0.0, float(np.nanmax(power)) * 1.05 or 1.0
        self.peaks.options = [
            (f"{row.period:10.3f} s  power {row.power:.3g}  FAP {row.false_alarm_probability:.1e}",
             float(row.period)) for row in result.peaks.itertuples()]
        where = "window" if self.session.window else "whole series"
        self.status.info(f"{column}: {result.n_used:,} frames ({where}), "
                         f"{result.n_excluded:,} excluded (flagged or NaN)")

    def _on_peak(self, change) -> None:
        period = change["new"]
        if period is None:
            return
        self.marker.x = np.array([period, period])
        self.marker.visible = True
        binned = self.session.folded(self.column.value, period)
        self.folded.x, self.folded.y = binned["phase"].to_numpy(), binned["mean"].to_numpy()
        finite = binned["mean"].to_numpy()
        finite = finite[np.isfinite(finite)]
        if finite.size:
            pad = (finite.max() - finite.min()) * 0.1 or 1.0
            self.fold_scale.min = float(finite.min() - pad)
            self.fold_scale.max = float(finite.max() + pad)
        self.fold_figure.title = html.escape(f"{self.column.value} folded at {period:.3f} s")

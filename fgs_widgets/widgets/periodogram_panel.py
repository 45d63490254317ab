"""PeriodogramPanel: Lomb–Scargle of the chosen series over the session's window."""

from __future__ import annotations

import contextlib
import html
import threading
from collections.abc import Iterator
from typing import Any

import bqplot as bq
import ipywidgets as W
import numpy as np
import pandas as pd

from ..engine.binning import decimate_for_display
from ..engine.periodogram import Periodogram
from ..engine.scales import log_ticks, nice_ticks, time_unit
from ..jobs import JobState, Run
from ..model import PIECES, Session
from ._common import JobProgress, Panel, set_ticks

__all__ = ["PeriodogramPanel"]

#: peaks marked and labelled on the plot (the Select lists every peak of the table)
N_LABELLED = 3
#: the period axis is in minutes once the longest period shown reaches this (s)
MINUTES_FROM = 600.0
#: power axis top = this x the highest power: room for the peak labels above the peaks
HEADROOM = 1.25
#: the "levels removed" choices: (label, `Session.compute_periodograms`' ``detrend``)
DETREND_CHOICES = (("mean and slope", "linear"), ("mean", "mean"), ("nothing", "none"))
#: a peak is marked and labelled on the plot only when its false-alarm probability
#: (`Periodogram.peaks`' Baluev estimate: the chance that white noise alone puts a peak
#: this high anywhere in the searched band) is below this.  1 %: the usual threshold;
#: the estimate assumes white noise, and red noise (drifts, jitter) makes spurious peaks
#: look more significant, so this is a floor, not a proof.  Peaks above it stay in the
#: list, marked "not significant".
SIGNIFICANT_FAP = 0.01
#: the periodogram figure's height and margins (px): the plot area the labels must fit in
FIGURE_HEIGHT = 260
FIGURE_MARGIN = {"top": 34, "bottom": 40, "left": 65, "right": 30}
#: the plot area's width (px) assumed when placing labels (the figure is as wide as the
#: panel, which Python does not know): a narrow one, JupyterLab's at a 900 px window with
#: the file browser open (373 px); a wider plot only spreads the labels further apart
#: and keeps them further from its ends
PLOT_WIDTH = 360.0
#: label text (12 px): its width per character, its height, and the free space kept
#: around it (px); the width is a generous estimate (Chromium draws "3.52 min" 48 px wide)
LABEL_CHAR = 7.0
LABEL_HEIGHT = 12.0
LABEL_PAD = 3.0
#: labels are centred this far above their point (px; bqplot's ``y_offset``)
LABEL_RISE = 10.0


def _period_text(seconds: float) -> str:
    """A period as people read it: "12.5 s" below 2 min, "5.02 min" below 2 h, else "h"."""
    for limit, per, unit in ((120.0, 1.0, "s"), (7200.0, 60.0, "min"), (np.inf, 3600.0, "h")):
        if seconds < limit:
            value = seconds / per
            # 3 significant digits, never exponent notation (112 s, not 1.12e+02 s)
            text = f"{value:.0f}" if value >= 100 else f"{value:.3g}"
            return f"{text} {unit}"
    return f"{seconds:.3g} s"  # pragma: no cover - NaN only


def _highest_unlabelled(result: Periodogram, top: pd.DataFrame) -> tuple[float, float, str]:
    """(period, power, text) of the periodogram's highest point when it is higher than every
    `top` peak, else (NaN, NaN, "").  Then it is no peak but a rise to an end of the range
    (steps, drift), which the peak table leaves out: unlabelled, the plot looks broken."""
    values = np.where(np.isfinite(result.power) & (result.frequency > 0), result.power, -np.inf)
    if not len(values) or not np.isfinite(values.max()):
        return np.nan, np.nan, ""
    i = int(np.argmax(values))
    if len(top) and values[i] <= float(top["power"].max()):
        return np.nan, np.nan, ""
    period = 1.0 / float(result.frequency[i])
    end = " (range end)" if i in (0, len(values) - 1) else ""
    return period, float(values[i]), _period_text(period) + end


def _significant(peaks: pd.DataFrame) -> np.ndarray:
    """Per row of a peak table: is its false-alarm probability below `SIGNIFICANT_FAP`
    (NaN: no)."""
    return (peaks["false_alarm_probability"].to_numpy(dtype=float) < SIGNIFICANT_FAP)


def _no_peak_note(peaks: pd.DataFrame) -> str:
    """The plot's words when no peak is significant: "no significant peak (lowest
    false-alarm probability 0.47)"; "" when one is."""
    if _significant(peaks).any():
        return ""
    fap = peaks["false_alarm_probability"].to_numpy(dtype=float)
    fap = fap[np.isfinite(fap)]
    lowest = f" (lowest false-alarm probability {fap.min():.2g})" if fap.size else ""
    return f"no significant peak{lowest}"


def _peak_row(period: float, power: float, fap: float, significant: bool) -> str:
    """A peak as the list shows it: "   37.587 s  power 0.574  FAP 0.0e+00", or for one
    not significant "    1.770 s  power 0.00155  FAP 0.47  not significant"."""
    if significant:
        return f"{period:9.3f} s  power {power:.3g}  FAP {fap:.1e}"
    return f"{period:9.3f} s  power {power:.3g}  FAP {fap:.2g}  not significant"


class _PlotArea:
    """Pixel positions in the periodogram's plot area (x from its left, y from its top),
    for periods on ``span`` (log axis) and powers on 0 .. ``top``; `PLOT_WIDTH` wide."""

    def __init__(self, span: tuple[float, float], top: float):
        self.lo, self.hi, self.top = span[0], span[1], top
        self.width = PLOT_WIDTH
        self.height = float(FIGURE_HEIGHT - FIGURE_MARGIN["top"] - FIGURE_MARGIN["bottom"])
        self._log_span = np.log(self.hi / self.lo) if self.hi > self.lo else 1.0

    def x(self, period: float) -> float:
        return self.width * float(np.log(period / self.lo)) / self._log_span

    def period(self, x: float) -> float:
        return self.lo * float(np.exp(x / self.width * self._log_span))

    def y(self, power: float) -> float:
        return self.height * (1.0 - power / self.top)

    def box(self, text: str, x: float, power: float,
            align: str = "middle") -> tuple[float, float, float, float]:
        """(left, right, top, bottom) of a label's text with its padding; ``x`` is where
        it is anchored (its middle, start or end)."""
        width = len(text) * LABEL_CHAR
        left = {"start": x, "end": x - width}.get(align, x - width / 2)
        middle = self.y(power) - LABEL_RISE
        return (left - LABEL_PAD, left + width + LABEL_PAD,
                middle - LABEL_HEIGHT / 2 - LABEL_PAD, middle + LABEL_HEIGHT / 2 + LABEL_PAD)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def _place_labels(area: _PlotArea, periods: np.ndarray, power: np.ndarray,
                  taken: list[tuple[float, ...]]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(x, y, text) of the peak labels to draw, highest peak first: each centred over its
    peak, moved inwards as far as it takes to stay inside the plot area (clear of the axes'
    tick labels), and left out when it would overlap a label already placed (``taken``:
    boxes, e.g. the range end's; the peak keeps its marker and its row in the list)."""
    xs, ys, texts = [], [], []
    for period, height in zip(periods, power, strict=True):
        text = _period_text(period)
        half = len(text) * LABEL_CHAR / 2 + LABEL_PAD
        x = area.x(period)
        middle = float(np.clip(x, half, max(half, area.width - half)))
        box = area.box(text, middle, height)
        if any(_overlap(box, other) for other in taken):
            continue
        taken.append(box)
        xs.append(period if middle == x else area.period(middle))
        ys.append(height)
        texts.append(text)
    return np.array(xs, dtype=float), np.array(ys, dtype=float), texts


class PeriodogramPanel(Panel):
    """Periodogram (log period axis), its top peaks, and the series folded on a chosen peak.

    Computing is the session's ``periodogram_job`` (in the background, with its
    progress and Cancel here); the panel draws whatever ``session.periodograms``
    holds for the chosen series, however it got there (this panel, a script, the
    seed API's ``periodogram()``).  With ``auto`` on, the chosen series'
    periodogram is computed without a click: after a fit, when data arrive,
    and when a series without one is chosen.

    Parameters
    ----------
    session : Session
    auto : bool
        Compute the chosen series' periodogram after a fit, for new data and
        on choosing a series that has none (the "compute after fit" box).
    follow_zoom : bool
        Recompute whenever the session's window changes (the "update on zoom" box).
    detrend : {"linear", "mean", "none"}
        What the panel's computations remove from each piece first (the
        "levels removed" choice, `Session.compute_periodograms`' ``detrend``).
    by : {"file", "visit", "observation"}
        The pieces (the "of each" choice).
    **kwargs
        Passed to `ipywidgets.VBox`.

    Attributes
    ----------
    column : ipywidgets.Dropdown
        The series shown; a choice here also sets ``session.parameter``.
    auto, follow_zoom : ipywidgets.Checkbox
        The two options above.
    detrend, by : ipywidgets.Dropdown
        What each computation removes first, and from which pieces; changing
        either recomputes the shown series.  The figure's title says what the
        drawn periodogram removed (it may have been computed elsewhere).
    compute_button : ipywidgets.Button
    job_view : JobProgress
        ``session.periodogram_job``'s progress; ``progress`` and ``cancel_button``
        are its bar and button.
    last_run : fgs_widgets.jobs.Run or None
        The last run this panel started in the background.
    figure, line, period_axis, power_axis, period_scale, power_scale
        The periodogram plot (periods in seconds on the scale; the axis labels
        them in s or min).
    peak_marks : bqplot.Scatter
        Markers on the top `N_LABELLED` significant peaks (false-alarm probability
        below `SIGNIFICANT_FAP`), and on the highest point drawn when that is no peak
        (a rise to an end of the period range).
    peak_labels : bqplot.Label
        The marked peaks' periods as text ("37.4 s"), over them at their power; a label
        near an end of the axis is moved inwards to stay inside the plot area, and one
        that would overlap a higher peak's label (or the range end's) is left out.
    end_label : bqplot.Label
        The highest point's period when that is no peak ("23.9 min (range end)"),
        aligned to stay inside the figure; empty otherwise.
    note : bqplot.Label
        When no peak is significant, says so at the top of the plot ("no significant
        peak (lowest false-alarm probability 0.47)"); empty otherwise.
    peaks : ipywidgets.Select
        Every peak of the table, those not significant ending "not significant";
        choosing one draws ``marker`` and folds the series.  A new table selects its
        first, the highest peak (significant or not): the fold shows at once, whatever
        brought the table (computed here or elsewhere, before or after the panel was
        made, another series chosen, a periodogram replaced).
    marker, folded, fold_figure
        The chosen peak's line, and the series folded on it; the fold's title says
        the period, and "(not significant)" for a peak that is not.
    """

    def __init__(self, session: Session, auto: bool = True, follow_zoom: bool = False,
                 detrend: str = "linear", by: str = "file", **kwargs: Any):
        self.column = W.Dropdown(description="series", layout=W.Layout(width="220px"))
        self.compute_button = W.Button(description="Periodogram", icon="signal",
                                       button_style="primary")
        self.auto = W.Checkbox(value=auto, description="compute after fit", indent=False,
                               layout=W.Layout(width="140px"))
        self.follow_zoom = W.Checkbox(value=follow_zoom, description="update on zoom",
                                      indent=False, layout=W.Layout(width="130px"))
        self.detrend = W.Dropdown(options=DETREND_CHOICES, value=detrend,
                                  description="levels removed",
                                  style={"description_width": "initial"},
                                  layout=W.Layout(width="250px"))
        self.by = W.Dropdown(options=PIECES, value=by, description="of each",
                             disabled=detrend == "none", layout=W.Layout(width="200px"))
        self._build_figure()
        self._build_fold()
        super().__init__(session, **kwargs)
        # before the panel's own observer of the job: on DONE/CANCELLED the panel's
        # message (what is drawn, or that nothing is) is the one left on the status line
        self.job_view = JobProgress(session.periodogram_job, self.status)
        self.own(self.job_view)
        self.progress, self.cancel_button = self.job_view.bar, self.job_view.cancel_button
        self.children = [W.HBox([self.column, self.compute_button, self.auto,
                                 self.follow_zoom]),
                         W.HBox([self.detrend, self.by]),
                         self.job_view, self.status, self.figure,
                         W.HBox([self.peaks, self.fold_figure])]
        self.add_class("fgs-periodogram-panel")
        #: the last run this panel started in the background (None before any)
        self.last_run: Run | None = None
        self._lock = threading.RLock()  # auto starts come from the kernel and fit threads
        self._local = threading.local()  # per thread: is the panel itself setting `column`?
        # its own lock: `_lock` is held while starting a job, whose thread draws
        self._draw_lock = threading.RLock()
        self._chosen = ""  # the series last chosen by the user in `column`
        self._not_significant: set[float] = set()  # the drawn table's peaks above the FAP
        # what the fold draws: (series, period, periodogram, window); None: nothing
        self._fold_key: tuple | None = None
        self.compute_button.on_click(lambda _: self.compute())
        self.peaks.observe(self._on_peak, names="value")
        self.column.observe(self._on_column, names="value")
        self.detrend.observe(self._on_detrend, names="value")
        self.by.observe(self._on_detrend, names="value")
        self.watch(session, self._on_data, ["data", "fit", "quick_fit"])
        self.watch(session, self._on_window, "window")
        self.watch(session, self._on_periodograms, "periodograms")
        self.watch(session.periodogram_job, self._on_job, "state")
        self.watch(session.fit_job, self._on_fit_state, "state")
        self._on_data()

    def _build_figure(self) -> None:
        # explicit domains until there is data: an empty log scale renders NaN ticks
        xs = self.period_scale = bq.LogScale(min=1.0, max=1000.0)
        ys = self.power_scale = bq.LinearScale(min=0.0, max=1.0)
        self.line = bq.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": ys},
                             colors=["#333"], stroke_width=1)
        self.marker = bq.Lines(x=np.ones(2), y=np.array([0.0, 1.0]),
                               scales={"x": xs, "y": bq.LinearScale(min=0.0, max=1.0)},
                               colors=["#d62728"], visible=False)
        self.peak_marks = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": ys},
                                     marker="triangle-down", default_size=36,
                                     colors=["#ff7f0e"])
        # placed inside the plot area (`_place_labels`); not clipped, should the text be
        # wider than estimated
        self.peak_labels = bq.Label(x=np.zeros(0), y=np.zeros(0), text=[],
                                    scales={"x": xs, "y": ys}, y_offset=-LABEL_RISE,
                                    align="middle", default_size=12, colors=["#a04000"],
                                    apply_clip=False)
        # the highest point when it is a range end: its text ends (or starts) at the point
        self.end_label = bq.Label(x=np.zeros(0), y=np.zeros(0), text=[],
                                  scales={"x": xs, "y": ys}, y_offset=-LABEL_RISE,
                                  align="end", default_size=12, colors=["#a04000"],
                                  apply_clip=False)
        # no significant peak: said at the top of the plot area (its text 6-18 px down),
        # above every other label (the highest point is 1 - 1 / HEADROOM of the height,
        # 37 px, down: its label's text starts 21 px down)
        self.note = bq.Label(x=np.zeros(0), y=np.zeros(0), text=[],
                             scales={"x": bq.LinearScale(min=0.0, max=1.0),
                                     "y": bq.LinearScale(min=0.0, max=1.0)},
                             y_offset=LABEL_HEIGHT, align="middle", default_size=12,
                             colors=["#555"])
        self.period_axis = bq.Axis(scale=xs, label="period (s)")
        self.power_axis = bq.Axis(scale=ys, side="left", label="power", label_offset="50px")
        # right margin: the last period label is centred on the axis end
        self.figure = bq.Figure(marks=[self.line, self.marker, self.peak_marks,
                                       self.peak_labels, self.end_label, self.note],
                                axes=[self.period_axis, self.power_axis],
                                layout=W.Layout(height=f"{FIGURE_HEIGHT}px", width="100%"),
                                fig_margin=dict(FIGURE_MARGIN),
                                title_style={"font-size": "13px"})
        self.figure.add_class("fgs-periodogram")
        self._set_axes(1.0, 1000.0, 1.0)

    def _build_fold(self) -> None:
        # wide enough for a row "not significant" ends
        self.peaks = W.Select(description="peaks", rows=5, layout=W.Layout(width="400px"))
        self.peaks.add_class("fgs-peaks")
        fx, fy = bq.LinearScale(min=0.0, max=1.0), bq.LinearScale(min=0.0, max=1.0)
        self.fold_scale = fy
        self.folded = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales={"x": fx, "y": fy},
                                 default_size=8, colors=["#1f77b4"])
        self.fold_value_axis = bq.Axis(scale=fy, side="left", label_offset="52px")
        phase_axis = bq.Axis(scale=fx, label="phase")
        set_ticks(phase_axis, nice_ticks(0.0, 1.0, 6))
        set_ticks(self.fold_value_axis, nice_ticks(0.0, 1.0, 5))
        self.fold_figure = bq.Figure(marks=[self.folded], axes=[phase_axis, self.fold_value_axis],
                                     layout=W.Layout(height="220px", width="360px"),
                                     fig_margin={"top": 30, "bottom": 40, "left": 72,
                                                 "right": 20})
        self.fold_figure.add_class("fgs-fold")

    # -- choosing the series -------------------------------------------------------------
    @contextlib.contextmanager
    def _picking(self) -> Iterator[None]:
        """The panel, not the user, sets `column` inside this block."""
        before, self._local.picking = getattr(self._local, "picking", False), True
        try:
            yield
        finally:
            self._local.picking = before  # blocks may nest

    def _pick(self, column: str) -> None:
        with self._picking():
            self.column.value = column

    def _default_column(self) -> str:
        """The series to show when the panel chooses: the user's last choice if there,
        ``session.parameter`` if it is a fit column, else "x_mean", else "flux"."""
        columns = list(self.column.options)
        if self._chosen in columns:
            return self._chosen
        if self.session.parameter in columns and self.session.parameter != "flux":
            return self.session.parameter
        return "x_mean" if "x_mean" in columns else "flux"

    def _on_data(self, change: dict | None = None) -> None:
        session = self.session
        columns = session.columns() if session.data is not None else []
        current = self.column.value
        with self._picking():  # new options reset the value: not the user's choice
            self.column.options = columns
        new_data = change is None or change["name"] == "data"
        if columns:
            self._pick(current if current in columns and not new_data
                       else self._default_column())
        self.compute_button.disabled = not columns
        self._draw()
        if not columns:
            return
        if new_data:
            self._auto_compute()  # data shown without a periodogram of the chosen series
        elif change["new"] is not None and not session.fit_job.running:
            # a fit table put in place (restore, script); a fit run is handled at its end
            self._pick(self._default_column())
            self._auto_compute()

    def _on_column(self, change: dict) -> None:
        column = change["new"]
        if not column:
            return
        if getattr(self._local, "picking", False):
            self._draw()
            return
        self._chosen = column
        self.session.parameter = column
        self._draw()
        self._auto_compute()  # the user's choice: computed if it has no periodogram yet

    # -- computing -----------------------------------------------------------------------
    def compute(self, block: bool = False) -> None:
        """Periodogram of the selected series over the current window.

        Parameters
        ----------
        block : bool
            Wait for it (scripts, tests); default: in the background, as
            ``session.periodogram_job`` (a newer request replaces a running one).
        """
        column = self.column.value
        if column:
            self.attempt(lambda: self._start(column, block))

    def _start(self, column: str, block: bool) -> None:
        result = self.session.compute_periodograms([column], detrend=self.detrend.value,
                                                   by=self.by.value, block=block)
        if isinstance(result, Run):
            self.last_run = result

    def _shown(self, column: str | None) -> Periodogram | None:
        """The session's periodogram of ``column`` (complete: a cancelled run stores only
        the series it finished before the cancel)."""
        return self.session.periodograms.get(column) if column else None

    def _auto_compute(self) -> None:
        """Compute the selected series in the background if ``auto`` is on and it has no
        periodogram (the Session drops a fit column's one when its fit table is replaced)."""
        column, job = self.column.value, self.session.periodogram_job
        with self._lock:  # the check and the start as one: two threads must not both start
            if not self.auto.value or not column or self.session.data is None \
                    or column not in self.session.columns():
                return
            if self._shown(column) is not None:
                return
            if job.running and job.kind == column:
                return  # already under way: a second run would only restart it
            self.compute()

    def _on_detrend(self, change: dict) -> None:
        """Another choice of what is removed: the shown series again with it (when it has
        a periodogram, or ``auto`` is on)."""
        self.by.disabled = self.detrend.value == "none"
        column = self.column.value
        if column and self.session.data is not None and column in self.session.columns() \
                and (self.auto.value or self._shown(column) is not None):
            self.compute()

    def _on_fit_state(self, change: dict) -> None:
        if change["new"] is not JobState.DONE or self.session.data is None:
            return
        self._pick(self._default_column())
        self._auto_compute()

    def _on_window(self, change: dict) -> None:
        if self.follow_zoom.value and self.session.data is not None \
                and self.column.value in self.session.columns():
            self.compute()

    def _on_periodograms(self, change: dict) -> None:
        self._draw()

    def _on_job(self, change: dict) -> None:
        job, state = self.session.periodogram_job, change["new"]
        if state is JobState.RUNNING:
            self.status.busy(f"periodogram of {job.kind}…")
        elif state is JobState.CANCELLED:
            self._draw(say=False)
            self.status.info(f"periodogram of {job.kind} cancelled; press Periodogram to "
                             "compute it")
        else:
            # FAILED: JobProgress's red line stays; DONE: what is drawn now says itself
            self._draw(say=state is JobState.DONE)

    # -- drawing -------------------------------------------------------------------------
    def _set_axes(self, lo: float, hi: float, top: float) -> None:
        """Nice ticks: log periods in s or min (by the longest period), linear power."""
        unit, per = ("min", 60.0) if hi >= MINUTES_FROM else ("s", 1.0)
        set_ticks(self.period_axis, log_ticks(lo, hi, 8, unit=per))
        self.period_axis.label = f"period ({unit})"
        power = nice_ticks(0.0, top, 5)
        set_ticks(self.power_axis, power)
        self.power_axis.label = f"power{power.scale_suffix}"

    def _clear(self) -> None:
        with self.line.hold_sync():
            self.line.x, self.line.y = np.zeros(0), np.zeros(0)
        self._label_peaks(np.zeros(0), np.zeros(0), _PlotArea((1.0, 1000.0), 1.0))
        self._say_note("")
        self.peaks.options = []
        self._fold(None)
        self.figure.title = ""

    def _label_peaks(self, periods: np.ndarray, power: np.ndarray, area: _PlotArea,
                     end: tuple[float, float, str] = (np.nan, np.nan, "")) -> None:
        """Mark the (significant) peaks and label those whose labels fit (`_place_labels`),
        and mark and label the highest point ``end`` (period, power, text) when it is no
        peak (NaN: none); ``area`` is the plot drawn."""
        period, height, text = end
        extra = np.isfinite(period)
        taken: list[tuple[float, ...]] = []
        if extra:
            # in the right (long-period) half the text ends at the point, else it starts there
            right = area.x(period) >= area.width / 2
            align = "end" if right else "start"
            taken.append(area.box(text, area.x(period), height, align))
        else:
            align = "end"
        xs, ys, texts = _place_labels(area, periods, power, taken)
        with self.peak_marks.hold_sync():
            self.peak_marks.x = np.append(periods, period) if extra else periods
            self.peak_marks.y = np.append(power, height) if extra else power
        with self.peak_labels.hold_sync():
            self.peak_labels.x, self.peak_labels.y, self.peak_labels.text = xs, ys, texts
        with self.end_label.hold_sync():
            self.end_label.align = align
            self.end_label.x = np.array([period]) if extra else np.zeros(0)
            self.end_label.y = np.array([height]) if extra else np.zeros(0)
            self.end_label.text = [text] if extra else []

    def _say_note(self, text: str) -> None:
        """``text`` at the top middle of the plot area ("": nothing)."""
        with self.note.hold_sync():
            self.note.x = np.array([0.5]) if text else np.zeros(0)
            self.note.y = np.array([1.0]) if text else np.zeros(0)
            self.note.text = [text] if text else []

    def _caption(self, column: str, result: Periodogram) -> str:
        """What the plot draws: the series, what was removed first, and over what time."""
        window, data = self.session.window, self.session.data
        where = "whole series"
        if window is not None and data is not None and len(data):
            t0 = float(data.time[0])
            unit, per = time_unit((float(data.time[-1]) - t0) * 86400.0)
            lo, hi = ((w - t0) * 86400.0 / per for w in window)
            where = f"window {lo:.4g}–{hi:.4g} {unit}"
        return f"{column}, {result.removed}, {where}"

    def _draw(self, change: dict | None = None, *, say: bool = True) -> None:
        # one drawing at a time: the periodogram job's thread and the kernel's both draw
        with self._draw_lock:
            self._draw_unlocked(say)

    def _draw_unlocked(self, say: bool) -> None:
        # the fold is drawn here, once the peak list is set, not by `_on_peak`: a Select
        # given new options says nothing when the value it ends on equals the old one
        # (another series, or a replaced table, whose highest peak is at the same period),
        # which left the previous series' fold drawn
        before, self._local.drawing = getattr(self._local, "drawing", False), True
        try:
            self._draw_table(say)
        finally:
            self._local.drawing = before

    def _draw_table(self, say: bool) -> None:
        column = self.column.value
        result = self._shown(column)
        if result is None:
            self._clear()
            job = self.session.periodogram_job
            if say and not job.running:
                self._hint(column)
            return
        keep = result.frequency > 0
        periods, power = 1.0 / result.frequency[keep][::-1], result.power[keep][::-1]
        # up to 2x10^5 grid points: send the min/max envelope per pixel column (in log period,
        # the axis the plot uses) so peaks stay visible and the browser gets ~2,000 points
        log_x, power = decimate_for_display(np.log10(periods), power, 1000)
        periods = 10.0**log_x
        peaks = result.peaks
        significant = _significant(peaks)
        top = peaks[significant].head(N_LABELLED)
        highest = max(float(np.nanmax(power)) if len(power) else 0.0,
                      float(peaks["power"].max()) if len(peaks) else 0.0)
        with self.line.hold_sync():
            self.line.x, self.line.y = periods, power
        lo, hi = (float(periods[0]), float(periods[-1])) if len(periods) else (1.0, 1000.0)
        top_power = highest * HEADROOM if np.isfinite(highest) and highest > 0 else 1.0
        self.period_scale.min, self.period_scale.max = lo, hi
        self.power_scale.min, self.power_scale.max = 0.0, top_power
        self._set_axes(lo, hi, top_power)
        # the highest point is labelled as a range end when it is higher than every peak,
        # significant or not (a rise to an end of the range, not noise)
        self._label_peaks(top["period"].to_numpy(dtype=float),
                          top["power"].to_numpy(dtype=float), _PlotArea((lo, hi), top_power),
                          _highest_unlabelled(result, peaks))
        self._say_note(_no_peak_note(peaks))
        self.figure.title = self._caption(column, result)  # SVG text: never HTML
        self._not_significant = {float(period) for period, ok in
                                 zip(peaks["period"], significant, strict=True) if not ok}
        options = [(_peak_row(row.period, row.power, row.false_alarm_probability, ok),
                    float(row.period))
                   for row, ok in zip(peaks.itertuples(), significant, strict=True)]
        if list(self.peaks.options) != options:
            # a new table selects its first, the highest peak: the fold shows at once.
            # Set explicitly: ipywidgets 8 moves a Select's choice to the first option only
            # when it had one, and leaves one without (after `_clear`) unselected
            self.peaks.options = options
            self.peaks.value = options[0][1] if options else None
        elif options and self.peaks.value is None:
            self.peaks.value = options[0][1]
        # the same table keeps the user's chosen peak
        self._fold(self.peaks.value)
        if say:
            where = "window" if self.session.window else "whole series"
            self.status.info(f"{column}: {result.n_used:,} frames ({where}), "
                             f"{result.n_excluded:,} excluded (flagged or NaN)")

    def _hint(self, column: str | None) -> None:
        if not self.column.options:
            self.status.info("Load data first; the periodogram of any series shows here.")
        elif self.auto.value:
            self.status.info(f"No periodogram of {column} yet: press Periodogram (Lomb–Scargle "
                             "over the zoomed time window, all of it when not zoomed).")
        else:
            self.status.info(
                "Pick a series and press Periodogram: Lomb–Scargle over the time window zoomed "
                "in the plots (all of it when not zoomed). Click a peak to fold the series on it.")

    def _on_peak(self, change: dict) -> None:
        if getattr(self._local, "drawing", False):
            return  # `_draw` folds on the chosen peak once its list is set
        with self._draw_lock:  # a click while the job's thread draws: one after the other
            self._fold(change["new"])

    def _fold(self, period: float | None) -> None:
        """Draw ``marker`` at ``period`` and the shown series folded on it (None: neither);
        nothing to do when that fold (series, period, periodogram, window) is drawn."""
        column = self.column.value
        result = self._shown(column)
        if period is None or result is None:
            self._fold_key = None
            self.marker.visible = False
            self.folded.x, self.folded.y = np.zeros(0), np.zeros(0)
            self.fold_figure.title = ""
            return
        key = self._fold_key
        window = self.session.window
        if key is not None and key[0] == column and key[1] == period and key[2] is result \
                and key[3] == window:
            return
        self.marker.x = np.array([period, period])
        self.marker.visible = True
        binned = self.session.folded(column, period)
        self.folded.x, self.folded.y = binned["phase"].to_numpy(), binned["mean"].to_numpy()
        finite = binned["mean"].to_numpy()
        finite = finite[np.isfinite(finite)]
        if finite.size:
            pad = (finite.max() - finite.min()) * 0.1 or 1.0
            lo, hi = float(finite.min() - pad), float(finite.max() + pad)
            self.fold_scale.min, self.fold_scale.max = lo, hi
            ticks = nice_ticks(lo, hi, 5, min_ticks=3)
            set_ticks(self.fold_value_axis, ticks)
            self.fold_value_axis.label = f"{column}{ticks.scale_suffix}"
        weak = " (not significant)" if period in self._not_significant else ""
        self.fold_figure.title = html.escape(f"folded at {_period_text(period)}{weak}")
        self._fold_key = (column, period, result, window)

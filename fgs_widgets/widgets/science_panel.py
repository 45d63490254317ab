"""SciencePanel: the user's science light curve against the guide star, on the FGS time axis.

The science flux per integration is drawn on the `TimeseriesViewer`'s own x scale
(seconds since the first guide-star frame), so zooming or panning either view moves
both.  With a decorrelation (`Session.decorrelate`) the panel shows the model, the
regressors it used (standardized, drawn on the flux axis), the residuals or the
corrected light curve below, and the coefficient table.  The session's events are
drawn as the viewer draws them, the tilt events (kind "tilt", `Session.detect_tilts`)
also as red ▼ marks.

Every number shown comes from the Session (`science`, `decorrelation`, `events`,
`cursor`); the panel only scales and formats them.
"""

from __future__ import annotations

import html
import math
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import bqplot as bq
import ipywidgets as W
import numpy as np
import traitlets as t

from ..model import Session
from ._common import Panel, close_figure, show_bulk_range
from ._time_axis import CURSOR_COLOR, MARGIN, MARGIN_X_AXIS
from .export import FORMATS, export_table, link
from .pointer import PlotPointer, readout_html
from .timeseries import TimeseriesViewer

__all__ = ["SciencePanel", "format_pm"]

HINT = ("session.load_science(path) — a light curve: .dat/CSV/ECSV, FITS table or JWST "
        "x1dints/calints")
FLUX_COLOR, MODEL_COLOR, TILT_COLOR = "#1f77b4", "#111111", "#d62728"
#: one colour per regressor overlay (none of the flux, model, tilt or cursor colours)
REGRESSOR_COLORS = ("#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f",
                    "#ff9896", "#aec7e8")
FLUX_HEIGHT, LOWER_HEIGHT = 280, 190  # pixels
MARGIN_LEFT = 80  # pixels: the science flux' tick labels are 9 characters wide
POINTER_HINT = ("hover a plot for the integration's times and values · click picks the "
                "frame · wheel zooms · drag pans (every panel)")
DEFAULT_REGRESSORS = ("x_mean", "y_mean")


def _pointer_hint() -> str:
    """The readout while the pointer is over no plot."""
    return readout_html(POINTER_HINT.split(" · "), escape=True)


def format_pm(value: float, error: float) -> str:
    """``value ± error`` to the error's two significant digits, sharing one power of ten.

    Parameters
    ----------
    value, error : float

    Returns
    -------
    str
        e.g. ``"(1.103 ± 0.030)×10⁻⁴"``, ``"0.9981 ± 0.0012"``; the value alone
        (6 significant digits) when the error is not a positive number.
    """
    if not (math.isfinite(value) and math.isfinite(error) and error > 0):
        return f"{value:.6g}"
    exponent = math.floor(math.log10(max(abs(value), error)))
    scale = 1.0 if -3 <= exponent < 4 else 10.0**exponent
    v, e = value / scale, error / scale
    decimals = max(0, 1 - math.floor(math.log10(e)))
    text = f"{v:.{decimals}f} ± {e:.{decimals}f}"
    if scale == 1.0:
        return text
    power = str(exponent).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"({text})×10{power}"


def _swatch(color: str, symbol: str, text: str) -> str:
    return (f"<span class='fgs-science-key' style='white-space:nowrap'>"
            f"<span style='color:{color};font-weight:bold'>{symbol}</span> "
            f"{html.escape(text)}</span>")


class SciencePanel(Panel):
    """The science light curve, its decorrelation by guide-star series, and their residuals.

    Parameters
    ----------
    session : Session
    viewer : TimeseriesViewer
        Its time axis ``viewer.time_axis`` is shared: the same x scale (zoom and pan),
        origin (the first frame) and event and cursor marks.
    **kwargs
        Passed to `ipywidgets.VBox`.

    Attributes
    ----------
    regressors : ipywidgets.SelectMultiple
        Per-frame series to fit (``session.columns()``; x_mean, y_mean once fitted).
    polynomial : ipywidgets.IntSlider
        Degree of the baseline in time (0–3).
    standardize : ipywidgets.Checkbox
    decorrelate_button, tilts_button, zoom_button : ipywidgets.Button
        `decorrelate`, `mark_tilts`, `zoom_to_science`.
    lower : ipywidgets.ToggleButtons
        What the lower figure shows: "residuals" (ppm) or "corrected" flux.
    figure, flux_marks, model_line, overlays, tilt_marks, bands, instants, cursor
        The flux figure and its marks (x in seconds since the first frame).
    lower_figure, lower_marks, lower_bands, lower_instants, lower_cursor
        The residual (or corrected) figure.
    flux_axis, lower_axis, x_axis : bqplot.Axis
    time_axis : fgs_widgets.widgets._time_axis.TimeAxis
        The viewer's (``viewer.time_axis``).
    legend : ipywidgets.HTML
    coefficients : ipywidgets.HTML
        Name, value ± error, unit, Pearson r; residual rms before → after; χ².
    path, load_button, hint, summary
        Loading a science series (``session.load_science(path)``).
    export_format, export_binned_button, export_decorrelation_button, export_links
        The binned table and the decorrelation table via `export_table`.
    export_dir : str
        Folder the exports go to (``"fgs_exports"``).
    status : StatusLine
    """

    shown = t.Bool(True, help="the panel is in view (False: an App's tab not selected yet); "
                   "the figures enter the page only once it is, so that they are laid out "
                   "at their real size")

    def __init__(self, session: Session, viewer: TimeseriesViewer, **kwargs: Any):
        self.viewer = viewer
        self.time_axis = viewer.time_axis
        self.xs = viewer.xs
        self.export_dir = "fgs_exports"
        self._draw_lock = threading.RLock()
        controls = self._build_controls()
        self._build_figures()
        exports = self._build_exports()
        super().__init__(session, **kwargs)
        #: the figures, legend and table: in the page only while there is something to show
        self.plots = W.VBox(layout=W.Layout(width="100%"))
        self.children = [self.load_row, controls, self.status, self.plots, exports]
        self.layout.width = "100%"
        self.add_class("fgs-science-panel")
        self.decorrelate_button.on_click(lambda _: self.decorrelate())
        self.tilts_button.on_click(lambda _: self.mark_tilts())
        self.zoom_button.on_click(lambda _: self.zoom_to_science())
        self.load_button.on_click(lambda _: self.load())
        self.export_binned_button.on_click(lambda _: self.export("science_binned"))
        self.export_decorrelation_button.on_click(lambda _: self.export("decorrelation"))
        self.lower.observe(lambda _: self._redraw(), names="value")
        self.watch(session, self._on_columns, ["data", "fit", "quick_fit"])
        self.watch(session, self._on_science, "science")
        self.watch(session, self._on_decorrelation, "decorrelation")
        self.watch(session, self._on_events, "events")
        self.watch(session, self._on_cursor, "cursor")
        self.watch(self.xs, self._on_zoom, ["min", "max"])
        self.watch(self.pointer, self._on_hover, "hover")
        self.watch(self.pointer, self._on_pick, "pick")
        self._on_columns()

    # -- building ---------------------------------------------------------------------
    @t.observe("shown")
    def _mount(self, change: dict | None = None) -> None:
        """Put the figures in the page once there is a science series and the panel is in
        view; take them out when the series goes.

        bqplot lays a figure out when its view is created: created inside a hidden tab it
        has no size, draws negative widths (console errors) and waits for a resize.
        """
        if not hasattr(self, "plots"):
            return  # still building
        wanted = [self.pointer, self.legend, self.figure, self.lower_figure, self.coefficients]
        if self.session.science is None:
            self.plots.children = []
        elif self.shown and list(self.plots.children) != wanted:
            self.plots.children = wanted

    def _build_controls(self) -> W.Widget:
        self.hint = W.HTML(f"<span class='fgs-science-hint'>{html.escape(HINT)}</span>")
        self.summary = W.HTML()
        self.path = W.Text(placeholder="path of a light curve", description="science",
                           layout=W.Layout(width="360px"))
        self.load_button = W.Button(description="Load", icon="folder-open")
        self.load_row = W.VBox([self.hint, self.summary, W.HBox([self.path, self.load_button])])
        self.regressors = W.SelectMultiple(description="regressors", rows=5,
                                           layout=W.Layout(width="250px"))
        self.polynomial = W.IntSlider(value=1, min=0, max=3, description="polynomial",
                                      continuous_update=False, layout=W.Layout(width="240px"))
        self.standardize = W.Checkbox(value=True, description="standardize", indent=False,
                                      layout=W.Layout(width="auto"))
        self.lower = W.ToggleButtons(options=("residuals", "corrected"), value="residuals",
                                     description="below", style={"button_width": "88px"})
        self.decorrelate_button = W.Button(description="Decorrelate", icon="calculator",
                                           button_style="primary")
        self.tilts_button = W.Button(description="mark tilt events", icon="bolt")
        self.zoom_button = W.Button(description="zoom to science", icon="search-plus")
        options = W.VBox([self.polynomial, self.standardize, self.lower],
                         layout=W.Layout(width="auto"))
        actions = W.VBox([self.decorrelate_button, self.tilts_button, self.zoom_button],
                         layout=W.Layout(width="auto"))
        return W.HBox([self.regressors, options, actions],
                      layout=W.Layout(flex_flow="row wrap"))

    def _build_figures(self) -> None:
        xs = self.xs
        self.flux_scale, self.lower_scale = bq.LinearScale(), bq.LinearScale()
        self.unit = unit = bq.LinearScale(min=0.0, max=1.0)
        self.unit_x = bq.LinearScale(min=0.0, max=1.0)
        empty = {"x": np.zeros(0), "y": np.zeros(0)}
        self.bands, self.instants = self.time_axis.event_marks(unit)
        self.flux_marks = bq.Scatter(**empty, scales={"x": xs, "y": self.flux_scale},
                                     colors=[FLUX_COLOR], default_size=22, stroke="white",
                                     enable_hover=False)
        self.overlays = bq.Lines(**empty, scales={"x": xs, "y": self.flux_scale},
                                 colors=list(REGRESSOR_COLORS), stroke_width=1.3,
                                 opacities=[0.8])
        self.model_line = bq.Lines(**empty, scales={"x": xs, "y": self.flux_scale},
                                   colors=[MODEL_COLOR], stroke_width=2)
        self.tilt_marks = bq.Scatter(**empty, scales={"x": xs, "y": unit}, marker="triangle-down",
                                     colors=[TILT_COLOR], default_size=70, enable_hover=False)
        self.cursor = self.time_axis.cursor_mark(unit, visible=False)
        self.flux_axis = bq.Axis(scale=self.flux_scale, side="left", label="science flux",
                                 label_offset="56px", tick_values=np.zeros(0))
        hidden_time = bq.Axis(scale=xs, visible=False, tick_values=np.zeros(0))
        self.figure = self._figure(
            [self.bands, self.instants, self.overlays, self.flux_marks, self.model_line,
             self.tilt_marks, self.cursor], [hidden_time, self.flux_axis], FLUX_HEIGHT,
            MARGIN["bottom"])
        self.lower_bands, self.lower_instants = self.time_axis.event_marks(unit)
        self.lower_marks = bq.Scatter(**empty, scales={"x": xs, "y": self.lower_scale},
                                      colors=[FLUX_COLOR], default_size=18, stroke="white",
                                      enable_hover=False)
        self.zero_line = bq.Lines(**empty, scales={"x": xs, "y": self.lower_scale},
                                  colors=["#999"], line_style="dashed", stroke_width=1)
        self.lower_cursor = self.time_axis.cursor_mark(unit, visible=False)
        self.lower_hint = bq.Label(x=[0.5], y=[0.5], text=["press Decorrelate for the residuals"],
                                   scales={"x": self.unit_x, "y": unit}, align="middle",
                                   colors=["#888"], default_size=13)
        self.lower_axis = bq.Axis(scale=self.lower_scale, side="left", label="residual (ppm)",
                                  label_offset="56px", tick_values=np.zeros(0))
        self.x_axis = bq.Axis(scale=xs, label="time since start (s)", tick_values=np.zeros(0))
        self.lower_figure = self._figure(
            [self.lower_bands, self.lower_instants, self.zero_line, self.lower_marks,
             self.lower_cursor, self.lower_hint], [self.x_axis, self.lower_axis],
            LOWER_HEIGHT, MARGIN_X_AXIS)
        self.legend = W.HTML(layout=W.Layout(margin=f"0 0 0 {MARGIN_LEFT}px", width="auto"))
        self.coefficients = W.HTML()
        self.pointer = PlotPointer(root_class="fgs-science-panel", scale=self.xs,
                                   panel_class="fgs-science-figure", margin_left=MARGIN_LEFT,
                                   margin_right=MARGIN["right"],
                                   readout=_pointer_hint())

    def _figure(self, marks: list, axes: list, height: int, bottom: int) -> bq.Figure:
        """A figure with the viewer's margins and a PanZoom on the shared x scale."""
        figure = bq.Figure(marks=marks, axes=axes,
                           fig_margin={**MARGIN, "left": MARGIN_LEFT, "bottom": bottom},
                           layout=W.Layout(height=f"{height}px", width="100%"),
                           min_aspect_ratio=0.01, max_aspect_ratio=100)
        figure.interaction = bq.interacts.PanZoom(scales={"x": [self.xs]})
        figure.add_class("fgs-science-figure")
        return figure

    def _build_exports(self) -> W.Widget:
        self.export_format = W.Dropdown(options=FORMATS, value="csv", description="format",
                                        layout=W.Layout(width="170px"))
        self.export_binned_button = W.Button(description="Export binned", icon="save")
        self.export_decorrelation_button = W.Button(description="Export decorrelation",
                                                    icon="save",
                                                    layout=W.Layout(width="170px"))
        self.export_links = W.HTML()
        return W.VBox([W.HBox([self.export_format, self.export_binned_button,
                               self.export_decorrelation_button]), self.export_links])

    def close(self) -> None:
        """Stop following the session and the shared scale; close the figures' widgets."""
        super().close()
        self.pointer.close()
        close_figure(self.figure, self.flux_scale, self.unit)
        close_figure(self.lower_figure, self.lower_scale, self.unit_x)

    # -- actions ------------------------------------------------------------------------
    def decorrelate(self, regressors: Iterable[str] | None = None) -> bool:
        """``session.decorrelate`` with the chosen regressors and options; True if it worked.

        Parameters
        ----------
        regressors : iterable of str, optional
            Default: the picker's choice.
        """
        names = list(self.regressors.value if regressors is None else regressors)
        if not names:
            self.status.error("choose one or more regressors (the fit columns appear once "
                              "the frames are fitted: session.fit_frames('quick'))")
            return False
        done = self.attempt(lambda: self.session.decorrelate(
            names, polynomial=int(self.polynomial.value), standardize=self.standardize.value))
        if done:
            self.status.info(self.session.decorrelation.summary())
        return done

    def mark_tilts(self) -> bool:
        """``session.detect_tilts()``: jumps of the guide star become "tilt" events."""
        done = self.attempt(self.session.detect_tilts)
        if done:
            self.status.info(self.session.message)
        return done

    def load(self, path: str | None = None, *, block: bool = False) -> bool:
        """``session.load_science(path)`` (default: the path box), in a thread: a JWST
        calints file can take a while to sum.  False if there is no path to load."""
        source = (path if path is not None else self.path.value).strip()
        if not source:
            self.status.error("type the path of a light curve first")
            return False

        def work() -> None:
            self.session.load_science(source)
            self.status.info(self.session.message)

        self.background(work, busy=f"reading {source}…", block=block)
        return True

    def zoom_to_science(self) -> None:
        """Set the shared x scale (every time-series panel) to the integrations' span."""
        science = self.session.science
        if science is None or len(science) == 0:
            self.status.error("no science series loaded")
            return
        lo, hi = self.time_axis.seconds([science.start[0], science.end[-1]])
        pad = 0.02 * (hi - lo)
        self.time_axis.show(lo - pad, hi + pad)

    def export(self, name: str) -> bool:
        """Write ``"science_binned"`` or ``"decorrelation"`` with `export_table`."""
        s = self.session
        if name == "science_binned" and s.science_binned is None and s.science is not None:
            if not self.attempt(s.bin_to_science):  # binned on demand, by the session
                return False
        table = s.tables().get(name)
        if table is None:
            self.status.error(f"no {name.replace('_', ' ')} table yet: load a science series"
                              + (" and press Decorrelate" if name == "decorrelation" else ""))
            return False
        try:
            path = export_table(table, name, self.export_format.value, self.export_dir,
                                meta=s.table_meta(name))
        except (OSError, ValueError) as exc:
            self.fail(exc)
            return False
        self.export_links.value += f"<div>{link(path)}</div>"
        self.status.info(f"wrote {path}")
        return True

    # -- following the session -----------------------------------------------------------
    def _on_columns(self, change: dict | None = None) -> None:
        """New data or fits: the picker's options, the time origin, everything redrawn."""
        with self._draw_lock:  # a fit's observers run in its thread
            self._refresh_options()
            self._on_science()

    def _refresh_options(self) -> None:
        options = tuple(self.session.columns())
        if tuple(self.regressors.options) != options:
            keep = tuple(v for v in self.regressors.value if v in options)
            self.regressors.options = options
            if not keep and all(n in options for n in DEFAULT_REGRESSORS):
                keep = DEFAULT_REGRESSORS
            self.regressors.value = keep

    def _on_science(self, change: dict | None = None) -> None:
        science = self.session.science
        shown = science is not None
        self.hint.layout.display = "none" if shown else None
        self._mount()
        self.summary.value = ("" if not shown else
                              f"<span class='fgs-science-summary'>science: "
                              f"{html.escape(science.summary())}</span>")
        for button in (self.decorrelate_button, self.export_binned_button, self.zoom_button):
            button.disabled = not shown
        self._on_decorrelation()

    def _on_decorrelation(self, change: dict | None = None) -> None:
        self.export_decorrelation_button.disabled = self.session.decorrelation is None
        self._redraw()

    def _on_hover(self, change: dict) -> None:
        where = change["new"]
        self.pointer.readout = (self.describe(float(where["x"])) if where
                                else _pointer_hint())

    def _on_pick(self, change: dict) -> None:
        if "x" in change["new"]:
            self.viewer.pick(float(change["new"]["x"]))  # the frame nearest, in every view

    def describe(self, seconds: float) -> str:
        """The readout (HTML) for the pointer at ``seconds``: the nearest integration's
        times (MJD UTC and as read), flux, model, residual and good frames binned."""
        s = self.session
        science = s.science
        if science is None or len(science) == 0:
            return _pointer_hint()
        x = self.time_axis.seconds(science.time)
        i = int(np.argmin(np.abs(x - seconds)))
        parts = [f"integration {i:,}", f"t = {x[i]:,.2f} s", f"MJD UTC {science.time[i]:.6f}",
                 f"{science.original_system} {science.original_time[i]:.6f}",
                 f"flux {format_pm(float(science.flux[i]), float(science.error[i]))}"]
        result = s.decorrelation
        if result is not None and len(result.model) == len(science) and result.used[i]:
            parts += [f"model {result.model[i]:.6f}",
                      f"residual {result.residuals[i] * 1e6:+.1f} ppm"]
        binned = s.science_binned
        if binned is not None and len(binned) == len(science):
            parts.append(f"{int(binned['count'].iloc[i]):,} good frames")
        return readout_html(parts, escape=True)

    def _on_zoom(self, change: dict | None = None) -> None:
        with self._draw_lock:
            self._rescale()

    # -- drawing ----------------------------------------------------------------------------
    def _redraw(self) -> None:
        """Everything from the session's science series and decorrelation."""
        with self._draw_lock:
            science = self.session.science
            x = self.time_axis.seconds(science.time) if science is not None else np.zeros(0)
            with self.flux_marks.hold_sync():
                self.flux_marks.x = x
                self.flux_marks.y = science.flux if science is not None else np.zeros(0)
            self._draw_decorrelation(x)
            self._draw_legend()
            self._on_events()
            self._on_cursor()
            self._rescale()

    def _draw_decorrelation(self, x: np.ndarray) -> None:
        result, science = self.session.decorrelation, self.session.science
        if result is None or science is None or len(result.model) != len(x):
            for mark in (self.model_line, self.overlays, self.lower_marks, self.zero_line):
                with mark.hold_sync():
                    mark.x, mark.y = np.zeros(0), np.zeros(0)
            self.lower_hint.visible = science is not None
            self.coefficients.value = (
                "<span class='fgs-science-coefficients'>no decorrelation yet: choose the "
                "regressors and the polynomial degree, then Decorrelate</span>")
            self._set_lower_label()
            return
        self.lower_hint.visible = False
        with self.model_line.hold_sync():
            self.model_line.x, self.model_line.y = x, result.model
        self._draw_overlays(x, result, science.flux)
        if self.lower.value == "residuals":
            y = result.residuals * 1e6
        else:
            y = result.corrected
        with self.lower_marks.hold_sync():
            self.lower_marks.x, self.lower_marks.y = x[result.used], y[result.used]
        with self.zero_line.hold_sync():
            visible = self.lower.value == "residuals" and len(x) > 0
            self.zero_line.x = np.array([x.min(), x.max()]) if visible else np.zeros(0)
            self.zero_line.y = np.zeros(2) if visible else np.zeros(0)
        self._set_lower_label()
        self.coefficients.value = self._coefficient_html(result)

    def _draw_overlays(self, x: np.ndarray, result: Any, flux: np.ndarray) -> None:
        """Each fitted regressor standardized, on the flux axis: mean + r × std of the flux."""
        used = result.used
        names = list(result.regressors)
        if not names or not used.any():
            with self.overlays.hold_sync():
                self.overlays.x, self.overlays.y = np.zeros(0), np.zeros(0)
            return
        level, spread = float(np.mean(flux[used])), float(np.std(flux[used]))
        rows = []
        for name in names:
            r = np.asarray(result.regressors[name], dtype=np.float64)
            if not result.standardized:  # shown standardized all the same
                std = float(np.std(r[used]))
                r = (r - float(np.mean(r[used]))) / (std if std > 0 else 1.0)
            rows.append(np.where(used, level + r * spread, np.nan))
        colors = [REGRESSOR_COLORS[i % len(REGRESSOR_COLORS)] for i in range(len(names))]
        with self.overlays.hold_sync():
            self.overlays.x, self.overlays.y = x, np.vstack(rows)
            self.overlays.colors = colors
            self.overlays.labels = names

    def _set_lower_label(self) -> None:
        residuals = self.lower.value == "residuals"
        self.lower_axis.label = "residual (ppm)" if residuals else "corrected flux"
        self.lower_hint.text = [f"press Decorrelate for the "
                                f"{'residuals' if residuals else 'corrected light curve'}"]

    def _coefficient_html(self, result: Any) -> str:
        """The coefficient table: name, value ± error, unit, Pearson r; rms and χ² below."""
        rows, pad = [], "style='padding:1px 12px'"
        for row in result.coefficients.itertuples(index=False):
            r = result.correlation.get(row.name)
            pearson = f"{r:+.3f}" if r is not None and np.isfinite(r) else ""
            rows.append(f"<tr><td {pad}><b>{html.escape(str(row.name))}</b></td>"
                        f"<td {pad} align='right'>{format_pm(row.value, row.error)}</td>"
                        f"<td {pad}>{html.escape(str(row.unit))}</td>"
                        f"<td {pad} align='right'>{pearson}</td></tr>")
        used = int(result.used.sum())
        kind = "standardized" if result.standardized else "per unit"
        foot = (f"residual rms {result.residual_rms_before * 1e6:.1f} → "
                f"{result.residual_rms_after * 1e6:.1f} ppm · χ²<sub>red</sub> "
                f"{result.chi2_reduced:.2f} · {used:,} of {len(result.used):,} integrations · "
                f"polynomial degree {result.polynomial}, regressors {kind}")
        head = "".join(f"<th {pad} align='{side}'>{h}</th>" for h, side in (
            ("name", "left"), ("value ± error", "right"), ("unit", "left"),
            ("Pearson r", "right")))
        return (f"<div class='fgs-science-coefficients'><table style='border-collapse:"
                f"collapse'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
                f"</table><div class='fgs-science-rms'>{foot}</div></div>")

    def _draw_legend(self) -> None:
        science, result = self.session.science, self.session.decorrelation
        if science is None:
            self.legend.value = ""
            return
        keys = [_swatch(FLUX_COLOR, "●", "science flux")]
        if result is not None:
            keys.append(_swatch(MODEL_COLOR, "━", "model"))
            for i, name in enumerate(result.regressors):
                color = REGRESSOR_COLORS[i % len(REGRESSOR_COLORS)]
                keys.append(_swatch(color, "━", f"{name} (standardized, flux scale)"))
        tilts = self._tilts()
        if len(tilts):
            keys.append(_swatch(TILT_COLOR, "▼", f"{len(tilts)} tilt event(s)"))
        keys.append(_swatch(CURSOR_COLOR, "│", "cursor (frame)"))
        # wrapped: ipywidgets' HTML does not wrap (nowrap, overflow hidden) unless told
        self.legend.value = (f"<div class='fgs-science-legend' style='display:flex;flex-wrap:"
                             f"wrap;column-gap:16px;white-space:normal;line-height:1.7'>"
                             f"{''.join(keys)}</div>")

    def _tilts(self) -> Sequence[float]:
        """MJD of the tilt events (kind "tilt")."""
        events = self.session.events
        if events is None or len(events) == 0:
            return np.zeros(0)
        return events.loc[events["kind"] == "tilt", "time"].to_numpy(dtype=np.float64)

    def _on_events(self, change: dict | None = None) -> None:
        with self._draw_lock:
            events = self.session.events if self.session.science is not None else None
            for bands, instants in ((self.bands, self.instants),
                                    (self.lower_bands, self.lower_instants)):
                self.time_axis.draw_events(bands, instants, events)
            tilts = self.time_axis.seconds(self._tilts()) if events is not None else np.zeros(0)
            with self.tilt_marks.hold_sync():
                self.tilt_marks.x, self.tilt_marks.y = tilts, np.full(len(tilts), 0.95)
            if change is not None:
                self._draw_legend()

    def _on_cursor(self, change: dict | None = None) -> None:
        data = self.session.data
        visible = data is not None and len(data) > 0 and self.session.science is not None
        with self._draw_lock:
            self.time_axis.place_cursor([self.cursor, self.lower_cursor],
                                        data.time[self.session.cursor] if visible else None)

    def _window(self) -> tuple[float, float] | None:
        """The shared x window (seconds), or the science series' span when it is unset."""
        if (window := self.time_axis.window()) is not None:
            return window
        science = self.session.science
        if science is None or len(science) == 0:
            return None
        lo, hi = self.time_axis.seconds(np.array([science.start[0], science.end[-1]]))
        return float(lo), float(hi)

    def _rescale(self) -> None:
        """Both y ranges from what is in the window; nice ticks on every axis."""
        window = self._window()
        if window is None or window[1] <= window[0]:
            return
        x = np.asarray(self.flux_marks.x, dtype=np.float64)
        inside = (x >= window[0]) & (x <= window[1])
        values = [np.asarray(self.flux_marks.y, dtype=np.float64)[inside]]
        if len(self.model_line.y) == len(x):
            values.append(np.asarray(self.model_line.y, dtype=np.float64)[inside])
        show_bulk_range(self.flux_scale, self.flux_axis, np.concatenate(values), FLUX_HEIGHT,
                        "science flux")
        lx = np.asarray(self.lower_marks.x, dtype=np.float64)
        lower = np.asarray(self.lower_marks.y, dtype=np.float64)[(lx >= window[0])
                                                                 & (lx <= window[1])]
        label = "residual (ppm)" if self.lower.value == "residuals" else "corrected flux"
        show_bulk_range(self.lower_scale, self.lower_axis, lower, LOWER_HEIGHT, label)
        self.time_axis.label(self.x_axis, window)  # as the viewer's: none clipped
        with self.pointer.hold_sync():  # pixels map to seconds as drawn
            self.pointer.x_min, self.pointer.x_max = window

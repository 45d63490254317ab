"""The report's figures: matplotlib, drawn from `ReportContent`, inlined as PNG data URIs.

Every figure is a `matplotlib.figure.Figure` with its own Agg canvas (no pyplot, so
no global state and nothing shown in a notebook).  Series arrive decimated
(`content.FIGURE_WIDTH_PX`), so a figure costs the same for 10^4 frames as for
10^6.  Times are seconds (or minutes) since the report's first frame, as the
findings state them.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..engine.binning import break_gaps
from .content import FIGURE_WIDTH_PX, ObservationPart, ReportContent

__all__ = ["observation_periodograms", "observation_series", "science_figure", "timeline"]

_DAY = 86400.0
_WIDTH_IN = 9.5
_DPI = 100
_STYLE = {"font.size": 8.5, "axes.titlesize": 9, "axes.labelsize": 8.5}
_COLOURS = {"tilt": "#c0392b", "hga_move": "#e67e22", "guide_star_change": "#8e44ad",
            "file_boundary": "#7f8c8d", "flagged": "#2c3e50", "x_mean": "#1f77b4",
            "y_mean": "#2ca02c", "flux": "#34495e", "width": "#9467bd"}


def _png(figure: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(height_in: float) -> Figure:
    """A figure of the report's width (called inside ``rc_context(_STYLE)``)."""
    return Figure(figsize=(_WIDTH_IN, height_in), layout="constrained")


def _minutes(content: ReportContent, mjd) -> np.ndarray:
    return (np.asarray(mjd, dtype=np.float64) - content.start) * _DAY / 60.0


def timeline(content: ReportContent) -> str:
    """Visits, files, guide-star changes, HGA moves, tilts and flagged frames on one axis."""
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        figure = _figure(2.6)
        ax = figure.add_subplot()
        rows = ["visits", "files", "guide star", "HGA moves", "tilts", "flagged frames"]
        y = {name: len(rows) - 1 - i for i, name in enumerate(rows)}
        for row in content.visits.itertuples():
            a, b = _minutes(content, [row.start_mjd, row.end_mjd])
            ax.broken_barh([(a, b - a)], (y["visits"] - 0.35, 0.7), color="#aed6f1")
            ax.text((a + b) / 2, y["visits"], f"{row.observation}.{row.visit}",
                    ha="center", va="center", fontsize=8)
        products = content.products
        for i, f in enumerate(products.itertuples()):
            a, b = _minutes(content, [f.data_start, f.data_end])
            ax.broken_barh([(a, b - a)], (y["files"] - 0.35, 0.7),
                           color="#d5dbdb" if i % 2 else "#aab7b8")
        for star in content.guide_stars.itertuples():
            a, b = _minutes(content, [star.first, star.last])
            ax.broken_barh([(a, b - a)], (y["guide star"] - 0.35, 0.7), color="#d7bde2")
            ax.text(a, y["guide star"], f" {star.gs_id}", ha="left", va="center", fontsize=7)
        events = content.events
        for move in events[events["kind"] == "hga_move"].itertuples():
            end = move.end if np.isfinite(move.end) else content.end
            a, b = _minutes(content, [move.time, end])
            ax.broken_barh([(a, max(b - a, 0.05))], (y["HGA moves"] - 0.35, 0.7),
                           color=_COLOURS["hga_move"])
        tilts = _minutes(content, content.tilts["time"])
        ax.plot(tilts, np.full(len(tilts), y["tilts"]), "v", color=_COLOURS["tilt"], ms=7)
        flagged = _minutes(content, content.flagged_runs["time"])
        ax.plot(flagged, np.full(len(flagged), y["flagged frames"]), "|",
                color=_COLOURS["flagged"], ms=12, mew=2)
        ax.set_yticks(range(len(rows)), rows[::-1])
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set_xlim(_minutes(content, [content.start, content.end]))
        ax.set_xlabel("minutes since the first frame")
        ax.grid(axis="x", alpha=0.3)
        return _png(figure)


def _event_marks(ax, content: ReportContent, part: ObservationPart) -> None:
    events = content.events
    inside = (events["time"] >= part.start) & (events["time"] <= part.end)
    for e in events[inside].itertuples():
        t = _minutes(content, e.time)
        if e.kind == "hga_move":
            end = e.end if np.isfinite(e.end) else part.end
            ax.axvspan(t, _minutes(content, min(end, part.end)), color=_COLOURS["hga_move"],
                       alpha=0.18, lw=0)
        elif e.kind == "tilt":
            ax.axvline(t, color=_COLOURS["tilt"], ls="--", lw=1)
        elif e.kind in ("file_boundary", "guide_star_change"):
            ax.axvline(t, color=_COLOURS[e.kind], ls=":", lw=0.8)


def observation_series(content: ReportContent, part: ObservationPart) -> str:
    """Flux, x, y and width of one observation, with its events marked."""
    import matplotlib

    panels = (("flux", "flux (DN/s)"), ("x_mean", "x_mean (px)"), ("y_mean", "y_mean (px)"),
              ("width", "PSF width (px)"))
    with matplotlib.rc_context(_STYLE):
        figure = _figure(6.4)
        axes = figure.subplots(len(panels), 1, sharex=True)
        # a line breaks across a time gap wider than four of the decimation's pixel columns
        gap = 4 * (part.end - part.start) * _DAY / 60.0 / FIGURE_WIDTH_PX
        for ax, (name, label) in zip(axes, panels, strict=True):
            t, v = part.series[name]
            x, yv = break_gaps(_minutes(content, t), v, gap)
            ax.plot(x, yv, lw=0.6, color=_COLOURS[name])
            ax.set_ylabel(label)
            ax.ticklabel_format(axis="y", style="plain", useOffset=False)
            _event_marks(ax, content, part)
            ax.grid(alpha=0.25)
        runs = content.flagged_runs
        runs = runs[(runs["time"] >= part.start) & (runs["time"] <= part.end)]
        if len(runs):
            ax0 = axes[0]
            low = ax0.get_ylim()[0]
            ax0.plot(_minutes(content, runs["time"]), np.full(len(runs), low), "|",
                     color=_COLOURS["flagged"], ms=10, mew=2, label="flagged frames")
            ax0.legend(loc="upper right", fontsize=7, frameon=False)
        axes[-1].set_xlabel("minutes since the first frame")
        axes[0].set_title(f"Observation {part.observation}: {part.n_frames:,} frames "
                          f"(dashed red: tilts; orange: HGA moves; dotted: files)", loc="left")
        return _png(figure)


def observation_periodograms(part: ObservationPart) -> str:
    """The periodograms of x_mean and y_mean, significant peaks marked with their period."""
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        figure = _figure(3.8)
        axes = figure.subplots(2, 1, sharex=True)
        for ax, column in zip(axes, ("x_mean", "y_mean"), strict=True):
            pgram = part.periodograms[column]
            keep = pgram.frequency > 0
            ax.plot(1.0 / pgram.frequency[keep], pgram.power[keep], lw=0.6,
                    color=_COLOURS[column])
            for peak in part.peaks:
                if peak.column == column and peak.significant:
                    ax.plot(peak.period_s, peak.power, "v", color=_COLOURS["tilt"], ms=6)
                    ax.annotate(f"{peak.period_s:.1f} s", (peak.period_s, peak.power),
                                textcoords="offset points", xytext=(4, 2), fontsize=7.5)
            ax.set_xscale("log")
            ax.set_ylabel(f"{column} power")
            ax.set_ylim(0, max(float(np.nanmax(pgram.power[keep])) * 1.18, 0.05)
                        if keep.any() else 1)
            ax.grid(alpha=0.25, which="both")
        axes[-1].set_xlabel("period (s)")
        axes[0].set_title(f"Observation {part.observation}: Lomb–Scargle periodograms "
                          f"({part.periodograms['x_mean'].removed})", loc="left")
        return _png(figure)


def science_figure(content: ReportContent) -> str:
    """The science light curve with its model, the corrected curve, and the lag scan."""
    import matplotlib

    s = content.science
    with matplotlib.rc_context(_STYLE):
        lags = s.lags is not None and len(s.lags) > 0
        figure = _figure(5.2 if lags else 3.8)
        axes = figure.subplots(3 if lags else 2, 1)
        minutes = _minutes(content, s.time)
        level = np.nanmedian(s.flux)
        ppm = lambda v: (np.asarray(v) / level - 1) * 1e6  # noqa: E731
        axes[0].plot(minutes, ppm(s.flux), ".", ms=2, color="#7f8c8d", label="flux")
        axes[0].plot(minutes, ppm(s.model), lw=0.9, color=_COLOURS["tilt"],
                     label="model (time polynomial + guide-star regressors)")
        axes[0].set_ylabel("flux (ppm)")
        axes[0].set_xlabel("minutes since the first guide-star frame")
        axes[0].legend(loc="upper right", fontsize=7, frameon=False)
        axes[1].plot(minutes, ppm(s.corrected), ".", ms=2, color=_COLOURS["flux"])
        axes[1].set_ylabel("corrected (ppm)")
        axes[1].set_xlabel("minutes since the first guide-star frame")
        if lags:
            for name in s.correlation:
                if name in s.lags:
                    axes[2].plot(s.lags["lag_s"], s.lags[name], lw=0.9, label=name,
                                 color=_COLOURS.get(name))
            if s.best_lag_s is not None:
                axes[2].axvline(s.best_lag_s, color="#555", ls=":", lw=0.8)
            axes[2].set_xlabel("lag of the regressors (s)")
            axes[2].set_ylabel("Pearson r")
            axes[2].legend(loc="upper right", fontsize=7, frameon=False)
        for ax in axes:
            ax.grid(alpha=0.25)
        axes[0].set_title(f"Science light curve: {Path(s.source).name}", loc="left")
        return _png(figure)

"""The quickstart API's figures and animations (`fgs_widgets.spelunker` draws through these).

Each function is given the data to draw (arrays and tables the adapter picked
from its session) and knows nothing of the adapter: this module never imports
`fgs_widgets.spelunker`.  matplotlib is imported inside the functions, so
importing this module (or `fgs_widgets.spelunker`) does not load it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write

__all__ = ["animate", "binned_plot", "current_axes", "event_lines", "guide_star_plot",
           "hga_moves_plot", "parameter_panels", "periodogram_plot", "telemetry_plot"]

#: spelunker's panel layout of timeseries_list_plot: (row, column) -> series
_LIST_LAYOUT = {(0, 0): "x_mean", (0, 1): "y_mean", (1, 0): "x_stddev", (1, 1): "y_stddev",
                (2, 0): "amplitude", (2, 1): "theta", (3, 0): "offset", (3, 1): "flux"}
_UNITS = {"x_mean": "pixel", "y_mean": "pixel", "x_stddev": "pixel", "y_stddev": "pixel",
          "theta": "radians", "amplitude": "DN/s", "offset": "DN/s", "flux": "DN/s"}


def current_axes(ax: Any = None) -> Any:
    """``ax``, else matplotlib's current axes (``plt.gca()``), as spelunker draws."""
    import matplotlib.pyplot as plt

    return ax or plt.gca()


def _plot_series(ax: Any, time: np.ndarray, values: np.ndarray, **style: Any) -> None:
    """A line that breaks at gaps between files, with y limits the bulk of the data sets.

    One wild frame (a failed or flagged fit) would otherwise squash the series
    into a flat line; it stays in the data, outside the view.
    """
    from .engine.binning import break_gaps

    if len(time) > 1:
        cadence = float(np.nanmedian(np.diff(time)))
        time, values = break_gaps(time, values, 10 * cadence)
    ax.plot(time, values, rasterized=True, **style)
    finite = values[np.isfinite(values)]
    if finite.size > 100:
        low, high = np.percentile(finite, [0.1, 99.9])
        pad = 0.15 * (high - low) or 0.05 * abs(high) or 1.0
        ax.set_ylim(low - pad, high + pad)


def binned_plot(ax: Any, time: np.ndarray, relative: np.ndarray, time_bin: float,
                fontsize: int, **plot_kwargs: Any) -> Any:
    """The relative flux and its means in ``time_bin``-second bins (``timeseries_binned_plot``).

    Parameters
    ----------
    ax : matplotlib Axes or None
        None: the current axes.
    time : ndarray
        MJD per frame.
    relative : ndarray
        Flux over its median, per frame.
    time_bin : float
        Bin width in seconds; bins are by time, so none straddles a gap.
    fontsize : int
        Of the axis labels.
    **plot_kwargs
        Passed to ``ax.errorbar`` of the binned means.

    Returns
    -------
    matplotlib Axes
    """
    from .engine.binning import bin_series

    ax = current_axes(ax)
    _plot_series(ax, time, relative, color="k", alpha=0.15, lw=0.5)
    binned = bin_series(time, relative, bin_width=time_bin / 86400.0)
    ax.errorbar(binned["time"], binned["mean"], yerr=binned["error"], fmt="o", mfc="white",
                mec="k", ecolor="k", ms=4, label=f"{time_bin:.3g} s bins", **plot_kwargs)
    ax.set_xlabel("Time (MJD)", fontsize=fontsize)
    ax.set_ylabel("Relative flux", fontsize=fontsize)
    return ax


def parameter_panels(time: np.ndarray, series: Mapping[str, np.ndarray], keep: np.ndarray,
                     time_bin: float | None, fontsize: int) -> np.ndarray:
    """spelunker's 4x2 panels of fitted parameters and flux (``timeseries_list_plot``).

    Parameters
    ----------
    time : ndarray
        MJD per row of `series`.
    series : mapping of str to ndarray
        Panel name (``x_mean`` ... ``offset``, ``flux``) -> values; a panel
        without a series is hidden.
    keep : ndarray of bool
        The rows to draw.
    time_bin : float or None
        Seconds: overlay the means in bins this wide.
    fontsize : int
        Base size of the titles and labels.

    Returns
    -------
    ndarray of matplotlib Axes
        The (4, 2) Axes of a new figure.
    """
    import matplotlib.pyplot as plt

    from .engine.binning import bin_series

    fig, axes = plt.subplots(4, 2, figsize=(12, 14), sharex=True)
    for (row, col), name in _LIST_LAYOUT.items():
        ax = axes[row, col]
        if name not in series:
            ax.set_visible(False)
            continue
        values = series[name][keep]
        _plot_series(ax, time[keep], values, lw=0.5, color="k")
        if time_bin:
            binned = bin_series(time[keep], values, bin_width=time_bin / 86400.0)
            ax.plot(binned["time"], binned["mean"], color="C3")
        ax.set_title(name, fontsize=fontsize - 2)
        ax.set_ylabel(_UNITS.get(name, ""), fontsize=fontsize - 4)
    for ax in axes[-1]:
        ax.set_xlabel("Time (MJD)", fontsize=fontsize - 2)
    fig.tight_layout()
    return axes


def periodogram_plot(results: Mapping[str, Any], names: list[str], fontsize: int, *,
                     save_to: Path | None = None, keep_open: bool = True) -> np.ndarray | None:
    """One panel per parameter: power against period in seconds (``periodogram``).

    Parameters
    ----------
    results : mapping of str to Periodogram
        Parameter -> its periodogram (``frequency`` in Hz, ``power``).
    names : list of str
        The parameters to draw, top to bottom.
    fontsize : int
        Of the axis labels.
    save_to : Path, optional
        Also write the figure there (under a temporary name, renamed when complete).
    keep_open : bool
        False: close the figure once saved, and return None.

    Returns
    -------
    ndarray of matplotlib Axes or None
        The column of Axes (None with ``keep_open=False``).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(names), 1, sharex=True, figsize=(12, 1.9 * len(names)),
                             squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        with np.errstate(divide="ignore"):
            period = 1.0 / results[name].frequency
        ax.semilogx(period, results[name].power, lw=0.4, color="k")
        ax.text(0.99, 0.85, name, transform=ax.transAxes, ha="right", fontweight="bold")
    axes[len(names) // 2, 0].set_ylabel("Power", fontsize=fontsize)
    axes[-1, 0].set_xlabel("Period (s)", fontsize=fontsize)
    fig.tight_layout()
    if save_to is not None:
        with atomic_write(save_to) as temp:
            fig.savefig(temp)
    if not keep_open:
        plt.close(fig)
        return None
    return axes[:, 0]


def hga_moves_plot(ax: Any, moves: Any, end: float) -> None:
    """Each high-gain-antenna move (a ``time``, ``end`` table) as a shaded span.

    A move still under way (``end`` NaN) is shaded to `end`, the fetched range's end.
    """
    for i, row in enumerate(moves.itertuples()):
        stop = row.end if np.isfinite(row.end) else end
        ax.axvspan(row.time, stop, color="C1", alpha=0.3, label="HGA move" if i == 0 else None)


def telemetry_plot(ax: Any, time: np.ndarray, values: np.ndarray, label: str) -> None:
    """A numeric mnemonic on a right-hand axis of its own."""
    twin = ax.twinx()
    twin.plot(time, values, color="goldenrod", lw=0.8, label=label)
    twin.set_ylabel(label)


def event_lines(ax: Any, times: Iterable[float], label: str, **style: Any) -> None:
    """A vertical line per event; the first one labelled (for a legend)."""
    for i, time in enumerate(times):
        ax.axvline(time, lw=0.8, label=label if i == 0 else None, **style)


def guide_star_plot(ax: Any, stars: Any, fontsize: int) -> Any:
    """Guide stars (``gs_id``, ``gs_ra``, ``gs_dec`` rows) at their sky positions, RA rising left.

    ``ax`` None: the current axes.  Returns the Axes.
    """
    ax = current_axes(ax)
    ax.scatter(stars["gs_ra"], stars["gs_dec"], marker="*", s=120, color="C1")
    for row in stars.itertuples():
        ax.annotate(str(row.gs_id), (row.gs_ra, row.gs_dec), textcoords="offset points",
                    xytext=(6, 4), fontsize=fontsize - 4)
    ax.set_xlabel("RA (deg)", fontsize=fontsize)
    ax.set_ylabel("Dec (deg)", fontsize=fontsize)
    ax.invert_xaxis()
    return ax


def animate(frames: np.ndarray, time: np.ndarray | None, flux: np.ndarray | None,
            interval: float, filename: str | os.PathLike) -> Path:
    """Write the frames as a movie, beside the flux curve with a moving marker if given.

    Parameters
    ----------
    frames : ndarray (N, 8, 8)
    time, flux : ndarray or None
        MJD and flux per frame; None: the frames alone.
    interval : float
        Milliseconds per frame.
    filename : path
        ``.gif`` (Pillow, nothing extra) or ``.mp4`` (needs ffmpeg); written
        under a temporary name and renamed when complete.

    Returns
    -------
    Path
        The movie written.
    """
    import matplotlib.pyplot as plt
    from matplotlib import animation

    if len(frames) == 0:
        raise ValueError("no frames in the requested range (check start/stop)")
    path = Path(filename)
    if path.suffix.lower() == ".mp4" and shutil.which("ffmpeg") is None:
        raise RuntimeError(f"{path.name}: MP4 needs ffmpeg (apt-get install ffmpeg); "
                           "or use a .gif file name, which needs nothing extra")
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise ValueError(f"{path.name}: use a .gif (Pillow) or .mp4 (ffmpeg) file name")
    with_flux = flux is not None
    fig, axes = plt.subplots(1, 2 if with_flux else 1, figsize=(9 if with_flux else 4, 4),
                             squeeze=False)
    finite = frames[np.isfinite(frames)]
    vmin, vmax = (np.percentile(finite, [1, 99.9]) if finite.size else (0, 1))
    image = axes[0, 0].imshow(frames[0], origin="lower", vmin=vmin, vmax=vmax, cmap="viridis")
    axes[0, 0].set_title("frame 0")
    if with_flux:
        axes[0, 1].plot(time, flux, lw=0.6, color="k")
        marker = axes[0, 1].axvline(time[0], color="C3")
        axes[0, 1].set_xlabel("Time (MJD)")
        axes[0, 1].set_ylabel("Flux (DN/s)")
    fig.tight_layout()

    def update(i: int) -> tuple[Any, ...]:
        image.set_data(frames[i])
        axes[0, 0].set_title(f"frame {i}")
        if with_flux:
            marker.set_xdata([time[i], time[i]])
        return (image,)

    movie = animation.FuncAnimation(fig, update, frames=len(frames), interval=interval)
    writer = (animation.PillowWriter(fps=max(1, round(1000 / interval)))
              if path.suffix.lower() == ".gif" else animation.FFMpegWriter(
                  fps=max(1, round(1000 / interval))))
    try:
        with atomic_write(path) as temp:  # a half-written movie never takes the name
            movie.save(temp, writer=writer)
    finally:
        plt.close(fig)
    return path

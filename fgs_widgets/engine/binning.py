"""Binning for plots and the min/max decimation that keeps 10^6-point series interactive."""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
import pandas as pd

from .kernel_cache import install as _seed_kernel_cache

_seed_kernel_cache()  # compiled kernels of a read-only install: before any @njit

__all__ = ["BlockExtrema", "bin_series", "block_extrema", "break_gaps", "decimate_for_display"]


def bin_series(time: np.ndarray, values: np.ndarray, *, n_bins: int | None = None,
               bin_width: float | None = None) -> pd.DataFrame:
    """Mean, error of the mean and count of ``values`` in equal time bins.

    Parameters
    ----------
    time, values : ndarray, shape (N,)
        NaN values are ignored (they do not count).
    n_bins : int, optional
        Number of equal bins over the time range.
    bin_width : float, optional
        Bin width in the units of `time` (give one of the two).

    Returns
    -------
    pandas.DataFrame
        ``time`` (bin centre), ``mean``, ``error`` (std / sqrt(count), NaN for
        single-point bins), ``count``.  Empty bins are left out.
    """
    time = np.asarray(time, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if time.shape != values.shape or time.ndim != 1:
        raise ValueError(f"time and values must be 1-D of one length, got {time.shape} and "
                         f"{values.shape}")
    if (n_bins is None) == (bin_width is None):
        raise ValueError("give exactly one of n_bins or bin_width")
    keep = np.isfinite(values) & np.isfinite(time)
    time, values = time[keep], values[keep]
    if len(time) == 0:
        return pd.DataFrame({"time": [], "mean": [], "error": [], "count": []})
    start, stop = time.min(), time.max()
    if bin_width is not None:
        if not bin_width > 0:
            raise ValueError(f"bin_width must be positive, got {bin_width}")
        n_bins = max(int(np.ceil((stop - start) / bin_width)), 1)
    else:
        if n_bins < 1:
            raise ValueError(f"n_bins must be at least 1, got {n_bins}")
        bin_width = (stop - start) / n_bins if stop > start else 1.0
    index = np.minimum(((time - start) / bin_width).astype(np.int64), n_bins - 1)
    count, mean, error = _bin_statistics(index, values, n_bins)
    used = count > 0
    centre = start + (np.arange(n_bins) + 0.5) * bin_width
    return pd.DataFrame({"time": centre[used], "mean": mean[used], "error": error[used],
                         "count": count[used]})


def _bin_statistics(index: np.ndarray, values: np.ndarray,
                   n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and error of the mean of `values` by bin number (`bin_series`, `fold`).

    Parameters
    ----------
    index : ndarray of int, shape (M,)
        Bin of each value, in ``0 .. n_bins - 1``.
    values : ndarray, shape (M,)
        Finite values (filter NaN out first).
    n_bins : int

    Returns
    -------
    count, mean, error : ndarrays, shape (n_bins,)
        ``error`` is std (ddof=1) / sqrt(count); ``mean`` is NaN for empty
        bins, ``error`` for bins of fewer than 2 values.
    """
    count = np.bincount(index, minlength=n_bins)
    total = np.bincount(index, values, minlength=n_bins)
    # shift by the overall mean before squaring: avoids cancellation for large offsets
    shifted = values - values.mean() if len(values) else values
    total_sq = np.bincount(index, shifted * shifted, minlength=n_bins)
    total_shift = np.bincount(index, shifted, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        var = (total_sq - total_shift**2 / count) / (count - 1)
        error = np.sqrt(np.maximum(var, 0) / count)
    error[count < 2] = np.nan
    return count, mean, error


@nb.njit(cache=True)
def _emit(time, values, i_min, i_max, out_t, out_v, m):
    """Write a column's min and max points in time order (once if the same); new count."""
    a, b = (i_min, i_max) if i_min <= i_max else (i_max, i_min)
    out_t[m], out_v[m] = time[a], values[a]
    m += 1
    if b != a:
        out_t[m], out_v[m] = time[b], values[b]
        m += 1
    return m


@nb.njit(cache=True)
def _envelope(time, values, lo, hi, width_px, out_t, out_v):
    """Min and max of each pixel column, in time order; returns the number written."""
    span = time[hi - 1] - time[lo]
    scale = width_px / span if span > 0 else 0.0
    m = 0
    col = -1
    i_min = i_max = -1
    for i in range(lo, hi):
        v = values[i]
        if v != v:
            continue
        c = min(int((time[i] - time[lo]) * scale), width_px - 1)
        if c != col:
            if i_min >= 0:
                m = _emit(time, values, i_min, i_max, out_t, out_v, m)
            col = c
            i_min = i_max = i
        else:
            if v < values[i_min]:
                i_min = i
            if v > values[i_max]:
                i_max = i
    if i_min >= 0:
        m = _emit(time, values, i_min, i_max, out_t, out_v, m)
    return m


@dataclass(frozen=True)
class BlockExtrema:
    """Where each block of ``size`` consecutive values has its min and max (-1: all NaN).

    Made once per series by `block_extrema`; lets `decimate_for_display` scan N/size
    candidates instead of N values when a pixel column holds many blocks.
    """

    size: int
    i_min: np.ndarray
    i_max: np.ndarray


@nb.njit(cache=True)
def _block_extrema(values, size, i_min, i_max):
    for b in range(len(i_min)):
        lo, hi = b * size, min((b + 1) * size, len(values))
        a = z = -1
        for i in range(lo, hi):
            v = values[i]
            if v != v:
                continue
            if a < 0:
                a = z = i
            else:
                if v < values[a]:
                    a = i
                if v > values[z]:
                    z = i
        i_min[b], i_max[b] = a, z


def block_extrema(values: np.ndarray, size: int = 256) -> BlockExtrema:
    """Index of the min and max of every block of ``size`` values (NaN skipped).

    One O(N) pass; keep the result with the series (it is valid for these values
    only) and pass it to `decimate_for_display` as ``blocks``.
    """
    values = np.asarray(values, dtype=np.float64)
    n_blocks = -(-len(values) // size)
    i_min = np.empty(n_blocks, dtype=np.int64)
    i_max = np.empty(n_blocks, dtype=np.int64)
    _block_extrema(values, int(size), i_min, i_max)
    return BlockExtrema(int(size), i_min, i_max)


def _candidates(lo: int, hi: int, blocks: BlockExtrema) -> np.ndarray:
    """Indices in [lo, hi) that can be a pixel column's extreme: the blocks' extremes
    in time order, and every value of the partial blocks at the two ends."""
    size = blocks.size
    first, last = -(-lo // size), hi // size  # blocks wholly inside
    a, z = blocks.i_min[first:last], blocks.i_max[first:last]
    pairs = np.column_stack([np.minimum(a, z), np.maximum(a, z)]).ravel()
    pairs = pairs[pairs >= 0]
    return np.concatenate([np.arange(lo, min(first * size, hi)), pairs,
                           np.arange(max(last * size, lo), hi)])


def decimate_for_display(time: np.ndarray, values: np.ndarray, width_px: int,
                         window: tuple[float, float] | None = None, *,
                         blocks: BlockExtrema | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """At most two points per pixel column (its min and max), so spikes stay visible.

    Parameters
    ----------
    time : ndarray, shape (N,)
        Sorted ascending.
    values : ndarray, shape (N,)
        NaN values are skipped.
    width_px : int
        Plot width in pixels.
    window : (start, stop), optional
        Only points with start <= time <= stop.
    blocks : BlockExtrema, optional
        `block_extrema` of these ``values``.  When a pixel column holds at least
        four blocks, only the blocks' extremes are scanned (N / size work instead
        of N: ~100x less at 256 values per block).  The result is then exact except
        in the at most two blocks that straddle each column's edges, whose extreme
        is drawn in its own column: invisible at four or more blocks per column.

    Returns
    -------
    (time, values) : ndarrays
        In time order; unchanged (but windowed, NaN-free) when there are
        fewer than 2 * width_px points.
    """
    time = np.asarray(time, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if time.shape != values.shape:
        raise ValueError(f"time {time.shape} and values {values.shape} differ in shape")
    if width_px < 1:
        raise ValueError(f"width_px must be at least 1, got {width_px}")
    lo, hi = 0, len(time)
    if window is not None:
        lo, hi = np.searchsorted(time, window[0], "left"), np.searchsorted(time, window[1], "right")
    if hi - lo <= 2 * width_px:
        t, v = time[lo:hi], values[lo:hi]
        keep = ~np.isnan(v)
        return t[keep], v[keep]
    out_t = np.empty(2 * width_px)
    out_v = np.empty(2 * width_px)
    if blocks is not None and hi - lo >= 4 * blocks.size * width_px:
        pick = _candidates(int(lo), int(hi), blocks)
        if len(pick) == 0:
            return out_t[:0], out_v[:0]
        time, values, lo, hi = time[pick], values[pick], 0, len(pick)
    m = _envelope(time, values, lo, hi, int(width_px), out_t, out_v)
    return out_t[:m], out_v[:m]


def break_gaps(x: np.ndarray, y: np.ndarray, gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Insert a NaN point where consecutive x differ by more than ``gap``.

    Plotting libraries (bqplot, matplotlib) break a line at NaN, so no line
    is drawn across the time between files.  Returns new arrays (y as float64).
    """
    x = np.asarray(x)
    y = np.asarray(y)
    jumps = np.flatnonzero(np.diff(x) > gap) + 1
    if len(jumps) == 0:
        return x, y
    return (np.insert(x, jumps, (x[jumps - 1] + x[jumps]) / 2),
            np.insert(y.astype(np.float64), jumps, np.nan))

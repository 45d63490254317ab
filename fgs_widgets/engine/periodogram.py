"""Lomb–Scargle periodograms of flux and every fitted parameter.

``method="fast"`` (default) computes the floating-mean Lomb–Scargle power with
astropy's algebra (``lombscargle_fast``: Press & Rybicki 1989, Zechmeister &
Kürster 2009, "standard" normalization), but evaluates its trigonometric sums
differently, for our case of several long series sampled at the same times:

* the sums that depend on the times only (``S, C, S2, C2``) are computed once
  per set of usable frames and shared by every column with that set (flux and
  the seven fit columns usually share it): a column then costs one FFT, not three;
* the sums are a type-1 non-uniform FFT by Gaussian gridding (Greengard & Lee
  2004; 2x oversampled grid, 12 nodes each side, numba spreading, threaded
  ``scipy.fft.rfft``): ~1e-11 relative error, where astropy's extirpolation
  (``fasper``) errs by ~5 % near the Nyquist frequency and its default
  low-rank NUFFT is ~15x slower at 10^6 points.

So the full grid (``samples_per_peak`` points per peak width, 2.5x10^6
frequencies for 10^6 frames) costs ~6 s for 8 series on 2 cores, and no peak
can fall between grid points.  The tests check the power against astropy's
exact ``method="cython"``.  False-alarm probabilities are astropy's (Baluev 2008).

Steps.  Guide-star series are stitched from files whose levels differ (a new guide
star, a re-acquisition between visits, a tilt): a step is not periodic, but the
periodogram of a series with steps puts its highest power at the longest periods
and buries the real lines.  So by default (``detrend="linear"``) each piece of the
series (`periodograms`' ``pieces``: the files, for a Session) has its own mean and
slope removed first; ``"mean"`` removes the mean only and ``"none"`` nothing (the
floating-mean periodogram of the series as it is).  The result records what was
removed (`Periodogram.detrend`, `Periodogram.levels`, `Periodogram.removed`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

import numba as nb
import numpy as np
import pandas as pd
import scipy.fft
from astropy.timeseries import LombScargle
from scipy.ndimage import maximum_filter1d

from .binning import _bin_statistics

__all__ = ["DETREND", "GAP_CADENCES", "MAX_GRID", "Periodogram", "PeriodogramCancelled",
           "empty_levels", "empty_peaks", "fold", "periodograms"]

#: Most (frequency, power) points kept per periodogram.  The periodogram is always
#: computed on the full grid (``samples_per_peak`` points per peak width, so no
#: peak falls between grid points); when that grid is longer than this, the
#: returned arrays are the highest point of each run of consecutive grid points
#: (a subset of true grid points, like min/max decimation of a light curve).
#: 10^6 frames at 16 Hz give a 2.5x10^6-point grid.
MAX_GRID = 200_000

# Gaussian gridding: FFT grid / number of modes, and nodes each side of a point.
# Greengard & Lee: 2 and 12 give ~12 digits; 10 would give ~9 and save 15 %.
_OVERSAMPLING = 2
_HALF_WIDTH = 12
_BATCH = max(os.cpu_count() or 1, 2)

#: what `periodograms` can remove from each piece of a series first (its ``detrend``):
#: the piece's mean and slope (a least-squares line), its mean, or nothing
DETREND = ("linear", "mean", "none")
#: without ``pieces``, a time gap longer than this many median cadences starts a new piece
GAP_CADENCES = 10.0

_PEAK_COLUMNS = ["frequency", "period", "power", "false_alarm_probability"]
_LEVEL_COLUMNS = ["piece", "start", "stop", "n", "level", "slope"]


class PeriodogramCancelled(Exception):
    """`periodograms` stopped because its ``cancelled`` callback said so."""


def _check(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        raise PeriodogramCancelled("periodogram cancelled")


def empty_peaks() -> pd.DataFrame:
    """A `Periodogram.peaks` table with no rows (its columns, float)."""
    return pd.DataFrame({c: pd.Series(dtype=float) for c in _PEAK_COLUMNS})


def empty_levels() -> pd.DataFrame:
    """A `Periodogram.levels` table with no rows (nothing removed)."""
    return pd.DataFrame({c: pd.Series(dtype=np.int64 if c == "n" else float)
                         for c in _LEVEL_COLUMNS})


@dataclass(frozen=True, eq=False)
class Periodogram:
    """One Lomb–Scargle periodogram ("standard" normalization: power in [0, 1]).

    Iterates and indexes as ``(frequency, power)`` like spelunker's
    ``pgram_*`` tuples (``pgram[0]`` is the frequency, ``pgram[1]`` the power).

    Attributes
    ----------
    column : str
    frequency : ndarray
        Hz, time counted in seconds from `start`.  At most `MAX_GRID` points
        (see there); `grid_step` is the spacing of the full grid.
    power : ndarray
    peaks : DataFrame
        ``frequency`` (Hz), ``period`` (s), ``power``, ``false_alarm_probability``
        of the highest peaks, highest first, found on the full grid.
    n_used : int
        Points used.
    n_excluded : int
        Points inside the window that were not used (``n_flagged + n_nan``).
    n_flagged, n_nan : int
        Of those, how many had ``good`` False, and how many more had a NaN
        value (or time).
    start : float
        MJD of t = 0 (the first used point).
    grid_step : float
        Frequency spacing of the full grid (Hz).
    model : astropy LombScargle
        For astropy's extras (``model.model(t, f)``, other FAP methods);
        times in seconds from `start`, values as analysed (`levels` removed),
        mean-subtracted.
    detrend : str
        What was removed from each piece before the periodogram (`DETREND`):
        ``"linear"`` its mean and slope, ``"mean"`` its mean, ``"none"`` nothing.
    piece_name : str
        What the pieces were ("file", "visit", "observation"; "run": runs of
        frames between time gaps); "" when ``detrend`` is "none".
    levels : DataFrame
        What was removed, one row per piece with used points: ``piece`` (its
        label), ``start`` and ``stop`` (MJD of its first and last used point),
        ``n`` (points), ``level`` (its mean), ``slope`` (per second; NaN unless
        "linear"; the line passes through ``level`` at the piece's mean time).
        Empty for "none".
    """

    column: str
    frequency: np.ndarray
    power: np.ndarray
    peaks: pd.DataFrame
    n_used: int
    n_excluded: int
    start: float
    n_flagged: int = 0
    n_nan: int = 0
    grid_step: float = float("nan")
    model: LombScargle | None = field(default=None, repr=False)
    detrend: str = "none"
    piece_name: str = ""
    levels: pd.DataFrame = field(default_factory=empty_levels, repr=False)

    @property
    def removed(self) -> str:
        """What was removed before the periodogram, as a label says it:
        "each file's mean and slope removed (4 files)", or "only the overall mean
        removed (steps kept)"."""
        if self.detrend == "none":
            return "only the overall mean removed (steps kept)"
        what = "mean and slope" if self.detrend == "linear" else "mean"
        n, name = len(self.levels), self.piece_name or "piece"
        return f"each {name}'s {what} removed ({n} {name}{'' if n == 1 else 's'})"

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.frequency, self.power))

    def __getitem__(self, index: int) -> np.ndarray:
        return (self.frequency, self.power)[index]

    def __len__(self) -> int:
        return 2


def _columns(table: pd.DataFrame | Mapping[str, np.ndarray],
             columns: Iterable[str] | None) -> dict[str, np.ndarray]:
    if columns is None:
        names = [c for c in table.keys() if np.asarray(table[c]).dtype.kind in "fiub"]
    else:
        names = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in names if c not in table]
    if missing:
        raise KeyError(f"no column(s) {missing} in the table; it has {list(table.keys())}")
    out = {}
    for c in names:
        values = np.asarray(table[c])
        if values.dtype.kind not in "fiub":
            raise ValueError(f"column {c!r} is not numeric (dtype {values.dtype}); "
                             "leave it out of `columns`")
        out[str(c)] = values.astype(np.float64, copy=False)
    return out


@nb.njit(cache=True, nogil=True)
def _spread(x, values, n_grid, tau, half_width, out):
    """Gaussian gridding (Greengard & Lee 2004) on a periodic grid of `n_grid` nodes.

    `x` in [0, 2 pi); each value is spread over the 2 * `half_width` nearest
    nodes with weight exp(-(x - node)^2 / (4 tau)), computed as E1 * E2^j * E3[j]
    (two exponentials per point, not 24); ``out`` (n_series, n_grid) is added to.
    """
    h = 2.0 * np.pi / n_grid
    e3 = np.empty(2 * half_width)
    for j in range(-half_width + 1, half_width + 1):
        e3[j + half_width - 1] = np.exp(-((h * j) ** 2) / (4.0 * tau))
    n_series = values.shape[0]
    for i in range(x.shape[0]):
        m0 = int(np.floor(x[i] / h))
        d = x[i] - h * m0  # in [0, h)
        e1 = np.exp(-d * d / (4.0 * tau))
        e2 = np.exp(d * h / (2.0 * tau))
        power = e2 ** (-half_width + 1)  # E2^j, updated by one product per node
        for j in range(-half_width + 1, half_width + 1):
            node = (m0 + j) % n_grid
            weight = e1 * power * e3[j + half_width - 1]
            for s in range(n_series):
                out[s, node] += weight * values[s, i]
            power *= e2


def _trig_sums(seconds: np.ndarray, h: np.ndarray, df: float, n_freq: int,
               factor: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """sum_i h[s, i] * (sin, cos)(2 pi factor k df t_i) for k = 0 .. n_freq - 1.

    A type-1 non-uniform FFT by Gaussian gridding: modes -n_freq .. n_freq on
    an FFT grid `_OVERSAMPLING` times longer, a Gaussian of `_HALF_WIDTH` nodes
    each side, deconvolved after the FFT.
    """
    n_modes = 2 * n_freq
    n_grid = scipy.fft.next_fast_len(int(_OVERSAMPLING * n_modes), real=True)
    ratio = n_grid / n_modes
    tau = np.pi * _HALF_WIDTH / (n_modes**2 * ratio * (ratio - 0.5))
    # phases in [0, 2 pi); the modulo on cycles keeps float64 precision
    x = 2.0 * np.pi * np.mod(seconds * (factor * df), 1.0)
    grid = np.zeros((h.shape[0], n_grid))
    _spread(x, np.ascontiguousarray(h), n_grid, tau, _HALF_WIDTH, grid)
    spectrum = scipy.fft.rfft(grid, axis=1, workers=os.cpu_count() or 1)[:, :n_freq]
    k = np.arange(n_freq)
    spectrum *= np.sqrt(np.pi / tau) * np.exp(k * k * tau) / n_grid
    # rfft has exp(-i...): the sine sum is minus its imaginary part
    return -spectrum.imag, spectrum.real


def _lomb_scargle(seconds: np.ndarray, ys: np.ndarray, df: float,
                  n_freq: int, cancelled: Callable[[], bool] | None = None) -> np.ndarray:
    """Floating-mean Lomb–Scargle power ("standard") on f = k df, k < n_freq.

    `ys` (n_series, n) are series sampled at the same `seconds`; unit weights.
    Same algebra as astropy's ``lombscargle_fast``.
    """
    n = len(seconds)
    w = np.full((1, n), 1.0 / n)
    ys = ys - ys.mean(axis=1, keepdims=True)
    s, c = _trig_sums(seconds, w, df, n_freq)
    _check(cancelled)  # between the NUFFTs: each is ~0.2 s per 10^6 points
    s2, c2 = _trig_sums(seconds, w, df, n_freq, factor=2)
    _check(cancelled)
    with np.errstate(invalid="ignore", divide="ignore"):
        tan_2wt = (s2 - 2 * s * c) / (c2 - (c * c - s * s))
        hyp = np.sqrt(1 + tan_2wt * tan_2wt)
        s2w, c2w = tan_2wt / hyp, 1 / hyp
        cw = np.sqrt(0.5) * np.sqrt(1 + c2w)
        sw = np.sqrt(0.5) * np.sign(s2w) * np.sqrt(1 - c2w)
        cc = 0.5 * (1 + c2 * c2w + s2 * s2w) - (c * cw + s * sw) ** 2
        ss = 0.5 * (1 - c2 * c2w - s2 * s2w) - (s * cw - c * sw) ** 2
        power = np.empty((len(ys), n_freq))
        # a few series per FFT call: pocketfft threads over them, memory stays a few grids
        for first in range(0, len(ys), _BATCH):
            y = ys[first : first + _BATCH]
            sh, ch = _trig_sums(seconds, w * y, df, n_freq)
            _check(cancelled)
            yc = ch * cw + sh * sw
            ys_ = sh * cw - ch * sw
            power[first : first + len(y)] = ((yc * yc / cc + ys_ * ys_ / ss)
                                             / (y * y).mean(axis=1, keepdims=True))
    return power


def periodograms(time: np.ndarray, table: pd.DataFrame | Mapping[str, np.ndarray],
                 columns: Iterable[str] | None = None, *, good: np.ndarray | None = None,
                 window: tuple[float, float] | None = None, min_period: float | None = None,
                 max_period: float | None = None, samples_per_peak: float = 5,
                 method: str = "fast", n_peaks: int = 5, detrend: str = "linear",
                 pieces: np.ndarray | None = None, piece_name: str | None = None,
                 cancelled: Callable[[], bool] | None = None) -> dict[str, Periodogram]:
    """Lomb–Scargle periodogram of each column, each piece's level removed first.

    Parameters
    ----------
    time : ndarray, shape (N,)
        MJD.  Internally seconds from the first used point; frequencies in Hz.
    table : DataFrame or dict of arrays
        Series to analyse (flux, fit columns...), N rows.  Not modified.
    columns : list of str, optional
        Default: every numeric column.  A named non-numeric column is an error.
    good : ndarray of bool, shape (N,), optional
        Frames to use (e.g. ``GuideStarData.good``); NaN values are excluded too.
        Exclusions inside the window are counted (``n_excluded``, ``n_flagged``,
        ``n_nan``), never silent.
    window : (start, stop) MJD, optional
        Only frames with start <= time <= stop.
    min_period, max_period : float, optional
        Seconds.  Default: two median cadences (the Nyquist period) to the
        baseline of the used points.
    samples_per_peak : float
        Grid points per peak width (1 / baseline).  The full grid is always
        computed; the returned arrays are limited to `MAX_GRID` points (see there).
    method : str
        "fast": shared time sums and a Gaussian-gridding NUFFT (module
        docstring); ~0.7 s per 10^6-point series on a 2.5x10^6-point grid, 2 cores.
        Anything else is passed to astropy's ``LombScargle.power(method=...)``
        ("cython", "slow", "fastchi2"...), cost O(N x grid): small data only.
    n_peaks : int
        Number of peaks listed in ``peaks``: the highest local maxima at least
        3 peak widths apart (so a strong line's sidelobes are not listed as
        peaks), with astropy's Baluev false-alarm probability over the grid's
        frequency range.
    detrend : {"linear", "mean", "none"}
        What is removed from each piece's used points before the periodogram
        (see the module docstring): ``"linear"`` (default) its least-squares
        line, so neither the steps between pieces nor a drift within one shows
        as long-period power; ``"mean"`` its mean (steps between pieces only);
        ``"none"`` nothing: the floating-mean periodogram of the series as it
        is (the results of fgs_widgets before this option, unchanged).
        Periods longer than a piece are then not measured: that is the price.
    pieces : ndarray, shape (N,), optional
        A label per frame: frames with one label are one piece (e.g.
        ``GuideStarData.segments``, each frame's file).  Default: runs of frames
        between time gaps longer than `GAP_CADENCES` median cadences.
    piece_name : str, optional
        What the pieces are, for the labels (`Periodogram.removed`): default
        "piece" with `pieces`, else "run".
    cancelled : callable, optional
        Asked between the stages of the work (~0.2 s apart per 10^6 points); when
        it returns True the work stops with `PeriodogramCancelled`.

    Returns
    -------
    dict
        column -> `Periodogram`, in the order of `columns`.

    Raises
    ------
    KeyError
        A named column is not in `table`.
    ValueError
        Shapes disagree, fewer than 10 usable points, an empty frequency range,
        or an unknown `detrend`.
    PeriodogramCancelled
        ``cancelled()`` returned True.

    Length: ~75 lines of parameter documentation over ~30 lines of code.
    """
    time = np.asarray(time, dtype=np.float64)
    if time.ndim != 1:
        raise ValueError(f"time must be 1-D, got shape {time.shape}")
    if not samples_per_peak > 0:
        raise ValueError(f"samples_per_peak must be positive, got {samples_per_peak}")
    if detrend not in DETREND:
        raise ValueError(f"detrend must be one of {DETREND}, got {detrend!r}")
    series = _columns(table, columns)
    codes, labels = _pieces(time, pieces) if detrend != "none" else (None, None)
    name = "" if detrend == "none" else piece_name or ("piece" if pieces is not None else "run")
    in_window, flagged = _window_and_flags(time, good, window)
    uses, groups = _usable_groups(series, time, in_window & ~flagged & np.isfinite(time))
    n_window, n_flagged = int(in_window.sum()), int(flagged.sum())
    results = {}
    for names in groups:
        use = uses[names[0]]
        t = time[use]
        start = float(t[0])
        seconds = (t - start) * 86400.0
        df, k_min, k_max = _frequency_grid(seconds, names, min_period, max_period,
                                           samples_per_peak)
        frequency = df * np.arange(k_min, k_max + 1)
        ys = np.stack([series[c][use] for c in names])
        levels = [empty_levels()] * len(names)
        if codes is not None:
            ys, levels = _remove_levels(t, seconds, ys, codes[use], labels, detrend)
        power = _power(seconds, ys, frequency, df, k_min, k_max, method, cancelled)
        for column, y, p, level in zip(names, ys, power, levels, strict=True):
            n_nan = n_window - n_flagged - len(y)
            results[column] = replace(
                _periodogram(column, seconds, y, frequency, p, df, n_peaks, samples_per_peak,
                             start=start, n_flagged=n_flagged, n_nan=n_nan),
                detrend=detrend, piece_name=name, levels=level)
    return {c: results[c] for c in series}


def fold(time_mjd: np.ndarray, values: np.ndarray, period_s: float, *, n_bins: int = 100,
         good: np.ndarray | None = None, window: tuple[float, float] | None = None,
         epoch: float | None = None) -> pd.DataFrame:
    """A series folded on a period: mean, error of the mean and count per phase bin.

    Parameters
    ----------
    time_mjd : ndarray, shape (N,)
        MJD, in any order.
    values : ndarray, shape (N,)
        Non-finite values (and times) are left out.
    period_s : float
        Folding period in seconds (e.g. ``Periodogram.peaks["period"]``).
    n_bins : int
        Equal phase bins over [0, 1).
    good : ndarray of bool, shape (N,), optional
        Frames to use (e.g. ``GuideStarData.good``); frames with False are left out.
    window : (start, stop) MJD, optional
        Only frames with start <= time <= stop.
    epoch : float, optional
        MJD of phase 0.  Default: the earliest frame used.

    Returns
    -------
    pandas.DataFrame
        ``phase`` (bin centre, in (0, 1)), ``mean``, ``error`` (std / sqrt(count),
        NaN for single-point bins), ``count``, by increasing phase.  Empty bins
        are left out, so no usable frame gives an empty table with these columns.

    Raises
    ------
    ValueError
        Shapes disagree, `period_s` is not positive and finite, `n_bins` < 1,
        or `window` has stop <= start.
    """
    time = np.asarray(time_mjd, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if time.ndim != 1 or values.shape != time.shape:
        raise ValueError(f"time and values must be 1-D of one length, got {time.shape} and "
                         f"{values.shape}")
    if not (np.isfinite(period_s) and period_s > 0):
        raise ValueError(f"period_s must be positive and finite, got {period_s}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    in_window, flagged = _window_and_flags(time, good, window)
    use = in_window & ~flagged & np.isfinite(time) & np.isfinite(values)
    time, values = time[use], values[use]
    if len(time) == 0:
        return pd.DataFrame({"phase": np.zeros(0), "mean": np.zeros(0), "error": np.zeros(0),
                             "count": np.zeros(0, dtype=np.int64)})
    zero = float(time.min()) if epoch is None else float(epoch)
    # the modulo on cycles (not on seconds) keeps float64 precision over long baselines
    phase = np.mod((time - zero) * (86400.0 / period_s), 1.0)
    index = np.minimum((phase * n_bins).astype(np.int64), n_bins - 1)
    count, mean, error = _bin_statistics(index, values, n_bins)
    used = count > 0
    centre = (np.arange(n_bins) + 0.5) / n_bins
    return pd.DataFrame({"phase": centre[used], "mean": mean[used], "error": error[used],
                         "count": count[used]})

def _window_and_flags(time: np.ndarray, good: np.ndarray | None,
                      window: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """(frames inside `window`, frames inside it with `good` False), boolean (N,) each."""
    in_window = np.ones(len(time), dtype=bool)
    if window is not None:
        lo, hi = window
        if not hi > lo:
            raise ValueError(f"window must be (start, stop) with stop > start, got {window}")
        in_window = (time >= lo) & (time <= hi)
    flagged = np.zeros(len(time), dtype=bool)
    if good is not None:
        good = np.asarray(good, dtype=bool)
        if good.shape != time.shape:
            raise ValueError(f"good has shape {good.shape} but time has {time.shape}; "
                             "pass one flag per frame")
        flagged = in_window & ~good
    return in_window, flagged


def _usable_groups(series: dict[str, np.ndarray], time: np.ndarray,
                   base: np.ndarray) -> tuple[dict[str, np.ndarray], list[list[str]]]:
    """Each column's usable frames (`base` and a finite value), and the columns grouped
    by identical usable sets, in column order: each group shares the time sums."""
    groups: dict[bytes, list[str]] = {}
    uses: dict[str, np.ndarray] = {}
    for column, values in series.items():
        if values.shape != time.shape:
            raise ValueError(f"column {column!r} has shape {values.shape} but time has "
                             f"{time.shape}; give one value per frame")
        use = base & np.isfinite(values)
        n_used = int(use.sum())
        if n_used < 10:
            raise ValueError(f"column {column!r}: only {n_used} usable points in the window; "
                             "widen the window or check the quality flags")
        uses[column] = use
        groups.setdefault(np.packbits(use).tobytes(), []).append(column)
    return uses, list(groups.values())


def _pieces(time: np.ndarray, pieces: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(piece code 0..k-1 of each frame, the label of each code).

    Given `pieces` labels, their distinct values; else runs between time gaps
    longer than `GAP_CADENCES` median cadences (labels 0, 1, ...).
    """
    if pieces is not None:
        pieces = np.asarray(pieces)
        if pieces.shape != time.shape:
            raise ValueError(f"pieces has shape {pieces.shape} but time has {time.shape}; "
                             "give one label per frame")
        labels, codes = np.unique(pieces, return_inverse=True)
        return codes.reshape(time.shape), labels
    step = np.diff(time) * 86400.0
    finite = step[np.isfinite(step)]
    cadence = float(np.median(np.abs(finite))) if len(finite) else 0.0
    breaks = step > GAP_CADENCES * cadence if cadence > 0 else np.zeros(len(step), dtype=bool)
    codes = np.concatenate([[0], np.cumsum(breaks)])
    return codes, np.arange(int(codes[-1]) + 1 if len(codes) else 0)


def _remove_levels(t: np.ndarray, seconds: np.ndarray, ys: np.ndarray, codes: np.ndarray,
                   labels: np.ndarray,
                   detrend: str) -> tuple[np.ndarray, list[pd.DataFrame]]:
    """`ys` (n_series, n) with each piece's mean (and slope, "linear") removed, and per
    series the `Periodogram.levels` table of what was removed.

    `t` (MJD) and `seconds` are the used points' times, `codes` their pieces.
    """
    present, codes = np.unique(codes, return_inverse=True)  # pieces with used points only
    k = len(present)
    n = np.bincount(codes, minlength=k)
    t_mean = np.bincount(codes, seconds, minlength=k) / n
    dt = seconds - t_mean[codes]
    sxx = np.bincount(codes, dt * dt, minlength=k)
    start, stop = np.full(k, np.inf), np.full(k, -np.inf)
    np.minimum.at(start, codes, t)
    np.maximum.at(stop, codes, t)
    out, tables = np.empty_like(ys), []
    for row, y in enumerate(ys):
        level = np.bincount(codes, y, minlength=k) / n
        slope = np.full(k, np.nan)
        out[row] = y - level[codes]
        if detrend == "linear":
            with np.errstate(invalid="ignore", divide="ignore"):
                slope = np.where(sxx > 0, np.bincount(codes, dt * y, minlength=k) / sxx, 0.0)
            out[row] -= slope[codes] * dt
        tables.append(pd.DataFrame({"piece": labels[present], "start": start, "stop": stop,
                                    "n": n.astype(np.int64), "level": level,
                                    "slope": slope}))
    return out, tables


def _frequency_grid(seconds: np.ndarray, names: list[str], min_period: float | None,
                    max_period: float | None,
                    samples_per_peak: float) -> tuple[float, int, int]:
    """Grid step ``df`` (Hz) and the range ``k_min..k_max``: frequencies are ``k df``."""
    baseline = float(seconds[-1] - seconds[0])
    if not baseline > 0:
        raise ValueError(f"column(s) {names}: all usable points are at one time")
    cadence = float(np.median(np.diff(seconds[: min(len(seconds), 100_001)])))
    f_max = 1.0 / (min_period if min_period else 2.0 * cadence)
    f_min = 1.0 / (max_period if max_period else baseline)
    df = 1.0 / (samples_per_peak * baseline)
    k_min, k_max = max(int(np.ceil(f_min / df)), 1), int(np.floor(f_max / df))
    if k_max < k_min + 2:
        raise ValueError(f"frequency range {f_min:.3g}..{f_max:.3g} Hz holds fewer than 3 "
                         "grid points; lower min_period or raise max_period")
    return df, k_min, k_max


def _power(seconds: np.ndarray, ys: np.ndarray, frequency: np.ndarray, df: float,
           k_min: int, k_max: int, method: str,
           cancelled: Callable[[], bool] | None = None) -> np.ndarray:
    """Power (n_series, len(frequency)) of the series `ys` sampled at `seconds`.

    `frequency` is ``df * arange(k_min, k_max + 1)``; "fast" uses the grid
    indices, the astropy methods the frequencies.
    """
    if method == "fast":
        return _lomb_scargle(seconds, ys, df, k_max + 1, cancelled)[:, k_min:]
    return np.stack([np.asarray(LombScargle(seconds, y).power(
        frequency, method=method, assume_regular_frequency=True)) for y in ys])


def _periodogram(column: str, seconds: np.ndarray, y: np.ndarray, frequency: np.ndarray,
                 power: np.ndarray, df: float, n_peaks: int, samples_per_peak: float, *,
                 start: float, n_flagged: int, n_nan: int) -> Periodogram:
    """The `Periodogram` of one column: thinned arrays, peaks, counts, astropy model."""
    model = LombScargle(seconds, y - y.mean())
    f_shown, p_shown = _thin(frequency, power, MAX_GRID)
    return Periodogram(
        column=column, frequency=f_shown, power=p_shown,
        peaks=_peaks(model, frequency, power, n_peaks, int(np.ceil(3 * samples_per_peak))),
        n_used=len(y), n_excluded=n_flagged + n_nan, start=start, n_flagged=n_flagged,
        n_nan=n_nan, grid_step=df, model=model)


def _thin(frequency: np.ndarray, power: np.ndarray,
          n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """The highest grid point of each run of ceil(n / n_max) points (all if n <= n_max)."""
    n = len(power)
    if n <= n_max:
        return frequency, power
    run = -(-n // n_max)
    n_runs = -(-n // run)
    padded = np.full(n_runs * run, -np.inf)
    padded[:n] = np.where(np.isnan(power), -np.inf, power)
    best = padded.reshape(n_runs, run).argmax(axis=1) + run * np.arange(n_runs)
    return frequency[best], power[best]


def _peaks(model: LombScargle, frequency: np.ndarray, power: np.ndarray,
           n_peaks: int, separation: int) -> pd.DataFrame:
    if len(power) < 3 or n_peaks < 1:
        return empty_peaks()
    clean = np.where(np.isfinite(power), power, -np.inf)
    is_max = clean == maximum_filter1d(clean, 2 * separation + 1, mode="constant",
                                       cval=-np.inf)
    is_max &= np.isfinite(clean)
    is_max[[0, -1]] = False  # a rise toward the end of the range is not a peak
    candidates = np.flatnonzero(is_max)
    best = candidates[np.argsort(clean[candidates])[::-1][:n_peaks]]
    fap = np.asarray(model.false_alarm_probability(
        power[best], minimum_frequency=frequency[0], maximum_frequency=frequency[-1],
        method="baluev")) if len(best) else np.zeros(0)
    return pd.DataFrame({"frequency": frequency[best], "period": 1.0 / frequency[best],
                         "power": power[best], "false_alarm_probability": fap})

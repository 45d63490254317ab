"""Frozen copy of the per-visit statistics as they were before issue 27 (commit 699c804).

``visit_statistics(data, fit)`` here is `fgs_widgets.engine.stability.visit_statistics`
and the jump and HGA-move detection it called (`fgs_widgets.engine.events`) exactly as
they stood at commit 699c804, copied verbatim into one module: the baseline that
``benchmarks/bench_stability.py`` times and ``tests/test_stability.py`` compares
today's results with.  Do not edit it to follow the package: it is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.ndimage import median_filter

from fgs_widgets.data import BAD_QUALITY, GuideStarData, HGAMotion

__all__ = ["visit_statistics"]

# -- fgs_widgets/engine/events.py at 699c804 (the parts the statistics use) ----------------------
EVENT_COLUMNS = ("time", "end", "kind", "label", "source", "value")
_MAD = 1.4826  # MAD -> standard deviation for Gaussian noise


def empty_events() -> pd.DataFrame:
    """An event table with no rows."""
    return pd.DataFrame({c: pd.Series(dtype=float if c in ("time", "end") else object)
                         for c in EVENT_COLUMNS})


def _events(rows: list[dict]) -> pd.DataFrame:
    if not rows:
        return empty_events()
    table = pd.DataFrame(rows)
    for column in EVENT_COLUMNS:
        if column not in table:
            table[column] = np.nan if column == "end" else None
    return table[list(EVENT_COLUMNS)].astype({"time": float, "end": float})



def hga_from_pointing(pointing: pd.DataFrame) -> pd.DataFrame:
    """High-gain-antenna motion from the files' Pointing table (``HGA_motion`` codes).

    ``HGA_motion`` is 0 while the antenna moves, 1 when the move has finished
    and 2 when the antenna is offline (the reader turns the stored text or
    integers into these codes; <NA> for an unreadable entry).  Each run of
    moving rows is an interval event (kind "hga_move", source "local") from the
    first moving row's ``time`` to the first non-moving row's ``time`` after it
    (``end`` NaN if the table ends while moving).  Rows are sorted by time, so
    runs continue across files.

    Parameters
    ----------
    pointing : DataFrame
        Columns ``time`` (MJD) and ``HGA_motion`` (codes); missing column -> no events.

    Returns
    -------
    DataFrame
        Event table.
    """
    if pointing is None or len(pointing) == 0 or "HGA_motion" not in pointing:
        return empty_events()
    table = pointing.sort_values("time", kind="stable")
    codes = pd.to_numeric(table["HGA_motion"], errors="coerce")
    moving = (codes == HGAMotion.MOVING).fillna(False).to_numpy(dtype=bool)
    return _intervals(table["time"].to_numpy(), moving, "hga_move", "HGA move", "local")


def _intervals(time: np.ndarray, on: np.ndarray, kind: str, label: str,
               source: str) -> pd.DataFrame:
    edges = np.diff(on.astype(np.int8), prepend=0, append=0)
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    rows = []
    for a, b in zip(starts, stops, strict=True):
        end = time[b] if b < len(time) else np.nan  # still moving at the end of the range
        rows.append({"time": time[a], "end": end, "kind": kind, "label": label,
                     "source": source})
    return _events(rows)



def _running_median(values: np.ndarray, size: int) -> np.ndarray:
    filled = values.copy()
    bad = ~np.isfinite(filled)
    if bad.any():  # fill gaps by interpolation so NaNs do not spread
        idx = np.arange(len(filled))
        filled[bad] = np.interp(idx[bad], idx[~bad], filled[~bad]) if (~bad).any() else 0.0
    # mirror, not nearest: a spike on the first frame must not become its own median
    return median_filter(filled, size=size, mode="mirror")


def _noise(values: np.ndarray) -> float:
    """Robust point-to-point noise (MAD of first differences / sqrt 2)."""
    diff = np.diff(values[np.isfinite(values)])
    if len(diff) == 0:
        return float("nan")
    return float(_MAD * np.median(np.abs(diff - np.median(diff))) / np.sqrt(2))


def detect_jumps(time: np.ndarray, values: np.ndarray, *, window: int = 31,
                 threshold: float = 8.0, min_separation: int | None = None,
                 label: str = "") -> pd.DataFrame:
    """Steps (tilt-like jumps) in a series, robust to drifts and slow oscillations.

    Method: medians of four consecutive `window`-point blocks m1 m2 | m3 m4
    around each boundary.  A step adds to m3 − m2 only, a local linear trend
    adds equally to m2 − m1, m3 − m2 and m4 − m3, so the detrended step

        d = (m3 − m2) − ((m2 − m1) + (m4 − m3)) / 2

    is zero for ramps and equals the jump for steps.  Its noise is
    sqrt(5) times the standard error of a block median (sqrt(pi/2) sigma /
    sqrt(window)), with sigma the robust point-to-point noise.  Boundaries
    with ``|d|`` above `threshold` times that noise which are the largest
    within `min_separation` points (default 2 windows) are jumps.  With the
    defaults, an oscillation of amplitude A and period P (in frames) gives
    |d| ≈ A (2π window / P)², negligible for P above ~10 windows.

    Returns the event table (kind "jump", ``value`` = the detrended step).
    """
    time = np.asarray(time, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    w = int(window)
    if w < 3 or n < 4 * w + 1:
        return empty_events()
    half = w // 2
    med = _running_median(values, w)  # med[i]: median of values[i-half : i+half+1]

    def block(offset: int) -> np.ndarray:
        """Median of the block starting at i + offset, for every boundary i."""
        out = np.full(n, np.nan)
        lo = max(0, -offset)
        hi = min(n, n - offset - w + 1)
        if hi > lo:
            out[lo:hi] = med[lo + offset + half : hi + offset + half]
        return out

    m1, m2, m3, m4 = block(-2 * w), block(-w), block(0), block(w)
    step = (m3 - m2) - 0.5 * ((m2 - m1) + (m4 - m3))
    sigma = _noise(values) * np.sqrt(np.pi / (2 * w)) * np.sqrt(5)
    if not sigma > 0:
        return empty_events()
    score = np.abs(step) / sigma
    score[~np.isfinite(score)] = 0
    separation = min_separation or 2 * w
    local_max = score == _running_max(score, 2 * separation + 1)
    hits = [_refine_step(values, i, w) for i in np.flatnonzero(local_max & (score > threshold))]
    rows = [{"time": time[i], "kind": "jump", "label": f"{label} jump {step[i]:+.3g}".strip(),
             "source": "detected", "value": float(step[i])} for i in hits]
    return _events(rows)


def _refine_step(values: np.ndarray, i: int, w: int) -> int:
    """The split within ±w of i that best fits a step (largest between-mean contrast)."""
    lo, hi = max(i - 2 * w, 0), min(i + 2 * w, len(values))
    segment = values[lo:hi]
    finite = np.isfinite(segment)
    x = np.where(finite, segment, 0.0)
    count = np.cumsum(finite)[:-1].astype(float)
    left = np.cumsum(x)[:-1]
    n_total, total = count[-1] + finite[-1], x.sum()
    right_n = n_total - count
    with np.errstate(invalid="ignore", divide="ignore"):
        contrast = count * right_n / n_total * (left / count - (total - left) / right_n) ** 2
    splits = np.arange(1, len(segment))
    near = np.abs(lo + splits - i) <= w
    contrast[~(near & (count > 2) & (right_n > 2))] = -np.inf
    return int(lo + splits[np.nanargmax(contrast)]) if np.isfinite(contrast).any() else i


def _running_max(values: np.ndarray, size: int) -> np.ndarray:
    from scipy.ndimage import maximum_filter1d

    return maximum_filter1d(values, size=size, mode="nearest")


# -- fgs_widgets/engine/stability.py at 699c804 -----------------------------------------------
#: FGS pixel scale, mas per pixel (JDox: ~0.069 arcsec)
PLATE_SCALE_MAS: float = 69.0
#: window of the JDox pointing-stability definition, seconds
STABILITY_WINDOW_S: float = 15.0
#: a window is used when it holds at least this fraction of the frames it should hold
MIN_WINDOW_FILL: float = 0.5
#: jumps in x and y closer than this (s) are one tilt
TILT_MERGE_S: float = 1.0
#: fit statuses whose parameters are used ("converged": fit_gaussians and quick_fit)
OK_STATUS = ("converged", "ok")
_DAY = 86400.0
_FIT_COLUMNS = ("x_mean", "y_mean", "x_stddev", "y_stddev")

_GOOD = "good frames (not flagged, fit converged with finite position and widths)"
_WINDOWS = ("used windows (consecutive 15 s windows from the first frame of each guide-star "
            "run, used when they hold at least half the frames the cadence puts in one)")

#: column -> (unit, definition): the one place the definitions live; docs and notebook print it
STATISTICS: dict[str, tuple[str, str]] = {
    "program": ("", "JWST program id (the products' program)."),
    "observation": ("", "Observation number; a row is one (program, observation, visit)."),
    "visit": ("", "Visit number within the observation."),
    "guider": ("", "Guider (1 or 2) of the visit's first file."),
    "gs_id": ("", "Guide star(s) of the visit (GSC id), in order of use, joined with '+' "
                  "when the visit changed guide star."),
    "n_files": ("", "Number of fine-guide files (segments) of the visit."),
    "n_frames": ("", "Number of frames of the visit, flagged ones included."),
    "start_mjd": ("MJD (UTC)", "Time of the visit's first frame."),
    "end_mjd": ("MJD (UTC)", "Time of the visit's last frame."),
    "duration_s": ("s", "end_mjd - start_mjd (first to last frame, gaps included)."),
    "n_flagged": ("", "Frames with a BAD_QUALITY bit set (all-NaN or negative summed flux)."),
    "flagged_fraction": ("", "n_flagged / n_frames."),
    "n_fit_failed": ("", "Unflagged frames whose fit did not converge (another status, e.g. "
                         "max_iter, failed, bad_input) or gave a non-finite position or width."),
    "fit_failure_rate": ("", "n_fit_failed / (n_frames - n_flagged): failures among the frames "
                             "that were worth fitting."),
    "n_good": ("", f"Number of {_GOOD}; the position and width statistics use these only."),
    "n_windows": ("", f"Number of {_WINDOWS}."),
    "stability_mas": ("mas", "Pointing stability as JDox defines it: radial rms, over the used "
                             "15 s windows, of the window's mean guide-star position about the "
                             "mean position of its guide-star run (sqrt(mean_w |p_w - p_run|²)); "
                             "a run is consecutive files with the same guide star and guider, "
                             "so an acquisition offset is not counted."),
    "stability_x_mas": ("mas", "stability_mas along x (columns) only."),
    "stability_y_mas": ("mas", "stability_mas along y (rows) only."),
    "jitter_15s_mas": ("mas", "Jitter within 15 s: sqrt of the mean over the used windows of the "
                              "radial variance (ddof=1) of the positions about their window's "
                              "mean (high-frequency jitter plus centroid noise)."),
    "jitter_15s_x_mas": ("mas", "jitter_15s_mas along x only."),
    "jitter_15s_y_mas": ("mas", "jitter_15s_mas along y only."),
    "pointing_jitter_mean_mas": ("mas", "Mean of the Pointing table's jitter column over the "
                                        "visit's rows (NaN when the visit has no Pointing rows)."),
    "pointing_jitter_max_mas": ("mas", "Maximum of the Pointing table's jitter over the visit's "
                                       "rows (NaN when it has none)."),
    "psf_width_px": ("px", f"Median over the {_GOOD} of the PSF width sqrt(x_stddev * "
                           "y_stddev)."),
    "psf_width_drift_px_per_h": ("px/h", "Least-squares slope of the width's window medians "
                                         "against the windows' mean time, one common slope "
                                         "with a separate level per guide-star run."),
    "psf_width_range_px": ("px", "95th minus 5th percentile of the width's window medians, "
                                 "each taken relative to its run's mean window median."),
    "n_tilts": ("", "Tilt-like jumps of the position: events.detect_jumps (its defaults) on "
                    "the good frames' x_mean and y_mean within each file (a step between files "
                    "is a re-acquisition or dither), jumps in x and y less than 1 s apart "
                    "counted once."),
    "n_hga_moves": ("", "High-gain-antenna moves (events.hga_from_pointing on the Pointing "
                        "table) whose first moving row belongs to one of the visit's files."),
}


def visit_statistics(data: GuideStarData, fit: pd.DataFrame, *,
                     window: float = STABILITY_WINDOW_S,
                     plate_scale_mas: float = PLATE_SCALE_MAS) -> pd.DataFrame:
    """One row per (observation, visit) of `data`: stability, jitter, PSF width, events.

    Parameters
    ----------
    data : GuideStarData
        Frames in time order (as the reader stitches them); ``products`` needs
        ``observation`` and ``visit`` columns (``program``, ``guider`` and
        ``gs_id`` are used when present).
    fit : pandas.DataFrame
        One row per frame of `data`, in the same order: the output of
        `fgs_widgets.runtime.fit.fit_gaussians` or
        `fgs_widgets.engine.quickfit.quick_fit` (``x_mean``, ``y_mean``,
        ``x_stddev``, ``y_stddev``; ``status`` when present).
    window : float
        Window length in seconds (the JDox definition uses 15 s; the column
        names keep "15s" whatever it is).
    plate_scale_mas : float
        mas per FGS pixel.

    Returns
    -------
    pandas.DataFrame
        Columns `STATISTICS` (in that order; units and definitions there),
        one row per (program, observation, visit) in order of first
        appearance in ``data.products``.  ``attrs``: ``window_s``,
        ``plate_scale_mas``.

    Raises
    ------
    ValueError
        When `fit` does not have one row per frame, lacks a needed column,
        ``products`` lacks ``observation``/``visit``, or `window` or
        `plate_scale_mas` is not positive.
    """
    if not window > 0 or not plate_scale_mas > 0:
        raise ValueError(f"window ({window!r} s) and plate_scale_mas ({plate_scale_mas!r}) "
                         "must be positive")
    x, y, width, fit_ok = _fit_columns(data, fit)
    groups = _FileGroups.of(data.products)
    visit_f = groups.visit_of_file[data.segments]
    flagged = (data.quality & int(BAD_QUALITY)) != 0
    good = ~flagged & fit_ok
    n_visits = len(groups.visits)
    out: dict[str, object] = {name: groups.visits[name] for name in groups.visits.columns}
    out["n_files"] = np.bincount(groups.visit_of_file, minlength=n_visits)
    out.update(_counts(data.time, visit_f, flagged, fit_ok, n_visits))
    frames = _GoodFrames.of(data.time, data.segments, groups.run_of_file, good, x, y, width,
                            plate_scale_mas, groups.n_runs)
    windows = _Windows.of(frames, data.time, groups.run_of_file[data.segments], window,
                          groups.n_runs)
    out.update(_position_statistics(frames, windows, groups.visit_of_run, n_visits))
    out.update(_width_statistics(frames, windows, groups.visit_of_run, n_visits))
    out["n_tilts"] = _tilts(frames, groups.visit_of_file, n_visits)
    out.update(_pointing_statistics(data.tables.get("pointing"), groups.visit_of_file,
                                    n_visits))
    table = pd.DataFrame({name: out[name] for name in STATISTICS})  # ids keep their dtype
    table.attrs.update(window_s=float(window), plate_scale_mas=float(plate_scale_mas))
    return table


# -- inputs ---------------------------------------------------------------------------------
def _fit_columns(data: GuideStarData, fit: pd.DataFrame
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x_mean, y_mean, the width sqrt(x_stddev y_stddev) and the fit-ok mask, per frame."""
    if len(fit) != len(data):
        raise ValueError(
            f"fit has {len(fit)} rows but data has {len(data)} frames: pass the fit of these "
            "very frames, one row per frame in order (e.g. quick_fit(data.frames) or "
            "fit_gaussians(data.frames, data.errors)); fit again after slicing the data")
    missing = [c for c in _FIT_COLUMNS if c not in fit.columns]
    if missing:
        raise ValueError(f"fit lacks column(s) {missing}: pass the output of fit_gaussians "
                         "or quick_fit")
    x, y, sx, sy = (fit[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in _FIT_COLUMNS)
    with np.errstate(invalid="ignore"):
        width = np.sqrt(sx * sy)
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(width)
    if "status" in fit.columns:
        ok &= _status_ok(fit["status"])
    return x, y, width, ok


def _status_ok(status: pd.Series) -> np.ndarray:
    """True where the fit status is "converged" (names, or fit_gaussians' integer codes)."""
    if pd.api.types.is_numeric_dtype(status) and not isinstance(status.dtype,
                                                                pd.CategoricalDtype):
        from fgs_widgets.engine.gaussian import STATUS  # integer codes: their names

        codes = [code for code, name in STATUS.items() if name in OK_STATUS]
        return status.isin(codes).to_numpy(dtype=bool)
    return status.isin(OK_STATUS).to_numpy(dtype=bool)


@dataclass(frozen=True)
class _FileGroups:
    """Visits and guide-star runs of the files (rows of ``products``)."""

    visits: pd.DataFrame  #: per visit: program, observation, visit, guider (first), gs_id
    visit_of_file: np.ndarray
    run_of_file: np.ndarray
    visit_of_run: np.ndarray

    @property
    def n_runs(self) -> int:
        return len(self.visit_of_run)

    @classmethod
    def of(cls, products: pd.DataFrame) -> _FileGroups:
        missing = [c for c in ("observation", "visit") if c not in products.columns]
        if missing:
            raise ValueError(f"data.products lacks column(s) {missing}: visits are "
                             "(observation, visit) of the files")
        table = products.reset_index(drop=True)
        for column in ("program", "guider", "gs_id"):
            if column not in table:
                table[column] = pd.NA
        keys = ["program", "observation", "visit"]
        visit_of_file = table.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
        star = table["gs_id"].astype("string").fillna("<NA>").to_numpy(dtype=object)
        guider = table["guider"].astype("string").fillna("<NA>").to_numpy(dtype=object)
        # files of each visit in order; a run starts where the visit, star or guider changes
        order = np.argsort(visit_of_file, kind="stable")
        v, s, g = visit_of_file[order], star[order], guider[order]
        starts = np.ones(len(order), dtype=bool)
        starts[1:] = (v[1:] != v[:-1]) | (s[1:] != s[:-1]) | (g[1:] != g[:-1])
        run_sorted = np.cumsum(starts) - 1
        run_of_file = np.empty(len(order), dtype=np.int64)
        run_of_file[order] = run_sorted
        visit_of_run = v[starts]
        _, first = np.unique(visit_of_file, return_index=True)  # codes 0.. by first use
        visits = table.iloc[first][[*keys, "guider"]].reset_index(drop=True)
        names = [s[starts & (v == i)] for i in range(len(first))]
        visits["gs_id"] = pd.Series(["+".join(dict.fromkeys(n for n in run if n != "<NA>"))
                                     or None for run in names], dtype="str")
        return cls(visits, visit_of_file.astype(np.int64), run_of_file, visit_of_run)


def _counts(time: np.ndarray, visit_f: np.ndarray, flagged: np.ndarray, fit_ok: np.ndarray,
            n: int) -> dict[str, np.ndarray]:
    """Frame counts, flagged and failed frames, and the time span of each visit."""
    n_frames = np.bincount(visit_f, minlength=n)
    n_flagged = np.bincount(visit_f[flagged], minlength=n)
    n_failed = np.bincount(visit_f[~flagged & ~fit_ok], minlength=n)
    start, end = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(start, visit_f, time)
    np.maximum.at(end, visit_f, time)
    empty = n_frames == 0
    start[empty], end[empty] = np.nan, np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"n_frames": n_frames, "start_mjd": start, "end_mjd": end,
                "duration_s": (end - start) * _DAY, "n_flagged": n_flagged,
                "flagged_fraction": n_flagged / n_frames, "n_fit_failed": n_failed,
                "fit_failure_rate": n_failed / (n_frames - n_flagged),
                "n_good": n_frames - n_flagged - n_failed}


# -- windows --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _GoodFrames:
    """The good frames only: time, run, position in mas referred to its run's mean, width."""

    time: np.ndarray  #: MJD
    run: np.ndarray
    file: np.ndarray  #: row of products
    x_px: np.ndarray
    y_px: np.ndarray
    qx: np.ndarray  #: mas, minus the run's mean
    qy: np.ndarray
    width: np.ndarray  #: px

    @classmethod
    def of(cls, time, segments, run_of_file, good, x, y, width, scale: float,
           n_runs: int) -> _GoodFrames:
        run = run_of_file[segments[good]]
        count = np.bincount(run, minlength=n_runs)
        px, py = x[good] * scale, y[good] * scale
        with np.errstate(invalid="ignore", divide="ignore"):
            mx = np.bincount(run, px, minlength=n_runs) / count
            my = np.bincount(run, py, minlength=n_runs) / count
        return cls(time[good], run, segments[good], x[good], y[good], px - mx[run],
                   py - my[run], width[good])


@dataclass(frozen=True)
class _Windows:
    """Window number of every good frame, and per window: its run, frames, use."""

    index: np.ndarray  #: per good frame
    run: np.ndarray  #: per window
    count: np.ndarray  #: good frames per window
    used: np.ndarray  #: per window: enough frames

    @classmethod
    def of(cls, frames: _GoodFrames, time: np.ndarray, run_f: np.ndarray, window: float,
           n_runs: int) -> _Windows:
        first, last = np.full(n_runs, np.inf), np.full(n_runs, -np.inf)
        np.minimum.at(first, run_f, time)
        np.maximum.at(last, run_f, time)
        span = np.where(np.isfinite(first), (last - first) * _DAY, 0.0)
        per_run = np.floor(span / window).astype(np.int64) + 1
        offset = np.concatenate([[0], np.cumsum(per_run)])
        # 1 µs of slack: a frame stamped on a boundary goes to the later window
        elapsed = (frames.time - first[frames.run]) * _DAY
        k = np.clip(np.floor((elapsed + 1e-6) / window).astype(np.int64), 0,
                    per_run[frames.run] - 1)
        index = offset[frames.run] + k
        n_windows = int(offset[-1])
        count = np.bincount(index, minlength=n_windows)
        run = np.repeat(np.arange(n_runs), per_run)
        needed = np.fmax(2.0, MIN_WINDOW_FILL * window / _cadence(time, run_f, n_runs))
        return cls(index, run, count, count >= needed[run])


def _cadence(time: np.ndarray, run_f: np.ndarray, n_runs: int) -> np.ndarray:
    """Median frame spacing (s) of each run (NaN: fewer than two frames)."""
    same = run_f[1:] == run_f[:-1]
    step = np.diff(time)[same] * _DAY
    return _group_median(step, run_f[1:][same], n_runs)


def _group_median(values: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    """Median of finite `values` for each code 0..n-1 (NaN for none), by one sort.

    One float argsort of ``code + value scaled into [0, 0.5]`` sorts by code, then by
    value (5-10x faster than ``np.lexsort``); values closer than ~1e-10 of their range
    may swap, which moves no median by more than that.
    """
    out = np.full(n, np.nan)
    if len(values) == 0:
        return out
    low, high = float(values.min()), float(values.max())
    scale = 0.5 / (high - low) if high > low else 0.0
    ordered = values[np.argsort(codes + (values - low) * scale)]
    count = np.bincount(codes, minlength=n)
    start = np.cumsum(count) - count
    has = count > 0
    lo = start[has] + (count[has] - 1) // 2
    hi = start[has] + count[has] // 2
    out[has] = 0.5 * (ordered[lo] + ordered[hi])
    return out


def _per_visit_mean(values: np.ndarray, visit_w: np.ndarray, n: int) -> np.ndarray:
    """Mean over the used windows of each visit (NaN for none)."""
    count = np.bincount(visit_w, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(visit_w, values, minlength=n) / count


# -- statistics -----------------------------------------------------------------------------
def _position_statistics(frames: _GoodFrames, windows: _Windows, visit_of_run: np.ndarray,
                         n: int) -> dict[str, np.ndarray]:
    """Stability (window means about the run mean) and jitter (scatter within windows)."""
    m = len(windows.count)
    count = np.maximum(windows.count, 1)
    mean_x = np.bincount(windows.index, frames.qx, minlength=m) / count
    mean_y = np.bincount(windows.index, frames.qy, minlength=m) / count
    rx = frames.qx - mean_x[windows.index]
    ry = frames.qy - mean_y[windows.index]
    dof = np.maximum(windows.count - 1, 1)
    var_x = np.bincount(windows.index, rx * rx, minlength=m) / dof
    var_y = np.bincount(windows.index, ry * ry, minlength=m) / dof
    used = windows.used
    visit_w = visit_of_run[windows.run[used]]
    stab_x = _per_visit_mean(mean_x[used] ** 2, visit_w, n)
    stab_y = _per_visit_mean(mean_y[used] ** 2, visit_w, n)
    jit_x = _per_visit_mean(var_x[used], visit_w, n)
    jit_y = _per_visit_mean(var_y[used], visit_w, n)
    return {"n_windows": np.bincount(visit_w, minlength=n),
            "stability_mas": np.sqrt(stab_x + stab_y), "stability_x_mas": np.sqrt(stab_x),
            "stability_y_mas": np.sqrt(stab_y), "jitter_15s_mas": np.sqrt(jit_x + jit_y),
            "jitter_15s_x_mas": np.sqrt(jit_x), "jitter_15s_y_mas": np.sqrt(jit_y)}


def _width_statistics(frames: _GoodFrames, windows: _Windows, visit_of_run: np.ndarray,
                      n: int) -> dict[str, np.ndarray]:
    """PSF width: median per visit, drift of the window medians, their 5–95 % range."""
    visit_f = visit_of_run[frames.run]
    median = _group_median(frames.width, visit_f, n)
    m = len(windows.count)
    window_median = _group_median(frames.width, windows.index, m)
    hours = (frames.time - (frames.time[0] if len(frames.time) else 0.0)) * 24.0
    window_time = np.bincount(windows.index, hours, minlength=m) / np.maximum(windows.count, 1)
    used = windows.used
    run_w, level, t = windows.run[used], window_median[used], window_time[used]
    n_runs = len(visit_of_run)
    per_run = np.maximum(np.bincount(run_w, minlength=n_runs), 1)
    dy = level - (np.bincount(run_w, level, minlength=n_runs) / per_run)[run_w]
    dt = t - (np.bincount(run_w, t, minlength=n_runs) / per_run)[run_w]
    visit_w = visit_of_run[run_w]
    with np.errstate(invalid="ignore", divide="ignore"):
        sxx = np.bincount(visit_w, dt * dt, minlength=n)
        drift = np.where(sxx > 0, np.bincount(visit_w, dt * dy, minlength=n) / sxx, np.nan)
    spread = np.full(n, np.nan)
    order = np.argsort(visit_w, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(visit_w, minlength=n))])
    for v in np.flatnonzero(np.diff(bounds)):
        p5, p95 = np.percentile(dy[order[bounds[v]:bounds[v + 1]]], [5.0, 95.0])
        spread[v] = p95 - p5
    return {"psf_width_px": median, "psf_width_drift_px_per_h": drift,
            "psf_width_range_px": spread}


def _tilts(frames: _GoodFrames, visit_of_file: np.ndarray, n: int) -> np.ndarray:
    """Tilts per visit: jumps in x or y within each file's good frames, merged within 1 s.

    Within files: a step from one file to the next is a re-acquisition, a dither or
    a segment boundary, not a tilt.
    """
    out = np.zeros(n, dtype=np.int64)
    order = np.argsort(frames.file, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(frames.file,
                                                        minlength=len(visit_of_file)))])
    for file in np.flatnonzero(np.diff(bounds)):
        rows = order[bounds[file]:bounds[file + 1]]
        time = frames.time[rows]
        found = np.sort(np.concatenate([
            detect_jumps(time, frames.x_px[rows])["time"].to_numpy(dtype=np.float64),
            detect_jumps(time, frames.y_px[rows])["time"].to_numpy(dtype=np.float64)]))
        if len(found):
            out[visit_of_file[file]] += 1 + int(np.count_nonzero(np.diff(found) * _DAY
                                                                 > TILT_MERGE_S))
    return out


def _pointing_statistics(pointing: pd.DataFrame | None, visit_of_file: np.ndarray,
                         n: int) -> dict[str, np.ndarray]:
    """Pointing-table jitter (mean, max) and HGA moves starting in each visit."""
    mean, peak = np.full(n, np.nan), np.full(n, np.nan)
    moves = np.zeros(n, dtype=np.int64)
    if pointing is None or len(pointing) == 0 or "file_index" not in pointing:
        return {"pointing_jitter_mean_mas": mean, "pointing_jitter_max_mas": peak,
                "n_hga_moves": moves}
    file_index = pointing["file_index"].to_numpy(dtype=np.int64)
    inside = (file_index >= 0) & (file_index < len(visit_of_file))
    visit_row = np.where(inside, visit_of_file[np.clip(file_index, 0,
                                                       max(len(visit_of_file) - 1, 0))], -1)
    if "jitter" in pointing:
        jitter = pd.to_numeric(pointing["jitter"], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan)
        ok = inside & np.isfinite(jitter)
        count = np.bincount(visit_row[ok], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(visit_row[ok], jitter[ok], minlength=n) / count
        top = np.full(n, -np.inf)
        np.maximum.at(top, visit_row[ok], jitter[ok])
        peak = np.where(count > 0, top, np.nan)
    if "time" in pointing:
        events = hga_from_pointing(pointing)
        starts = events.loc[events["kind"] == "hga_move", "time"].to_numpy(dtype=np.float64)
        by_time = np.argsort(pointing["time"].to_numpy(dtype=np.float64), kind="stable")
        times = pointing["time"].to_numpy(dtype=np.float64)[by_time]
        row = by_time[np.clip(np.searchsorted(times, starts), 0, len(times) - 1)]
        visit_move = visit_row[row]
        moves = np.bincount(visit_move[visit_move >= 0], minlength=n)
    return {"pointing_jitter_mean_mas": mean, "pointing_jitter_max_mas": peak,
            "n_hga_moves": moves}

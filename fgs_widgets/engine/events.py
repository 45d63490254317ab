"""The common event table, telemetry-to-event converters, and jump/outlier detection.

Every panel and plot uses one shape: a DataFrame with columns

``time`` (MJD), ``end`` (MJD, NaN for instants), ``kind`` (e.g. "hga_move",
"guide_star_change", "file_boundary", "transition", "jump", "outlier", "tilt": a jump
of the guide star's position or width, `fgs_widgets.model.Session.detect_tilts`),
``label``, ``source`` ("local", "edb", "detected") and ``value``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy.ndimage import median_filter

from ..data import HGAMotion

__all__ = ["EVENT_COLUMNS", "concat_events", "detect_jumps", "detect_outliers", "empty_events",
           "find_jumps", "hga_from_pointing", "hga_move_starts", "hga_moves", "local_events",
           "numeric_series", "telemetry_events", "text_transitions", "true_runs"]

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


def concat_events(*tables: pd.DataFrame) -> pd.DataFrame:
    """Several event tables as one, sorted by time."""
    tables = [t for t in tables if t is not None and len(t)]
    if not tables:
        return empty_events()
    out = pd.concat([t[list(EVENT_COLUMNS)] for t in tables], ignore_index=True)
    return out.sort_values("time", kind="stable").reset_index(drop=True)


# -- from the files -----------------------------------------------------------------
def local_events(products: pd.DataFrame,
                 kinds: Iterable[str] = ("GUIDESTAR", "FILENAME")) -> pd.DataFrame:
    """Events known from the files alone (no token needed).

    Parameters
    ----------
    products : DataFrame
        One row per file (columns ``file_name``, ``gs_id``, ``data_start``,
        ``data_end`` MJD, ...); sorted here by ``data_start``, not modified.
    kinds : iterable of str
        ``"GUIDESTAR"``: an instant event (kind "guide_star_change", value = the
        new ``gs_id``) at the ``data_start`` of each file whose ``gs_id``
        differs from the previous file's.  ``"FILENAME"``: one event per file
        (kind "file_boundary", label and value = file name) at its
        ``data_start``, with ``end`` = its ``data_end`` so a plot can also
        shade the file's span.

    Returns
    -------
    DataFrame
        Event table sorted by time.
    """
    kinds = {kinds.upper()} if isinstance(kinds, str) else {k.upper() for k in kinds}
    unknown = kinds - {"GUIDESTAR", "FILENAME"}
    if unknown:
        raise ValueError(f"unknown local event kind(s) {sorted(unknown)}; "
                         "use 'GUIDESTAR' and/or 'FILENAME'")
    if products is None or len(products) == 0:
        return empty_events()
    missing = {"file_name", "gs_id", "data_start", "data_end"} - set(products.columns)
    if missing:
        raise ValueError(f"products lacks column(s) {sorted(missing)}; pass the products "
                         "table of GuideStarData (one row per file)")
    products = products.sort_values("data_start", kind="stable")
    rows = []
    previous = None
    for row in products.itertuples():
        if "GUIDESTAR" in kinds and previous is not None and str(row.gs_id) != previous:
            rows.append({"time": row.data_start, "kind": "guide_star_change",
                         "label": f"{previous} → {row.gs_id}", "source": "local",
                         "value": row.gs_id})
        if "FILENAME" in kinds:
            rows.append({"time": row.data_start, "end": row.data_end, "kind": "file_boundary",
                         "label": row.file_name, "source": "local", "value": row.file_name})
        previous = str(row.gs_id)
    return concat_events(_events(rows))


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
    time, moving = _hga_moving(pointing)
    return _intervals(time, moving, "hga_move", "HGA move", "local")


def _hga_moving(pointing: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The Pointing table's ``time`` sorted (stable), and whether each row is moving.

    Parameters
    ----------
    pointing : DataFrame
        Columns ``time`` and ``HGA_motion`` (codes; anything else counts as not moving).

    Returns
    -------
    time : numpy.ndarray
        The ``time`` column in time order (rows of equal time keep their order).
    moving : numpy.ndarray of bool
        ``HGA_motion == MOVING`` of those rows.
    """
    table = pointing.sort_values("time", kind="stable")
    codes = pd.to_numeric(table["HGA_motion"], errors="coerce")
    moving = (codes == HGAMotion.MOVING).fillna(False).to_numpy(dtype=bool)
    return table["time"].to_numpy(), moving


def hga_move_starts(pointing: pd.DataFrame | None) -> np.ndarray:
    """Start times of the HGA moves `hga_from_pointing` finds, without an event table.

    Parameters
    ----------
    pointing : DataFrame or None
        As for `hga_from_pointing`.

    Returns
    -------
    numpy.ndarray
        The ``time`` of every move's first moving row, in time order (float64; the
        ``time`` column of ``hga_from_pointing(pointing)``).
    """
    if pointing is None or len(pointing) == 0 or "HGA_motion" not in pointing:
        return np.zeros(0)
    time, moving = _hga_moving(pointing)
    return np.asarray(time[true_runs(moving)[0]], dtype=np.float64)


def true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first index, index after the last) of every run of consecutive True in `mask`."""
    edges = np.diff(np.asarray(mask, dtype=np.int8), prepend=0, append=0)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _intervals(time: np.ndarray, on: np.ndarray, kind: str, label: str,
               source: str) -> pd.DataFrame:
    starts, stops = true_runs(on)
    rows = []
    for a, b in zip(starts, stops, strict=True):
        end = time[b] if b < len(time) else np.nan  # still moving at the end of the range
        rows.append({"time": time[a], "end": end, "kind": kind, "label": label,
                     "source": source})
    return _events(rows)


# -- from engineering telemetry --------------------------------------------------------
def hga_moves(telemetry: pd.DataFrame) -> pd.DataFrame:
    """``SA_ZHGAUPST`` moves as interval events (kind "hga_move", source "edb").

    A move starts at a FINISHED→MOVING transition (the MOVING sample's time;
    a change into MOVING from any other value counts too) and stops at the
    next change to FINISHED (that sample's time); other values in between (if
    any) do not end it.  Edge cases, so nothing is lost:

    * telemetry that starts in MOVING: the move began before the range; it
      starts at the first sample, label "HGA move (started before the range)";
    * a move still under way at the end: ``end`` is NaN (not the last sample,
      which would claim a stop that was not seen).

    Parameters
    ----------
    telemetry : DataFrame
        Columns ``time`` (MJD) and ``value`` (text); any order.

    Returns
    -------
    DataFrame
        Event table; ``value`` is the mnemonic name.
    """
    if telemetry is None or len(telemetry) == 0:
        return empty_events()
    table = telemetry.sort_values("time", kind="stable")
    state = table["value"].astype(str).str.strip().str.upper().to_numpy()
    time = table["time"].to_numpy(dtype=np.float64)
    rows = []
    start = time[0] if state[0] == "MOVING" else None
    label = "HGA move (started before the range)" if start is not None else "HGA move"
    for i in np.flatnonzero(state[1:] != state[:-1]) + 1:  # only the changes
        if state[i] == "MOVING" and start is None:
            start, label = time[i], "HGA move"
        elif state[i] == "FINISHED" and start is not None:
            rows.append({"time": start, "end": time[i], "label": label})
            start = None
    if start is not None:
        rows.append({"time": start, "end": np.nan, "label": label})
    return _events([{**row, "kind": "hga_move", "source": "edb", "value": "SA_ZHGAUPST"}
                    for row in rows])


def text_transitions(telemetry: pd.DataFrame, mnemonic: str | None = None) -> pd.DataFrame:
    """One instant event per change of a text mnemonic's value (kind "transition")."""
    if telemetry is None or len(telemetry) == 0:
        return empty_events()
    table = telemetry.sort_values("time")
    values = table["value"].astype(str).str.strip().to_numpy()
    name = mnemonic or (str(table["mnemonic"].iloc[0]) if "mnemonic" in table else "")
    changed = np.flatnonzero(values[1:] != values[:-1]) + 1
    time = table["time"].to_numpy()
    rows = [{"time": time[i], "kind": "transition",
             "label": f"{name}: {values[i - 1]} → {values[i]}", "source": "edb",
             "value": values[i]} for i in changed]
    return _events(rows)


def telemetry_events(mnemonic: str, telemetry: pd.DataFrame) -> pd.DataFrame | None:
    """The events of a fetched mnemonic, or None when it is numeric (a series, not events).

    ``SA_ZHGAUPST`` gives HGA-move intervals (`hga_moves`); other text
    mnemonics give their transitions (`text_transitions`).
    """
    if len(telemetry) and pd.api.types.is_numeric_dtype(telemetry["value"]):
        return None
    if mnemonic.strip().upper() == "SA_ZHGAUPST":
        return hga_moves(telemetry)
    return text_transitions(telemetry, mnemonic)


def numeric_series(telemetry: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(time MJD, value) float arrays of a numeric mnemonic, sorted by time."""
    if telemetry is None or len(telemetry) == 0:
        return np.zeros(0), np.zeros(0)
    table = telemetry.sort_values("time")
    values = pd.to_numeric(table["value"], errors="coerce").to_numpy(dtype=np.float64)
    return table["time"].to_numpy(dtype=np.float64), values


# -- detection in the time series ------------------------------------------------------
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

    Returns the event table (kind "jump", ``value`` = the detrended step);
    `find_jumps` gives the same jumps as arrays.
    """
    time = np.asarray(time, dtype=np.float64)
    index, step = find_jumps(values, window=window, threshold=threshold,
                             min_separation=min_separation)
    rows = [{"time": time[i], "kind": "jump", "label": f"{label} jump {d:+.3g}".strip(),
             "source": "detected", "value": float(d)} for i, d in zip(index, step, strict=True)]
    return _events(rows)


def find_jumps(values: np.ndarray, *, window: int = 31, threshold: float = 8.0,
               min_separation: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The jumps of `detect_jumps` as arrays: where they are and their detrended steps.

    No event table is built, so a caller counting jumps in many short series (the
    survey's per-file tilts) pays for the detection only.

    Parameters
    ----------
    values : numpy.ndarray
        The series (NaNs allowed: filled by interpolation for the medians).
    window, threshold, min_separation : int, float, int or None
        As for `detect_jumps`.

    Returns
    -------
    index : numpy.ndarray of int64
        Frame of each jump (the refined split: the first frame after the step),
        in the order `detect_jumps` lists them.
    step : numpy.ndarray of float64
        The detrended step ``d`` at that frame (the event's ``value``).
    """
    values = np.asarray(values, dtype=np.float64)
    none = np.zeros(0, dtype=np.int64), np.zeros(0)
    n = len(values)
    w = int(window)
    if w < 3 or n < 4 * w + 1:
        return none
    half = w // 2
    med = _running_median(values, w)  # med[i]: median of values[i-half : i+half+1]
    # boundary i has its four blocks (starting at i-2w, i-w, i, i+w) for 2w <= i <= n-2w;
    # NaN elsewhere, so a jump refined into the margin keeps a NaN step, as it always did
    lo, hi = 2 * w, n - 2 * w + 1
    m1, m2, m3, m4 = (med[lo + k + half:hi + k + half] for k in (-2 * w, -w, 0, w))
    step = np.full(n, np.nan)
    step[lo:hi] = (m3 - m2) - 0.5 * ((m2 - m1) + (m4 - m3))
    sigma = _noise(values) * np.sqrt(np.pi / (2 * w)) * np.sqrt(5)
    if not sigma > 0:
        return none
    score = np.abs(step) / sigma
    score[~np.isfinite(score)] = 0
    separation = min_separation or 2 * w
    peaks = _local_maxima(score, separation, np.flatnonzero(score > threshold))
    index = np.array([_refine_step(values, i, w) for i in peaks], dtype=np.int64)
    return index, step[index]


def _local_maxima(score: np.ndarray, separation: int, candidates: np.ndarray) -> np.ndarray:
    """The `candidates` whose score is the maximum within ±`separation` points.

    The same as ``score[candidates] == _running_max(score, 2 * separation + 1)[candidates]``
    (the filter's "nearest" edges repeat an edge value, which the clipped window holds
    already), computed at the candidates only when they are few (~1.5 µs each, against
    ~10 µs plus 2-15 ns a point for the filter).
    """
    size = 2 * separation + 1
    if len(candidates) > 6 + len(score) // 256 or len(candidates) * size > 4 * len(score):
        return candidates[score[candidates] == _running_max(score, size)[candidates]]
    keep = [i for i in candidates
            if score[i] == score[max(i - separation, 0):i + separation + 1].max()]
    return np.asarray(keep, dtype=np.int64)


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


def detect_outliers(time: np.ndarray, values: np.ndarray, *, threshold: float = 6.0,
                    window: int = 15, label: str = "") -> pd.DataFrame:
    """Single-frame spikes (cosmic-ray-like): ``|x - running median| > threshold * noise``.

    The noise is the MAD of the residuals from the running median; returns
    the event table (kind "outlier", ``value`` = the residual).
    """
    time = np.asarray(time, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if len(values) < window:
        return empty_events()
    residual = values - _running_median(values, window)
    finite = np.isfinite(residual)
    sigma = _MAD * np.median(np.abs(residual[finite] - np.median(residual[finite])))
    if not sigma > 0:
        return empty_events()
    hits = np.flatnonzero(finite & (np.abs(residual) > threshold * sigma))
    rows = [{"time": time[i], "kind": "outlier",
             "label": f"{label} outlier {residual[i]:+.3g}".strip(), "source": "detected",
             "value": float(residual[i])} for i in hits]
    return _events(rows)

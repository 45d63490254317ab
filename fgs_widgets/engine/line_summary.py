"""Min/max summaries of a series, re-decimated for any view without the full series.

A browser that holds these summaries draws the right line for every zoom and pan
frame itself; the kernel is asked only for a view narrower than the finest level
resolves.  This module is the one definition of what gets drawn: the front end
(``js/src/series_lines.js``) runs the same steps on the same arrays, and the tests
compare the lines the browser draws with `draw_from` here.

The pieces
----------
*Candidates.*  Every block of ``block`` consecutive frames keeps at most two points,
its minimum and its maximum (NaN skipped), at their own times and in time order.  A
pixel column's min and max are then found among the candidates instead of all frames:
exact except at the blocks straddling its edges, whose extreme is drawn, at its true
time, in the neighbouring column (so a column's drawn range is never wider than its
true one; with two blocks per column, the fewest a source may have, noise bands come
out a few per cent narrower on average, see the tests).

*Levels* (`line_levels`): candidates for blocks of ``BASE_BLOCK`` frames (fewer for a
short series, `base_block`, so that its whole view is resolved without the kernel, which
may be busy running a cell) and every ``LEVEL_FACTOR`` times more, down to about
``COARSEST_BLOCKS`` blocks, computed once per series and sent once.

*Detail* (`line_detail`): for a view where even the finest level has fewer than
``MIN_POINTS_PER_COLUMN`` points per pixel column, the kernel sends candidates of finer
blocks (the raw frames when a block would hold two frames or fewer) for that view and a
margin of ``DETAIL_MARGIN`` views each side, fine enough to zoom in ``DETAIL_HEADROOM``
times further before asking again.

*Choosing* (`choose_source`): among the sources covering the view, the coarsest whose
points in view reach ``MIN_POINTS_PER_COLUMN`` per column (raw frames always do); when
none does, the finest there is, and the view is marked as needing detail.

*Drawing* (`draw_from`): pixel columns on a grid anchored at x = 0 (column ``k`` holds
``k * delta <= x < (k + 1) * delta`` with ``delta = (stop - start) / width``), so a pan
that keeps the span keeps every column's points; each column's min and max (earliest on
ties) in time order; a NaN point breaks the line where points are more than
``max(gap, 2 * delta)`` apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .binning import block_extrema, break_gaps

__all__ = ["BASE_BLOCK", "COARSEST_BLOCKS", "DETAIL_HEADROOM", "DETAIL_MARGIN",
           "FULL_VIEW_COLUMNS", "LEVEL_FACTOR", "MIN_POINTS_PER_COLUMN", "LineSource",
           "base_block", "choose_source", "detail_range",
           "draw_from", "line_detail", "line_levels", "source_for_frames"]

BASE_BLOCK = 256
#: pixel columns of the widest plot whose whole view the levels resolve by themselves
FULL_VIEW_COLUMNS = 2000
LEVEL_FACTOR = 4
COARSEST_BLOCKS = 1024
MIN_POINTS_PER_COLUMN = 4
DETAIL_HEADROOM = 2
DETAIL_MARGIN = 0.25


@dataclass(frozen=True)
class LineSource:
    """Candidate points of one resolution over a range of frames.

    Attributes
    ----------
    block : int
        Frames per block (1: the raw frames).
    lo, hi : int
        The frames covered, ``[lo, hi)``.
    t : ndarray of float64
        Times of the points (seconds on the plot's axis), ascending.
    v : ndarray of float32
        Their values.
    start, stop : float
        The x range this source covers: -inf / +inf when it reaches the series' first /
        last frame (nothing lies beyond), else the time of its first / last frame.
    """

    block: int
    lo: int
    hi: int
    t: np.ndarray
    v: np.ndarray
    start: float
    stop: float

    def covers(self, start: float, stop: float) -> bool:
        """Whether every frame between ``start`` and ``stop`` is summarised here."""
        return self.start <= start and self.stop >= stop


def _in_time_order(i_min: np.ndarray, i_max: np.ndarray) -> np.ndarray:
    """Each group's min and max index, earlier first, once when they are the same point
    (-1: an empty group, dropped)."""
    first, second = np.minimum(i_min, i_max), np.maximum(i_min, i_max)
    pairs = np.column_stack([first, np.where(second == first, -1, second)]).ravel()
    return pairs[pairs >= 0]


def _from_indices(seconds: np.ndarray, values: np.ndarray, i_min: np.ndarray,
                  i_max: np.ndarray, block: int, lo: int, hi: int) -> LineSource:
    """The source whose blocks have their extremes at ``i_min`` / ``i_max`` (-1: empty)."""
    index = _in_time_order(i_min, i_max)
    n = len(seconds)
    return LineSource(block=int(block), lo=int(lo), hi=int(hi),
                      t=np.ascontiguousarray(seconds[index], dtype=np.float64),
                      v=np.ascontiguousarray(values[index], dtype=np.float32),
                      start=-math.inf if lo == 0 else float(seconds[lo]),
                      stop=math.inf if hi >= n else float(seconds[hi - 1]))


def _coarser(values: np.ndarray, i_min: np.ndarray, i_max: np.ndarray,
             factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Extremes of blocks ``factor`` times larger from those of the smaller blocks."""
    pad = (-len(i_min)) % factor
    i_min = np.concatenate([i_min, np.full(pad, -1, dtype=np.int64)]).reshape(-1, factor)
    i_max = np.concatenate([i_max, np.full(pad, -1, dtype=np.int64)]).reshape(-1, factor)
    low = np.where(i_min >= 0, values[np.maximum(i_min, 0)], np.inf)
    high = np.where(i_max >= 0, values[np.maximum(i_max, 0)], -np.inf)
    rows = np.arange(len(i_min))
    # argmin/argmax take the first of equal values: the earliest block, as one pass would
    new_min = i_min[rows, np.argmin(low, axis=1)]
    new_max = i_max[rows, np.argmax(high, axis=1)]
    empty = np.all(i_min < 0, axis=1)
    new_min[empty] = -1
    new_max[empty] = -1
    return new_min, new_max


def base_block(n: int) -> int:
    """Frames per block of the finest level for ``n`` frames: ``BASE_BLOCK``, or the
    largest power of two that still gives ``MIN_POINTS_PER_COLUMN`` points per column
    over ``FULL_VIEW_COLUMNS`` columns (1, the frames themselves, below 4)."""
    fit = n // (MIN_POINTS_PER_COLUMN // 2 * FULL_VIEW_COLUMNS)
    block = min(BASE_BLOCK, 1 << max(fit, 1).bit_length() - 1)
    return block if block >= 4 else 1


def line_levels(seconds: np.ndarray, values: np.ndarray, *, base: int | None = None,
                factor: int = LEVEL_FACTOR, coarsest: int = COARSEST_BLOCKS,
                blocks=None) -> list[LineSource]:
    """The summary sent once: candidates of blocks of ``base`` (default `base_block`),
    ``base * factor``, ... frames, finest first, down to at most ``coarsest`` blocks (at
    least one level).

    Parameters
    ----------
    seconds : ndarray, shape (N,)
        Times on the plot's axis, ascending.
    values : ndarray, shape (N,)
        The series; NaN (flagged frames) is never drawn.
    blocks : BlockExtrema, optional
        `binning.block_extrema` of ``values`` with size ``base``, if already made.
    """
    values = np.asarray(values, dtype=np.float64)
    seconds = np.asarray(seconds, dtype=np.float64)
    n = len(values)
    base = base_block(n) if base is None else int(base)
    if blocks is None or blocks.size != base:
        blocks = block_extrema(values, base)
    i_min, i_max, size = blocks.i_min, blocks.i_max, base
    levels = [_from_indices(seconds, values, i_min, i_max, size, 0, n)]
    while len(i_min) > coarsest:
        i_min, i_max = _coarser(values, i_min, i_max, factor)
        size *= factor
        levels.append(_from_indices(seconds, values, i_min, i_max, size, 0, n))
    return levels


def source_for_frames(seconds: np.ndarray, values: np.ndarray, lo: int, hi: int,
                      block: int) -> LineSource:
    """Candidates of blocks of ``block`` frames over frames ``[lo, hi)`` (blocks start
    at ``lo``; ``block`` 1 gives the raw frames)."""
    values = np.asarray(values, dtype=np.float64)
    lo, hi = int(lo), int(hi)
    if block <= 1:
        index = np.arange(lo, hi)
        index = index[~np.isnan(values[lo:hi])]
        return _from_indices(seconds, values, index, index, 1, lo, hi)
    part = block_extrema(values[lo:hi], int(block))
    shift = lambda i: np.where(i >= 0, i + lo, -1)  # noqa: E731
    return _from_indices(seconds, values, shift(part.i_min), shift(part.i_max), block, lo, hi)


def detail_range(seconds: np.ndarray, window: tuple[float, float],
                 width_px: int) -> tuple[int, int, int]:
    """``(lo, hi, block)``: the frames and block size `line_detail` sends for a view."""
    n = len(seconds)
    lo = int(np.searchsorted(seconds, window[0], "left"))
    hi = int(np.searchsorted(seconds, window[1], "right"))
    frames = max(hi - lo, 1)
    margin = math.ceil(frames * DETAIL_MARGIN) + 1
    per_column = MIN_POINTS_PER_COLUMN // 2  # blocks per column that resolve a view
    block = frames // (DETAIL_HEADROOM * per_column * max(int(width_px), 1))
    if block <= 2:  # two points per block of two frames: the frames themselves are no more
        block = 1
    return max(0, lo - margin), min(n, hi + margin), int(block)


def line_detail(seconds: np.ndarray, values: np.ndarray, window: tuple[float, float],
                width_px: int) -> LineSource:
    """What the kernel sends for a view the levels cannot resolve (see module notes)."""
    lo, hi, block = detail_range(seconds, window, width_px)
    return source_for_frames(seconds, values, lo, hi, block)


def _column_range(t: np.ndarray, delta: float, k0: float, k1: float) -> tuple[int, int]:
    """Indices ``[i0, i1)`` of the points whose column ``floor(t / delta)`` is in
    ``[k0, k1]`` (t ascending, so the columns are too)."""
    columns = np.floor(t / delta)
    return (int(np.searchsorted(columns, k0, "left")),
            int(np.searchsorted(columns, k1, "right")))


def _grid(window: tuple[float, float], width_px: int) -> tuple[float, float, float]:
    delta = (window[1] - window[0]) / width_px
    return delta, math.floor(window[0] / delta), math.floor(window[1] / delta)


def choose_source(sources: list[LineSource], window: tuple[float, float],
                  width_px: int) -> tuple[LineSource | None, bool]:
    """``(source, enough)``: the source to draw ``window`` from, and whether it resolves
    the view (False: the finest there is, and detail should be asked for)."""
    delta, k0, k1 = _grid(window, width_px)
    if not delta > 0:
        return None, False
    covering = [s for s in sources if s.covers(window[0], window[1])]
    best = finest = None
    for source in covering:
        i0, i1 = _column_range(source.t, delta, k0, k1)
        if source.block == 1 or i1 - i0 >= MIN_POINTS_PER_COLUMN * width_px:
            if best is None or source.block > best.block:
                best = source
        if finest is None or source.block < finest.block:
            finest = source
    return (best, True) if best is not None else (finest, False)


def draw_from(source: LineSource, window: tuple[float, float], width_px: int,
              gap: float) -> tuple[np.ndarray, np.ndarray]:
    """The line drawn for ``window`` from ``source``: each pixel column's min and max in
    time order, NaN-separated where points are more than ``max(gap, 2 * delta)`` apart.

    Returns
    -------
    (x, y) : ndarrays of float64
    """
    delta, k0, k1 = _grid(window, width_px)
    if not delta > 0:
        return np.zeros(0), np.zeros(0)
    i0, i1 = _column_range(source.t, delta, k0, k1)
    t, v = source.t[i0:i1], source.v[i0:i1].astype(np.float64)
    if len(t) == 0:
        return np.zeros(0), np.zeros(0)
    column = np.floor(t / delta)
    index = np.arange(len(t))
    starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
    # the first point of each column in (column, value, index) order: the earliest of
    # its smallest (largest) values, as the front end's one pass finds them
    by_min = np.lexsort((index, v, column))
    by_max = np.lexsort((index, -v, column))
    pick = _in_time_order(by_min[starts], by_max[starts])
    return break_gaps(t[pick], v[pick], max(gap, 2 * delta))

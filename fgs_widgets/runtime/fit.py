"""Fit every frame: split into chunks, run them here or on ray, cache and assemble them.

The numbers of one chunk (model, weights, uncertainties, conventions) are
`fgs_widgets.engine.gaussian`'s; this module decides where they run
(`fgs_widgets.runtime.executor` for ray), what the fit cache already holds
(`fgs_widgets.runtime.fit_cache`) and what progress and cancel see.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine import lm
from ..engine.gaussian import CANCELLED, ENGINE_VERSION, fit_chunk, result_frame

__all__ = ["AUTO_SERIAL_BELOW", "fit_gaussians"]

#: below this many frames "auto" fits in this process even when ray is running: the
#: transfer to the object store costs more than it can gain
AUTO_SERIAL_BELOW = 20_000

Progress = Callable[[int, int], None]


def _ray_running() -> bool:
    """ray is initialized in this process (without importing it: that alone takes ~1 s)."""
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def fit_gaussians(frames: np.ndarray, errors: np.ndarray | None = None, *,
                  initial: np.ndarray | None = None, max_iter: int = 50, tol: float = 1e-8,
                  executor: str = "auto", address: str | None = None, chunk_size: int = 50_000,
                  progress: Progress | None = None, cancel: threading.Event | None = None,
                  cache_dir: str | Path | None = None) -> pd.DataFrame:
    """Fit a rotated 2D Gaussian plus offset to every frame.

    Length: the docstring documents every argument and result status; the code is
    a short sequence of the helpers below.

    Parameters
    ----------
    frames : ndarray, shape (N, 8, 8)
        Pixels (float32 or float64 are used as they are; e.g. count rate);
        NaN pixels are ignored.  A single (8, 8) frame is accepted too.
    errors : ndarray, shape (N, 8, 8), optional
        1-sigma errors (the ERR extension).  Pixels with non-finite or
        non-positive errors are ignored.  Without errors the pixel variance is
        modelled as background + b x star model, fitted to the residuals of
        each chunk (see `fgs_widgets.engine.gaussian`).
    initial : ndarray, shape (N, 7), optional
        Starting parameters in `fgs_widgets.engine.psf.PARAMETERS` order;
        default: moments of each frame.  Rows with NaN or non-positive widths
        are "bad_input".
    max_iter : int
        Levenberg–Marquardt iterations per frame (without errors: of both
        weighting rounds).
    tol : float
        Stop when an accepted step lowers chi2 by less than ``tol * chi2``
        or moves every position and width by less than 1e-5 px.
    executor : {"auto", "serial", "ray"}
        "serial" fits in this process (numba threads use every core);
        "ray" distributes chunks over a ray cluster (local by default, see
        `fgs_widgets.runtime.executor.ensure_ray`).  "auto" uses ray when
        `address` is given, or when ray is already running in this process
        (joined to a cluster, or started by an earlier ray fit) and there are
        at least `AUTO_SERIAL_BELOW` frames; otherwise it fits in this
        process.  On one machine that is the faster choice: the same cores,
        no ray start-up (~10 s), no object-store copy (measured in
        ``benchmarks/bench_fit.py``).
    address : str, optional
        Ray cluster address ("auto", "ray://host:10001"); implies ray.
    chunk_size : int
        Frames per task (and per cache entry; without errors, per noise model).
    progress : callable(done_frames, total_frames), optional
        Called after each finished chunk.
    cancel : threading.Event, optional
        When set, no new chunk starts; finished chunks are kept and the
        rest are NaN rows with status "cancelled".
    cache_dir : path, optional
        Finished chunks are stored here and reused on a re-run.

    Returns
    -------
    pandas.DataFrame
        One row per frame, in order: `fgs_widgets.engine.psf.PARAMETERS`,
        ``*_err``, ``chi2_red``, ``n_iter`` (int32), ``status`` (categorical;
        codes and names in `fgs_widgets.engine.gaussian.STATUS`: converged,
        max_iter — stopped at `max_iter`, parameters kept —, failed — no
        downhill step, non-finite or off-frame result —,
        bad_input — too few valid pixels or no positive signal —, cancelled).
        Parameters and errors are NaN unless converged or max_iter; rows are
        never dropped.  ``attrs``: ``executor``, ``cache_hits`` (chunks
        loaded instead of fitted), ``weights`` ("errors" or "poisson"),
        ``engine_version``.

    Raises
    ------
    ValueError
        For shapes that do not match, an unknown executor, or a chunk_size
        or max_iter below 1.
    """
    frames, errors, initial = _checked_inputs(frames, errors, initial, chunk_size, max_iter)
    executor = _choose_executor(executor, address, len(frames))
    settings = {"max_iter": max_iter, "tol": tol, "engine": ENGINE_VERSION}
    results = _Results(len(frames), chunk_size, cache_dir, progress)
    pending = results.load_cached(frames, errors, initial, settings)
    if pending and executor == "ray":
        from .executor import run_ray

        run_ray(fit_chunk, frames, errors, initial, pending, settings, results.finished,
                cancel, address)
    elif pending:
        _fit_serial(frames, errors, initial, pending, max_iter, tol, cancel, results.finished)
    table = result_frame(results.out)
    table.attrs.update(cache_hits=len(results.bounds) - len(pending), executor=executor,
                       weights="poisson" if errors is None else "errors",
                       engine_version=ENGINE_VERSION)
    return table


def _checked_inputs(frames, errors, initial, chunk_size: int, max_iter: int):
    """`fit_gaussians`' arrays as arrays of matching shapes (one frame made a stack of one).

    Raises the ValueErrors `fit_gaussians` documents, except the executor's.
    """
    frames = np.asarray(frames)
    if frames.ndim == 2 and frames.shape == (8, 8):
        frames = frames[None]
    if frames.ndim != 3 or frames.shape[1:] != (8, 8):
        raise ValueError(f"frames must have shape (N, 8, 8), got {frames.shape}: pass a stack "
                         "of 8x8 guider frames (or one 8x8 frame)")
    if errors is not None:
        errors = np.asarray(errors)
        if errors.shape != frames.shape:
            if errors.shape == frames.shape[1:] and len(frames) == 1:
                errors = errors[None]
            else:
                _bad_shape("errors", errors.shape, frames.shape)
    if initial is not None:
        initial = np.asarray(initial, dtype=np.float64)
        if initial.shape == (7,) and len(frames) == 1:
            initial = initial[None]
        if initial.shape != (len(frames), 7):
            _bad_shape("initial", initial.shape, (len(frames), 7))
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1 (frames per task), got {chunk_size}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    return frames, errors, initial


def _choose_executor(executor: str, address: str | None, n: int) -> str:
    """`fit_gaussians`' ``executor`` as "serial" or "ray" ("auto" resolved)."""
    if executor not in ("auto", "serial", "ray"):
        raise ValueError(f"executor must be 'auto', 'serial' or 'ray', not {executor!r}")
    if executor == "auto":
        executor = "ray" if address is not None or (
            n >= AUTO_SERIAL_BELOW and _ray_running()) else "serial"
    return executor


def _rows(array: np.ndarray | None, a: int, b: int) -> np.ndarray | None:
    return None if array is None else array[a:b]


class _Results:
    """The result array of one `fit_gaussians` call: chunks land in it from the cache or
    from a fit, and go to the cache and the progress callback as they finish."""

    def __init__(self, n: int, chunk_size: int, cache_dir: str | Path | None,
                 progress: Progress | None) -> None:
        from .fit_cache import FitCache

        self.n = n
        self.bounds = [(a, min(a + chunk_size, n)) for a in range(0, n, chunk_size)]
        self.cache = FitCache(cache_dir) if cache_dir is not None else None
        self.progress = progress
        # one column-major result array: chunks land in place and become DataFrame columns
        # without copies (memory stays near the frames' own size).  Rows never filled are
        # the cancelled chunks'.
        self.out = np.full((lm.N_OUT, n), np.nan)
        self.out[lm.I_NITER] = 0
        self.out[lm.I_STATUS] = CANCELLED
        self.done = 0

    def load_cached(self, frames, errors, initial, settings: dict) -> list:
        """Fill in the cached chunks; the others as (index, start, stop, cache key)."""
        pending = []
        for i, (a, b) in enumerate(self.bounds):
            key = self.cache.key(frames[a:b], _rows(errors, a, b), _rows(initial, a, b),
                                 settings) if self.cache else None
            hit = self.cache.load(key, b - a) if self.cache else None
            if hit is not None:
                self.out[:, a:b] = hit.T
                self.done += b - a
            else:
                pending.append((i, a, b, key))
        if self.progress is not None and self.done:
            self.progress(self.done, self.n)
        return pending

    def finished(self, i: int, raw: np.ndarray, key: str | None) -> None:
        """Chunk ``i``'s (rows, `lm.N_OUT`) result: into place, the cache, the progress."""
        a, b = self.bounds[i]
        self.out[:, a:b] = raw.T
        if self.cache is not None:
            self.cache.store(key, raw)
        self.done += len(raw)
        if self.progress is not None:
            self.progress(self.done, self.n)


def _fit_serial(frames, errors, initial, pending: list, max_iter: int, tol: float,
                cancel: threading.Event | None, finished: Callable) -> None:
    """Fit the pending chunks in this process, in order, until `cancel` is set."""
    for i, a, b, key in pending:
        if cancel is not None and cancel.is_set():
            break
        finished(i, fit_chunk(frames[a:b], _rows(errors, a, b), _rows(initial, a, b),
                              max_iter, tol), key)


def _bad_shape(name: str, got: tuple, want: tuple):
    raise ValueError(f"{name} has shape {got}; it must be {want} to match the frames "
                     "(one row per frame)")

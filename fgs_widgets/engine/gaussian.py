"""Fit a rotated 2D Gaussian to every frame: the engine's main entry point.

The model, parameters and conventions are in `fgs_widgets.engine.psf`.  The
fit is a batched Levenberg–Marquardt (`fgs_widgets.engine.lm`) over chunks
of frames, seeded from moments, weighted by the ERR extension when given.

Output conventions (so periodograms of theta and the widths mean something):

* ``x_stddev >= y_stddev``: x_stddev is the major axis, y_stddev the minor;
* ``theta`` in [-pi/2, pi/2): the angle of the major axis from +x (columns),
  counter-clockwise towards +y (rows).  For a round PSF theta is undefined
  and its uncertainty is large.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from . import lm
from .psf import PARAMETERS

__all__ = ["ENGINE_VERSION", "STATUS", "fit_gaussians"]

#: bump when results change for the same input (invalidates the fit cache)
ENGINE_VERSION = "1"
#: status codes and their names
STATUS = {lm.CONVERGED: "converged", lm.MAX_ITER: "max_iter", lm.FAILED: "failed",
          lm.BAD_INPUT: "bad_input", 4: "cancelled"}
CANCELLED = 4
ERR_COLUMNS = tuple(f"{p}_err" for p in PARAMETERS)
_AUTO_SERIAL_BELOW = 200_000  # frames; below this ray's start-up outweighs its gain here

Progress = Callable[[int, int], None]


def _weights(frames: np.ndarray, errors: np.ndarray | None) -> np.ndarray:
    """Per-pixel 1/sigma^2; 0 for NaN pixels and unusable errors."""
    finite = np.isfinite(frames)
    if errors is None:
        return finite.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = 1.0 / np.square(errors, dtype=np.float64)
    w[~(np.isfinite(w) & finite & (errors > 0))] = 0.0
    return w


def fit_chunk(frames: np.ndarray, errors: np.ndarray | None = None,
              initial: np.ndarray | None = None, max_iter: int = 50,
              tol: float = 1e-8) -> np.ndarray:
    """Fit one chunk in this process; returns a (n, 18) float64 array.

    Columns: 7 parameters, 7 uncertainties, chi2_red, n_iter, status, 0 (spare).
    This is the unit of work the executors distribute.
    """
    frames = np.ascontiguousarray(frames, dtype=np.float64)
    n = len(frames)
    weights = _weights(frames, errors)
    frames = np.where(np.isfinite(frames), frames, 0.0)
    params = np.empty((n, 7))
    errs = np.empty((n, 7))
    chi2r = np.empty(n)
    n_iter = np.empty(n, dtype=np.int64)
    status = np.empty(n, dtype=np.int64)
    use_initial = initial is not None
    init = np.ascontiguousarray(initial, dtype=np.float64) if use_initial else np.empty((n, 7))
    lm.fit_chunk(frames, weights, init, use_initial, int(max_iter), float(tol), params, errs,
                 chi2r, n_iter, status)
    if errors is None:
        # unit weights: the noise level is unknown, so scale by the scatter actually seen
        errs *= np.sqrt(np.where(np.isfinite(chi2r), chi2r, np.nan))[:, None]
    out = np.empty((n, 18))
    out[:, :7], out[:, 7:14] = params, errs
    out[:, 14], out[:, 15], out[:, 16], out[:, 17] = chi2r, n_iter, status, 0.0
    return out


def _to_frame(out: np.ndarray) -> pd.DataFrame:
    """Columns of the (18, n) result array as a DataFrame, without copying them."""
    columns = {name: out[i] for i, name in enumerate((*PARAMETERS, *ERR_COLUMNS))}
    columns["chi2_red"] = out[14]
    columns["n_iter"] = out[15].astype(np.int32)
    codes = out[16].astype(np.int8)
    columns["status"] = pd.Categorical.from_codes(codes, categories=[STATUS[i] for i in range(5)])
    return pd.DataFrame(columns, copy=False)


def fit_gaussians(frames: np.ndarray, errors: np.ndarray | None = None, *,
                  initial: np.ndarray | None = None, max_iter: int = 50, tol: float = 1e-8,
                  executor: str = "auto", address: str | None = None, chunk_size: int = 50_000,
                  progress: Progress | None = None, cancel: threading.Event | None = None,
                  cache_dir: str | Path | None = None) -> pd.DataFrame:
    """Fit a rotated 2D Gaussian plus offset to every frame.

    Parameters
    ----------
    frames : ndarray, shape (N, 8, 8)
        Pixels (count rate); NaN pixels are ignored.
    errors : ndarray, shape (N, 8, 8), optional
        1-sigma errors (the ERR extension).  Pixels with non-finite or
        non-positive errors are ignored.  Without errors every pixel has the
        same weight and the uncertainties are scaled by sqrt(chi2_red).
    initial : ndarray, shape (N, 7), optional
        Starting parameters; default: moments of each frame.
    max_iter : int
        Levenberg–Marquardt iterations per frame.
    tol : float
        Stop when chi2 drops by less than this fraction (or steps < 1e-5 px).
    executor : {"auto", "serial", "ray"}
        "serial" fits in this process (numba threads use every core);
        "ray" distributes chunks over a ray cluster (local by default);
        "auto" picks ray only for large inputs or when `address` is given.
    address : str, optional
        Ray cluster address ("auto", "ray://host:10001"); implies ray.
    chunk_size : int
        Frames per task (and per cache entry).
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
        One row per frame, in order: `PARAMETERS`, ``*_err``, ``chi2_red``,
        ``n_iter``, ``status`` (converged, max_iter, failed, bad_input,
        cancelled).  Failed frames are NaN rows, never missing.
    """
    frames = np.asarray(frames)
    if frames.ndim == 2 and frames.shape == (8, 8):
        frames = frames[None]
    if frames.ndim != 3 or frames.shape[1:] != (8, 8):
        raise ValueError(f"frames must have shape (N, 8, 8), got {frames.shape}")
    if errors is not None:
        errors = np.asarray(errors).reshape(frames.shape) if np.size(errors) == frames.size \
            else _bad_shape("errors", np.shape(errors), frames.shape)
    if initial is not None and np.shape(initial) != (len(frames), 7):
        _bad_shape("initial", np.shape(initial), (len(frames), 7))
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    n = len(frames)
    if executor not in ("auto", "serial", "ray"):
        raise ValueError(f"executor must be 'auto', 'serial' or 'ray', not {executor!r}")
    if executor == "auto":
        executor = "ray" if address is not None or n >= _AUTO_SERIAL_BELOW else "serial"
    bounds = [(a, min(a + chunk_size, n)) for a in range(0, n, chunk_size)]
    settings = {"max_iter": max_iter, "tol": tol, "engine": ENGINE_VERSION}
    from .fit_cache import FitCache

    cache = FitCache(cache_dir) if cache_dir is not None else None
    # one column-major result array: chunks land in place and become DataFrame columns
    # without copies (memory stays near the frames' own size)
    out = np.full((18, n), np.nan)
    out[15] = 0
    out[16] = CANCELLED
    pending = []
    done = 0
    for i, (a, b) in enumerate(bounds):
        key = cache.key(frames[a:b], None if errors is None else errors[a:b],
                        None if initial is None else initial[a:b], settings) if cache else None
        hit = cache.load(key, b - a) if cache else None
        if hit is not None:
            out[:, a:b] = hit.T
            done += b - a
        else:
            pending.append((i, a, b, key))
    if progress is not None and done:
        progress(done, n)

    def finished(i: int, raw: np.ndarray, key: str | None) -> None:
        nonlocal done
        a, b = bounds[i]
        out[:, a:b] = raw.T
        if cache is not None:
            cache.store(key, raw)
        done += len(raw)
        if progress is not None:
            progress(done, n)

    if pending:
        if executor == "ray":
            from .executor import run_ray

            run_ray(frames, errors, initial, pending, settings, finished, cancel, address)
        else:
            for i, a, b, key in pending:
                if cancel is not None and cancel.is_set():
                    break
                raw = fit_chunk(frames[a:b], None if errors is None else errors[a:b],
                                None if initial is None else initial[a:b], max_iter, tol)
                finished(i, raw, key)
    table = _to_frame(out)
    table.attrs["cache_hits"] = len(bounds) - len(pending)
    table.attrs["executor"] = executor
    return table


def _bad_shape(name: str, got: tuple, want: tuple):
    raise ValueError(f"{name} has shape {got}; it must match the frames: {want}")

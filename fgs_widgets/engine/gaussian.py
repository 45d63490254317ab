"""Fit a rotated 2D Gaussian to a chunk of frames: the numbers of the engine's main fit.

`fit_chunk` fits one chunk in this process; `fgs_widgets.runtime.fit.fit_gaussians`
splits the frames into chunks, runs them here or on ray, caches and assembles them.

The model, parameters and conventions are in `fgs_widgets.engine.psf`.  The
fit is a batched Levenberg–Marquardt (`fgs_widgets.engine.lm`) over chunks
of frames: analytic Jacobian, per-frame damping and convergence, seeded from
the same moments as `fgs_widgets.engine.quickfit.quick_fit`.

Output conventions (so periodograms of theta and the widths mean something):

* ``x_stddev >= y_stddev``: x_stddev is the major axis, y_stddev the minor;
* ``theta`` in [-pi/2, pi/2): the angle of the major axis from +x (columns),
  counter-clockwise towards +y (rows).  For a round PSF theta is undefined:
  its uncertainty is large (infinite for an exactly round one).

Weights:

* with ``errors`` (the ERR extension): 1/ERR² per pixel, 0 where ERR is
  non-finite or <= 0; uncertainties are sqrt(diag((JᵀWJ)⁻¹)) as they are;
* without: the variance of a pixel is modelled as ``a + b * star model`` (the
  star model: the Gaussian without its offset, clipped at 0), the background's
  variance ``a`` plus the star's photon noise, and both are estimated from the
  data, as the units are unknown (count rates: b = 1 / (gain x frame time);
  DN: 1 / gain; e-: 1).  A first LM round weights by
  1 / (floor + star model), floor the corner pixels' noise (1.4826 x MAD,
  squared; at least 1e-6 x amplitude); its residuals give ``b``, pooled over
  the chunk (the same for every frame: one detector, one frame time; cosmic-ray
  frames left out), and ``a`` for each frame, both by a regression of the
  squared residuals on their expectation that accounts for the fit's leverage;
  then one Gauss–Newton step (an LM round if the step is long) with weights
  1 / (a + b * star model), whose sqrt(diag((JᵀWJ)⁻¹)), scaled by
  sqrt(chi2_red), are the uncertainties (`fgs_widgets.engine.lm`).  Pulls
  (error / uncertainty) have a standard deviation of 1.00 on flight-like count
  rates, as with ERR, and the precision is the ERR fit's.  The model is
  estimated per chunk (``chunk_size``), so a small one gives uncertainties
  that are too small: by ~2 % with 30 frames, ~5 % with 10, ~30 % for a
  single frame (flight-regime pulls 1.02, 1.05, 1.45).

NaN pixels get weight 0; a frame needs `lm.MIN_VALID_PIXELS` valid pixels.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from . import lm
from .psf import ERR_COLUMNS, PARAMETERS

__all__ = ["CANCELLED", "ENGINE_VERSION", "ERR_COLUMNS", "STATUS", "canonical_parameters",
           "fit_chunk", "result_frame"]

#: bump when results change for the same input (invalidates the fit cache).  3: fits
#: without ERR model the pixel variance as a + b x star model; 4: each frame's fit
#: starts from the previous frame's solution, its last small step taken without a
#: model pass (issue 27)
ENGINE_VERSION = "4"
#: status codes (the ``status`` column's categorical codes) and their names
STATUS = dict(enumerate(lm.STATUS_NAMES))
#: the status code of rows no fit reached (a cancelled run's)
CANCELLED = lm.CANCELLED


def canonical_parameters(params: np.ndarray) -> np.ndarray:
    """The same Gaussians in the fit's canonical form (a new array).

    ``x_stddev >= y_stddev`` (swap the widths and turn theta by pi/2 where
    needed) and theta wrapped into [-pi/2, pi/2).  Use it to compare true
    parameters with fitted ones.
    """
    p = np.array(params, dtype=np.float64)
    if p.shape[-1:] != (7,):
        raise ValueError(f"params must have shape (..., 7), got {p.shape}")
    swap = p[..., 3] < p[..., 4]
    sx, sy = p[..., 3].copy(), p[..., 4].copy()
    p[..., 3] = np.where(swap, sy, sx)
    p[..., 4] = np.where(swap, sx, sy)
    p[..., 5] = (p[..., 5] + np.where(swap, np.pi / 2, 0.0) + np.pi / 2) % np.pi - np.pi / 2
    return p


def fit_chunk(frames: np.ndarray, errors: np.ndarray | None = None,
              initial: np.ndarray | None = None, max_iter: int = 50,
              tol: float = 1e-8, parallel: bool = True) -> np.ndarray:
    """Fit one chunk in this process; returns an (n, `lm.N_OUT`) float64 array.

    Columns `lm.RAW_COLUMNS`: 7 parameters, 7 uncertainties, chi2_red, n_iter,
    status code, 0 (spare).  This is the unit of work the executors distribute and
    the cache stores (`fgs_widgets.runtime`).  ``parallel=False`` keeps to one thread (ray workers).
    """
    frames = np.asarray(frames)
    if frames.dtype not in (np.float32, np.float64):
        frames = frames.astype(np.float64)
    frames = np.ascontiguousarray(frames)
    n = len(frames)
    errs = None if errors is None else np.ascontiguousarray(errors, dtype=frames.dtype)
    init = None if initial is None else np.ascontiguousarray(initial, dtype=np.float64)
    out = np.empty((n, lm.N_OUT))
    if n:
        lm.fit_chunk(frames, errs, init, max_iter, tol, out,
                     numba.get_num_threads() if parallel else 1)
    out[:, lm.I_SPARE] = 0.0
    return out


def result_frame(out: np.ndarray) -> pd.DataFrame:
    """The fit's table from its (`lm.N_OUT`, n) result array, without copying the rows.

    Parameters
    ----------
    out : ndarray, shape (`lm.N_OUT`, n)
        One column per frame, rows in `lm.RAW_COLUMNS` order (transposed `fit_chunk`
        rows, stacked).

    Returns
    -------
    pandas.DataFrame
        `PARAMETERS`, ``*_err``, ``chi2_red`` (views of `out`), ``n_iter`` (int32) and
        ``status`` (categorical, names in `STATUS`).
    """
    columns = {name: out[lm.RAW_COLUMNS.index(name)]
               for name in (*PARAMETERS, *ERR_COLUMNS, "chi2_red")}
    columns["n_iter"] = out[lm.I_NITER].astype(np.int32)
    codes = out[lm.I_STATUS].astype(np.int8)
    columns["status"] = pd.Categorical.from_codes(codes, categories=list(STATUS.values()))
    return pd.DataFrame(columns, copy=False)

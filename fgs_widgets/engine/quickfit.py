"""Moment-based quick fit of every frame (no iteration).

For each frame (`fgs_widgets.engine.lm.moments`, the same code that seeds
the full fit):

* background = median of the 12 corner pixels (each corner and its two
  neighbours; NaN pixels skipped).  Corners hold far less of the PSF's wings
  than the whole outer ring, so the background is less biased;
* the background-subtracted frame, clipped at zero (negative noise would
  push the widths outwards), gives the centroid (``x_mean``, ``y_mean``:
  first moments) and the 2x2 second-moment covariance;
* ``x_stddev``/``y_stddev`` = square roots of the covariance's eigenvalues,
  major axis first, and ``theta`` = the major axis' angle in [-pi/2, pi/2):
  the same convention as the full fit;
* ``amplitude`` = summed flux / (2 pi x_stddev y_stddev); ``offset`` = the
  background;
* then (``window=True``, the default) the centroid moves to a
  Gaussian-windowed centroid (`fgs_widgets.engine.lm.windowed_centroid`):
  one step, with a window three times the star's variance.  Plain moments
  let the noise of pixels far from the star through: on faint stars their
  centroid scatter is ~2.3x the full fit's; windowed, ~1.2x (and ~1.04x on
  bright guide stars), at about half the speed (both measured by
  ``benchmarks/bench_fit.py``).  Frames with NaN pixels and undersampled
  stars (a marginal sigma below 0.85 px, where the window's sampling would
  bias the centroid) keep the plain moments.

The reference tool's quick fit used the first row and column only; this uses
every pixel.  It is one compiled pass over the frames (numba threads); a
NumPy version needs several full-size temporaries and a per-frame median,
and was slower.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from . import lm
from .psf import PARAMETERS

__all__ = ["quick_fit"]


def quick_fit(frames: np.ndarray, *, window: bool = True) -> pd.DataFrame:
    """Centroid, widths, rotation, amplitude and background of every frame from moments.

    Parameters
    ----------
    frames : ndarray, shape (N, 8, 8)
        float32 or float64 (others are converted); NaN pixels are ignored.
    window : bool
        Refine the centroid with a Gaussian window (default); False gives
        the plain moments, about twice as fast and noisier on faint stars.

    Returns
    -------
    pandas.DataFrame
        One row per frame: `PARAMETERS` columns and ``status`` (categorical:
        "converged", or "bad_input" — parameters NaN — for frames without
        finite corner pixels or without signal above the background).
    """
    frames = np.asarray(frames)
    if frames.ndim == 2 and frames.shape == (8, 8):
        frames = frames[None]
    if frames.ndim != 3 or frames.shape[1:] != (8, 8):
        raise ValueError(f"frames must have shape (N, 8, 8), got {frames.shape}: pass a stack "
                         "of 8x8 guider frames")
    if frames.dtype not in (np.float32, np.float64):
        frames = frames.astype(np.float64)
    frames = np.ascontiguousarray(frames)
    out = np.empty((7, len(frames)))
    if len(frames):
        lm.moments_chunk(frames, out, 16 * numba.get_num_threads(), bool(window))
    columns = dict(zip(PARAMETERS, out, strict=True))
    bad = ~np.isfinite(out[1])
    columns["status"] = pd.Categorical.from_codes(
        np.where(bad, lm.BAD_INPUT, lm.CONVERGED).astype(np.int8),
        categories=list(lm.STATUS_NAMES))
    return pd.DataFrame(columns, copy=False)

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
  background.

The reference tool's quick fit used the first row and column only; this uses
every pixel.  It is one compiled pass over the frames (numba threads), about
as fast as reading them; a NumPy version needs several full-size
temporaries and a per-frame median, and was slower.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from . import lm
from .psf import PARAMETERS

__all__ = ["quick_fit"]


def quick_fit(frames: np.ndarray) -> pd.DataFrame:
    """Centroid, widths, rotation, amplitude and background of every frame from moments.

    Parameters
    ----------
    frames : ndarray, shape (N, 8, 8)
        float32 or float64 (others are converted); NaN pixels are ignored.

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
        lm.moments_chunk(frames, out, 16 * numba.get_num_threads())
    columns = dict(zip(PARAMETERS, out, strict=True))
    bad = ~np.isfinite(out[1])
    columns["status"] = pd.Categorical.from_codes(
        np.where(bad, lm.BAD_INPUT, lm.CONVERGED).astype(np.int8),
        categories=["converged", "max_iter", "failed", "bad_input", "cancelled"])
    return pd.DataFrame(columns, copy=False)

"""Aperture photometry: the seed's optimized aperture and background-subtracted flux."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["aperture_flux", "background_subtracted_flux", "optimize_photometry"]

_RING = np.zeros((8, 8), dtype=bool)
_RING[[0, -1], :] = True
_RING[:, [0, -1]] = True


def _check(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.shape[1:] != (8, 8):
        raise ValueError(f"frames must have shape (N, 8, 8), got {frames.shape}")
    return frames


def aperture_flux(frames: np.ndarray, mask: np.ndarray,
                  background: np.ndarray | float | None = None) -> np.ndarray:
    """Sum of the masked pixels of each frame (NaN pixels ignored), minus background.

    ``background`` is per pixel (scalar or one value per frame); it is
    multiplied by the number of pixels in the mask.
    """
    frames = _check(frames)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (8, 8):
        raise ValueError(f"mask must have shape (8, 8), got {mask.shape}")
    pixels = frames[:, mask]
    flux = np.where(np.isnan(pixels), 0.0, pixels).sum(axis=1, dtype=np.float64)
    if background is not None:
        flux = flux - np.asarray(background, dtype=np.float64) * mask.sum()
    return flux


def background_subtracted_flux(frames: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Flux in ``mask`` (default: all pixels) minus each frame's background.

    The background is the median of the pixels outside the mask (default: the
    outer ring of the frame).
    """
    frames = _check(frames)
    mask = np.ones((8, 8), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    outside = ~mask if (~mask).any() else _RING
    with np.errstate(all="ignore"):
        background = np.nanmedian(frames[:, outside], axis=1)
    return aperture_flux(frames, mask, background)


def optimize_photometry(frames: np.ndarray, *, n_pixels_max: int | None = None,
                        bin_size: int = 160,
                        n_pixels_min: int = 1) -> tuple[np.ndarray, pd.DataFrame]:
    """The aperture of the k brightest pixels with the best binned precision.

    Pixels are ranked by the NaN-median frame; for k = `n_pixels_min`..`n_pixels_max`
    (default 1..64) the flux of the k brightest is binned in blocks of
    `bin_size` frames (10 s at 16 Hz) and its relative scatter is computed:
    std of the binned flux / median *star* flux (aperture minus k times the
    background, the median of the median frame's outer ring), so adding sky
    pixels is not rewarded for the background light they add.  The smallest wins.

    Returns
    -------
    mask : ndarray (8, 8) of bool
    table : DataFrame with columns ``n_pixels`` and ``precision``
    """
    frames = _check(frames)
    if int(bin_size) < 2:
        raise ValueError(f"bin_size must be at least 2 frames, got {bin_size}")
    n_blocks = len(frames) // bin_size
    if n_blocks < 3:
        raise ValueError(f"need at least {3 * bin_size} frames to judge precision "
                         f"(3 bins of {bin_size}); got {len(frames)}")
    with np.errstate(all="ignore"):
        median_frame = np.nanmedian(frames, axis=0)
    order = np.argsort(np.where(np.isfinite(median_frame), median_frame, -np.inf).ravel())[::-1]
    n_max = min(n_pixels_max or 64, 64)
    if not 1 <= int(n_pixels_min) <= n_max:
        raise ValueError(f"n_pixels_min must be between 1 and n_pixels_max ({n_max}), "
                         f"got {n_pixels_min}")
    flat = frames[: n_blocks * bin_size].reshape(n_blocks * bin_size, 64)
    ranked = np.nan_to_num(flat[:, order[:n_max]].astype(np.float64), nan=0.0)
    cumulative = np.cumsum(ranked, axis=1)  # flux of the k brightest, for every k at once
    binned = cumulative.reshape(n_blocks, bin_size, n_max).mean(axis=1)
    background = np.nanmedian(median_frame[_RING])
    if not np.isfinite(background):
        background = 0.0
    star = np.median(binned, axis=0) - background * np.arange(1, n_max + 1)
    with np.errstate(all="ignore"):
        precision = binned.std(axis=0, ddof=1) / np.abs(star)
    precision[~np.isfinite(precision)] = np.inf
    precision[: int(n_pixels_min) - 1] = np.inf  # below the smallest aperture asked for
    best = int(np.argmin(precision))
    mask = np.zeros(64, dtype=bool)
    mask[order[: best + 1]] = True
    table = pd.DataFrame({"n_pixels": np.arange(1, n_max + 1), "precision": precision})
    return mask.reshape(8, 8), table

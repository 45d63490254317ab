"""Optimized aperture: a compact aperture wins over the whole noisy frame."""

from __future__ import annotations

import numpy as np
import pytest

from fgs_widgets.engine.photometry import (
    aperture_flux,
    background_subtracted_flux,
    optimize_photometry,
)
from fgs_widgets.engine.psf import gaussian2d


def star(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    p = np.tile([3000.0, 3.5, 3.5, 0.8, 0.8, 0.0, 50.0], (n, 1))
    clean = gaussian2d(p)
    return clean + rng.normal(0, np.sqrt(clean + 400)), clean


def test_optimal_aperture_is_compact_and_central():
    frames, _ = star()
    mask, table = optimize_photometry(frames)
    assert 2 <= mask.sum() < 40
    assert mask[3:5, 3:5].all()
    assert table["precision"].min() == table["precision"][mask.sum() - 1]
    assert table["precision"].iloc[-1] > table["precision"].min()


def test_aperture_and_background_flux():
    frames, clean = star(100)
    mask = np.zeros((8, 8), dtype=bool)
    mask[2:6, 2:6] = True
    flux = aperture_flux(clean, mask)
    np.testing.assert_allclose(flux, clean[:, mask].sum(axis=1))
    sub = background_subtracted_flux(clean, mask)
    assert sub[0] == pytest.approx(clean[0, mask].sum() - 50 * 16, rel=0.02)
    frames_nan = frames.copy()
    frames_nan[:, 3, 3] = np.nan
    assert np.isfinite(aperture_flux(frames_nan, mask)).all()


def test_clear_errors():
    with pytest.raises(ValueError, match="at least"):
        optimize_photometry(np.zeros((10, 8, 8)))
    with pytest.raises(ValueError, match="mask"):
        aperture_flux(np.zeros((10, 8, 8)), np.ones((4, 4)))

"""The Cramér–Rao bound against a known closed form and against the fit's own scatter."""

from __future__ import annotations

import numpy as np
import pytest

from fgs_widgets.engine.crb import (
    cramer_rao_bound,
    gaussian2d_jacobian,
    poisson_read_variance,
)
from fgs_widgets.engine.psf import gaussian2d
from fgs_widgets.runtime.fit import fit_gaussians


def test_scaling_laws():
    # with uniform noise the bound scales as noise / amplitude (theta needs an elongated PSF,
    # a round one leaves it undetermined and the Fisher matrix singular)
    p = np.array([[1e4, 3.5, 3.5, 1.2, 0.9, 0.0, 10.0]])
    base = cramer_rao_bound(p, np.full((1, 8, 8), 100.0))[0]
    noisier = cramer_rao_bound(p, np.full((1, 8, 8), 400.0))[0]
    brighter = cramer_rao_bound(p * [2, 1, 1, 1, 1, 1, 1], np.full((1, 8, 8), 100.0))[0]
    assert noisier[1] == pytest.approx(2 * base[1], rel=1e-6)
    assert brighter[1] == pytest.approx(base[1] / 2, rel=1e-6)
    assert base[1] > base[2]  # the centroid is less certain along the wider axis


def test_fit_reaches_the_bound():
    n = 4000
    p = np.tile([2e4, 3.6, 3.3, 1.05, 0.85, 0.3, 20.0], (n, 1))
    variance = gaussian2d(p) + 150.0
    rng = np.random.default_rng(0)
    frames = gaussian2d(p) + rng.normal(0, np.sqrt(variance))
    fit = fit_gaussians(frames, np.sqrt(variance), executor="serial")
    bound = cramer_rao_bound(p[:1], variance[:1])[0]
    assert fit["x_mean"].std() / bound[1] == pytest.approx(1.0, abs=0.06)
    assert fit["y_mean"].std() / bound[2] == pytest.approx(1.0, abs=0.06)


def test_analytic_jacobian_matches_finite_differences():
    rng = np.random.default_rng(1)
    p = np.column_stack([rng.uniform(1e3, 1e5, 20), rng.uniform(2.5, 4.5, (20, 2)),
                         rng.uniform(0.7, 1.5, (20, 2)), rng.uniform(-1.5, 1.5, 20),
                         rng.uniform(10, 50, 20)])
    jac = gaussian2d_jacobian(p)
    for i in range(7):
        step = 1e-6 * np.maximum(np.abs(p[:, i]), 1.0)
        up, down = p.copy(), p.copy()
        up[:, i] += step
        down[:, i] -= step
        numeric = (gaussian2d(up) - gaussian2d(down)).reshape(20, 64) / (2 * step[:, None])
        np.testing.assert_allclose(jac[..., i], numeric, rtol=1e-5,
                                   atol=1e-6 * np.abs(numeric).max())


def test_read_noise_shortcut_and_round_psf():
    p = np.array([2e4, 3.6, 3.3, 1.05, 0.85, 0.3, 20.0])
    direct = cramer_rao_bound(p, poisson_read_variance(p, 12.0))
    np.testing.assert_allclose(cramer_rao_bound(p, read_noise=12.0), direct)
    # Poisson only, no pixelation effects to speak of: the centroid bound ~ sigma / sqrt(N)
    wide = np.array([1e4, 3.5, 3.5, 0.9, 0.9, 0.0, 0.0])
    n_photons = 2 * np.pi * 0.9 * 0.9 * 1e4
    bound = cramer_rao_bound(wide, read_noise=0.0)[0]
    assert bound[1] == pytest.approx(0.9 / np.sqrt(n_photons), rel=0.1)
    assert not np.isfinite(bound[5]) or bound[5] > 1e3  # theta of a round PSF
    with pytest.raises(ValueError, match="read_noise"):
        cramer_rao_bound(p)

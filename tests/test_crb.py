"""The Cramér–Rao bound against a known closed form and against the fit's own scatter."""

from __future__ import annotations

import numpy as np
import pytest

from fgs_widgets.engine.crb import cramer_rao_bound
from fgs_widgets.engine.gaussian import fit_gaussians
from fgs_widgets.engine.psf import gaussian2d


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

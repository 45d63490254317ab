"""quick_fit: every pixel's moments, same conventions as the full fit."""

from __future__ import annotations

import numpy as np
import pytest

from fgs_widgets.engine.gaussian import fit_gaussians
from fgs_widgets.engine.psf import PARAMETERS, gaussian2d
from fgs_widgets.engine.quickfit import quick_fit


def frames_at(x, y, n=1, sx=1.0, sy=1.0, theta=0.0, noise=0.0, seed=0):
    p = np.tile([2e4, x, y, sx, sy, theta, 20.0], (n, 1))
    rng = np.random.default_rng(seed)
    clean = gaussian2d(p)
    return clean + rng.normal(0, 1, clean.shape) * np.sqrt(clean + 150) * noise, p


def test_columns_and_status():
    frames, _ = frames_at(3.5, 3.5, n=3)
    frames[1] = np.nan
    table = quick_fit(frames)
    assert list(table.columns[:7]) == list(PARAMETERS)
    assert list(table["status"]) == ["converged", "bad_input", "converged"]


def test_centred_star_and_rotation():
    frames, _ = frames_at(3.5, 3.5, sx=1.0, sy=0.7, theta=0.5)
    row = quick_fit(frames).iloc[0]
    assert row["x_mean"] == pytest.approx(3.5, abs=1e-3)
    assert row["theta"] == pytest.approx(0.5, abs=0.05)
    assert row["x_stddev"] > row["y_stddev"]
    # the outer ring still holds some wing light: the background is biased high a little
    assert row["offset"] == pytest.approx(20.0, abs=5.0)


def test_uses_the_whole_frame_not_the_first_row():
    # spelunker's legacy quick fit measured row 0 / column 0 only: a star away from them
    # moves its centroid here but not there
    a, _ = frames_at(3.2, 4.1)
    b, _ = frames_at(4.0, 3.0)
    qa, qb = quick_fit(a).iloc[0], quick_fit(b).iloc[0]
    assert qb["x_mean"] - qa["x_mean"] == pytest.approx(0.8, abs=0.08)
    assert qb["y_mean"] - qa["y_mean"] == pytest.approx(-1.1, abs=0.1)


def test_centroid_precision_close_to_full_fit():
    frames, p = frames_at(3.6, 3.4, n=2000, sx=1.0, sy=0.85, theta=0.3, noise=1.0, seed=1)
    quick = quick_fit(frames)
    full = fit_gaussians(frames, np.sqrt(gaussian2d(p) + 150), executor="serial")
    rms_quick = np.sqrt(((quick["x_mean"] - quick["x_mean"].mean()) ** 2).mean())
    rms_full = np.sqrt(((full["x_mean"] - p[:, 1]) ** 2).mean())
    assert rms_quick < 2.5 * rms_full  # figure reported by benchmarks/bench_fit.py


def test_shape_error():
    with pytest.raises(ValueError, match="8, 8"):
        quick_fit(np.zeros((3, 9, 9)))

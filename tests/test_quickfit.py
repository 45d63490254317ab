"""quick_fit: every pixel's moments, same conventions as the full fit."""

from __future__ import annotations

import numpy as np
import pytest

from fgs_widgets.engine.gaussian import fit_gaussians
from fgs_widgets.engine.psf import PARAMETERS, gaussian2d
from fgs_widgets.engine.quickfit import quick_fit
from fgs_widgets.engine.simulate import simulate_frames


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
    # guide-star-like frames (the sample program's star: 1.5e5 e-, 0.95 x 0.82 px, jitter)
    def star(rng, n):
        p = np.tile([1.5e5 / (2 * np.pi * 0.95 * 0.82), 3.6, 3.4, 0.95, 0.82, 0.35, 1.25],
                    (n, 1))
        p[:, 1:3] += rng.normal(0, 0.05, (n, 2))
        return p

    frames, errors, truth = simulate_frames(3000, star, seed=1)
    quick = quick_fit(frames)
    full = fit_gaussians(frames, errors, executor="serial")
    for name in ("x_mean", "y_mean"):
        i = PARAMETERS.index(name)
        rms_quick = np.sqrt(np.mean((quick[name] - truth[:, i]) ** 2))
        rms_full = np.sqrt(np.mean((full[name] - truth[:, i]) ** 2))
        assert rms_quick < 1.5 * rms_full, name  # 1.06x measured (benchmarks/bench_fit.py)


def test_nan_pixels_and_corners():
    frames, _ = frames_at(3.4, 3.7, n=2)
    frames[0, 0, 0] = frames[0, 7, 7] = frames[0, 4, 4] = np.nan
    frames[1, [0, 0, 1, 0, 0, 1, 6, 7, 7, 6, 7, 7], [0, 1, 0, 6, 7, 7, 0, 0, 1, 7, 6, 7]] = np.nan
    table = quick_fit(frames)
    assert table["status"][0] == "converged"
    assert table["x_mean"][0] == pytest.approx(3.4, abs=0.1)
    assert table["status"][1] == "bad_input" and np.isnan(table.loc[1, "x_mean"])


def test_float32_and_float64_agree():
    frames, _ = frames_at(3.3, 3.9, n=50, sx=1.2, sy=0.8, theta=-0.7, noise=1.0)
    a = quick_fit(frames.astype(np.float32))[list(PARAMETERS)].to_numpy()
    b = quick_fit(frames)[list(PARAMETERS)].to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_shape_error():
    with pytest.raises(ValueError, match="8, 8"):
        quick_fit(np.zeros((3, 9, 9)))


def faint_star(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack([np.full(n, 2e3), rng.uniform(3.0, 4.5, n), rng.uniform(3.0, 4.5, n),
                            np.full(n, 1.1), np.full(n, 0.9), np.full(n, 0.4), np.full(n, 30.0)])


def test_window_cuts_the_centroid_scatter_of_faint_stars():
    frames, _, truth = simulate_frames(4000, faint_star, seed=3)
    windowed = quick_fit(frames)
    plain = quick_fit(frames, window=False)
    for axis in ("x_mean", "y_mean"):
        col = PARAMETERS.index(axis)
        rms_window = np.sqrt(np.mean((windowed[axis] - truth[:, col]) ** 2))
        rms_plain = np.sqrt(np.mean((plain[axis] - truth[:, col]) ** 2))
        assert rms_window < 0.7 * rms_plain, (axis, rms_window, rms_plain)
    # the widths, rotation and background are the moments' in both
    for name in ("x_stddev", "y_stddev", "theta", "offset"):
        np.testing.assert_array_equal(windowed[name], plain[name])


@pytest.mark.parametrize("sigma", [0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5])
def test_window_never_adds_bias_on_noiseless_stars(sigma):
    # the pixel grid aliases a narrow star times its window into a bias: undersampled stars
    # must keep the plain moments, wider ones gain from the window
    xs = np.linspace(3.0, 4.0, 21)
    frames = np.stack([frames_at(x, 3.5 + 0.3 * (x - 3.5), sx=sigma, sy=sigma * 0.9,
                                 theta=0.35)[0][0] for x in xs])
    truth = np.column_stack([xs, 3.5 + 0.3 * (xs - 3.5)])
    windowed = quick_fit(frames)[["x_mean", "y_mean"]].to_numpy()
    plain = quick_fit(frames, window=False)[["x_mean", "y_mean"]].to_numpy()
    bias_window = np.abs(windowed - truth).max()
    bias_plain = np.abs(plain - truth).max()
    assert bias_window <= max(bias_plain, 3e-4), (bias_window, bias_plain)

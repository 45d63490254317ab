"""fit_gaussians against a slow, obviously-correct per-frame scipy fit, and edge cases."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import least_squares

from fgs_widgets.engine.gaussian import fit_gaussians
from fgs_widgets.engine.psf import PARAMETERS, gaussian2d


def true_params(n: int, seed: int = 0, round_psf: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sx = rng.uniform(0.9, 1.4, n)
    sy = sx if round_psf else sx * rng.uniform(0.6, 0.9, n)
    return np.column_stack([rng.uniform(5e3, 4e4, n), rng.uniform(2.8, 4.6, n),
                            rng.uniform(2.8, 4.6, n), sx, sy, rng.uniform(-1.5, 1.5, n),
                            rng.uniform(5, 40, n)])


def canonical(p: np.ndarray) -> np.ndarray:
    """The engine's convention: x_stddev >= y_stddev, theta in [-pi/2, pi/2)."""
    p = p.copy()
    swap = p[:, 3] < p[:, 4]
    p[swap, 3], p[swap, 4] = p[swap, 4], p[swap, 3].copy()
    p[swap, 5] += np.pi / 2
    p[:, 5] = (p[:, 5] + np.pi / 2) % np.pi - np.pi / 2
    return p


def scipy_fit(frame: np.ndarray, sigma: np.ndarray, start: np.ndarray) -> np.ndarray:
    def residual(q):
        return ((gaussian2d(q) - frame) / sigma).ravel()

    return least_squares(residual, start, method="lm", xtol=1e-12, ftol=1e-12).x


def test_noiseless_frames_recovered_exactly():
    p = true_params(300)
    fit = fit_gaussians(gaussian2d(p), executor="serial")
    assert (fit["status"] == "converged").all()
    got, want = fit[list(PARAMETERS)].to_numpy(), canonical(p)
    np.testing.assert_allclose(got[:, 1:6], want[:, 1:6], atol=1e-6)
    np.testing.assert_allclose(got[:, [0, 6]], want[:, [0, 6]], rtol=1e-5)


def test_agrees_with_scipy_per_frame_on_noisy_frames():
    p = true_params(200, seed=1)
    rng = np.random.default_rng(2)
    clean = gaussian2d(p)
    sigma = np.sqrt(clean + 150.0)
    noisy = clean + rng.normal(0, sigma)
    ours = fit_gaussians(noisy, sigma, executor="serial")
    reference = np.array([scipy_fit(noisy[i], sigma[i], p[i]) for i in range(len(p))])
    reference = canonical(reference)
    got = ours[list(PARAMETERS)].to_numpy()
    # the same minimum of the same chi2: centroids agree far below the noise (~3e-3 px)
    np.testing.assert_allclose(got[:, 1:3], reference[:, 1:3], atol=1e-4)
    np.testing.assert_allclose(got[:, 3:5], reference[:, 3:5], atol=1e-3)
    np.testing.assert_allclose(got[:, [0, 6]], reference[:, [0, 6]], rtol=1e-3, atol=0.5)


def test_uncertainties_match_the_scatter():
    n = 3000
    p = np.tile([2e4, 3.6, 3.4, 1.1, 0.85, 0.4, 20.0], (n, 1))
    rng = np.random.default_rng(3)
    clean = gaussian2d(p)
    sigma = np.sqrt(clean + 150.0)
    fit = fit_gaussians(clean + rng.normal(0, sigma), sigma, executor="serial")
    for column in ("x_mean", "y_mean", "x_stddev"):
        scatter = fit[column].std()
        reported = fit[f"{column}_err"].median()
        assert scatter == pytest.approx(reported, rel=0.08), column
    assert fit["chi2_red"].median() == pytest.approx(1.0, abs=0.05)


def test_without_errors_uncertainties_are_scaled_by_chi2():
    p = true_params(500, seed=4)
    rng = np.random.default_rng(5)
    noisy = gaussian2d(p) + rng.normal(0, 30.0, (500, 8, 8))
    fit = fit_gaussians(noisy, executor="serial")
    pulls = (fit["x_mean"] - p[:, 1]) / fit["x_mean_err"]  # frames differ in brightness
    assert 0.85 < pulls.std() < 1.15


def test_round_psf_and_rotation_convention():
    p = true_params(100, seed=6, round_psf=True)
    fit = fit_gaussians(gaussian2d(p), executor="serial")
    assert (fit["x_stddev"] >= fit["y_stddev"]).all()
    np.testing.assert_allclose(fit["x_mean"], p[:, 1], atol=1e-6)
    assert fit["theta"].between(-np.pi / 2, np.pi / 2).all()


def test_nan_pixels_are_ignored_not_fatal():
    p = true_params(50, seed=7)
    frames = gaussian2d(p)
    frames[:, 0, 0] = np.nan
    frames[:10, 5, 2] = np.nan
    fit = fit_gaussians(frames, executor="serial")
    assert (fit["status"] == "converged").all()
    np.testing.assert_allclose(fit["x_mean"], p[:, 1], atol=1e-6)


@pytest.mark.parametrize(
    ("frame", "status"),
    [
        (np.full((8, 8), np.nan), "bad_input"),
        (np.zeros((8, 8)), "bad_input"),
        (-np.ones((8, 8)) * 50, "bad_input"),
    ],
)
def test_degenerate_frames_are_nan_rows_with_a_status(frame, status):
    frames = np.stack([gaussian2d(true_params(1)[0]), frame, gaussian2d(true_params(1)[0])])
    fit = fit_gaussians(frames, executor="serial")
    assert len(fit) == 3
    assert fit["status"][1] == status and np.isnan(fit.loc[1, list(PARAMETERS)]).all()
    assert (fit["status"][[0, 2]] == "converged").all()


def test_saturated_flat_top_still_fits_or_flags():
    p = true_params(20, seed=8)
    frames = np.minimum(gaussian2d(p), 8000.0)
    fit = fit_gaussians(frames, executor="serial")
    ok = fit["status"] == "converged"
    assert set(fit["status"]) <= {"converged", "failed", "max_iter"}
    # a flat top is a model mismatch: centroids move by < 0.1 px, nothing blows up
    np.testing.assert_allclose(fit.loc[ok, "x_mean"], p[ok.to_numpy(), 1], atol=0.1)


def test_single_frame_and_2d_input():
    p = true_params(1)[0]
    one = fit_gaussians(gaussian2d(p))
    assert len(one) == 1 and one["x_mean"][0] == pytest.approx(canonical(p[None])[0, 1])


def test_initial_values_are_used():
    p = true_params(20, seed=9)
    frames = gaussian2d(p)
    fit = fit_gaussians(frames, initial=p, executor="serial")
    assert (fit["n_iter"] <= 2).all()
    bad = np.full_like(p, np.nan)
    assert (fit_gaussians(frames, initial=bad)["status"] == "bad_input").all()


def test_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match=r"\(N, 8, 8\)"):
        fit_gaussians(np.zeros((5, 7, 7)))
    with pytest.raises(ValueError, match="errors has shape"):
        fit_gaussians(np.zeros((5, 8, 8)), np.zeros((4, 8, 8)))
    with pytest.raises(ValueError, match="executor"):
        fit_gaussians(np.zeros((5, 8, 8)), executor="dask")


def test_progress_cancel_and_cache(tmp_path):
    p = true_params(1000, seed=10)
    frames = gaussian2d(p)
    calls = []
    cancel = threading.Event()

    def progress(done, total):
        calls.append((done, total))
        if done >= 400:
            cancel.set()

    partial = fit_gaussians(frames, chunk_size=200, progress=progress, cancel=cancel,
                            cache_dir=tmp_path, executor="serial")
    assert calls == [(200, 1000), (400, 1000)]
    assert (partial["status"][:400] == "converged").all()
    assert (partial["status"][400:] == "cancelled").all() and partial["x_mean"][400:].isna().all()
    full = fit_gaussians(frames, chunk_size=200, cache_dir=tmp_path, executor="serial")
    assert full.attrs["cache_hits"] == 2
    pd.testing.assert_frame_equal(full.iloc[:400], partial.iloc[:400])
    again = fit_gaussians(frames, chunk_size=200, cache_dir=tmp_path, executor="serial")
    assert again.attrs["cache_hits"] == 5
    pd.testing.assert_frame_equal(again, full)


def test_corrupt_cache_entry_is_refit(tmp_path):
    frames = gaussian2d(true_params(100, seed=11))
    first = fit_gaussians(frames, chunk_size=50, cache_dir=tmp_path)
    entry = sorted(tmp_path.glob("chunk-*.parquet"))[0]
    entry.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable"):
        second = fit_gaussians(frames, chunk_size=50, cache_dir=tmp_path)
    assert second.attrs["cache_hits"] == 1
    pd.testing.assert_frame_equal(first, second)
    assert not list(tmp_path.glob("*.partial"))

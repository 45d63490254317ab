"""simulate_frames and simulate_count_rates: the stated noise model, per-frame truth,
reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from fgs_widgets.engine.crb import poisson_read_variance
from fgs_widgets.engine.psf import gaussian2d
from fgs_widgets.engine.simulate import (
    fgs_like_parameters,
    real_fgs_series,
    simulate_count_rates,
    simulate_frames,
)

ROW = np.array([3e3, 3.5, 3.2, 1.1, 0.8, 0.4, 30.0])


def test_shapes_dtype_and_reproducible():
    a = simulate_frames(500, seed=3)
    b = simulate_frames(500, seed=3)
    frames, errors, truth = a
    assert frames.shape == errors.shape == (500, 8, 8) and truth.shape == (500, 7)
    assert frames.dtype == errors.dtype == np.float32 and truth.dtype == np.float64
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(frames, simulate_frames(500, seed=4)[0])
    p = fgs_like_parameters(np.random.default_rng(0), 10_000)
    assert 1e3 <= p[:, 0].min() and p[:, 0].max() <= 1e5
    assert 0.7 <= p[:, 3:5].min() and p[:, 3:5].max() <= 1.5


def test_noise_is_poisson_plus_read_noise():
    n = 20_000
    frames, errors, _ = simulate_frames(n, ROW, read_noise=12.0, seed=1, dtype=np.float64)
    clean = gaussian2d(ROW)
    np.testing.assert_allclose(frames.mean(0), clean, atol=4 * np.sqrt(clean.max() / n) + 0.5)
    variance = poisson_read_variance(ROW, 12.0)[0]
    np.testing.assert_allclose(frames.var(0), variance, rtol=0.05)
    np.testing.assert_allclose(errors, np.sqrt(np.clip(frames, 0, None) + 144.0))


def test_exposure_gives_rates_and_per_frame_truth_is_used():
    p = np.tile(ROW, (3000, 1))
    p[:1500, 1] = 2.5
    frames, _, truth = simulate_frames(params=p, exposure=0.0625, seed=2,
                                       dtype=np.float64)
    np.testing.assert_array_equal(truth, p)
    assert truth is not p
    # rates: the mean is unchanged, the variance is (model * t + RN²) / t²
    variance = poisson_read_variance(ROW, 12.0, exposure=0.0625)[0]
    np.testing.assert_allclose(frames[1500:].var(0), variance, rtol=0.12)
    column = np.arange(8)
    centroid = (frames.mean(1) * column).sum(1) / frames.mean(1).sum(1)
    assert centroid[:1500].mean() < centroid[1500:].mean() - 0.5


def test_generator_and_bad_arguments():
    frames, _, truth = simulate_frames(7, lambda rng, n: np.tile(ROW, (n, 1)), seed=0)
    assert frames.shape == (7, 8, 8) and (truth == ROW).all()
    with pytest.raises(ValueError, match="n is required"):
        simulate_frames(params=ROW)
    with pytest.raises(ValueError, match=r"\(n, 7\)"):
        simulate_frames(5, np.zeros((4, 7)))
    with pytest.raises(ValueError, match="exposure"):
        simulate_frames(5, ROW, exposure=0.0)


def test_count_rates_are_the_same_model_in_dn_per_second():
    """DN/s data with the read noise of two reads; ERR as guider_cds computes it."""
    gain, read_noise, t = 2.0, 12.0, 0.0625
    rates = np.tile([2.5e5, 2.8, 2.7, 0.7, 0.68, 0.3, 3000.0], (20_000, 1))
    data, err = simulate_count_rates(rates, gain=gain, read_noise=read_noise, frame_time=t,
                                     seed=5, dtype=np.float64)
    assert data.shape == err.shape == (20_000, 8, 8)
    clean = gaussian2d(rates[0])
    expected = clean / (gain * t) + 2 * (read_noise / t) ** 2  # Poisson + two reads, in DN/s
    np.testing.assert_allclose(data.mean(0), clean, atol=5 * np.sqrt(expected.max() / 20_000))
    np.testing.assert_allclose(data.var(0), expected, rtol=0.05)
    np.testing.assert_allclose(err, np.sqrt(2 * (read_noise / t) ** 2
                                            + np.clip(data, 0, None) / (gain * t)))
    again = simulate_count_rates(rates, gain=gain, read_noise=read_noise, frame_time=t,
                                 seed=5, dtype=np.float64)
    np.testing.assert_array_equal(again[0], data)


def test_count_rate_hits_are_signal_for_err():
    rates = np.tile([2.5e5, 2.8, 2.7, 0.7, 0.68, 0.3, 3000.0], (10, 1))
    kw = dict(gain=2.0, read_noise=12.0, frame_time=0.0625, dtype=np.float64)
    plain, plain_err = simulate_count_rates(rates, seed=1, **kw)
    data, err = simulate_count_rates(rates, seed=1, hits=np.array([[3, 0, 7, 5e4]]), **kw)
    assert data[3, 0, 7] == pytest.approx(plain[3, 0, 7] + 5e4)
    assert err[3, 0, 7] > plain_err[3, 0, 7] * 2
    changed = data != plain
    assert changed.sum() == 1
    np.testing.assert_allclose(err[~changed], plain_err[~changed])
    f32 = simulate_count_rates(rates, seed=1, gain=2.0, read_noise=12.0, frame_time=0.0625)
    assert f32[0].dtype == f32[1].dtype == np.float32
    with pytest.raises(ValueError, match="gain"):
        simulate_count_rates(rates, gain=0.0, read_noise=12.0, frame_time=0.0625)


def test_a_real_like_series_holds_its_star_within_a_file():
    params = real_fgs_series(np.random.default_rng(4), 5000, file_frames=2000, jumps=1)
    assert params.shape == (5000, 7)
    files = [params[:2000], params[2000:4000], params[4000:]]
    for block in files:
        # widths and rotation fixed; flux 1 % and background 0.5 % about their level
        assert np.ptp(block[:, 3:6], axis=0).max() == 0.0
        assert np.std(block[:, 0]) / np.mean(block[:, 0]) == pytest.approx(0.01, rel=0.1)
        assert np.ptp(block[:, 6]) / np.mean(block[:, 6]) == pytest.approx(0.01, rel=0.01)
        # jitter about the mean centroid, one tilt of 0.1-0.5 px between frames
        steps = np.hypot(*np.diff(block[:, 1:3], axis=0).T)
        assert np.median(steps) < 0.03
        assert 1 <= (steps > 0.1).sum() <= 2
    assert files[0][0, 3] != files[1][0, 3]  # a new star in each file

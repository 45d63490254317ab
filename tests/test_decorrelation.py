"""Guide-star series binned onto science integrations, and the science flux explained."""

from __future__ import annotations

import numpy as np
import pytest

from fgs_widgets.engine.decorrelation import (
    bin_to_intervals,
    decorrelate,
    lag_correlation,
    pearson,
)


def _loop(time, values, start, end, good):
    """The reference tool's tutorial: one mask per integration."""
    mean, err, count = [], [], []
    for a, b in zip(start, end, strict=True):
        inside = (time >= a) & (time < b) & good & np.isfinite(values)
        x = values[inside]
        count.append(len(x))
        mean.append(x.mean() if len(x) else np.nan)
        err.append(x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.nan)
    return np.array(mean), np.array(err), np.array(count)


def test_binning_equals_a_per_integration_loop():
    rng = np.random.default_rng(3)
    time = np.sort(rng.uniform(0, 100, 5000))
    values = 1e6 + rng.normal(0, 1e-3, len(time))  # a small scatter on a large level
    values[rng.choice(len(time), 40)] = np.nan
    good = rng.random(len(time)) > 0.05
    start = np.r_[np.arange(-5, 100, 2.5), [30.0, 60.0]]  # before the data, overlaps
    end = start + np.r_[np.full(len(start) - 2, 2.5), [10.0, -1.0]]  # a reversed one
    table = bin_to_intervals(time, {"x": values}, start, end, good=good)
    mean, err, count = _loop(time, values, start, end, good)
    assert np.array_equal(table["x_count"], count)
    assert np.allclose(table["x"], mean, rtol=0, atol=1e-9, equal_nan=True)
    assert np.allclose(table["x_err"], err, rtol=1e-6, equal_nan=True)
    assert table["count"].iloc[0] == 0 and np.isnan(table["x"].iloc[0])
    assert table["count"].iloc[-1] == 0  # end before start: nothing inside
    assert np.all(table["count"] >= table["x_count"])


def test_binning_checks_its_input():
    with pytest.raises(ValueError, match="sorted"):
        bin_to_intervals(np.array([2.0, 1.0]), {"x": np.ones(2)}, [0.0], [3.0])
    with pytest.raises(ValueError, match="x has 3 values for 2 frames"):
        bin_to_intervals(np.array([1.0, 2.0]), {"x": np.ones(3)}, [0.0], [3.0])


def _synthetic(n=400, seed=1):
    rng = np.random.default_rng(seed)
    time = np.linspace(0, 0.2, n)
    x = np.sin(2 * np.pi * time / 0.0035) * 0.04 + rng.normal(0, 0.01, n)
    w = rng.normal(0, 0.02, n)
    error = np.full(n, 50e-6)
    flux = 1.0 + 3e-4 * (time - 0.1) / 0.1 + 2e-3 * x - 1e-3 * w + rng.normal(0, 50e-6, n)
    return time, flux, error, x, w


def test_decorrelation_recovers_injected_coefficients_within_errors():
    time, flux, error, x, w = _synthetic()
    result = decorrelate(time, flux, error, {"x": x, "w": w}, standardize=False)
    for name, truth in (("x", 2e-3), ("w", -1e-3)):
        value, sigma = result.coefficient(name)
        assert abs(value - truth) < 3 * sigma
        assert sigma < abs(truth) / 5
    assert result.coefficient("poly1")[0] == pytest.approx(3e-4, abs=3e-5)
    assert result.residual_rms_after == pytest.approx(50e-6, rel=0.15)
    assert result.residual_rms_before > 1.5 * result.residual_rms_after
    assert 0.8 < result.chi2_reduced < 1.25
    assert result.correlation["x"] > 0.6 and result.correlation["w"] < -0.1
    assert np.allclose(result.corrected - result.residuals, result.model - result.systematics)


def test_standardized_coefficients_are_per_sigma():
    time, flux, error, x, _ = _synthetic()
    raw = decorrelate(time, flux, error, {"x": x}, standardize=False)
    per_sigma = decorrelate(time, flux, error, {"x": x})
    assert per_sigma.coefficient("x")[0] == pytest.approx(raw.coefficient("x")[0] * x.std(),
                                                          rel=1e-9)
    assert np.allclose(per_sigma.model, raw.model)
    assert np.isclose(per_sigma.regressors["x"].std(), 1.0)
    assert per_sigma.coefficients.set_index("name").loc["x", "unit"] == "flux per 1 σ"


def test_missing_regressor_values_leave_integrations_out_not_the_fit():
    time, flux, error, x, _ = _synthetic()
    x = x.copy()
    x[:10] = np.nan
    result = decorrelate(time, flux, error, {"x": x}, standardize=False)
    assert not result.used[:10].any() and result.used[10:].all()
    assert np.isnan(result.model[:10]).all() and np.isfinite(result.model[10:]).all()
    assert abs(result.coefficient("x")[0] - 2e-3) < 3 * result.coefficient("x")[1]


def test_unweighted_errors_scale_with_the_scatter():
    """No error column (a two-column .dat): the errors come from the residual scatter."""
    time, flux, error, x, _ = _synthetic()
    unweighted = decorrelate(time, flux, None, {"x": x}, standardize=False)
    weighted = decorrelate(time, flux, error, {"x": x}, standardize=False)
    assert abs(unweighted.coefficient("x")[0] - 2e-3) < 3 * unweighted.coefficient("x")[1]
    assert unweighted.coefficient("x")[1] == pytest.approx(weighted.coefficient("x")[1],
                                                           rel=0.3)


def test_a_regressor_with_a_large_offset_keeps_its_errors():
    """Counts-like regressors (flux in DN/s) are not standardized away from their digits."""
    time, flux, error, x, _ = _synthetic()
    counts = 1e6 + 1e3 * x
    raw = decorrelate(time, flux, error, {"counts": counts}, standardize=False)
    per_sigma = decorrelate(time, flux, error, {"counts": counts})
    value, sigma = raw.coefficient("counts")
    std = per_sigma.scale["counts"][1]
    assert value == pytest.approx(2e-6, rel=0.05)
    assert value * std == pytest.approx(per_sigma.coefficient("counts")[0], rel=1e-6)
    assert sigma * std == pytest.approx(per_sigma.coefficient("counts")[1], rel=1e-4)
    # the corrected light curve keeps its level whichever way the regressor is fitted
    assert np.mean(raw.corrected) == pytest.approx(np.mean(flux), abs=1e-9)
    assert np.allclose(raw.corrected, per_sigma.corrected, atol=1e-9)


def test_bad_requests_say_what_is_wrong():
    time, flux, error, x, _ = _synthetic(n=20)
    with pytest.raises(ValueError, match="constant"):
        decorrelate(time, flux, error, {"c": np.ones(20)})
    with pytest.raises(ValueError, match="too few"):
        decorrelate(time[:3], flux[:3], error[:3], {"x": x[:3]}, polynomial=2)
    with pytest.raises(ValueError, match="regressor x has 5 values for 20"):
        decorrelate(time, flux, error, {"x": x[:5]})


def test_lag_correlation_peaks_at_the_true_shift():
    rng = np.random.default_rng(5)
    frames = np.arange(0, 3000, 0.0625)  # s
    signal = np.sin(2 * np.pi * frames / 37.5) + rng.normal(0, 0.3, len(frames))
    start = np.arange(0, 2900, 4.0)
    end = start + 4.0
    shifted = bin_to_intervals(frames, {"x": signal}, start + 12.0, end + 12.0)["x"]
    flux = shifted.to_numpy() + rng.normal(0, 0.05, len(start))

    def binned_at(lag):
        return bin_to_intervals(frames, {"x": signal}, start + lag, end + lag)

    scan = lag_correlation(np.arange(-20, 21, 2.0), binned_at, flux, ["x"])
    assert scan.loc[scan["x"].idxmax(), "lag_s"] == 12.0
    assert pearson(np.array([1.0, 2.0]), np.array([1.0, 2.0])) != pearson(
        np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))  # NaN below 3 points

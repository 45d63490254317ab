"""Periodograms recover injected periods, count exclusions, and leave inputs alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.timeseries import LombScargle

from fgs_widgets.engine import periodogram as pg
from fgs_widgets.engine.periodogram import periodograms


@pytest.fixture
def series():
    rng = np.random.default_rng(0)
    n = 20_000
    seconds = np.arange(n) * 0.0625
    time = 60000.0 + seconds / 86400
    table = pd.DataFrame({
        "x_mean": 3.5 + 0.03 * np.sin(2 * np.pi * seconds / 37.5) + rng.normal(0, 0.01, n),
        "y_mean": 3.4 + 0.02 * np.sin(2 * np.pi * seconds / 11.3) + rng.normal(0, 0.01, n),
        "noise": rng.normal(0, 1, n),
    })
    return time, table


def test_injected_periods_recovered_within_one_grid_step(series):
    time, table = series
    results = periodograms(time, table, ["x_mean", "y_mean"])
    for column, period in (("x_mean", 37.5), ("y_mean", 11.3)):
        result = results[column]
        step = result.frequency[1] - result.frequency[0]
        assert step == pytest.approx(result.grid_step)
        best = result.peaks.iloc[0]
        assert abs(best["frequency"] - 1 / period) <= step
        assert best["false_alarm_probability"] < 1e-10


def test_noise_has_no_significant_peak(series):
    time, table = series
    peak = periodograms(time, table, ["noise"])["noise"].peaks.iloc[0]
    assert peak["false_alarm_probability"] > 1e-3


def test_exclusions_counted_and_input_untouched(series):
    time, table = series
    table.loc[100:199, "x_mean"] = np.nan
    before = table.copy()
    good = np.ones(len(time), dtype=bool)
    good[:50] = False
    good[120] = False  # flagged and NaN: counted once, as flagged
    result = periodograms(time, table, ["x_mean"], good=good)["x_mean"]
    assert result.n_excluded == 150 and result.n_used == len(time) - 150
    assert (result.n_flagged, result.n_nan) == (51, 99)
    pd.testing.assert_frame_equal(table, before)
    freq, _ = result  # the seed's pgram_x_mean[0], [1]
    assert freq is result.frequency and result[1] is result.power


def test_window_and_period_limits(series):
    time, table = series
    window = (time[0], time[8000])
    result = periodograms(time, table, ["x_mean"], window=window, min_period=5,
                          max_period=100)["x_mean"]
    assert result.n_used == 8001 and result.n_excluded == 0  # outside the window: not excluded
    assert result.frequency.min() >= 1 / 100 - 1e-12 and result.frequency.max() <= 0.2 + 1e-9


def test_clear_errors(series):
    time, table = series
    with pytest.raises(KeyError, match="flux"):
        periodograms(time, table, ["flux"])
    with pytest.raises(ValueError, match="usable points"):
        periodograms(time, table, ["x_mean"], good=np.zeros(len(time), dtype=bool))
    with pytest.raises(ValueError, match="not numeric"):
        periodograms(time, {"label": np.array(["a"] * len(time))}, ["label"])
    with pytest.raises(ValueError, match="good"):
        periodograms(time, table, ["x_mean"], good=np.ones(3, dtype=bool))


def test_power_matches_astropy_exact_on_gappy_irregular_times():
    rng = np.random.default_rng(3)
    seconds = np.sort(rng.uniform(0, 600, 3000))
    seconds = seconds[(seconds < 200) | (seconds > 260)]  # a gap, like between files
    values = np.sin(2 * np.pi * seconds / 7.3) + rng.normal(0, 2, len(seconds))
    time = 60000.0 + seconds / 86400
    result = periodograms(time, {"v": values})["v"]
    t = (time - result.start) * 86400
    exact = LombScargle(t, values).power(result.frequency, method="cython")
    np.testing.assert_allclose(result.power, exact, rtol=0, atol=1e-9)
    astropy_fasper = LombScargle(t, values).power(
        result.frequency, method="fast", method_kwds={"algorithm": "fasper"})
    assert np.abs(astropy_fasper - exact).max() > 1e-6  # ours is the more accurate one


def test_columns_with_different_masks_match_separate_runs(series):
    time, table = series
    table = table.copy()
    table.loc[::7, "y_mean"] = np.nan  # y_mean has its own usable set; x_mean, noise share one
    together = periodograms(time, table)
    for column in table:
        alone = periodograms(time, table, [column])[column]
        np.testing.assert_allclose(together[column].power, alone.power, atol=1e-12)
    assert together["y_mean"].n_nan == len(range(0, len(time), 7))


def test_signal_between_coarse_grid_points_is_not_lost(series, monkeypatch):
    """The full grid is computed and thinned by maxima: no peak can be skipped."""
    time, _ = series
    seconds = (time - time[0]) * 86400
    df = 1 / (5 * seconds[-1])
    frequency = 2001.5 * df  # halfway between two grid points
    values = {"v": np.sin(2 * np.pi * frequency * seconds)
              + np.random.default_rng(4).normal(0, 3, len(seconds))}
    monkeypatch.setattr(pg, "MAX_GRID", 1000)
    result = periodograms(time, values)["v"]
    assert len(result.frequency) <= 1000
    assert np.all(np.isin(result.frequency, df * np.arange(1, 10**6)))  # true grid points
    assert abs(result.peaks["frequency"].iloc[0] - frequency) <= result.grid_step
    assert result.power.max() == pytest.approx(result.peaks["power"].iloc[0])
    assert result.peaks["false_alarm_probability"].iloc[0] < 1e-6


def test_peaks_are_separated_and_sorted(series):
    time, table = series
    peaks = periodograms(time, table, ["x_mean"], n_peaks=4)["x_mean"].peaks
    assert list(peaks.columns) == ["frequency", "period", "power", "false_alarm_probability"]
    assert np.all(np.diff(peaks["power"]) <= 0)
    gaps = np.abs(np.subtract.outer(peaks["frequency"].to_numpy(), peaks["frequency"].to_numpy()))
    step = 1 / (5 * 20_000 * 0.0625)
    assert gaps[~np.eye(len(peaks), dtype=bool)].min() > 14 * step  # no sidelobes of the line

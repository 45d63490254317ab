"""Periodograms recover injected periods, count exclusions, and leave inputs alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
        best = result.peaks.iloc[0]
        assert abs(best["frequency"] - 1 / period) <= step
        assert best["false_alarm_probability"] < 1e-10


def test_noise_has_no_significant_peak(series):
    time, table = series
    peak = periodograms(time, table, ["noise"])["noise"].peaks.iloc[0]
    assert peak["false_alarm_probability"] > 1e-3


def test_exclusions_counted_and_input_untouched(series):
    time, table = series
    before = table.copy()
    table.loc[100:199, "x_mean"] = np.nan
    good = np.ones(len(time), dtype=bool)
    good[:50] = False
    result = periodograms(time, table, ["x_mean"], good=good)["x_mean"]
    assert result.n_excluded == 150 and result.n_used == len(time) - 150
    assert list(table.columns) == list(before.columns)
    freq, _ = result  # the seed's pgram_x_mean[0], [1]
    assert freq is result.frequency and result[1] is result.power


def test_window_and_period_limits(series):
    time, table = series
    window = (time[0], time[8000])
    result = periodograms(time, table, ["x_mean"], window=window, min_period=5,
                          max_period=100)["x_mean"]
    assert result.n_used == 8001
    assert result.frequency.min() >= 1 / 100 - 1e-12 and result.frequency.max() <= 0.2 + 1e-9


def test_clear_errors(series):
    time, table = series
    with pytest.raises(KeyError, match="flux"):
        periodograms(time, table, ["flux"])
    with pytest.raises(ValueError, match="usable points"):
        periodograms(time, table, ["x_mean"], good=np.zeros(len(time), dtype=bool))

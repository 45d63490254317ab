"""Axis ranges and ticks (engine.scales): robust ranges, nice ticks, time units."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fgs_widgets.engine.scales import (
    js_number,
    log_ticks,
    nice_ticks,
    robust_range,
    time_ticks,
    time_unit,
)


def _step_is_nice(values: np.ndarray) -> bool:
    steps = np.diff(values)
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]) + 1e-9)
    return np.allclose(steps, steps[0]) and any(np.isclose(mantissa, (1, 2, 2.5, 5)))


@pytest.mark.parametrize("lo, hi", [(-6, 1442), (2.4e6, 2.6e6), (-2.7e5, 2.7e6), (3.45, 3.55),
                                    (0.0, 1.0), (71640.0, 72000.0), (1e-5, 3e-5), (0, 0.25),
                                    (-0.05, 0.05), (0.6724, 0.7986)])
def test_nice_ticks_are_nice_inside_and_labelled_once(lo, hi):
    ticks = nice_ticks(lo, hi, 6, min_ticks=3)
    assert 3 <= len(ticks.values) <= 6
    assert ticks.values.min() >= lo - 1e-12 and ticks.values.max() <= hi + 1e-12
    assert _step_is_nice(ticks.values)
    assert len(set(ticks.labels)) == len(ticks.labels)  # labels tell ticks apart
    # labels read back to the values, with the power of ten the axis label names
    back = np.array([float(text.replace("−", "-")) for text in ticks.labels])
    np.testing.assert_allclose(back * 10.0**ticks.exponent, ticks.values,
                               atol=1e-9 * max(abs(lo), abs(hi)))


def test_large_values_share_a_power_of_ten():
    ticks = nice_ticks(2.4e6, 2.6e6, 5)
    assert ticks.labels == ["2.40", "2.45", "2.50", "2.55", "2.60"]
    assert ticks.exponent == 6 and ticks.scale_suffix == " (×10⁶)"
    assert nice_ticks(0, 1, 6).exponent == 0 and nice_ticks(0, 1, 6).scale_suffix == ""


def test_degenerate_ranges_give_no_ticks():
    for lo, hi in [(1, 1), (2, 1), (np.nan, 1), (0, np.inf)]:
        assert len(nice_ticks(lo, hi).values) == 0
    assert len(log_ticks(0, 10).values) == 0 and len(log_ticks(-1, 10).values) == 0


def test_time_axis_picks_the_unit_that_reads_best():
    assert time_unit(300)[0] == "s" and time_unit(1442)[0] == "min"
    assert time_unit(12 * 3600)[0] == "h"
    ticks, unit = time_ticks(0, 1442, 6)
    assert unit == "min" and ticks.labels == ["0", "5", "10", "15", "20"]
    np.testing.assert_allclose(ticks.values, [0, 300, 600, 900, 1200])  # still in seconds
    ticks, unit = time_ticks(100.2, 103.9, 6)
    assert unit == "s" and _step_is_nice(ticks.values) and ticks.exponent == 0


@pytest.mark.parametrize("lo, hi", [(10_800, 11_100), (20_000, 20_100), (36_000, 36_600),
                                    (86_400, 86_401.5)])
def test_time_ticks_far_from_the_start_keep_their_digits(lo, hi):
    ticks, unit = time_ticks(lo, hi, 6)
    per = {"s": 1, "min": 60, "h": 3600}[unit]
    np.testing.assert_allclose([float(t) * per for t in ticks.labels], ticks.values)
    assert _step_is_nice(ticks.values / per)  # nice in the unit shown


def test_log_ticks_at_1_2_5_or_linear_within_a_decade():
    ticks = log_ticks(0.125, 1000, 8)
    mantissas = ticks.values / 10 ** np.floor(np.log10(ticks.values) + 1e-9)
    assert np.all(np.isin(np.round(mantissas, 6), [1, 2, 3, 5])) and len(ticks.values) <= 8
    assert log_ticks(30, 90).labels == ["40", "60", "80"]
    assert log_ticks(1, 1e8, 5).labels == ["1", "100", "10000", "1e6", "1e8"]
    for lo, hi in [(3e5, 4e5), (1.2e5, 1.8e5), (0.31, 0.39)]:
        ticks = log_ticks(lo, hi)
        assert len(set(ticks.labels)) == len(ticks.labels) >= 2, ticks.labels
        np.testing.assert_allclose([float(t) for t in ticks.labels], ticks.values)
    minutes = log_ticks(60, 6000, 8, unit=60)  # labels in minutes, values in seconds
    assert minutes.labels[0] == "1" and minutes.values[0] == 60


def test_robust_range_ignores_flagged_frames_and_spikes_and_keeps_every_level():
    rng = np.random.default_rng(3)
    high, low = rng.normal(2.5e6, 2e3, 5000), rng.normal(1.0e6, 2e3, 5000)
    values = np.r_[high, low]
    observation = np.r_[np.zeros(5000, int), np.ones(5000, int)]
    good = np.ones(10_000, bool)
    values[100], good[100] = -2.7e5, False  # a flagged frame
    values[7000] = 9e6  # a lone spike, not flagged
    lo, hi = robust_range(values, good, groups=observation)
    assert 0.7e6 < lo < 1.0e6 and 2.5e6 < hi < 2.8e6  # both levels, neither outlier
    alone = robust_range(values[:5000], good[:5000])
    assert alone[1] - alone[0] < 50e3  # one level: the star's noise, padded
    assert robust_range(np.full(10, np.nan)) is None
    assert robust_range(np.ones(10), np.zeros(10, bool)) is None
    flat = robust_range(np.full(10, 5.0))
    assert flat[0] < 5.0 < flat[1]


def test_a_handful_of_frames_of_another_observation_set_no_range():
    # a window ending three frames into the next observation, one a good-frame spike
    values = np.r_[np.random.default_rng(4).normal(1.0, 0.01, 2000), 50.0, 1.0, 1.0]
    groups = np.r_[np.zeros(2000, int), np.ones(3, int)]
    lo, hi = robust_range(values, groups=groups)
    assert 0.9 < lo < 1.0 < hi < 1.1


def test_values_at_the_float_limits_give_no_range_and_no_ticks():
    assert robust_range(np.array([1e308, -1e308])) is None
    assert len(nice_ticks(-1.7e308, 1.7e308).values) == 0
    assert len(nice_ticks(5e-324, 1e-323).values) == 0


def test_js_number_matches_javascript_string():
    assert [js_number(v) for v in (300.0, 1.5, 1e-7, 2.5e-5, -0.0, 1e21, 2.8)] == [
        "300", "1.5", "1e-7", "0.000025", "0", "1e+21", "2.8"]

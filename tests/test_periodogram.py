"""Periodograms recover injected periods, count exclusions, leave inputs alone, and remove
each piece's level first (steps are no period), saying so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.timeseries import LombScargle

from fgs_widgets.engine import periodogram as pg
from fgs_widgets.engine.periodogram import fold, periodograms


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
    result = periodograms(time, {"v": values}, detrend="none")["v"]
    t = (time - result.start) * 86400
    exact = LombScargle(t, values).power(result.frequency, method="cython")
    np.testing.assert_allclose(result.power, exact, rtol=0, atol=1e-9)
    astropy_fasper = LombScargle(t, values).power(
        result.frequency, method="fast", method_kwds={"algorithm": "fasper"})
    assert np.abs(astropy_fasper - exact).max() > 1e-6  # ours is the more accurate one
    # each piece's line removed first (the default): astropy on the residuals, by hand
    pieces = (seconds > 230).astype(int)
    residual = values.copy()
    for piece in (0, 1):
        on = pieces == piece
        residual[on] -= np.polyval(np.polyfit(t[on], values[on], 1), t[on])
    linear = periodograms(time, {"v": values}, pieces=pieces)["v"]
    exact = LombScargle(t, residual).power(linear.frequency, method="cython")
    np.testing.assert_allclose(linear.power, exact, rtol=0, atol=1e-9)


def _stepped(seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 37.5 s oscillation in three pieces with their own levels (and a drift in one),
    and each frame's piece."""
    rng = np.random.default_rng(7)
    pieces = np.searchsorted([400.0, 900.0], seconds, side="right")
    values = (0.03 * np.sin(2 * np.pi * seconds / 37.5) + np.array([0.0, 0.3, -0.2])[pieces]
              + np.where(pieces == 2, 1e-4 * (seconds - 900.0), 0.0)
              + rng.normal(0, 0.01, len(seconds)))
    return values, pieces


def test_steps_between_pieces_are_removed_and_the_line_leads():
    seconds = np.arange(20_000) * 0.0625  # 1250 s, pieces of 400, 500 and 350 s
    time = 60000.0 + seconds / 86400
    values, pieces = _stepped(seconds)
    none = periodograms(time, {"v": values}, detrend="none")["v"]
    # the steps: the highest power is at the longest periods, far above the line
    assert 1 / none.frequency[np.argmax(none.power)] > 500
    assert none.power.max() > 10 * none.power[np.argmin(abs(1 / none.frequency - 37.5))]
    assert none.detrend == "none" and none.piece_name == "" and len(none.levels) == 0
    assert none.removed == "only the overall mean removed (steps kept)"
    for detrend in ("linear", "mean"):
        result = periodograms(time, {"v": values}, detrend=detrend, pieces=pieces,
                              piece_name="file")["v"]
        best = result.peaks.iloc[0]
        assert best["period"] == pytest.approx(37.5, rel=0.01)
        assert result.power.max() == best["power"]  # the highest point drawn is the line
        what = "mean and slope" if detrend == "linear" else "mean"
        assert result.removed == f"each file's {what} removed (3 files)"
    # without labels, the runs between time gaps are the pieces
    gappy = np.concatenate([seconds[:6000], seconds[6400:]])  # a 25 s gap
    values, _ = _stepped(gappy)
    runs = periodograms(60000.0 + gappy / 86400, {"v": values})["v"]
    assert runs.piece_name == "run" and list(runs.levels["n"]) == [6000, 13_600]


def test_levels_say_what_was_removed():
    seconds = np.arange(20_000) * 0.0625
    time = 60000.0 + seconds / 86400
    values, pieces = _stepped(seconds)
    good = np.ones(len(time), dtype=bool)
    good[:100] = False  # flagged frames are not in their piece's level
    labels = np.array([10, 20, 30])[pieces]
    result = periodograms(time, {"v": values}, good=good, pieces=labels)["v"]
    levels = result.levels
    assert list(levels.columns) == ["piece", "start", "stop", "n", "level", "slope"]
    assert list(levels["piece"]) == [10, 20, 30] and result.piece_name == "piece"
    for row, piece in zip(levels.itertuples(), (0, 1, 2), strict=True):
        on = (pieces == piece) & good
        t = seconds[on]
        slope, level = np.polyfit(t - t.mean(), values[on], 1)
        assert row.n == on.sum() and row.start == time[on][0] and row.stop == time[on][-1]
        assert row.level == pytest.approx(level, abs=1e-12)
        assert row.slope == pytest.approx(slope, rel=1e-6)
    assert levels["slope"].iloc[2] == pytest.approx(1e-4, rel=0.05)  # the drift
    mean = periodograms(time, {"v": values}, good=good, pieces=labels, detrend="mean")["v"]
    assert mean.levels["slope"].isna().all()
    np.testing.assert_allclose(mean.levels["level"], levels["level"])
    with pytest.raises(ValueError, match="detrend"):
        periodograms(time, {"v": values}, detrend="median")
    with pytest.raises(ValueError, match="pieces"):
        periodograms(time, {"v": values}, pieces=labels[:10])


#: today's (detrend="none") result on the sample after the quick fit: the steps' power at the
#: long-period end (1436 s) dwarfs the 37.4 s line, and y_mean's top peak is no injected one
SAMPLE_NONE = {"x_mean": (0.6240, 37.39, 0.1151), "y_mean": (0.7166, 112.2, 0.0200)}


@pytest.fixture
def fitted(fitted_session):
    """The sample quick-fitted, a new Session each test (conftest: fitted once per run)."""
    return fitted_session


def test_sample_periodograms_lead_with_the_injected_oscillations_by_default(fitted, sample):
    results = fitted.compute_periodograms(["x_mean", "y_mean"])
    assert fitted.history[-1] == ("session.compute_periodograms(['x_mean', 'y_mean'], "
                                  "detrend='linear', by='file')")
    for column, result in results.items():
        injected = sample.truth.periods[column]
        best = result.peaks.iloc[0]
        assert best["period"] == pytest.approx(injected, rel=0.02), column
        # the long-period end no longer dominates: the line is the highest point drawn
        assert result.power.max() == best["power"]
        longest = result.power[result.frequency < 1 / 600.0]  # periods beyond 10 min
        assert longest.max() < 0.25 * best["power"], column
        assert result.detrend == "linear" and result.piece_name == "file"
        assert result.removed == "each file's mean and slope removed (4 files)"
        assert len(result.levels) == 4 and result.levels["n"].sum() == result.n_used
    assert results["x_mean"].peaks["power"].iloc[0] > 0.5  # was 0.115 with the steps kept


def test_sample_without_detrending_is_todays_periodogram(fitted):
    data = fitted.data
    results = fitted.compute_periodograms(["x_mean", "y_mean"], detrend="none")
    assert fitted.history[-1].startswith(
        "session.compute_periodograms(['x_mean', 'y_mean'], detrend='none'")
    for column, (end_power, period, power) in SAMPLE_NONE.items():
        result = results[column]
        assert np.argmax(result.power) == 0  # the longest period of the range
        assert result.power[0] == pytest.approx(end_power, abs=5e-4)
        assert result.peaks["period"].iloc[0] == pytest.approx(period, rel=1e-3)
        assert result.peaks["power"].iloc[0] == pytest.approx(power, abs=5e-4)
        # exactly the engine on the series as it is (what fgs_widgets computed before)
        _, values = fitted.series(column)
        raw = periodograms(data.time, {column: values}, good=data.good, detrend="none")[column]
        np.testing.assert_array_equal(result.power, raw.power)
        t = (data.time[data.good & np.isfinite(values)] - raw.start) * 86400
        exact = LombScargle(t, values[data.good & np.isfinite(values)]).power(
            raw.frequency[::50], method="cython")
        np.testing.assert_allclose(raw.power[::50], exact, rtol=0, atol=1e-9)
    # per observation, the re-acquisition step between obs 2's visits stays in y_mean
    by_observation = fitted.compute_periodograms(["y_mean"], by="observation")["y_mean"]
    assert by_observation.removed == "each observation's mean and slope removed (2 observations)"
    by_visit = fitted.compute_periodograms(["y_mean"], by="visit")["y_mean"]
    assert len(by_visit.levels) == 3
    with pytest.raises(ValueError, match="by must be"):
        fitted.compute_periodograms(["y_mean"], by="segment")


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


def _sine_fit(table: pd.DataFrame) -> tuple[float, float, float]:
    """(amplitude, phase offset in radians, mean) of mean ~ a sin(2 pi phase + phi) + c."""
    angle = 2 * np.pi * table["phase"].to_numpy()
    design = np.column_stack([np.sin(angle), np.cos(angle), np.ones_like(angle)])
    (s, c, offset), *_ = np.linalg.lstsq(design, table["mean"].to_numpy(), rcond=None)
    return float(np.hypot(s, c)), float(np.arctan2(c, s)), float(offset)


def test_fold_recovers_amplitude_and_phase_of_a_sinusoid():
    rng = np.random.default_rng(5)
    seconds = np.arange(40_000) * 0.0625
    time = 60000.0 + seconds / 86400
    period, amplitude, phi = 37.5, 0.03, 0.7
    values = 3.5 + amplitude * np.sin(2 * np.pi * seconds / period + phi) + rng.normal(0, 0.01,
                                                                                      len(time))
    table = fold(time, values, period, n_bins=50)
    assert list(table.columns) == ["phase", "mean", "error", "count"]
    assert len(table) == 50 and table["count"].sum() == len(time)
    np.testing.assert_allclose(table["phase"], (np.arange(50) + 0.5) / 50)
    fitted_amplitude, fitted_phi, offset = _sine_fit(table)
    # a bin's mean of a sine is the sine at its centre times sinc(1 / n_bins) = 0.9993
    assert fitted_amplitude == pytest.approx(amplitude * np.sinc(1 / 50), rel=0.02)
    assert fitted_phi == pytest.approx(phi, abs=0.02)
    assert offset == pytest.approx(3.5, abs=1e-3)
    expected_error = 0.01 / np.sqrt(table["count"])  # noise only: the sine varies little in a bin
    np.testing.assert_allclose(table["error"], expected_error, rtol=0.5)
    # phase 0 at a given epoch: a quarter period later shifts the sine by pi / 2
    later = fold(time, values, period, n_bins=50, epoch=time[0] + period / 4 / 86400)
    assert _sine_fit(later)[1] == pytest.approx(phi + np.pi / 2, abs=0.02)


def test_fold_leaves_out_flagged_nan_and_outside_window_frames():
    rng = np.random.default_rng(6)
    seconds = np.arange(10_000) * 0.0625
    time = 60000.0 + seconds / 86400
    values = np.sin(2 * np.pi * seconds / 11.3) + rng.normal(0, 0.1, len(time))
    values[::13] = np.nan
    good = np.ones(len(time), dtype=bool)
    good[:40] = False
    good[500:700] = False
    values[~good] = 1e6  # flagged frames hold garbage
    before = values.copy()
    table = fold(time, values, 11.3, good=good)
    assert table["mean"].abs().max() < 2 and np.isfinite(table["mean"]).all()
    usable = good & np.isfinite(values)
    assert table["count"].sum() == usable.sum()
    pd.testing.assert_frame_equal(table, fold(time[usable], values[usable], 11.3))
    np.testing.assert_array_equal(values, before)  # input untouched
    window = (time[2000], time[5999])
    windowed = fold(time, values, 11.3, good=good, window=window)
    assert windowed["count"].sum() == usable[2000:6000].sum()


def test_fold_of_nothing_is_an_empty_table_with_the_columns():
    columns = ["phase", "mean", "error", "count"]
    empty = fold(np.zeros(0), np.zeros(0), 10.0)
    assert list(empty.columns) == columns and len(empty) == 0
    time = 60000.0 + np.arange(100) / 86400
    flagged = fold(time, np.ones(100), 10.0, good=np.zeros(100, dtype=bool))
    assert list(flagged.columns) == columns and len(flagged) == 0
    all_nan = fold(time, np.full(100, np.nan), 10.0)
    pd.testing.assert_frame_equal(all_nan, empty)
    with pytest.raises(ValueError, match="period_s"):
        fold(time, np.ones(100), 0.0)
    with pytest.raises(ValueError, match="good"):
        fold(time, np.ones(100), 10.0, good=np.ones(3, dtype=bool))


def test_a_cancelled_periodogram_stops_between_its_stages():
    from fgs_widgets.engine.periodogram import PeriodogramCancelled

    rng = np.random.default_rng(2)
    time = 60000 + np.arange(20_000) * 0.0625 / 86400
    values = np.sin(2 * np.pi * np.arange(20_000) * 0.0625 / 37.0) + rng.normal(0, 1, 20_000)
    asked = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) >= 2  # the user pressed Cancel during the first stage

    with pytest.raises(PeriodogramCancelled):
        periodograms(time, {"x": values}, cancelled=cancelled)
    assert len(asked) == 2  # stopped at the second check, not run to the end
    result = periodograms(time, {"x": values}, cancelled=lambda: False)["x"]
    assert result.peaks["period"].iloc[0] == pytest.approx(37.0, rel=0.01)

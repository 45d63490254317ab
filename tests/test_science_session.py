"""The whole science workflow on the sample program: load a BJD_TDB light curve, bin the
guide-star series onto its integrations, recover the injected coupling, find the tilt."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fgs_widgets import Session
from fgs_widgets.archive.sample import SCIENCE_COUPLING, SCIENCE_TARGET, sample_program
from fgs_widgets.engine.timesystems import direction_error_s, utc_to_bjd_tdb


@pytest.fixture
def fitted(fitted_session: Session) -> Session:
    """The sample and its quick fit in a new Session each test (conftest's
    ``fitted_session``: read and fitted once per run)."""
    return fitted_session


@pytest.fixture
def session(fitted: Session) -> Session:
    """The fitted sample with the sample's science light curve loaded: a new Session each
    test, so what one test adds (tilt events, binned series, a decorrelation) never
    reaches the next."""
    fitted.load_science(sample_program().science_path)
    return fitted


def test_the_light_curve_lands_on_the_guide_star_clock(session: Session):
    truth = sample_program().truth.science
    science = session.science
    assert len(science) == len(truth)
    assert science.original_system == "BJD_TDB"
    # the guide star's direction stands in for the target's (~1' away): within the bound
    star = session.data.products.iloc[0]
    separation = np.hypot((star["gs_ra"] - SCIENCE_TARGET[0]) * np.cos(np.deg2rad(star["gs_dec"])),
                          star["gs_dec"] - SCIENCE_TARGET[1])
    error = np.max(np.abs(science.time - truth["mid"])) * 86400
    assert 0.01 < error < direction_error_s(separation) < 0.2
    assert np.allclose(science.end - science.start, 4.0 / 86400, rtol=1e-6)
    assert "guide star" in session.message and "BJD_TDB" in session.message
    assert f"{len(truth)} of them overlap" in session.message


def test_binning_uses_every_good_frame_of_each_integration(session: Session):
    table = session.bin_to_science()
    truth = sample_program().truth.science
    data = session.data
    assert list(table["integration"]) == list(range(len(truth)))
    inside = [(data.time >= a) & (data.time < b) for a, b in zip(table["start"], table["end"],
                                                                 strict=True)]
    assert list(table["count"]) == [int((m & data.good).sum()) for m in inside]
    assert set(table["count"]) <= {63, 64}  # one flagged frame loses one
    pull = (table["x_mean"] - truth["x_mean"]) / table["x_mean_err"]
    assert np.abs(pull).max() < 5  # measured position = true position, within its error
    assert session.science_binned is table


def test_decorrelation_recovers_the_injected_coupling(session: Session):
    result = session.decorrelate(["x_mean"], standardize=False, lags=np.arange(-30, 31, 5.0))
    value, error = result.coefficient("x_mean")
    assert abs(value - SCIENCE_COUPLING) < 3 * error
    assert error < SCIENCE_COUPLING / 10
    assert result.residual_rms_after < 0.5 * result.residual_rms_before
    assert result.residual_rms_after == pytest.approx(30e-6, rel=0.2)
    assert result.correlation["x_mean"] > 0.9
    best = result.lags.loc[result.lags["x_mean"].idxmax(), "lag_s"]
    assert best == 0.0  # the clocks are aligned
    assert session.decorrelation is result
    # standardized (the default): flux per 1 sigma of the binned x_mean
    per_sigma = session.decorrelate(["x_mean", "y_mean"])
    assert per_sigma.coefficient("x_mean")[0] == pytest.approx(
        value * per_sigma.scale["x_mean"][1], rel=0.05)
    assert abs(per_sigma.coefficient("y_mean")[0]) < 3 * per_sigma.coefficient("y_mean")[1]


def test_the_reference_tools_shortcut_loses_the_signal(fitted: Session, tmp_path):
    """Read as if the BJD_TDB were UTC (the tutorial's ``fg_time + 2400000.5``): 51 s off,
    more than a period of the 37.5 s oscillation the flux follows."""
    path = sample_program().science_path
    bjd, flux, error = np.loadtxt(path, comments="#", skiprows=4, unpack=True)
    as_utc = pd.DataFrame({"time": bjd, "flux": flux, "error": error})
    fitted.load_science(as_utc, time_scale="utc", time_format="jd")
    assert fitted.science.original_system == "JD_UTC"
    naive = fitted.decorrelate(["x_mean"], standardize=False)
    fitted.load_science(path)
    right = fitted.decorrelate(["x_mean"], standardize=False)
    assert right.residual_rms_after < 0.6 * naive.residual_rms_after
    assert right.correlation["x_mean"] > naive.correlation["x_mean"] + 0.2


def test_the_tilt_event_is_found(session: Session):
    assert session.events is None  # a new session: no other test's events
    jumps = session.detect_tilts()
    truth = sample_program().truth
    tilt = truth.jumps.iloc[0]  # x_mean +0.12 px during the science series
    assert truth.science["start"].iloc[0] < tilt["time"] < truth.science["end"].iloc[-1]
    near = jumps[np.abs(jumps["time"] - tilt["time"]) * 86400 < 1.0]
    assert any("x_mean" in label for label in near["label"])
    assert (session.events["kind"] == "tilt").sum() == len(jumps) > 0
    assert set(jumps["kind"]) == {"tilt"}


def test_the_next_test_sees_none_of_the_last_ones_events(session: Session, sample_data,
                                                          sample_quick_fit):
    """After `test_the_tilt_event_is_found` (pytest runs a file in order): its tilt events,
    added to its own session, are not in this one; the shared data and fit are untouched."""
    assert session.events is None
    assert session.science_binned is None and session.decorrelation is None
    assert session.data is sample_data and session.quick_fit is sample_quick_fit
    jumps = session.detect_tilts()  # found again: the same tilts, in this session only
    assert (session.events["kind"] == "tilt").sum() == len(jumps) > 0


def test_the_lag_scan_tells_how_late_the_science_clock_is(fitted: Session):
    """Science timestamps 12 s late: the guide-star series fits best 12 s earlier."""
    truth = sample_program().truth.science
    late = truth["mid"] + 12.0 / 86400
    star = fitted.data.products.iloc[0]
    fitted.load_science(pd.DataFrame({
        "bjd_tdb": utc_to_bjd_tdb(late, star["gs_ra"], star["gs_dec"]), "flux": truth["flux"],
        "flux_err": truth["error"]}))
    result = fitted.decorrelate(["x_mean"], lags=np.arange(-30, 31, 2.0))
    assert result.lags.loc[result.lags["x_mean"].idxmax(), "lag_s"] == -12.0


def test_a_fit_finishing_meanwhile_keeps_nothing_stale(session: Session, monkeypatch):
    original = Session._per_frame

    def replaced_midway(self, columns):
        values = original(self, columns)
        self.quick_fit = self.quick_fit.copy()  # as a fit finishing in its thread does
        return values

    monkeypatch.setattr(Session, "_per_frame", replaced_midway)
    with pytest.raises(RuntimeError, match="changed during the binning"):
        session.decorrelate(["x_mean"])
    assert session.science_binned is None and session.decorrelation is None
    monkeypatch.undo()
    session.bin_to_science()
    session.fit_frames("quick", block=True)  # the quick fit under no full fit: stale
    assert session.science_binned is None


def test_stale_results_are_dropped_and_errors_say_what_to_do(session: Session):
    session.bin_to_science()
    session.decorrelate(["x_mean"])
    session.fit_frames("quick", block=True)  # a new fit: the binned values are of the old one
    assert session.science_binned is None and session.decorrelation is None
    with pytest.raises(KeyError, match="no per-frame series"):
        session.decorrelate(["nonsense"])
    empty = Session()
    with pytest.raises(ValueError, match="load_science"):
        empty.load_sample()
        empty.bin_to_science()
    with pytest.raises(ValueError, match="give both"):
        session.load_science(sample_program().science_path, ra=80.5)
    lone = Session()
    with pytest.raises(ValueError, match="ra= and dec="):
        lone.load_science(sample_program().science_path)
    assert lone.science is None


def test_a_table_in_memory_with_the_target_direction(fitted: Session):
    truth = sample_program().truth.science
    table = pd.DataFrame({"bjd_tdb": utc_to_bjd_tdb(truth["mid"], *SCIENCE_TARGET),
                          "flux": truth["flux"], "flux_err": truth["error"]})
    fitted.load_science(table, ra=SCIENCE_TARGET[0], dec=SCIENCE_TARGET[1])
    assert np.max(np.abs(fitted.science.time - truth["mid"])) * 86400 < 1e-3
    assert fitted.history[-1] == (f"session.load_science(..., ra={SCIENCE_TARGET[0]!r}, "
                                  f"dec={SCIENCE_TARGET[1]!r})")


def test_save_and_reopen_keep_the_science_series(session: Session, tmp_path):
    folder = session.save(tmp_path / "with_science")
    reopened = Session.open(folder)
    for name in ("time", "start", "end", "flux", "error", "original_time"):
        assert np.array_equal(getattr(reopened.science, name), getattr(session.science, name))
    assert reopened.science.original_system == "BJD_TDB"
    assert reopened.science.notes == session.science.notes
    assert reopened.decorrelate(["x_mean"]).summary() == session.decorrelate(["x_mean"]).summary()


def test_the_seed_api_bins_fit_columns_to_bjd_times(session: Session):
    from fgs_widgets.spelunker import Spelunker

    spk = Spelunker(session=session)
    truth = sample_program().truth.science
    table = spk.bin_to_times(truth["bjd_tdb"], ["flux", "x_mean"], time_system="BJD_TDB")
    binned = session.bin_to_science(["flux", "x_mean"])
    assert np.allclose(table["x_mean"], binned["x_mean"], rtol=0, atol=1e-9)
    assert np.array_equal(np.asarray(table["count"]), binned["count"])
    assert np.allclose(table["time_utc"], session.science.time, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="MJD_UTC"):
        spk.bin_to_times(truth["mid"], time_system="GPS")


def test_the_real_hat_p_14_light_curve(fitted: Session):
    """Real input for reading and time handling (its guide-star data are not here)."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "hp14_lightcurve.dat"
    raw = np.loadtxt(path, usecols=(0, 1, 2))
    science = fitted.load_science(path, ra=264.5775, dec=38.2428)  # HAT-P-14
    assert len(science) == 572 and science.original_system == "BJD_TDB"
    assert np.array_equal(science.flux, raw[:, 1])
    offset = (raw[:, 0] - 2400000.5 - science.time) * 86400  # BJD_TDB - MJD UTC, s
    assert np.all((offset > 69.184 - 500) & (offset < 69.184 + 500))
    assert np.ptp(offset) < 2  # over 6 h the light-travel time changes by ~1 s
    assert "taken as BJD_TDB" in fitted.message
    assert "none: is this the same visit" in fitted.message  # not the sample's visit
    assert np.allclose(science.end - science.start, np.median(np.diff(raw[:, 0])), rtol=1e-3)

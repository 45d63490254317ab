"""Time systems: UTC ↔ BJD_TDB against astropy computed another way, and known offsets."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.constants import c
from astropy.coordinates import SkyCoord, get_body_barycentric
from astropy.time import Time

from fgs_widgets.data import ScienceInput
from fgs_widgets.engine.timesystems import (
    bjd_tdb_to_utc,
    direction_error_s,
    light_travel_seconds,
    science_intervals,
    to_observatory_utc,
    utc_to_bjd_tdb,
)

#: HAT-P-14 (the real light curve's target; shared/data/hp14_lightcurve.dat)
HP14 = (264.5775, 38.2428)
MJD = 59738.3 + np.linspace(0, 0.25, 50)  # 2022-06-13, the HAT-P-14 b visit


def _independent_bjd(mjd_utc: np.ndarray, ra: float, dec: float) -> np.ndarray:
    """BJD_TDB from the Earth's barycentric position · the unit vector / c (no
    light_travel_time): the textbook Rømer delay."""
    times = Time(mjd_utc, format="mjd", scale="utc")
    earth = get_body_barycentric("earth", times.tdb, ephemeris="builtin").xyz.to_value(u.m)
    unit = SkyCoord(ra * u.deg, dec * u.deg).cartesian.xyz.value
    delay = unit @ earth / c.to_value(u.m / u.s)
    return times.tdb.jd + delay / 86400.0


def test_utc_to_bjd_matches_the_textbook_roemer_delay():
    ours = utc_to_bjd_tdb(MJD, *HP14)
    assert np.max(np.abs(ours - _independent_bjd(MJD, *HP14))) * 86400 < 1e-3  # < 1 ms


def test_known_offsets_tt_utc_and_a_target_on_the_ecliptic():
    # TT - UTC is 69.184 s since 2017; TDB - TT stays below 2 ms
    t = Time(MJD, format="mjd", scale="utc")
    assert np.allclose((t.tdb.jd - t.utc.jd) * 86400, 69.184, atol=2e-3)
    # at the March equinox the Earth is at ecliptic longitude 180°: a target there (RA 180°,
    # Dec 0° is on the ecliptic) is ~1 AU nearer the Earth than the barycentre (+~499 s)
    equinox = np.array([Time("2023-03-20T21:24:00", scale="utc").mjd])
    ltt = light_travel_seconds(equinox, 180.0, 0.0)[0]
    assert 490 < ltt < 502
    assert light_travel_seconds(equinox, 0.0, 0.0)[0] == pytest.approx(-ltt, abs=3)
    # toward the ecliptic pole the delay nearly vanishes
    assert abs(light_travel_seconds(equinox, 270.0, 66.56)[0]) < 15


def test_round_trip_to_a_tenth_of_a_millisecond():
    bjd = utc_to_bjd_tdb(MJD, *HP14)
    assert np.max(np.abs(bjd_tdb_to_utc(bjd, *HP14) - MJD)) * 86400 < 1e-4
    bmjd = bjd - 2400000.5
    assert np.max(np.abs(bjd_tdb_to_utc(bmjd, *HP14, time_format="mjd") - MJD)) * 86400 < 1e-4


def test_the_jd_minus_2400000_5_shortcut_is_minutes_off():
    """What the reference tool's tutorial does: fg_time + 2400000.5 against BJD_TDB."""
    offset = (utc_to_bjd_tdb(MJD, *HP14) - (MJD + 2400000.5)) * 86400
    assert np.all(np.abs(offset) > 69)  # at least TT-UTC, here plus a light-travel time
    assert np.ptp(offset) < 1.0


def test_a_jwst_position_in_the_gcrs_matches_astropy_through_the_itrs():
    """JWST ephemerides are inertial (GCRS); astropy's observer is an Earth-fixed
    EarthLocation, so the independent route turns the GCRS vector into one per time."""
    from astropy.coordinates import GCRS, ITRS, CartesianRepresentation

    day = MJD[0] + np.linspace(0, 1, 7)  # a whole turn of the Earth under the vector
    jwst = np.array([1.2e6, -0.8e6, 0.5e6])  # km from the geocentre, as far as L2 orbits go
    times = Time(day, format="mjd", scale="utc")
    inertial = GCRS(CartesianRepresentation(*(jwst[:, None] * np.ones(len(day))) * u.km),
                    obstime=times)
    site = inertial.transform_to(ITRS(obstime=times)).earth_location
    expected = times.light_travel_time(SkyCoord(HP14[0] * u.deg, HP14[1] * u.deg),
                                       kind="barycentric", location=site,
                                       ephemeris="builtin").to_value("s")
    ours = light_travel_seconds(day, *HP14, location=jwst)
    assert np.max(np.abs(ours - expected)) < 1e-3
    offset = ours - light_travel_seconds(day, *HP14)
    assert 0.5 < abs(offset[0]) < 6.0 and np.ptp(offset) < 1e-6  # constant: no daily term
    per_time = light_travel_seconds(day, *HP14, location=jwst[:, None] * np.ones(len(day)))
    assert np.allclose(per_time, ours, atol=1e-9)
    with pytest.raises(ValueError, match="GCRS position"):
        light_travel_seconds(day, *HP14, location=(1.0, 2.0))


def test_barycentric_times_in_other_scales():
    """BJD_UTC (older light curves) and BJD_TCB are not BJD_TDB: 69 s and ~22 s apart."""
    ltt = light_travel_seconds(MJD, *HP14)
    bjd_utc = MJD + 2400000.5 + ltt / 86400
    assert np.max(np.abs(bjd_tdb_to_utc(bjd_utc, *HP14, time_scale="utc") - MJD)) * 86400 < 1e-4
    series = to_observatory_utc(_input(bjd_utc, time_scale="utc"), ra=HP14[0], dec=HP14[1])
    assert series.original_system == "BJD_UTC"
    assert np.max(np.abs(series.time - MJD)) * 86400 < 1e-4
    bjd_tcb = Time(utc_to_bjd_tdb(MJD, *HP14), format="jd", scale="tdb").tcb.jd
    back = bjd_tdb_to_utc(bjd_tcb, *HP14, time_scale="tcb")
    assert np.max(np.abs(back - MJD)) * 86400 < 1e-3


def test_direction_error_bound():
    assert direction_error_s(10 / 60) == pytest.approx(1.48, abs=0.02)  # 10' -> 1.5 s
    assert direction_error_s(12 / 60) < 2.0


def test_intervals_from_mid_times_do_not_swallow_gaps():
    mid = np.array([0.0, 1.0, 2.0, 10.0, 11.0])
    start, end = science_intervals(mid)
    assert np.allclose(start, [-0.5, 0.5, 1.5, 9.5, 10.5])
    assert np.allclose(end, [0.5, 1.5, 2.5, 10.5, 11.5])
    with pytest.raises(ValueError, match="two integrations"):
        science_intervals(np.array([1.0]))


def _input(time, **kwargs) -> ScienceInput:
    n = len(time)
    defaults = dict(flux=np.ones(n), error=np.full(n, np.nan), time_format="jd",
                    time_scale="tdb", barycentric=True, source="test")
    return ScienceInput(time=np.asarray(time, float), **{**defaults, **kwargs})


def test_to_observatory_utc_converts_bjd_and_says_how():
    bjd = utc_to_bjd_tdb(MJD, *HP14)
    series = to_observatory_utc(_input(bjd), ra=HP14[0], dec=HP14[1])
    assert np.max(np.abs(series.time - MJD)) * 86400 < 1e-4
    assert series.original_system == "BJD_TDB"
    assert np.array_equal(series.original_time, bjd)
    assert series.direction == HP14
    assert any("geocentre" in note and "6 s" in note and "location=" in note
               for note in series.notes)
    with pytest.raises(ValueError, match="ra= and dec="):
        to_observatory_utc(_input(bjd))


def test_to_observatory_utc_keeps_int_times_and_converts_plain_scales():
    table = pd.DataFrame({"start": MJD - 1e-4, "mid": MJD, "end": MJD + 1e-4})
    series = to_observatory_utc(_input(MJD, time_format="mjd", int_times=table))
    assert np.array_equal(series.start, table["start"]) and series.intervals == "int_times"
    tt = Time(MJD, format="mjd", scale="utc").tt.mjd
    series = to_observatory_utc(_input(tt, time_format="mjd", time_scale="tt",
                                       barycentric=False))
    assert np.max(np.abs(series.time - MJD)) * 86400 < 1e-5
    assert series.original_system == "MJD_TT"

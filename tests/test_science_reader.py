"""`fgs_widgets.archive.science.read_science`: every source kind, the time-system rules, errors.

JWST products are written through the official data model (stdatamodels'
``CubeModel``, ``MultiSpecModel`` and ``TSOMultiSpecModel``, saved with
``.save``), so their HDU layout, INT_TIMES dtype and keywords are the
pipeline's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from numpy.testing import assert_allclose, assert_array_equal

from fgs_widgets.archive.science import read_science
from fgs_widgets.archive.science_errors import ScienceReadError
from fgs_widgets.data import ScienceInput

REAL_LIGHT_CURVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "hp14_lightcurve.dat"

T0_JD = 2459738.8017859748
STEP = 0.000445  # days, like the real light curve's cadence
MJD_UTC0 = 59738.29  # first integration start, MJD UTC
INT_STEP = 0.0004  # days per integration
BARY = 0.0041  # days: a barycentric correction of ~354 s


def _series(n: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    time = T0_JD + np.arange(n) * STEP
    flux = 1.0 + rng.normal(0, 1e-4, n)
    error = np.full(n, 3.2e-5)
    return time, flux, error


# -- the real HAT-P-14 b light curve --------------------------------------------------------


def test_real_hatp14_light_curve():
    if not REAL_LIGHT_CURVE.exists():
        pytest.skip(f"{REAL_LIGHT_CURVE} not present")
    series = read_science(REAL_LIGHT_CURVE)
    expected = np.loadtxt(REAL_LIGHT_CURVE, usecols=(0, 1, 2))
    assert isinstance(series, ScienceInput)
    assert len(series) == 572
    assert series.time_format == "jd"
    assert series.time_scale == "tdb"
    assert series.barycentric is True
    assert series.system == "BJD_TDB"
    assert series.int_times is None
    for values in (series.time, series.flux, series.error):
        assert values.dtype == np.float64
    assert_array_equal(series.time, expected[:, 0])
    assert_array_equal(series.flux, expected[:, 1])
    assert_array_equal(series.error, expected[:, 2])
    assert series.time[0] == pytest.approx(2459738.8017859748, abs=1e-9)
    assert series.columns == {"time": "column 0", "flux": "column 1", "error": "column 2"}
    assert series.source == str(REAL_LIGHT_CURVE)
    note = " ".join(series.notes)
    assert "time column 0 has JD-like values with no stated time system" in note
    assert "taken as BJD_TDB (the usual for light curves)" in note
    assert "time_scale='utc'" in note


def test_real_light_curve_read_as_utc_when_told():
    if not REAL_LIGHT_CURVE.exists():
        pytest.skip(f"{REAL_LIGHT_CURVE} not present")
    series = read_science(REAL_LIGHT_CURVE, time_format="jd", time_scale="utc")
    assert (series.time_format, series.time_scale, series.barycentric) == ("jd", "utc", False)
    assert series.system == "JD_UTC"
    assert not any("BJD_TDB" in n for n in series.notes)


# -- text tables ----------------------------------------------------------------------------


def test_csv_with_header_names(tmp_path):
    time, flux, error = _series()
    path = tmp_path / "lc.csv"
    pd.DataFrame({"BJD_TDB": time, "flux": flux, "flux_err": error}).to_csv(path, index=False)
    series = read_science(path)
    assert_array_equal(series.time, time)
    assert_array_equal(series.flux, flux)
    assert_array_equal(series.error, error)
    assert series.columns == {"time": "BJD_TDB", "flux": "flux", "error": "flux_err"}
    assert (series.time_format, series.time_scale, series.barycentric) == ("jd", "tdb", True)
    assert series.source == str(path)
    assert not any("no stated time system" in n for n in series.notes)


def test_whitespace_table_with_header_comments_and_text_column(tmp_path):
    time, flux, error = _series(5)
    lines = ["# my reduction", "bmjd_tdb rel_flux err instrument"]
    lines += [f"{t - 2400000.5:.10f} {f:.10f} {e:.10f} SOSS  # inline comment"
              for t, f, e in zip(time, flux, error, strict=True)]
    path = tmp_path / "lc.txt"
    path.write_text("\n".join(lines) + "\n")
    series = read_science(path)
    assert_allclose(series.time, time - 2400000.5, rtol=0, atol=1e-9)
    assert_allclose(series.flux, flux, rtol=1e-9)
    assert series.columns == {"time": "bmjd_tdb", "flux": "rel_flux", "error": "err"}
    assert (series.time_format, series.time_scale, series.barycentric) == ("mjd", "tdb", True)
    assert series.system == "BMJD_TDB"


def test_commented_header_line_names_the_columns(tmp_path):
    time, flux, error = _series(4)
    rows = "\n".join(f"{float(f)!r} {float(t)!r} {float(e)!r}"
                     for t, f, e in zip(time, flux, error, strict=True))
    path = tmp_path / "lc.dat"
    path.write_text(f"# HAT-P-14 b white light\n# flux bjd_tdb error\n{rows}\n")
    series = read_science(path)
    assert series.columns == {"time": "bjd_tdb", "flux": "flux", "error": "error"}
    assert_array_equal(series.time, time)
    assert_array_equal(series.flux, flux)


def test_unknown_suffix_is_sniffed_as_csv(tmp_path):
    time, flux, _ = _series(3)
    path = tmp_path / "lc.lightcurve"
    pd.DataFrame({"time": time, "flux": flux}).to_csv(path, index=False)
    series = read_science(path)
    assert_array_equal(series.time, time)
    assert np.isnan(series.error).all()
    assert any("no error column" in n for n in series.notes)


def test_columns_by_index_and_by_name(tmp_path):
    time, flux, error = _series(6)
    path = tmp_path / "lc.csv"
    frame = pd.DataFrame({"label": ["x"] * 6, "err_ppm": error * 1e6, "Flux_White": flux,
                          "T_mid": time})
    frame.to_csv(path, index=False)
    by_index = read_science(path, time=3, flux=2, error=1)
    by_name = read_science(path, time="t_MID", flux="flux_white", error="ERR_PPM")
    for series in (by_index, by_name):
        assert_array_equal(series.time, time)
        assert_array_equal(series.flux, flux)
        assert_allclose(series.error, error * 1e6)
        assert series.columns == {"time": "T_mid", "flux": "Flux_White", "error": "err_ppm"}


def test_mjd_column_without_scale_is_utc_and_not_barycentric(tmp_path):
    time, flux, error = _series(4)
    path = tmp_path / "lc.csv"
    pd.DataFrame({"mjd": time - 2400000.5, "flux": flux, "err": error}).to_csv(path, index=False)
    series = read_science(path)
    assert (series.time_format, series.time_scale, series.barycentric) == ("mjd", "utc", False)
    assert any("states no time scale: taken as UTC" in n for n in series.notes)


def test_explicit_time_format_and_scale(tmp_path):
    time, flux, error = _series(4)
    path = tmp_path / "lc.csv"
    pd.DataFrame({"time": time, "flux": flux, "err": error}).to_csv(path, index=False)
    bjd = read_science(path, time_format="BJD", time_scale="tdb")
    assert (bjd.time_format, bjd.time_scale, bjd.barycentric) == ("jd", "tdb", True)
    assert bjd.notes == ()
    tt = read_science(path, time_format="jd", time_scale="tt")
    assert (tt.time_format, tt.time_scale, tt.barycentric) == ("jd", "tt", False)
    tdb = read_science(path, time_scale="tdb")  # a scale alone does not say barycentric
    assert (tdb.time_format, tdb.time_scale, tdb.barycentric) == ("jd", "tdb", False)
    assert any("time_format='bjd'" in n for n in tdb.notes)
    plain = read_science(path, time_format="jd")
    assert (plain.time_scale, plain.barycentric) == ("utc", False)
    named = pd.DataFrame({"bjd_tdb": time, "flux": flux})
    assert read_science(named, time_format="jd").barycentric  # the name says BJD


def test_explicit_time_format_contradicting_the_values_raises(tmp_path):
    time, flux, _ = _series(4)
    with pytest.raises(ScienceReadError, match=r"time_format='mjd'.*'time'.*look like JD"):
        read_science(pd.DataFrame({"time": time, "flux": flux}), time_format="mjd")
    with pytest.raises(ScienceReadError, match="time_format='hjd'"):
        read_science(pd.DataFrame({"time": time, "flux": flux}), time_format="hjd")
    with pytest.raises(ScienceReadError, match="time_scale='gps'"):
        read_science(pd.DataFrame({"time": time, "flux": flux}), time_scale="gps")


# -- ECSV, FITS tables, in-memory tables ----------------------------------------------------


def test_ecsv_with_astropy_time_column_in_mjd_utc(tmp_path):
    time, flux, error = _series(8)
    mjd = time - 2400000.5
    table = Table({"time": Time(mjd, format="mjd", scale="utc"), "flux": flux, "error": error})
    path = tmp_path / "lc.ecsv"
    table.write(path, format="ascii.ecsv")
    series = read_science(path)
    assert (series.time_format, series.time_scale, series.barycentric) == ("mjd", "utc", False)
    assert_allclose(series.time, mjd, rtol=0, atol=1e-9)
    assert_allclose(series.flux, flux)
    assert series.columns == {"time": "time", "flux": "flux", "error": "error"}


def test_ecsv_time_column_in_tdb_is_taken_as_barycentric(tmp_path):
    time, flux, _ = _series(5)
    table = Table({"t": Time(time, format="jd", scale="tdb"), "flux": flux})
    path = tmp_path / "lc.ecsv"
    table.write(path, format="ascii.ecsv")
    series = read_science(path)
    assert (series.time_format, series.time_scale, series.barycentric) == ("jd", "tdb", True)
    assert any("astropy Time in the TDB scale" in n for n in series.notes)
    plain = read_science(path, time_format="jd")  # a plain format: not barycentric
    assert (plain.time_scale, plain.barycentric) == ("tdb", False)


def test_fits_binary_table(tmp_path):
    time, flux, error = _series(12)
    columns = [fits.Column(name="BJD_TDB", format="D", array=time),
               fits.Column(name="FLUX", format="D", array=flux),
               fits.Column(name="FLUX_ERR", format="D", array=error)]
    table = fits.BinTableHDU.from_columns(columns, name="LIGHTCURVE")
    path = tmp_path / "lc.fits"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    series = read_science(path)
    assert_array_equal(series.time, time)
    assert_array_equal(series.flux, flux)
    assert_array_equal(series.error, error)
    assert series.columns == {"time": "BJD_TDB", "flux": "FLUX", "error": "FLUX_ERR"}
    assert series.barycentric and series.time_scale == "tdb"


def test_fits_table_keywords_state_the_time_system(tmp_path):
    time, flux, _ = _series(5)
    columns = [fits.Column(name="TIME", format="D", array=time - 2400000.5),
               fits.Column(name="FLUX", format="E", array=flux.astype(np.float32))]
    other = fits.BinTableHDU.from_columns([fits.Column(name="X", format="D", array=time)])
    table = fits.BinTableHDU.from_columns(columns, name="LC")
    table.header["TIMESYS"] = "TDB"
    table.header["TIMEREF"] = "SOLARSYSTEM"
    path = tmp_path / "keywords.fits"
    fits.HDUList([fits.PrimaryHDU(), other, table]).writeto(path)
    series = read_science(path)  # the first table without the columns is passed over
    assert (series.time_format, series.time_scale, series.barycentric) == ("mjd", "tdb", True)
    assert series.flux.dtype == np.float64
    assert_allclose(series.flux, flux.astype(np.float32))


def test_astropy_table_and_dataframe():
    time, flux, error = _series(9)
    for source, label in ((Table({"bjd": time, "f": flux, "e": error}), "astropy Table"),
                          (pd.DataFrame({"bjd": time, "f": flux, "e": error}),
                           "pandas DataFrame")):
        series = read_science(source)
        assert series.source == label
        assert_array_equal(series.time, time)
        assert_array_equal(series.flux, flux)
        assert_array_equal(series.error, error)
        assert series.columns == {"time": "bjd", "flux": "f", "error": "e"}
        assert series.system == "BJD_TDB"
        assert any("BJD without" in n or "states no time scale" in n for n in series.notes)


def test_unnamed_dataframe_uses_positions_and_nan_flux_rows_are_kept():
    time, flux, error = _series(10)
    flux[[2, 7]] = np.nan
    series = read_science(pd.DataFrame(np.column_stack([time, flux, error])))
    assert len(series) == 10
    assert np.isnan(series.flux[[2, 7]]).all()
    assert series.columns == {"time": "column 0", "flux": "column 1", "error": "column 2"}
    assert any("2 row(s) have NaN flux (2, 7" in n for n in series.notes)


def test_masked_astropy_flux_becomes_nan():
    time, flux, _ = _series(4)
    table = Table({"time": time, "flux": np.ma.MaskedArray(flux, mask=[0, 1, 0, 0])})
    series = read_science(table)
    assert np.isnan(series.flux[1]) and np.isfinite(series.flux[[0, 2, 3]]).all()


def test_columns_picked_by_the_words_of_their_names():
    time, flux, error = _series(4)
    frame = pd.DataFrame({"BJD_TDB_mid": time, "flux_ppm": flux * 1e6,
                          "flux_ppm_err": error * 1e6})
    series = read_science(frame)
    assert series.columns == {"time": "BJD_TDB_mid", "flux": "flux_ppm", "error": "flux_ppm_err"}
    assert series.system == "BJD_TDB"
    assert sum("picked by the words of its name" in n for n in series.notes) == 3


def test_scale_alone_in_a_name_does_not_say_barycentric():
    time, flux, _ = _series(4)
    series = read_science(pd.DataFrame({"time_tdb": time, "flux": flux}))
    assert (series.time_scale, series.barycentric) == ("tdb", False)
    assert any("time_format='bjd'" in n for n in series.notes)


def test_datetime_column_of_a_dataframe_is_utc_mjd():
    stamps = pd.to_datetime(["2022-06-11T07:00:00", "2022-06-11T07:01:00", "2022-06-11T07:02:00"])
    series = read_science(pd.DataFrame({"time": stamps, "flux": [1.0, 1.1, 0.9]}))
    expected = Time(stamps.to_numpy(), format="datetime64", scale="utc").mjd
    assert_allclose(series.time, expected, rtol=0, atol=1e-9)
    assert (series.time_format, series.time_scale, series.barycentric) == ("mjd", "utc", False)


def test_jwst_style_bjd_column_with_mjd_values_is_bmjd():
    time, flux, _ = _series(4)
    series = read_science(pd.DataFrame({"int_mid_BJD_TDB": time - 2400000.5, "flux": flux}))
    assert (series.time_format, series.time_scale, series.barycentric) == ("mjd", "tdb", True)
    assert any("MJD-style values" in n for n in series.notes)


# -- JWST products written by stdatamodels --------------------------------------------------


@pytest.fixture(scope="module")
def dm():
    from stdatamodels.jwst import datamodels

    return datamodels


def _int_times(dm, numbers: np.ndarray) -> np.ndarray:
    table = np.zeros(len(numbers), dtype=dm.CubeModel().get_dtype("int_times"))
    start = MJD_UTC0 + (numbers - 1) * INT_STEP
    table["integration_number"] = numbers
    for when, offset in (("start", 0.0), ("mid", INT_STEP / 2), ("end", INT_STEP)):
        table[f"int_{when}_MJD_UTC"] = start + offset
        table[f"int_{when}_BJD_TDB"] = start + offset + BARY
    return table


def _cube(dm, path: Path, n: int, int_times: np.ndarray, first: int = 1,
          intend: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    model = dm.CubeModel((n, 6, 8))
    model.data = rng.normal(100.0, 5.0, (n, 6, 8)).astype(np.float32)
    model.err = rng.uniform(1.0, 2.0, (n, 6, 8)).astype(np.float32)
    dq = np.zeros((n, 6, 8), dtype=np.uint32)
    dq[:, 0, 0] = 1  # DO_NOT_USE
    dq[:, 1, 1] = 2  # SATURATED only: still used
    dq[1, 2, :] = 1 | 4
    model.dq = dq
    model.data[0, 3, 3] = np.nan
    model.int_times = int_times
    model.meta.exposure.integration_start = first
    model.meta.exposure.integration_end = first + n - 1 if intend is None else intend
    model.meta.exposure.nints = int(int_times["integration_number"].max())
    model.save(str(path))
    return np.asarray(model.data), np.asarray(model.err), dq


def _expected_cube_white_light(data, err, dq) -> tuple[np.ndarray, np.ndarray]:
    """Sums over the pixels valid in every integration (a pixel lost in one would dip it)."""
    valid = (np.isfinite(data) & ((dq & 1) == 0)).all(axis=0)
    assert not valid.all()  # the fixture has pixels lost in some integrations only
    flux = np.where(valid, data.astype(np.float64), 0.0).sum(axis=(1, 2))
    error = np.sqrt(np.where(valid, err.astype(np.float64) ** 2, 0.0).sum(axis=(1, 2)))
    return flux, error


def test_calints_int_times_and_white_light(dm, tmp_path):
    path = tmp_path / "jw01234001001_04101_00001-seg001_nis_calints.fits"
    numbers = np.arange(1, 6)
    table = _int_times(dm, numbers)
    data, err, dq = _cube(dm, path, 5, table)
    series = read_science(path)
    flux, error = _expected_cube_white_light(data, err, dq)
    assert_allclose(series.flux, flux, rtol=1e-12)
    assert_allclose(series.error, error, rtol=1e-12)
    assert_array_equal(series.int_times["start"], table["int_start_MJD_UTC"])
    assert_array_equal(series.int_times["mid"], table["int_mid_MJD_UTC"])
    assert_array_equal(series.int_times["end"], table["int_end_MJD_UTC"])
    assert list(series.int_times.columns) == ["start", "mid", "end"]
    assert_array_equal(series.time, table["int_mid_BJD_TDB"])
    assert (series.time_format, series.time_scale, series.barycentric) == ("mjd", "tdb", True)
    assert series.system == "BMJD_TDB"
    assert series.columns["time"] == "INT_TIMES.int_mid_BJD_TDB"
    notes = " ".join(series.notes)
    assert "crude white light" in notes and "not for science" in notes
    assert "integrations 1–5" in notes


def test_rateints_segment_reads_its_own_rows_of_a_full_int_times(dm, tmp_path):
    path = tmp_path / "jw01234001001_04101_00001-seg002_nis_rateints.fits"
    table = _int_times(dm, np.arange(1, 31))  # INT_TIMES lists the whole exposure
    data, err, dq = _cube(dm, path, 10, table, first=11)
    with fits.open(path) as hdul:
        assert (hdul[0].header["INTSTART"], hdul[0].header["INTEND"]) == (11, 20)
        assert len(hdul["INT_TIMES"].data) == 30
    series = read_science(path)
    rows = table[10:20]
    assert len(series) == 10
    assert_array_equal(series.int_times["start"], rows["int_start_MJD_UTC"])
    assert_array_equal(series.int_times["mid"], rows["int_mid_MJD_UTC"])
    assert_array_equal(series.int_times["end"], rows["int_end_MJD_UTC"])
    assert_array_equal(series.time, rows["int_mid_BJD_TDB"])
    assert_allclose(series.flux, _expected_cube_white_light(data, err, dq)[0], rtol=1e-12)
    assert any("integrations 11–20" in n and "lists 1–30" in n for n in series.notes)


def test_segment_whose_int_times_lists_only_its_own_rows(dm, tmp_path):
    path = tmp_path / "seg002_calints.fits"
    table = _int_times(dm, np.arange(11, 21))
    _cube(dm, path, 10, table, first=11)
    series = read_science(path)
    assert_array_equal(series.int_times["mid"], table["int_mid_MJD_UTC"])


#: cubes whose INT_TIMES cannot be matched: (file, integrations listed, a duplicated one,
#: planes in the cube, INTSTART, INTEND, the message expected)
_UNMATCHED_CUBES = [
    ("seg003_calints.fits", 30, None, 10, 25, None,
     r"seg003_calints.fits.*no rows for integration\(s\) 31–34.*lists.*1–30"),
    ("bad_calints.fits", 30, None, 10, 11, 25,
     r"bad_calints.fits.*INTSTART=11 and INTEND=25 say 15 integration\(s\) but the file "
     r"holds 10"),
    ("dup_calints.fits", 5, 3, 5, 1, None,
     r"dup_calints.fits.*INT_TIMES lists integration\(s\) 3 more than once"),
]


@pytest.mark.parametrize(("name", "listed", "duplicate", "n", "first", "intend", "message"),
                         _UNMATCHED_CUBES, ids=[case[0] for case in _UNMATCHED_CUBES])
def test_int_times_that_cannot_be_matched_raise(dm, tmp_path, name, listed, duplicate, n,
                                                first, intend, message):
    table = _int_times(dm, np.arange(1, listed + 1))
    if duplicate is not None:
        table["integration_number"][duplicate] = duplicate  # row 4 says 3 as well
    _cube(dm, tmp_path / name, n, table, first=first, intend=intend)
    with pytest.raises(ScienceReadError, match=message):
        read_science(tmp_path / name)


def test_unfilled_bjd_falls_back_to_mjd_utc(dm, tmp_path):
    path = tmp_path / "nobjd_calints.fits"
    table = _int_times(dm, np.arange(1, 5))
    for when in ("start", "mid", "end"):
        table[f"int_{when}_BJD_TDB"] = 0.0
    _cube(dm, path, 4, table)
    series = read_science(path)
    assert_array_equal(series.time, table["int_mid_MJD_UTC"])
    assert (series.time_format, series.time_scale, series.barycentric) == ("mjd", "utc", False)
    assert any("not filled" in n for n in series.notes)


def test_jwst_time_column_can_be_chosen(dm, tmp_path):
    path = tmp_path / "choose_calints.fits"
    table = _int_times(dm, np.arange(1, 5))
    _cube(dm, path, 4, table)
    series = read_science(path, time="INT_MID_MJD_UTC")
    assert_array_equal(series.time, table["int_mid_MJD_UTC"])
    assert series.system == "MJD_UTC"
    with pytest.raises(ScienceReadError, match="flux= and error= cannot be given"):
        read_science(path, flux="FLUX")


def _spectra(n: int, n_wave: int = 9) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    flux = rng.uniform(10.0, 20.0, (n, n_wave))
    error = rng.uniform(0.1, 0.2, (n, n_wave))
    flux[0, 4] = error[0, 4] = np.nan
    flux[2, :2] = error[2, :2] = np.nan
    return flux, error


def _tso_x1dints(dm, path: Path, numbers: np.ndarray, int_times: np.ndarray, first: int = 1,
                 mjd_avg: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Current layout: one EXTRACT1D table, one row per integration, array columns."""
    if not hasattr(dm, "TSOMultiSpecModel"):
        pytest.skip("this stdatamodels has no TSOMultiSpecModel")
    n, n_wave = len(numbers), 9
    flux, error = _spectra(n, n_wave)
    spec_dtype = dm.TSOSpecModel().get_dtype("spec_table")
    scalars = {"INT_NUM", "N_ALONGDISP", "SEGMENT", "MJD-BEG", "MJD-AVG", "MJD-END",
               "TDB-BEG", "TDB-MID", "TDB-END"}
    dtype = [(name, spec_dtype[name]) if name in scalars else
             (name, spec_dtype[name].base, (n_wave,)) for name in spec_dtype.names]
    rows = np.zeros(n, dtype=dtype)
    rows["INT_NUM"] = numbers
    rows["WAVELENGTH"] = np.linspace(0.9, 2.8, n_wave)
    rows["FLUX"], rows["FLUX_ERROR"] = flux, error
    rows["MJD-AVG"] = np.nan if mjd_avg is None else mjd_avg
    model = dm.TSOMultiSpecModel()
    spec = dm.TSOSpecModel(spec_table=rows)
    spec.spectral_order = 1
    model.spec.append(spec)
    model.int_times = int_times
    model.meta.exposure.integration_start = first
    model.meta.exposure.integration_end = first + n - 1
    model.save(str(path))
    return flux, error


def _expected_spectra_white_light(flux, error) -> tuple[np.ndarray, np.ndarray]:
    """Sums over the wavelengths finite in every integration."""
    common = np.isfinite(flux).all(axis=0)
    assert not common.all()  # the fixture has bins lost in some integrations only
    return (np.where(common, flux, 0.0).sum(axis=1),
            np.sqrt(np.where(common, error ** 2, 0.0).sum(axis=1)))


def test_x1dints_tso_layout(dm, tmp_path):
    path = tmp_path / "jw01234001001_04101_00001-seg002_nis_x1dints.fits"
    table = _int_times(dm, np.arange(1, 31))
    numbers = np.arange(11, 21)
    flux, error = _tso_x1dints(dm, path, numbers, table, first=11,
                               mjd_avg=table["int_mid_MJD_UTC"][10:20])
    with fits.open(path) as hdul:  # the layout this stdatamodels writes
        assert hdul["EXTRACT1D"].data["FLUX"].shape == (10, 9)
    series = read_science(path)
    expected_flux, expected_error = _expected_spectra_white_light(flux, error)
    assert_allclose(series.flux, expected_flux, rtol=1e-12)
    assert_allclose(series.error, expected_error, rtol=1e-12)
    assert_array_equal(series.int_times["mid"], table["int_mid_MJD_UTC"][10:20])
    assert_array_equal(series.time, table["int_mid_BJD_TDB"][10:20])
    assert series.system == "BMJD_TDB"
    assert series.columns["flux"].startswith("EXTRACT1D.FLUX")
    assert any("crude white light" in n for n in series.notes)


def test_x1dints_int_num_missing_from_int_times_raises(dm, tmp_path):
    path = tmp_path / "gap_x1dints.fits"
    _tso_x1dints(dm, path, np.arange(1, 6), _int_times(dm, np.array([1, 2, 4, 5, 6])))
    with pytest.raises(ScienceReadError, match=r"gap_x1dints.fits.*no rows for "
                                               r"integration\(s\) 3 .*INT_NUM 1–5"):
        read_science(path)


def test_x1dints_whose_mjd_avg_disagrees_with_int_times_raises(dm, tmp_path):
    path = tmp_path / "shifted_x1dints.fits"
    table = _int_times(dm, np.arange(1, 6))
    _tso_x1dints(dm, path, np.arange(1, 6), table, mjd_avg=table["int_mid_MJD_UTC"] + 0.01)
    with pytest.raises(ScienceReadError, match=r"shifted_x1dints\.fits.*MJD-AVG disagree"):
        read_science(path)


def test_x1dints_older_layout_one_extension_per_integration(dm, tmp_path):
    path = tmp_path / "old_x1dints.fits"
    n = 4
    flux, error = _spectra(n)
    model = dm.MultiSpecModel()
    for k in range(n):
        rows = np.zeros(flux.shape[1], dtype=dm.SpecModel().get_dtype("spec_table"))
        rows["WAVELENGTH"] = np.linspace(0.9, 2.8, flux.shape[1])
        rows["FLUX"], rows["FLUX_ERROR"] = flux[k], error[k]
        spec = dm.SpecModel(spec_table=rows)
        spec.int_num = k + 1
        model.spec.append(spec)
    table = _int_times(dm, np.arange(1, n + 1))
    model.int_times = table
    model.save(str(path))
    with fits.open(path) as hdul:
        assert [h.header.get("INT_NUM") for h in hdul if h.name == "EXTRACT1D"] == [1, 2, 3, 4]
    series = read_science(path)
    expected_flux, expected_error = _expected_spectra_white_light(flux, error)
    assert_allclose(series.flux, expected_flux, rtol=1e-12)
    assert_allclose(series.error, expected_error, rtol=1e-12)
    assert_array_equal(series.int_times["start"], table["int_start_MJD_UTC"])


def test_jwst_file_without_int_times_raises(dm, tmp_path):
    path = tmp_path / "jw01234_nis_calints.fits"
    model = dm.CubeModel((3, 4, 4))
    model.save(str(path))
    with pytest.raises(ScienceReadError, match=r"jw01234_nis_calints\.fits.*without an INT_TIMES"):
        read_science(path)


def test_empty_int_times_raises(tmp_path):
    path = tmp_path / "empty_calints.fits"
    empty = fits.BinTableHDU.from_columns(
        [fits.Column(name="integration_number", format="J", array=np.zeros(0, np.int32))],
        name="INT_TIMES")
    sci = fits.ImageHDU(np.ones((3, 2, 2), np.float32), name="SCI")
    fits.HDUList([fits.PrimaryHDU(), sci, empty]).writeto(path)
    with pytest.raises(ScienceReadError, match=r"empty_calints\.fits.*INT_TIMES extension has "
                                               "no rows"):
        read_science(path)


# -- errors ---------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ScienceReadError, match=r"nowhere\.dat: no such file"):
        read_science(tmp_path / "nowhere.dat")


def test_unknown_binary_format(tmp_path):
    path = tmp_path / "lc.bin"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ScienceReadError, match=r"lc\.bin: unknown format"):
        read_science(path)


#: text files that cannot be read: (name, content, the message expected, as a regex)
_UNREADABLE_TEXT = [
    ("fake.fits", "1 2 3\n4 5 6\n", r"fake\.fits: named like a FITS file"),
    ("ragged.csv", "time,flux\n2459738.8,1.0\n2459738.9,1.0,5,6\n",
     r"ragged\.csv: cannot be read as a CSV table"),
    ("words.csv", "name,kind\nHAT-P-14,b\nWASP-39,b\n",
     r"words\.csv: has no numeric column.*'name' \(text\)"),
    ("when.csv", "when,flux\n1.0,1.0\n2.0,1.0\n",
     r"when\.csv: found no time column.*'when'.*time="),
    ("text.dat", "2459738.8 SOSS 1.0\n2459738.9 SOSS 1.0\n",
     r"text\.dat: the flux column 1 is not numeric.*'SOSS'"),
    ("stray.csv", "time,flux\n2459738.8,1.0\n2459738.9,oops\n2459739.0,1.0\n",
     r"stray\.csv: the flux column 'flux' is not numeric at row 1.*'oops'"),
    ("one.csv", "time,flux\n2459738.8,1.0\n", r"one\.csv: has 1 data row\(s\); .*at least 2"),
    ("empty.dat", "# nothing here\n\n", r"empty\.dat: has no data rows"),
]


@pytest.mark.parametrize(("name", "content", "message"), _UNREADABLE_TEXT,
                         ids=[case[0] for case in _UNREADABLE_TEXT])
def test_unreadable_text_files_say_which_and_why(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ScienceReadError, match=message):
        read_science(path)


def test_named_column_not_present_lists_the_columns(tmp_path):
    path = tmp_path / "lc.csv"
    time, flux, _ = _series(3)
    pd.DataFrame({"bjd_tdb": time, "flux": flux}).to_csv(path, index=False)
    with pytest.raises(ScienceReadError, match=r"lc\.csv: has no column named 'relflux' \(asked "
                                               r"for as flux\).*'bjd_tdb' \(number\), 'flux'"):
        read_science(path, flux="relflux")
    with pytest.raises(ScienceReadError, match=r"lc\.csv: error=5 is out of range"):
        read_science(path, error=5)


def test_time_not_increasing_names_the_row(tmp_path):
    path = tmp_path / "lc.csv"
    time, flux, _ = _series(6)
    time[4] = time[3]
    pd.DataFrame({"bjd_tdb": time, "flux": flux}).to_csv(path, index=False)
    with pytest.raises(ScienceReadError, match=r"lc\.csv: the time column 'bjd_tdb' is not "
                                               r"strictly increasing: row 4 .* row 3"):
        read_science(path)


def test_time_with_nan_names_the_rows(tmp_path):
    path = tmp_path / "lc.dat"
    time, flux, _ = _series(6)
    lines = [f"{'nan' if i in (1, 5) else repr(float(t))} {float(f)!r}"
             for i, (t, f) in enumerate(zip(time, flux, strict=True))]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ScienceReadError, match=r"lc\.dat: the time column 0 has no value \(NaN\) "
                                               r"in 2 row\(s\): 1, 5"):
        read_science(path)


def test_flux_all_nan(tmp_path):
    time, _, _ = _series(4)
    frame = pd.DataFrame({"bjd_tdb": time, "flux": np.full(4, np.nan)})
    with pytest.raises(ScienceReadError, match=r"pandas DataFrame: the flux \(flux\) is NaN in "
                                               "every one of its 4 rows"):
        read_science(frame)


def test_time_values_neither_jd_nor_mjd():
    frame = pd.DataFrame({"time": [9738.80, 9738.81], "flux": [1.0, 1.0]})
    with pytest.raises(ScienceReadError, match=r"the time column 'time' values .* look neither "
                                               "like JD"):
        read_science(frame)


def test_heliocentric_time_is_refused():
    frame = pd.DataFrame({"hjd_utc": [2459738.80, 2459738.81], "flux": [1.0, 1.0]})
    with pytest.raises(ScienceReadError, match=r"'hjd_utc' is heliocentric"):
        read_science(frame)


def test_fits_without_tables(tmp_path):
    path = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((2, 2))).writeto(path)
    with pytest.raises(ScienceReadError, match=r"image\.fits: has no table extension"):
        read_science(path)


def test_wrong_source_type():
    with pytest.raises(TypeError, match="source must be a path"):
        read_science(42)  # type: ignore[arg-type]


def test_a_cube_with_no_pixel_valid_throughout_is_refused(dm, tmp_path):
    path = tmp_path / "jw01234001001_04101_00001-seg001_nis_calints.fits"
    model = dm.CubeModel((3, 2, 2))
    model.data = np.ones((3, 2, 2), dtype=np.float32)
    model.err = np.ones((3, 2, 2), dtype=np.float32)
    dq = np.ones((3, 2, 2), dtype=np.uint32)  # DO_NOT_USE everywhere but one pixel each:
    dq[0, 0, 0] = dq[1, 0, 1] = dq[2, 1, 0] = 0  # a different one in each integration
    model.dq = dq
    model.data[:, 1, 1] = np.nan  # and the last pixel is never finite
    model.int_times = _int_times(dm, np.arange(1, 4))
    model.meta.exposure.integration_start, model.meta.exposure.integration_end = 1, 3
    model.meta.exposure.nints = 3
    model.save(str(path))
    with pytest.raises(ScienceReadError, match=r"no pixel is valid .* in every integration"):
        read_science(path)

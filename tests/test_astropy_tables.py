"""The guide-star series and result tables as astropy objects with units, FITS and ECSV round
trips, the FITS export everywhere (Python, App, CLI), and lightkurve's LightCurve."""

from __future__ import annotations

import warnings

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import QTable
from astropy.time import Time
from astropy.timeseries import TimeSeries

from fgs_widgets.astropy_tables import (
    PLATE_SCALE_MAS,
    read_table,
    to_lightkurve,
    to_pandas,
    to_qtable,
    write_table,
)
from fgs_widgets.data import BAD_QUALITY, GuideStarData, Quality

DN_S = u.Unit("DN/s")


@pytest.fixture(scope="module")
def full_fit(sample_data):
    """The first 700 frames (two flagged among them) and their full fit, errors included."""
    from fgs_widgets.runtime.fit import fit_gaussians

    data = sample_data[:700]
    return data, fit_gaussians(data.frames, data.errors, executor="serial")


@pytest.fixture
def rich_session(fitted_session):
    """The sample with its quick fit, events (text with arrows, open ends) and peaks."""
    fitted_session.add_local_events()
    fitted_session.detect_events()
    fitted_session.compute_periodograms(["flux", "x_mean"])
    return fitted_session


def assert_tables_equal(a: QTable, b: QTable) -> None:
    """Same class, columns, column classes, dtypes, units, masks, values (NaN = NaN), meta."""
    assert type(a) is type(b)
    assert a.colnames == b.colnames
    assert dict(a.meta) == dict(b.meta)
    for name in a.colnames:
        x, y = a[name], b[name]
        assert type(x) is type(y), name
        mask_x, mask_y = (np.broadcast_to(np.asarray(getattr(c, "mask", False)), (len(c),))
                          for c in (x, y))
        assert np.array_equal(mask_x, mask_y), name
        kept = ~mask_x
        if isinstance(x, Time):
            assert x.scale == y.scale and x.format == y.format, name
            assert np.all((x[kept] - y[kept]).to_value(u.ns) == 0), name
            continue
        assert x.dtype == y.dtype, name
        assert getattr(x, "unit", None) == getattr(y, "unit", None), name
        vx, vy = (np.asarray(getattr(getattr(c, "value", c), "data", getattr(c, "value", c)))
                  for c in (x, y))
        assert np.array_equal(vx[kept], vy[kept], equal_nan=vx.dtype.kind == "f"), name


# -- the TimeSeries ------------------------------------------------------------------------
def test_session_timeseries_has_utc_times_units_every_frame_and_meta(fitted_session):
    data, fit = fitted_session.data, fitted_session.quick_fit
    series = fitted_session.to_timeseries()
    assert isinstance(series, TimeSeries) and len(series) == len(data)  # flagged frames kept
    assert series.time.scale == "utc" and series.time.format == "mjd"
    assert np.array_equal(series.time.mjd, data.time)
    assert series["flux"].unit == DN_S
    assert np.array_equal(series["flux"].value, data.flux, equal_nan=True)
    assert series["flux_err"].unit == DN_S  # the sample's files carry ERR
    expected_err = np.sqrt(np.nansum(data.errors.astype(np.float64) ** 2, axis=(1, 2)))
    assert np.allclose(series["flux_err"].value, expected_err, rtol=1e-12)
    units = {"amplitude": DN_S, "offset": DN_S, "x_mean": u.pix, "y_mean": u.pix,
             "x_stddev": u.pix, "y_stddev": u.pix, "theta": u.rad}
    for name, unit in units.items():
        assert series[name].unit == unit, name
        assert np.array_equal(series[name].value, fit[name].to_numpy(), equal_nan=True)
    assert list(series["status"][:3]) == list(fit["status"].astype(str)[:3])
    assert series["quality"].dtype == np.uint16
    assert np.array_equal(series["quality"], data.quality)
    assert (np.asarray(series["quality"]) & int(BAD_QUALITY)).astype(bool).sum() == 7
    files = list(data.products["file_name"])
    assert [files[i] for i in series["file_index"][[0, -1]]] == [files[0], files[-1]]
    meta = series.meta
    assert meta["TELESCOP"] == "JWST" and meta["INSTRUME"] == "FGS"
    assert meta["PROGRAM"] == "1534" and meta["FILES"] == files
    assert meta["GS_ID"] == list(dict.fromkeys(data.products["gs_id"]))
    assert meta["GS_RA"][0] == pytest.approx(data.products["gs_ra"].iloc[0])
    assert "UTC" in meta["CLOCK"] and "not barycentric" in meta["CLOCK"]


def test_timeseries_columns_errors_and_milliarcseconds(full_fit):
    data, fit = full_fit
    series = data.to_timeseries(fit, columns=["x_mean", "theta"], mas=True)
    assert series.colnames == ["time", "x_mean", "x_mean_err", "theta", "theta_err",
                               "x_mean_mas", "x_mean_mas_err", "y_mean_mas", "y_mean_mas_err",
                               "quality", "file_index"]
    assert series["x_mean_err"].unit == u.pix and series["theta_err"].unit == u.rad
    assert np.array_equal(series["x_mean_err"].value, fit["x_mean_err"], equal_nan=True)
    assert series["x_mean_mas"].unit == u.mas
    assert np.allclose(series["x_mean_mas"].value, fit["x_mean"] * PLATE_SCALE_MAS)
    assert series.meta["PLATESCL"] == PLATE_SCALE_MAS
    # the scale in any angle per pixel
    other = data.to_timeseries(fit, columns=["y_mean"], mas=True,
                               plate_scale=0.07 * u.arcsec / u.pix)
    assert np.allclose(other["y_mean_mas"].value, fit["y_mean"] * 70.0)
    assert np.allclose(other["y_mean_mas_err"].value, fit["y_mean_err"] * 70.0, equal_nan=True)


def test_timeseries_refuses_what_it_cannot_do(fitted_session, full_fit):
    data, fit = full_fit
    with pytest.raises(KeyError, match=r"no series \['x_center'\].*available \['flux', "
                                       r"'amplitude'"):
        fitted_session.to_timeseries(columns=["flux", "x_center"])
    with pytest.raises(KeyError, match="fit first"):
        data.to_timeseries(columns=["x_mean"])
    with pytest.raises(ValueError, match="the fit has 700 rows but the data 14336 frames"):
        fitted_session.data.to_timeseries(fit)
    with pytest.raises(ValueError, match="plate_scale must be a positive"):
        data.to_timeseries(fit, mas=True, plate_scale=-1)
    with pytest.raises(ValueError, match="mas=True gives the fitted centroids in mas: fit"):
        data.to_timeseries(mas=True)
    from fgs_widgets import Session

    with pytest.raises(ValueError, match="load"):
        Session().to_timeseries()


# -- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".fits", ".ecsv"])
def test_timeseries_round_trip_is_equal(full_fit, tmp_path, suffix):
    data, fit = full_fit
    series = data.to_timeseries(fit, mas=True)
    path = write_table(series, tmp_path / f"guide_star{suffix}")
    back = read_table(path)
    assert isinstance(back, TimeSeries)
    assert_tables_equal(series, back)
    assert "FGSCLASS" not in series.meta  # the writer's own key stayed out of the user's meta


@pytest.mark.parametrize("suffix", [".fits", ".ecsv"])
def test_a_guide_star_without_catalog_values_round_trips(full_fit, tmp_path, suffix):
    data, fit = full_fit
    blank = data.products.assign(gs_mag=np.nan, gsc_version=None)
    series = GuideStarData(**{**vars(data), "products": blank}).to_timeseries(fit)
    assert series.meta["GS_MAG"] == [None] and series.meta["GS_RA"][0] > 0
    back = read_table(write_table(series, tmp_path / f"blank{suffix}"))
    assert back.meta["GS_MAG"] == [None] and back.meta["GSC_VER"] == [None]
    assert_tables_equal(series, back)


@pytest.mark.parametrize("suffix", [".fits", ".ecsv"])
def test_every_session_table_round_trips_with_units_and_times(rich_session, tmp_path, suffix):
    names = set(rich_session.tables())
    assert {"products", "series", "quick_fit", "events", "peaks"} <= names
    for name in names:
        table = rich_session.to_qtable(name)
        back = read_table(write_table(table, tmp_path / f"{name}{suffix}"))
        assert_tables_equal(table, back)
    events = rich_session.to_qtable("events")
    assert isinstance(events["time"], Time) and events["time"].scale == "utc"
    assert events["end"].mask.any() and not events["end"].mask.all()  # open ends are masked
    assert any(not str(v).isascii() for v in events["label"])  # e.g. an arrow survives FITS
    peaks = rich_session.to_qtable("peaks")
    assert peaks["period"].unit == u.s and peaks["frequency"].unit == 1 / u.s
    products = rich_session.to_qtable("products")
    assert products["gs_ra"].unit == u.deg and isinstance(products["data_start"], Time)
    assert products.meta["EXTNAME"] == "PRODUCTS" and products.meta["PROGRAM"] == "1534"
    with pytest.raises(KeyError, match=r"no table 'fit' in this session now: it holds \["):
        rich_session.to_qtable("fit")


def test_fits_headers_carry_units_for_any_reader(fitted_session, tmp_path):
    path = write_table(fitted_session.to_timeseries(), tmp_path / "series.fits")
    header = fits.getheader(path, 1)
    units = {header[f"TTYPE{i}"]: header.get(f"TUNIT{i}") for i in
             range(1, header["TFIELDS"] + 1)}
    assert units["flux"] == "DN/s" and units["x_mean"] == "pix" and units["theta"] == "rad"
    assert units["time"] == "d" and header["TIMESYS"] == "UTC"
    assert header["TELESCOP"] == "JWST" and header["PROGRAM"] == "1534"
    # astropy's own reader, with no help from ours: pix and rad are FITS units; DN/s is
    # not one (astropy reads it as unrecognised, as it reads the pipeline's own files)
    with pytest.warns(u.UnitsWarning, match="DN/s"):
        plain = QTable.read(path, astropy_native=True)
    assert plain["x_mean"].unit == u.pix and isinstance(plain["time"], Time)
    assert u.Unit(str(plain["flux"].unit)) == DN_S
    assert read_table(path)["flux"].unit == DN_S  # ours gives the unit back


def test_to_pandas_gives_the_plain_numbers_back(rich_session):
    events = rich_session.events
    back = to_pandas(rich_session.to_qtable("events"))
    assert np.array_equal(back["time"], events["time"])
    assert np.array_equal(back["end"], events["end"], equal_nan=True)
    series = to_pandas(to_qtable(pd.DataFrame({"flux": [1.0, 2.0]})))
    assert series["flux"].tolist() == [1.0, 2.0]


# -- exports: Python, App, CLI ---------------------------------------------------------------
def test_export_table_writes_fits_with_units(rich_session, tmp_path):
    from fgs_widgets.widgets.export import FORMATS, export_table

    assert "fits" in FORMATS
    path = export_table(rich_session.tables()["quick_fit"], "quick_fit", "fits", tmp_path,
                        meta=rich_session.table_meta("quick_fit"))
    header = fits.getheader(path, 1)
    assert header["EXTNAME"] == "QUICK_FIT" and header["INSTRUME"] == "FGS"
    assert {header.get(f"TUNIT{i}") for i in range(1, header["TFIELDS"] + 1)} >= {"DN/s",
                                                                                   "pix", "rad"}
    assert not list(tmp_path.glob(".*partial*"))


def test_app_exports_fits(rich_session, tmp_path, monkeypatch):
    from fgs_widgets.widgets.app import App

    monkeypatch.chdir(tmp_path)
    app = App(rich_session)
    try:
        table, fmt, button = _export_row(app)
        assert "fits" in fmt.options
        table.value, fmt.value = "series", "fits"
        button.click()
        assert app.export_status.value.count("wrote") == 1, app.export_status.value
        back = read_table(tmp_path / "fgs_exports" / "series.fits")
        assert back["flux"].unit == DN_S and isinstance(back["time"], Time)
        assert np.array_equal(back["flux"].value, rich_session.data.flux, equal_nan=True)
    finally:
        app.close()


def _export_row(app):
    """The App's export row: (table dropdown, format dropdown, Export button)."""
    import ipywidgets as W

    def walk(widget):
        yield widget
        for child in getattr(widget, "children", ()):
            yield from walk(child)

    for box in walk(app):
        if isinstance(box, W.HBox) and app.export_button in box.children:
            return box.children
    raise AssertionError("the App has no export row")


def test_cli_fit_writes_fits_that_periodogram_reads(sample, tmp_path, capsys):
    from fgs_widgets.cli import main

    out = tmp_path / "fit.fits"
    assert main(["fit", str(sample.directory), "--observation", "2", "--visit", "2",
                 "--quick", "-o", str(out)]) == 0
    table = read_table(out)
    assert len(table) == 2048 and table.meta["FIT"] == "quick"
    assert table["x_mean"].unit == u.pix and isinstance(table["time"], Time)
    header = fits.getheader(out, 1)
    assert "DN/s" in [header.get(f"TUNIT{i}") for i in range(1, header["TFIELDS"] + 1)]
    capsys.readouterr()
    assert main(["periodogram", str(out), "--columns", "x_mean"]) == 0
    printed = capsys.readouterr().out
    best = float(printed.splitlines()[1].split()[1])  # x_mean's first peak, period_s
    assert 37.0 < best < 38.0, printed


def test_survey_statistics_as_qtable_with_units(fitted_session):
    from fgs_widgets.engine.stability import visit_statistics
    from fgs_widgets.survey import survey_qtable

    stats = visit_statistics(fitted_session.data, fitted_session.quick_fit)
    table = survey_qtable(stats)
    assert table["stability_mas"].unit == u.mas and table["psf_width_px"].unit == u.pix
    assert table["psf_width_drift_px_per_h"].unit == u.pix / u.h
    assert isinstance(table["start_mjd"], Time) and table["duration_s"].unit == u.s
    assert "JDox" in table["stability_mas"].info.description
    assert np.allclose(table["stability_mas"].value, stats["stability_mas"], equal_nan=True)


# -- lightkurve ------------------------------------------------------------------------------
def test_without_lightkurve_the_error_says_how_to_install(fitted_session):
    try:
        import lightkurve  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("lightkurve is installed here: the message is for an install without it")
    with pytest.raises(ImportError, match=r"pip install 'fgs-widgets\[lightkurve\]'"):
        fitted_session.to_lightkurve()


@pytest.mark.lightkurve
def test_lightkurve_periodogram_finds_the_sample_oscillation(fitted_session):
    pytest.importorskip("lightkurve", reason="lightkurve is an optional extra (pandas < 3): "
                                             "make test runs it in .venv-lightkurve")
    import lightkurve as lk

    data = fitted_session.data
    lc = fitted_session.to_lightkurve("x_mean")
    assert isinstance(lc, lk.LightCurve)
    unusable = (data.quality & int(BAD_QUALITY)) != 0
    assert len(lc) == len(data) - unusable.sum() and lc.meta["NFLAGGED"] == unusable.sum() == 7
    assert lc.flux.unit == u.pix and lc.meta["FLUX_ORIGIN"] == "x_mean"
    assert np.array_equal(lc.flux.value, fitted_session.quick_fit["x_mean"][~unusable],
                          equal_nan=True)
    assert np.array_equal(lc["frame_flux"].value, data.flux[~unusable])
    assert np.array_equal(np.asarray(lc.quality), data.quality[~unusable])
    assert lc.time.scale == "utc"
    periodogram = lc.remove_nans().to_periodogram(minimum_period=5 * u.s,
                                                  maximum_period=200 * u.s)
    assert periodogram.period_at_max_power.to_value(u.s) == pytest.approx(37.45, abs=0.15)
    everything = fitted_session.to_lightkurve("x_mean", quality_bitmask="none")
    assert len(everything) == len(data) and everything.meta["NFLAGGED"] == 0
    only_gaps = fitted_session.to_lightkurve(quality_bitmask=int(Quality.FILE_START))
    assert len(only_gaps) == len(data) - len(data.products)


@pytest.mark.lightkurve
def test_lightkurve_flux_error_is_the_fit_error(full_fit):
    pytest.importorskip("lightkurve", reason="lightkurve is an optional extra (pandas < 3): "
                                             "make test runs it in .venv-lightkurve")
    data, fit = full_fit
    lc = data.to_lightkurve("x_mean_mas", fit, mas=True, quality_bitmask="none")
    assert lc.flux.unit == u.mas
    assert np.allclose(lc.flux_err.value, fit["x_mean_err"] * PLATE_SCALE_MAS, equal_nan=True)
    flux = data.to_lightkurve(quality_bitmask="none")
    assert flux.flux.unit == DN_S and np.isfinite(flux.flux_err.value).all()
    with pytest.raises(KeyError, match="no series 'quality'"):
        to_lightkurve(data.to_timeseries(fit), "quality")
    with pytest.raises(ValueError, match="quality_bitmask must be"):
        data.to_lightkurve(quality_bitmask="hard")


@pytest.mark.lightkurve
def test_the_light_curve_opens_in_lcviz(fitted_session, tmp_path):
    """The README's hand-off: a light curve written as ECSV here, read by lightkurve and
    loaded into lcviz there (lcviz 2 pins bqplot < 0.13, so not in make test's venvs)."""
    lk = pytest.importorskip("lightkurve", reason="lightkurve is an optional extra")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import lcviz
    except ImportError as exc:
        pytest.skip(f"lcviz is not installed ({exc}): lcviz 2 (jdaviz 5) needs bqplot < 0.13, "
                    "fgs-widgets bqplot 0.13; install it in an environment of its own")
    path = tmp_path / "guide_star_x_mean.ecsv"
    fitted_session.to_lightkurve("x_mean").write(path, format="ascii.ecsv")
    lc = lk.LightCurve.read(path, format="ascii.ecsv")
    before = lc.copy()
    app = lcviz.new_app()
    app.load(lc.copy(), format="Light Curve", data_label="FGS x_mean")
    assert "FGS x_mean" in app.datasets
    assert "FGS x_mean" in app.viewers["flux-vs-time"].data_menu.data_labels_loaded
    loaded = app.get_data("FGS x_mean")
    assert len(loaded) == len(before) == len(fitted_session.data) - 7
    assert np.array_equal(u.Quantity(loaded.flux).to_value(u.pix), before.flux.to_value(u.pix),
                          equal_nan=True)
    assert loaded.time.scale == "utc"
    assert np.abs((loaded.time - before.time).to_value(u.s)).max() < 1e-6
    assert np.array_equal(np.asarray(loaded["quality"]), np.asarray(before["quality"]))
    assert loaded.meta["PROGRAM"] == "1534"


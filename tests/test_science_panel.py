"""SciencePanel driven from Python: the science light curve on the FGS time axis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fgs_widgets.archive.sample import SCIENCE_TARGET, sample_program
from fgs_widgets.archive.science import read_science
from fgs_widgets.data import ScienceInput
from fgs_widgets.engine.scales import js_number
from fgs_widgets.engine.timesystems import to_observatory_utc
from fgs_widgets.model import Session
from fgs_widgets.widgets.science_panel import SciencePanel, format_pm
from fgs_widgets.widgets.timeseries import TimeseriesViewer


def read_sample_science(path) -> object:
    """The sample's light curve (BJD_TDB) on the observatory's UTC clock, toward its target."""
    return to_observatory_utc(read_science(path), ra=SCIENCE_TARGET[0], dec=SCIENCE_TARGET[1])


@pytest.fixture(scope="module")
def science(sample):
    return read_sample_science(sample.science_path)


@pytest.fixture
def fitted(fitted_session):
    """The sample read and quick-fitted, a new Session each test (conftest: read and fitted
    once per run); no science series yet."""
    return fitted_session


@pytest.fixture
def views(fitted, science):
    viewer = TimeseriesViewer(fitted, columns=("flux", "x_mean"))
    panel = SciencePanel(fitted, viewer)
    fitted.science = science
    yield fitted, viewer, panel
    panel.close()
    viewer.close()


def seconds(session: Session, mjd) -> np.ndarray:
    return (np.asarray(mjd) - session.data.time[0]) * 86400.0


def test_flux_points_at_seconds_since_first_frame(views):
    s, _, panel = views
    assert len(panel.flux_marks.x) == 127 == len(s.science)
    np.testing.assert_allclose(panel.flux_marks.x, seconds(s, s.science.time), atol=1e-6)
    np.testing.assert_array_equal(panel.flux_marks.y, s.science.flux)
    assert 0 < panel.flux_marks.x[0] < panel.flux_marks.x[-1] < seconds(s, s.data.time[-1])
    assert panel.regressors.options == tuple(s.columns())
    assert panel.regressors.value == ("x_mean", "y_mean")
    assert panel.hint.layout.display == "none"
    assert panel.figure in panel.plots.children and panel.lower_figure in panel.plots.children
    assert "127 integrations" in panel.summary.value
    # nice y ticks with their labels, and the labels asked for
    for axis in (panel.flux_axis, panel.x_axis):
        assert len(axis.tick_values) >= 3
        assert all(js_number(v) in axis.tick_labels for v in axis.tick_values)
    assert panel.flux_axis.label.startswith("science flux")


def test_hover_names_the_integration_and_a_click_picks_the_frame(views):
    s, viewer, panel = views
    x = seconds(s, s.science.time)
    assert panel.pointer.root_class == "fgs-science-panel"
    assert panel.pointer in panel.plots.children
    panel.pointer.hover = {"panel": 0, "x": float(x[40] + 0.4)}
    text = panel.pointer.readout
    assert "integration 40 " in text and f"MJD UTC {s.science.time[40]:.6f}" in text
    assert f"BJD_TDB {s.science.original_time[40]:.6f}" in text and "residual" not in text
    panel.decorrelate(["x_mean"])
    s.bin_to_science(["x_mean"])
    panel.pointer.hover = {"panel": 1, "x": float(x[40])}
    residual = s.decorrelation.residuals[40] * 1e6
    assert f"residual {residual:+.1f} ppm" in panel.pointer.readout
    assert f"{int(s.science_binned['count'][40])} good frames" in panel.pointer.readout
    panel.pointer.hover = {}
    assert "hover a plot" in panel.pointer.readout
    panel.pointer.pick = {"x": float(x[100]), "n": 1}
    assert abs(s.data.time[s.cursor] - s.science.time[100]) * 86400 <= 0.0625
    assert panel.cursor.x[0] == pytest.approx(seconds(s, s.data.time[s.cursor]))
    viewer.xs.min, viewer.xs.max = 100.0, 200.0
    assert (panel.pointer.x_min, panel.pointer.x_max) == (100.0, 200.0)


def test_decorrelate_button_fills_model_residuals_and_table(views):
    s, _, panel = views
    assert s.decorrelation is None and len(panel.model_line.x) == 0
    assert panel.lower_hint.visible
    panel.decorrelate_button.click()
    result = s.decorrelation
    assert result is not None and list(result.regressors) == ["x_mean", "y_mean"]
    value, error = result.coefficient("x_mean")
    assert "x_mean" in panel.coefficients.value
    assert format_pm(value, error) in panel.coefficients.value
    assert f"{result.correlation['x_mean']:+.3f}" in panel.coefficients.value
    assert (f"{result.residual_rms_before * 1e6:.1f} → {result.residual_rms_after * 1e6:.1f} ppm"
            in panel.coefficients.value)
    assert "χ²" in panel.coefficients.value
    np.testing.assert_array_equal(panel.model_line.y, result.model)
    np.testing.assert_allclose(panel.model_line.x, seconds(s, s.science.time), atol=1e-6)
    # the regressors as fitted, on the flux axis: mean + r × std of the flux
    flux = s.science.flux[result.used]
    assert panel.overlays.y.shape == (2, 127)
    np.testing.assert_allclose(panel.overlays.y[0], flux.mean() + result.regressors["x_mean"]
                               * flux.std())
    assert list(panel.overlays.labels) == ["x_mean", "y_mean"]
    assert len(set(panel.overlays.colors[:2])) == 2
    assert "x_mean" in panel.legend.value and "model" in panel.legend.value
    np.testing.assert_allclose(panel.lower_marks.y, result.residuals[result.used] * 1e6)
    assert panel.lower_axis.label.startswith("residual (ppm)")
    assert not panel.lower_hint.visible
    panel.lower.value = "corrected"
    np.testing.assert_allclose(panel.lower_marks.y, result.corrected[result.used])
    assert panel.lower_axis.label.startswith("corrected flux")
    assert "residual rms" in panel.status.value and "fgs-error" not in panel.status.value


def test_options_reach_the_session(views):
    s, _, panel = views
    panel.regressors.value = ("x_mean",)
    panel.polynomial.value, panel.standardize.value = 2, False
    panel.decorrelate_button.click()
    result = s.decorrelation
    assert list(result.regressors) == ["x_mean"] and result.polynomial == 2
    assert not result.standardized
    assert "poly2" in panel.coefficients.value and "per unit" in panel.coefficients.value
    # drawn standardized all the same
    row = np.atleast_2d(panel.overlays.y)[0][result.used]  # one line: bqplot keeps 1-D
    flux = s.science.flux[result.used]
    assert row.mean() == pytest.approx(flux.mean()) and row.std() == pytest.approx(flux.std())


def test_stale_decorrelation_is_cleared(views):
    s, _, panel = views
    panel.decorrelate()
    assert len(panel.model_line.y) == 127
    s.quick_fit = s.quick_fit.copy()  # a new fit: the session drops the decorrelation
    assert s.decorrelation is None
    assert len(panel.model_line.y) == 0 and len(panel.lower_marks.y) == 0
    assert "no decorrelation yet" in panel.coefficients.value


def test_zoom_is_shared_with_the_viewer(views):
    s, viewer, panel = views
    assert panel.flux_marks.scales["x"] is viewer.xs
    for figure in (panel.figure, panel.lower_figure):
        assert figure.interaction.scales["x"] == [viewer.xs]
        assert figure.marks[0].scales["x"] is viewer.xs
    x = panel.flux_marks.x
    with viewer.xs.hold_trait_notifications():
        viewer.xs.min, viewer.xs.max = float(x[10]), float(x[40])
    assert panel.x_axis.scale is viewer.xs  # the science figure's x domain is the viewer's
    ticks = np.asarray(panel.x_axis.tick_values)
    assert len(ticks) >= 2 and ticks.min() >= x[10] and ticks.max() <= x[40]
    # the y range follows the points in view
    inside = s.science.flux[10:41]
    assert panel.flux_scale.min < inside.min() and panel.flux_scale.max > inside.max()
    assert s.window == pytest.approx((s.science.time[10], s.science.time[40]), abs=1e-9)
    viewer.reset_zoom()
    panel.zoom_to_science()
    assert viewer.xs.min < x[0] < x[-1] < viewer.xs.max
    assert (viewer.xs.max - viewer.xs.min) < 1.1 * (x[-1] - x[0] + 4)


def test_events_cursor_and_tilts(views):
    s, viewer, panel = views
    s.add_local_events()
    for mine, theirs in ((panel.bands, viewer.panels[0].bands),
                         (panel.instants, viewer.panels[0].instants),
                         (panel.lower_bands, viewer.panels[0].bands)):
        assert mine.x.shape == theirs.x.shape and mine.x.shape[0] > 0
        np.testing.assert_allclose(mine.x, theirs.x)
        assert list(mine.colors) == list(theirs.colors)
    assert len(panel.tilt_marks.x) == 0 and "tilt" not in panel.legend.value
    panel.tilts_button.click()
    jumps = s.events[s.events["kind"] == "tilt"]
    assert len(jumps) >= 1
    np.testing.assert_allclose(np.sort(panel.tilt_marks.x), np.sort(seconds(s, jumps["time"])))
    assert f"{len(jumps)} tilt event(s)" in panel.legend.value
    assert "#d62728" in list(panel.instants.colors)  # tilt instants drawn red
    assert "tilt event" in panel.status.value
    s.events = None
    assert panel.bands.x.shape == (0, 4) and len(panel.tilt_marks.x) == 0
    s.cursor = 1234
    x = seconds(s, s.data.time[1234])
    assert panel.cursor.visible and panel.cursor.x[0] == pytest.approx(x)
    assert panel.lower_cursor.x[1] == pytest.approx(x)


def test_errors_go_to_the_status_line(sample_data, science, tmp_path):
    s = Session()
    s.data = sample_data  # no fit
    viewer = TimeseriesViewer(s)
    panel = SciencePanel(s, viewer)
    try:
        assert panel.hint.layout.display is None and panel.plots.children == ()
        assert "load_science(path)" in panel.hint.value
        assert panel.load() is False and "fgs-error" in panel.status.value
        assert panel.load(str(tmp_path / "missing.dat"), block=True)  # read in a thread
        assert "fgs-error" in panel.status.value and "missing.dat" in panel.status.value
        assert s.science is None
        panel.path.value = str(sample_program().science_path)
        panel.load(block=True)
        assert len(s.science) == len(science) and "BJD_TDB" in panel.status.value
        assert len(panel.flux_marks.x) == len(science)
        s.science = science
        assert panel.regressors.options == ("flux",) and panel.regressors.value == ()
        panel.decorrelate_button.click()  # nothing chosen
        assert "fgs-error" in panel.status.value and "regressor" in panel.status.value
        assert panel.decorrelate(["x_mean"]) is False  # no fit: the session refuses
        assert "fgs-error" in panel.status.value and "x_mean" in panel.status.value
        assert s.decorrelation is None
        panel.tilts_button.click()
        assert "fgs-error" in panel.status.value and "fit first" in panel.status.value
        panel.export_dir = str(tmp_path)
        assert panel.export("decorrelation") is False and "fgs-error" in panel.status.value
    finally:
        panel.close()
        viewer.close()


def test_exports(views, tmp_path):
    s, _, panel = views
    panel.export_dir = str(tmp_path)
    assert panel.export_decorrelation_button.disabled
    panel.export_binned_button.click()  # bins on demand (the session's bin_to_science)
    binned = pd.read_csv(tmp_path / "science_binned.csv")
    assert len(binned) == 127 and "x_mean" in binned and "science_flux" in binned
    panel.decorrelate()
    assert not panel.export_decorrelation_button.disabled
    panel.export_format.value = "ecsv"
    panel.export_decorrelation_button.click()
    assert (tmp_path / "decorrelation.ecsv").stat().st_size > 0
    assert "decorrelation.ecsv" in panel.export_links.value
    tables = s.tables()
    assert {"science_binned", "decorrelation", "decorrelation_coefficients"} <= set(tables)
    np.testing.assert_array_equal(tables["decorrelation"]["model"], s.decorrelation.model)


def test_close_unobserves(views, science):
    s, viewer, panel = views
    panel.decorrelate()
    before = (panel.flux_marks.x.copy(), panel.model_line.y.copy(), panel.cursor.x.copy())
    panel.close()
    shifted = to_observatory_utc(ScienceInput(
        time=science.original_time + 1.0 / 86400, flux=science.flux * 2, error=science.error,
        time_format="jd", time_scale="tdb", barycentric=True),
        ra=SCIENCE_TARGET[0], dec=SCIENCE_TARGET[1])
    s.science = shifted
    s.cursor = 4000
    s.add_local_events()
    viewer.xs.min, viewer.xs.max = 10.0, 20.0
    np.testing.assert_array_equal(panel.flux_marks.x, before[0])
    np.testing.assert_array_equal(panel.model_line.y, before[1])
    np.testing.assert_array_equal(panel.cursor.x, before[2])
    assert panel.bands.x.shape == (0, 4)
    assert panel.figure.comm is None and panel.flux_marks.comm is None
    panel.close()  # twice: harmless


def test_app_has_a_science_tab(fitted, science, tmp_path, monkeypatch):
    from fgs_widgets.widgets import App

    monkeypatch.chdir(tmp_path)
    app = App(fitted)
    try:
        titles = list(app.tabs.titles)
        assert titles.index("Science") == titles.index("Periodogram") + 1
        assert app.tabs.children[titles.index("Science")] is app.science
        assert app.science.xs is app.timeseries.xs
        fitted.science = science
        # the figures enter the page once their tab is chosen (laid out at their size)
        assert not app.science.shown and app.science.plots.children == ()
        app.tabs.selected_index = titles.index("Science")
        assert app.science.figure in app.science.plots.children
        app.science.decorrelate()
        options = app.exports.children[0].children[0].options
        assert "science_binned" in options and "decorrelation" in options
    finally:
        app.close()
    fitted.science = None  # the closed panel no longer follows
    assert len(app.science.flux_marks.x) == 127

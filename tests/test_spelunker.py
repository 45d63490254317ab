"""The seed's API (spelunker quickstart calls) over fgs_widgets."""

from __future__ import annotations

import os
import shutil

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from loopback import Behaviour, LoopbackServer, serve_sample

import fgs_widgets as spelunker
from fgs_widgets.archive import conf
from fgs_widgets.runtime.fit import fit_gaussians


@pytest.fixture
def offline(tmp_path, sample, monkeypatch):
    """A working folder holding the sample's downloads; MAST and the catalog unreachable."""
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    shutil.copytree(sample.directory / "mastDownload", tmp_path / "mastDownload")
    with conf.override(mast_server="http://127.0.0.1:9", gsc_url="http://127.0.0.1:9/g",
                       cache_dir=tmp_path / "cache", timeout=2):
        yield tmp_path


@pytest.fixture
def spk(offline):
    with pytest.warns(UserWarning, match="unreachable"):
        return spelunker.load(dir=str(offline), pid=1534)


def test_load_without_pid_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spk = spelunker.load()
    assert spk.fg_array is None and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="pid"):
        spelunker.load(obs_num=2)


def test_offline_load_uses_files_in_dir(spk, sample_data):
    assert spk.fg_array.shape == (len(sample_data), 8, 8)
    np.testing.assert_array_equal(spk.fg_time, sample_data.time)
    for column in ("filenames", "directory", "obs_num", "visit", "visit_group",
                   "parallel_sequence_id", "activity_number", "exposure_number", "dir_seg",
                   "guider", "gs_id", "guidestar_time"):
        assert column in spk.fg_table.columns
    assert list(spk.object_properties["gs_id"]) == ["N13I000018", "N13I000422"]
    assert spk.object_properties["Jmag"].isna().all()  # the catalog was unreachable
    assert spk.object_properties["ra"].notna().all()  # the headers' values instead
    assert "set" not in repr(spk.mast_api_token)


def test_filters_and_clear_errors(offline):
    with pytest.warns(UserWarning):
        spk = spelunker.load(dir=str(offline), pid="1534", obs_num="2", visit="2")
    assert len(spk.fg_array) == 2048
    with pytest.raises(ValueError, match="needs obs_num"):
        spelunker.load(dir=str(offline), pid=1534, visit=1)
    with pytest.warns(UserWarning):
        seg = spelunker.load(dir=str(offline), pid=1534, dir_seg=2)
    assert list(seg.fg_table["dir_seg"]) == [2]


def test_download_over_loopback_mast(sample, tmp_path, monkeypatch):
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    behaviour = Behaviour()
    serve_sample(behaviour, sample)
    with LoopbackServer(behaviour) as server, conf.override(
            mast_server=server.url, gsc_url=server.url + "/CatalogSearch.aspx",
            cache_dir=tmp_path / "cache"):
        spk = spelunker.load(dir=str(tmp_path / "work"), pid=1534, obs_num=2)
        assert len(spk.fg_array) == 4096 + 2048
        assert len(list((tmp_path / "work" / "mastDownload").rglob("*_cal.fits"))) == 2
        props = spk.object_properties
        assert (props["source"] == "gsc").all()
        # spelunker's column names too, from the catalog's own
        assert list(props["guidestar_catalog_id"]) == ["N13I000422"]  # observation 2's star
        assert props["GAIAdr3sourceID"].iloc[0] == 4657983123498765312
        assert props["Jmag"].iloc[0] == pytest.approx(11.88)
        assert (props["int_start"] < props["int_stop"]).all()


def test_readfile_single_file(sample, offline):
    spk = spelunker.load()
    spk.readfile(str(sample.paths[0]))
    assert spk.fg_array.shape == (4096, 8, 8)
    assert list(spk.fg_table["filenames"]) == [sample.paths[0].name]


def test_gauss2d_fit_on_a_slice_uses_err_weights(spk):
    spk.fg_array = spk.fg_array[1000:3000]
    spk.fg_time, spk.fg_flux = spk.fg_time[1000:3000], spk.fg_flux[1000:3000]
    table = spk.gauss2d_fit(ncpus=2)
    assert table is spk.gaussfit_results and len(table) == 2000
    assert table.colnames[:7] == ["amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev",
                                  "theta", "offset"]
    # the narrowing is the session's: spk.data (and an App on spk.session) hold those frames
    assert len(spk.data) == len(spk.session.data) == 2000
    weighted = fit_gaussians(spk.data.frames, spk.data.errors)
    np.testing.assert_allclose(table["x_mean"], weighted["x_mean"], equal_nan=True)
    quick = spk.quick_fit()
    assert len(quick) == 2000 and spk.quickfit_results is quick


def test_plots_and_periodogram(spk):
    spk.fg_array, spk.fg_time, spk.fg_flux = (spk.fg_array[:8000], spk.fg_time[:8000],
                                              spk.fg_flux[:8000])
    spk.gauss2d_fit()
    _, ax = plt.subplots()
    ax = spk.timeseries_binned_plot()
    assert len(ax.lines) >= 1 and len(ax.containers) == 1  # frames + binned errorbars
    axes = spk.timeseries_list_plot()
    # spelunker's 4x2 layout (ax[0, 0] centroid x ... ax[3, 0] offset), the flux in ax[3, 1]
    assert axes.shape == (4, 2)
    assert [a.get_title() for a in axes.ravel()] == [
        "x_mean", "y_mean", "x_stddev", "y_stddev", "amplitude", "theta", "offset", "flux"]
    np.testing.assert_array_equal(axes[0, 0].lines[0].get_ydata(),
                                  spk.gaussfit_results["x_mean"])
    assert len(axes[3, 1].lines[0].get_xdata()) == 8000
    before = spk.gaussfit_results.copy()
    axes = spk.periodogram()
    assert len(axes) == 7 and spk.gaussfit_results.colnames == before.colnames
    freq, power = spk.pgram_x_mean[0], spk.pgram_x_mean[1]
    assert len(freq) == len(power) > 1000
    # spelunker's table of results, and ours with peaks
    np.testing.assert_array_equal(spk.pgram_results["power_x_mean"], power)
    assert spk.pgram_results.colnames[:2] == ["frequency_amplitude", "power_amplitude"]
    # the sample's 37.5 s x oscillation is among the peaks (its jumps dominate the lowest
    # frequencies)
    periods = spk.pgram_periodograms["x_mean"].peaks["period"]
    assert (abs(periods - 37.5) < 1.0).any()
    assert set(spk.pgram_periodograms) == set(before.colnames[:7])
    plt.close("all")


def test_arrays_passed_as_spelunker_users_do(spk):
    # spelunker's "not given" marker is the string 'None': comparing it with an array must
    # never be how we decide (numpy 2 raises on that)
    frames, time, flux = spk.fg_array[:3000], spk.fg_time[:3000], spk.fg_flux[:3000]
    table = spk.gauss2d_fit(frames, ncpus=2)
    assert len(table) == 3000
    quick = spk.quick_fit(frames)
    assert len(quick) == 3000
    # arrays of their own are analysed and returned; the session's state is unchanged
    assert spk.gaussfit_results is None and spk.quickfit_results is None
    assert len(spk.fg_array) == len(spk.session.data) > 3000
    one = spk.gauss2d_fit(frames[10])
    # alone it starts from its moments, in the series from frame 9's solution: the same
    # minimum to a small fraction of the uncertainty
    assert len(one) == 1 and one["x_mean"][0] == pytest.approx(
        table["x_mean"][10], abs=0.01 * table["x_mean_err"][10])
    _, ax = plt.subplots()
    ax = spk.timeseries_binned_plot(time, flux, time[100], time[2000], 32)
    line = ax.lines[0]
    assert len(line.get_xdata()) == int(((time >= time[100]) & (time <= time[2000])).sum())
    assert ax.get_ylabel() == "Relative flux"
    np.testing.assert_allclose(np.nanmedian(line.get_ydata()), 1.0)
    # 32 frames per bin: ~1900 frames make ~60 bins
    assert 55 <= len(ax.containers[0].lines[0].get_xdata()) <= 65
    axes = spk.timeseries_list_plot(quick, time)
    assert len(axes[0, 0].lines[0].get_xdata()) == 3000
    results = spk.periodogram(table, time, plot=False)
    assert set(results) == set(table.colnames[:7])
    with pytest.raises(ValueError, match="rows"):
        spk.periodogram(table, time[:10])
    plt.close("all")


def test_readfile_by_program_and_save_suffix(offline, tmp_path):
    spk = spelunker.load(dir=str(offline))
    spk.readfile(1534, obs_num=2)  # the catalog is asked only when object_properties is read
    with pytest.warns(UserWarning, match="headers"):
        assert list(spk.object_properties["gs_id"]) == ["N13I000422"]
    assert len(spk.fg_array) == 4096 + 2048 and set(spk.fg_table["obs_num"]) == {2}
    assert spk.photometry_mask.shape == (8, 8) and spk.photometry_mask.sum() == 64
    with pytest.raises(FileNotFoundError, match="download"):
        spk.readfile(2079)
    with pytest.raises(ValueError, match="obs_num"):
        spk.readfile(1534, visit=1)
    written = spk.save("v2", directory=tmp_path / "out", which=("fg_table",))
    assert [p.name for p in written] == ["spelunker_01534_v2_fg_table.ecsv"]


def test_mnemonics_local_and_remote(spk, sample, tmp_path):
    _, ax = plt.subplots()
    spk.mnemonics_local("GUIDESTAR")
    assert len(ax.lines) == 1 and len(spk.mnemonics_local_guidestar) == 1
    times, stars = spk.guidestar_mnemonics  # spelunker's (times, ids), the first star included
    assert stars == ["N13I000018", "N13I000422"] and times[0] == spk.fg_table["data_start"][0]
    assert spk.mnemonics_local("FILENAME", plot=False) is None
    assert spk.filename_mnemonics[1] == list(spk.fg_table["filenames"])
    assert len(ax.lines) == 1
    spk.mnemonics_local("FILENAME")
    assert len(ax.lines) == 5
    with pytest.raises(ValueError, match="GUIDESTAR"):
        spk.mnemonics_local("HGA")
    behaviour = Behaviour(require_token="tok-abc-123")
    serve_sample(behaviour, sample)
    with LoopbackServer(behaviour) as server, conf.override(eng_server=server.url):
        spk.mast_api_token = "tok-abc-123"
        assert "tok-abc-123" not in repr(spk.mast_api_token) + repr(spk)
        spk.mnemonics("SA_ZHGAUPST", spk.fg_time[0], spk.fg_time[-1])
        assert len(spk.hga_moves) == 2 and len(ax.patches) == 2
        times, codes = spk.mnemonics_event_hga
        assert codes == ["START", "STOP", "START", "STOP"] and times == sorted(times)
        assert spk.mnemonics("INIS_FWMTRCURR", spk.fg_time[0], spk.fg_time[-1],
                             plot=False) is None
        assert spk.mnemonics_event_nisfil["value"].dtype.kind == "f"
        assert len(ax.patches) == 2
    plt.close("all")


def test_animation_gif_frame_count(spk, tmp_path):
    from PIL import Image

    path = spk.flux_spatial_timelapse_animation(start=100, stop=112,
                                                filename=str(tmp_path / "movie.gif"))
    with Image.open(path) as gif:
        assert gif.n_frames == 12
    assert not list(tmp_path.glob(".*partial*"))
    frames_only = spk.timelapse_animation(start=0, stop=5, filename=str(tmp_path / "f.gif"))
    with Image.open(frames_only) as gif:
        assert gif.n_frames == 5
    if shutil.which("ffmpeg") is None:
        with pytest.raises(RuntimeError, match="ffmpeg"):
            spk.timelapse_animation(filename=str(tmp_path / "m.mp4"))


def test_save_writes_complete_files(spk, tmp_path):
    spk.quick_fit()
    written = spk.save(directory=tmp_path / "out")
    names = sorted(p.name for p in written)
    assert names == ["spelunker_01534_arrays.npz", "spelunker_01534_fg_table.ecsv",
                     "spelunker_01534_quickfit.ecsv"]
    with np.load(tmp_path / "out" / "spelunker_01534_arrays.npz") as arrays:
        assert arrays["fg_array"].shape == spk.fg_array.shape
    assert not [p for p in os.listdir(tmp_path / "out") if "partial" in p]


def test_optimize_photometry_and_widgets_bridge(spk):
    flux_before = spk.fg_flux
    new_flux = spk.optimize_photometry()
    assert spk.photometry_mask.shape == (8, 8) and 1 <= spk.photometry_mask.sum() < 64
    assert new_flux is spk.fg_flux and new_flux is not flux_before
    assert len(new_flux) == len(flux_before)
    spk.optimize_photometry(min_pixel=3, max_pixel=12, n_bin=50)
    assert 3 <= spk.photometry_mask.sum() <= 12
    mask = np.zeros((8, 8))
    mask[3:5, 3:5] = 1
    flux = spk.optimize_photometry(mask)
    # float32 pixels: a drop-out frame summing to ~0 differs by float32 rounding only
    np.testing.assert_allclose(flux, np.nansum(spk.fg_array[:, 3:5, 3:5], axis=(1, 2)),
                               rtol=1e-5, atol=0.1)
    np.testing.assert_array_equal(spk.photometry_mask, mask)  # the user's mask is kept
    spk.quick_fit()
    app = spk.widgets()
    assert app.session is spk.session and app.session.quick_fit is not None
    np.testing.assert_array_equal(app.session.data.flux, flux)  # the photometry is shared
    # one state: a fit run from the App is the seed API's result, and the other way round
    app.session.fit_frames("quick", block=True)
    assert spk.quickfit_results is not None and len(spk.quickfit_results) == len(spk.fg_array)
    np.testing.assert_array_equal(spk.quickfit_results["x_mean"],
                                  app.session.quick_fit["x_mean"])
    spk.fg_array = spk.fg_array[:500]
    spk.fg_time, spk.fg_flux = spk.fg_time[:500], spk.fg_flux[:500]
    table = spk.gauss2d_fit(ncpus=1)
    assert app.session.fit is not None and len(app.session.fit) == len(table) == 500
    assert app.timeseries.panels and len(app.session.data) == 500


def test_list_plot_breaks_lines_at_gaps_and_frames_the_bulk(spk):
    table = spk.gauss2d_fit()
    axes = spk.timeseries_list_plot()
    line = axes[0, 0].lines[0]
    x, y = line.get_xdata(), line.get_ydata()
    gaps = int((np.diff(spk.fg_time) > 10 * np.median(np.diff(spk.fg_time))).sum())
    assert not table.masked  # NaN for failed fits, as spelunker's table has
    failed = int(np.isnan(table["x_mean"]).sum())  # e.g. the sample's all-NaN frames
    assert failed >= 1 and set(table["status"][np.isnan(table["x_mean"])]) <= {
        "bad_input", "failed"}
    assert gaps >= 1 and np.isnan(y).sum() == gaps + failed  # no line drawn between files
    np.testing.assert_array_equal(y[np.isfinite(y)], table["x_mean"][np.isfinite(table["x_mean"])])
    assert len(x) == len(table) + gaps
    # one wild frame does not squash the panel: the limits frame 99.8% of the values
    widths = np.asarray(table["x_stddev"])
    low, high = axes[1, 0].get_ylim()
    inside = (widths >= low) & (widths <= high)
    assert inside.mean() > 0.998 and high < np.nanmax(widths)
    plt.close("all")


def test_narrowing_is_one_range_of_the_session(spk):
    n = len(spk.fg_array)
    spk.fg_array = spk.fg_array[100:300]
    assert len(spk.fg_array) == 200 and len(spk.fg_time) == n  # applied when used
    spk.fg_time = spk.fg_time[0:200]
    with pytest.raises(ValueError, match=r"different frames.*fg_array 100:300.*fg_time 0:200"):
        spk.quick_fit()
    assert "narrowing pending" in repr(spk)
    spk.fg_array = spk.fg_array[0:100]  # both narrowed again, to frames 100:200
    spk.fg_time = spk.fg_time[100:200]
    assert len(spk.quick_fit()) == 100 and len(spk.session.data) == 100
    np.testing.assert_array_equal(spk.fg_time, spk.session.data.time)
    with pytest.raises(ValueError, match="narrowed to a range"):
        spk.fg_time = np.linspace(0, 1, 10)


def test_ncpus_changes_no_process_wide_setting(spk):
    import numba

    before = numba.get_num_threads()
    spk.fg_array = spk.fg_array[:300]
    spk.gauss2d_fit(ncpus=1)
    spk.gauss2d_fit(spk.fg_array[:50], ncpus=1)
    assert numba.get_num_threads() == before


def test_the_narrowed_array_passed_back_is_the_session_s(spk, offline):
    spk.fg_array = spk.fg_array[:400]
    table = spk.gauss2d_fit(spk.fg_array, ncpus=1)  # the quickstart's own array, narrowed
    assert spk.gaussfit_results is table and len(spk.session.fit) == 400
    spk.fg_time = spk.fg_time[:10]  # pending, of these 400 frames...
    spk.readfile(1534, obs_num=2)  # ...and dropped with them: new data load as asked
    assert len(spk.fg_array) == len(spk.fg_time) == 4096 + 2048

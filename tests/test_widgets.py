"""Widgets driven from Python: assert their state after changing the shared Session."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest

from fgs_widgets.data import GuideStarData, Quality
from fgs_widgets.engine.scales import js_number
from fgs_widgets.model import Session
from fgs_widgets.widgets import (
    App,
    FitRunner,
    FrameViewer,
    MnemonicPanel,
    PeriodogramPanel,
    ProgramPicker,
    TimeseriesViewer,
)


def big_session(n: int = 1_000_000) -> Session:
    rng = np.random.default_rng(0)
    time = 60000.0 + np.arange(n) * 0.0625 / 86400
    frames = np.zeros((n, 8, 8), dtype=np.float32)
    products = pd.DataFrame({"file_name": ["x_cal.fits"], "path": ["x"], "gs_id": ["A"],
                             "data_start": [time[0]], "data_end": [time[-1]],
                             "first_frame": [0], "n_frames": [n]})
    flux = rng.normal(1e5, 300, n)
    flux[123_456] = 2e5  # one spike must survive decimation
    data = GuideStarData(frames=frames, time=time, flux=flux,
                         quality=np.zeros(n, dtype=np.uint16),
                         segments=np.zeros(n, dtype=np.int32), products=products)
    s = Session()
    s.data = data
    return s


def test_timeseries_decimates_and_rezooms_a_million_points_in_the_kernel():
    """Without the front-end's re-decimation the kernel sends each zoom's lines."""
    s = big_session()
    viewer = TimeseriesViewer(s, width_px=800, client_side=False)
    line = viewer.panels[0].line
    assert viewer.lines is None
    assert len(line.x) <= 1600 and line.y.max() == 2e5
    seconds = (s.data.time - s.data.time[0]) * 86400
    viewer.xs.min, viewer.xs.max = float(seconds[500_000]), float(seconds[500_900])
    assert len(line.x) == 901  # few enough to send as they are
    assert line.x.min() >= seconds[500_000] and line.x.max() <= seconds[500_900]
    assert s.window[0] == pytest.approx(s.data.time[500_000], abs=1e-9)
    viewer.reset_zoom()
    assert s.window is None and len(line.x) <= 1600


def test_timeseries_sends_the_summary_once_and_the_browser_draws_every_zoom():
    """The series goes to the browser once (levels of block min/max, binary, explicit
    dtype); a zoom sends no line; what the browser draws keeps the spike and thins to
    two points per pixel column; a narrow view is drawn from the frames themselves."""
    s = big_session()
    viewer = TimeseriesViewer(s, width_px=800)
    line = viewer.panels[0].line
    assert len(line.x) == 0  # the kernel never sends the line itself
    (entry,) = viewer.lines.series
    assert entry["line"] == f"IPY_MODEL_{line.model_id}"
    assert [level["block"] for level in entry["levels"]] == [128, 512, 2048]
    finest = entry["levels"][0]
    assert (finest["dtype_t"], finest["dtype_v"]) == ("<f8", "<f4")
    assert len(finest["t"]) == 8 * finest["n"] and len(finest["v"]) == 4 * finest["n"]
    t = np.frombuffer(finest["t"], "<f8")
    assert finest["n"] <= 2 * -(-1_000_000 // 128) and np.all(np.diff(t) >= 0)
    assert np.float32(2e5) in np.frombuffer(finest["v"], "<f4")  # the spike is a candidate
    sent = viewer.lines.series
    x, y = viewer.drawn_line(0)
    assert len(x) <= 2 * 801 and np.nanmax(y) == 2e5
    seconds = (s.data.time - s.data.time[0]) * 86400
    viewer.xs.min, viewer.xs.max = float(seconds[500_000]), float(seconds[500_900])
    assert viewer.lines.series is sent  # nothing re-sent for a zoom
    assert s.window[0] == pytest.approx(s.data.time[500_000], abs=1e-9)
    x, y = viewer.drawn_line(0)
    keep = ~np.isnan(y)
    np.testing.assert_array_equal(x[keep], seconds[500_000:500_901])  # every frame
    np.testing.assert_array_equal(y[keep], s.data.flux[500_000:500_901].astype(np.float32))
    assert "901 frames in view" in viewer.status.value
    viewer.reset_zoom()
    assert s.window is None and len(viewer.drawn_line(0)[0]) <= 2 * 801


def test_the_kernel_follows_a_browser_pan_once_it_pauses(monkeypatch):
    """Zoom and pan frames from the browser (already drawn there) are followed once, when
    they pause: one redraw of y ranges, ticks and status, for the last window."""
    from fgs_widgets.widgets import timeseries

    s = big_session(200_000)
    viewer = TimeseriesViewer(s, width_px=600)
    drawn = []
    redraw = viewer._redraw
    monkeypatch.setattr(viewer, "_redraw", lambda: (drawn.append(viewer.xs.min), redraw()))
    seconds = (s.data.time - s.data.time[0]) * 86400
    for k in range(20):  # a drag: frames 10 ms apart, as the browser sends them
        viewer.xs.set_state({"min": float(seconds[1000 * k]),
                             "max": float(seconds[1000 * k + 50_000])})
        time.sleep(0.01)
    assert s.window is None and drawn == []  # nothing yet: the drag goes on
    deadline = time.monotonic() + 5
    while not drawn and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(3 * timeseries.SETTLE_SECONDS)
    assert drawn == [float(seconds[19_000])]  # once, for the last window
    assert s.window[0] == pytest.approx(s.data.time[19_000], abs=1e-9)
    assert "50,001 frames in view" in viewer.status.value
    viewer.xs.min = float(seconds[0])  # from Python: followed at once
    assert len(drawn) == 2
    viewer.xs.set_state({"min": float(seconds[5])})
    viewer.close()  # a pending follow is dropped with the viewer
    time.sleep(3 * timeseries.SETTLE_SECONDS)
    assert len(drawn) == 2


def test_a_view_the_levels_cannot_resolve_is_answered_with_its_frames(monkeypatch):
    """The browser's detail request (a custom message) gets each series' candidates for
    the view as binary buffers of the dtypes named beside them, for the current data."""
    s = big_session(200_000)
    viewer = TimeseriesViewer(s, columns=("flux",), width_px=600)
    sent = []
    monkeypatch.setattr(viewer.lines, "send", lambda content, buffers=None:
                        sent.append((content, buffers)))
    seconds = (s.data.time - s.data.time[0]) * 86400
    start, stop = float(seconds[100_000]), float(seconds[101_000])
    viewer.lines._on_message(viewer.lines, {"kind": "detail", "request": 7, "start": start,
                                            "stop": stop, "width_px": 600}, [])
    viewer.lines._on_message(viewer.lines, {"kind": "detail", "start": "x"}, [])  # ignored
    ((content, buffers),) = sent
    (meta,) = content["series"]
    assert content["request"] == 7 and meta["block"] == 1 and meta["index"] == 0
    assert meta["generation"] == viewer.lines.series[0]["generation"]
    assert meta["lo"] < 100_000 and meta["hi"] > 101_001  # a margin to pan into
    t = np.frombuffer(buffers[0], meta["dtype_t"])
    v = np.frombuffer(buffers[1], meta["dtype_v"])
    np.testing.assert_array_equal(t, seconds[meta["lo"]:meta["hi"]])
    np.testing.assert_array_equal(v, s.data.flux[meta["lo"]:meta["hi"]].astype(np.float32))


def test_without_the_front_end_bundle_the_kernel_draws_the_lines(monkeypatch):
    from fgs_widgets.widgets import timeseries

    def missing(name):
        raise timeseries.BundleMissingError(f"static/{name} is missing")

    monkeypatch.setattr(timeseries, "bundle", missing)
    s = big_session(200_000)
    viewer = TimeseriesViewer(s)
    assert viewer.lines is None and 0 < len(viewer.panels[0].line.x) <= 2 * 900
    assert "points drawn" in viewer.status.value


def test_cursor_links_both_ways(session):
    viewer = TimeseriesViewer(session)
    frames = FrameViewer(session, block_size=512)
    session.cursor = 5000
    x = (session.data.time[5000] - session.data.time[0]) * 86400
    assert viewer.panels[0].cursor.x[0] == pytest.approx(x)
    assert frames.cursor == 5000 and frames.block_start <= 5000 < frames.block_start + 512
    block = np.frombuffer(frames.frames, dtype="<f4").reshape(-1, 8, 8)
    np.testing.assert_array_equal(block, session.data.frames[frames.block_start:
                                                             frames.block_start + 512])
    frames.cursor = 5001  # as the browser does when stepping
    assert session.cursor == 5001
    viewer.pick(x + 10 * 0.0625 + 0.01)  # a click on the plot
    assert session.cursor == 5010 and frames.cursor == 5010
    times = np.frombuffer(frames.times, dtype="<f8")
    assert times[5010 - frames.block_start] == pytest.approx(
        (session.data.time[5010] - frames.t0_mjd) * 86400)


def test_frame_viewer_block_follows_and_fit_overlay(session):
    frames = FrameViewer(session, block_size=256)
    assert frames.fits == b""
    session.cursor = 9000
    assert frames.block_start <= 9000 < frames.block_start + frames.block_count
    session.fit_frames("quick", block=True)
    fits = np.frombuffer(frames.fits, dtype="<f4").reshape(-1, 7)
    assert fits.shape[0] == frames.block_count
    np.testing.assert_allclose(fits[:, 1], session.quick_fit["x_mean"].to_numpy()[
        frames.block_start:frames.block_start + frames.block_count], rtol=1e-6)


def test_events_drawn_as_bands_and_lines(session):
    viewer = TimeseriesViewer(session)
    session.add_local_events()
    panel = viewer.panels[0]
    assert panel.bands.x.shape == (2, 4)  # two HGA moves
    assert panel.instants.x.shape == (5, 2)  # 4 file starts + 1 guide-star change
    # drawn where they are: seconds since the first frame, bands from start to end over
    # the whole height, each labelled as in the table
    events, t0 = session.events, session.data.time[0]
    spans = events[np.isfinite(events["end"]) & (events["kind"] != "file_boundary")]
    assert len(spans) == 2 and set(spans["kind"]) == {"hga_move"}
    start, end = (spans["time"] - t0) * 86400, (spans["end"] - t0) * 86400
    np.testing.assert_allclose(panel.bands.x, np.column_stack([start, start, end, end]))
    np.testing.assert_array_equal(panel.bands.y, [[0, 1, 1, 0]] * 2)
    assert list(panel.bands.labels) == list(spans["label"].astype(str))
    moments = events.drop(spans.index)
    np.testing.assert_allclose(panel.instants.x[:, 0], (moments["time"] - t0) * 86400)
    np.testing.assert_array_equal(panel.instants.x[:, 0], panel.instants.x[:, 1])  # upright
    assert sorted(moments["kind"]) == ["file_boundary"] * 4 + ["guide_star_change"]
    session.events = None
    assert panel.bands.x.shape == (0, 4)


def test_fit_runner_follows_progress(session):
    session.data = session.data[:2000]
    runner = FitRunner(session)
    runner.kind.value = "quick"
    runner.run()
    session.wait(60)
    assert runner.progress.value == 1.0 and runner.cancel_button.disabled
    assert "done" in runner.status.value


def test_picker_token_never_reaches_the_session(session, monkeypatch, tmp_path):
    from fgs_widgets.archive import conf

    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    picker = ProgramPicker(session)
    picker.program.value = "1534"
    picker.token.set_state({"value": "tok-picker-secret"})  # as the browser sends it
    # taken out of widget state at once, before any button is pressed
    assert picker.token.value == "" and picker.token.get_state()["value"] == ""
    assert picker.token.held and "received" in picker.token.placeholder
    with conf.override(mast_server="http://127.0.0.1:9", timeout=1, cache_dir=tmp_path):
        picker.query(block=True)
    assert not picker.token.held and "MAST token" in picker.token.placeholder
    assert "unreachable" in picker.status.value
    assert "tok-picker-secret" not in repr(session.trait_values()) + picker.status.value
    picker.program.value = "abc"
    picker.query()
    assert "program id" in picker.status.value


def test_periodogram_panel_and_fold(fitted_session, sample):
    session = fitted_session
    panel = PeriodogramPanel(session)
    session.window = (session.data.time[0], session.data.time[4095])  # the first file
    panel.column.value = "y_mean"
    assert session.parameter == "y_mean"
    panel.compute(block=True)
    periods = [value for _, value in panel.peaks.options]
    assert any(abs(p - sample.truth.periods["y_mean"]) < 0.2 for p in periods)
    panel.peaks.value = periods[0]
    assert panel.marker.visible and 0 < len(panel.folded.x) <= 100
    # the folding is the session's (engine): the panel shows exactly that table
    folded = session.folded("y_mean", periods[0])
    np.testing.assert_array_equal(panel.folded.y, folded["mean"])
    # a periodogram computed elsewhere (a script, the seed API) is drawn too
    session.compute_periodograms(["x_mean"])
    panel.column.value = "x_mean"
    assert "x_mean" in panel.status.value
    result = session.periodograms["x_mean"]
    assert 100 < len(panel.line.x) and max(panel.line.y) == pytest.approx(result.power.max())
    top = result.peaks["period"].iloc[0]  # its highest peak, chosen and folded
    assert panel.peaks.value == top and list(panel.marker.x) == [top, top]
    np.testing.assert_array_equal(panel.folded.x, session.folded("x_mean", top)["phase"])
    np.testing.assert_array_equal(panel.folded.y, session.folded("x_mean", top)["mean"])


def test_panels_undo_their_observers_on_close(session):
    panel = PeriodogramPanel(session)
    runner = FitRunner(session)
    before = len(session._trait_notifiers.get("data", {}).get("change", []))
    panel.close()
    runner.close()
    after = len(session._trait_notifiers.get("data", {}).get("change", []))
    assert after == before - 2
    session.fit_frames("quick", block=True)  # closed panels no longer react
    assert runner.progress.value == 0.0


def test_token_box_state_never_holds_the_token(session):
    import json

    from ipywidgets import Widget

    from fgs_widgets.widgets.token_box import TokenBox

    box = TokenBox("MAST token")
    assert box.continuous_update is False  # the browser sends it on Enter/blur, not per key
    sent = []
    box.comm.send = lambda data=None, *a, **k: sent.append(json.dumps(data, default=str))
    box.set_state({"value": "tok-box-secret"})
    states = json.dumps(Widget.get_manager_state(widgets=[box]), default=str)
    assert "tok-box-secret" not in states + repr(box.trait_values()) + "".join(sent)
    assert any('"value": ""' in message for message in sent)  # the clearing reached the browser
    token = box.take()
    assert token.reveal() == "tok-box-secret" and "tok-box-secret" not in repr(token)
    assert box.take() is None  # used once


def test_mnemonic_panel_without_token(session, monkeypatch):
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    panel = MnemonicPanel(session)
    panel.add_local()
    assert "guide_star_change" in panel.table.value
    panel.fetch(block=True)
    assert "MAST token" in panel.status.value and "local events" in panel.status.value.lower()


def test_app_builds_exports_and_records_python(session, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = App(session)
    assert isinstance(app.frame_viewer, FrameViewer)
    session.fit_frames("quick", block=True)
    session.wait()  # the periodogram panel computes after the fit: its line comes after
    lines = app.python.value.splitlines()
    after_fit = lines[lines.index("session.fit_frames('quick', block=True)") + 1:]
    assert any(line.startswith("session.compute_periodograms(") for line in after_fit)
    # the Python equivalent runs, and does the same
    namespace: dict = {}
    exec(app.python.value, namespace)
    namespace["session"].wait()
    pd.testing.assert_frame_equal(namespace["session"].quick_fit, session.quick_fit)
    export = app.exports.children[0].children
    export[0].value, export[1].value = "quick_fit", "parquet"
    export[2].click()
    written = pd.read_parquet(tmp_path / "fgs_exports" / "quick_fit.parquet")
    assert len(written) == len(session.data)
    assert "quick_fit.parquet" in app.exports.children[3].value


def test_app_writes_the_guiding_report_beside_the_exports(fitted_session, tmp_path,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = App(fitted_session)
    app.report_button.click()
    written = tmp_path / "fgs_exports" / "fgs_report_1534.html"
    assert written.is_file() and "<html" in written.read_text(encoding="utf-8").lower()
    shown = app.export_status.value
    assert "fgs-error" not in shown, shown
    assert "href='files/fgs_exports/fgs_report_1534.html'" in shown
    assert "session.report(&#x27;fgs_exports/fgs_report_1534.html&#x27;)" in shown
    assert "fgs_report_1534.html" in app.exports.children[-1].value  # the links below
    assert not app.report_button.disabled


def test_app_report_without_a_fit_says_why_and_writes_nothing(session, tmp_path,
                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = App(session)  # data, no fit
    app.report_button.click()
    shown = app.export_status.value
    assert "fgs-error" in shown and "fit" in shown, shown
    assert not (tmp_path / "fgs_exports").exists() or \
        not list((tmp_path / "fgs_exports").iterdir())
    assert not app.report_button.disabled


def test_app_saves_and_reopens_a_session(session, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = App(session)
    session.fit_frames("quick", block=True)
    session.cursor = 1234
    app.session_path.value = str(tmp_path / "s.fgs")
    app.save_button.click()
    assert (tmp_path / "s.fgs" / "manifest.json").exists()
    other = App(Session())
    other.session_path.value = str(tmp_path / "s.fgs")
    other.open_button.click()
    reopened = other.session
    assert reopened.cursor == 1234 and len(reopened.quick_fit) == len(session.data)
    np.testing.assert_array_equal(reopened.data.time, session.data.time)
    other.session_path.value = str(tmp_path / "missing.fgs")
    other.open_button.click()
    assert "no saved session" in other.exports.children[3].value


def test_app_shows_failures_in_words_not_tracebacks(session, tmp_path, monkeypatch):
    """A background job's failure is named in red under the App's header; a button's
    failure, whatever its type, on its tab's status line; never the MAST token."""
    from fgs_widgets.archive import conf
    from fgs_widgets.widgets import app as app_module

    monkeypatch.chdir(tmp_path)
    secret = "app-secret-token-51d2"
    monkeypatch.setenv("MAST_API_TOKEN", secret)
    app = App(Session())
    assert app.status.value == "" and app.children[1] is app.status
    with conf.override(mast_server="http://127.0.0.1:9", timeout=2, cache_dir=tmp_path / "c"):
        app.session.open_program(1534, block=False)
        app.session.download_job.wait()
    assert app.session.download_job.state.value == "failed"
    shown = app.status.value
    assert "fgs-error" in shown and "download failed: MAST (http://127.0.0.1:9) unreachable" \
        in shown and "read_fine_guide" in shown and secret not in shown
    assert "unreachable" not in app.header.value  # said once, in red, not again above it
    # built on a session whose job already failed, an App says so too
    assert App(app.session).status.value == shown
    # the job runs again: the old failure goes
    app.session.download_job.start(lambda run: None, lambda run, result: "done", block=True)
    assert app.status.value == ""

    def broken(*args, **kwargs):
        raise ImportError("parquet needs pyarrow: pip install pyarrow")

    monkeypatch.setattr(app_module, "export_table", broken)
    app = App(session)
    session.fit_frames("quick", block=True)
    app.exports.children[0].children[0].value = "quick_fit"
    app.export_button.click()  # an ImportError: not one the panel expected
    assert "parquet needs pyarrow" in app.export_status.value
    app.session_path.value = str(tmp_path / "missing.fgs")
    app.open_button.click()
    assert "fgs-error" in app.export_status.value


def test_picker_filters_from_the_archive_download_and_open(sample, tmp_path, monkeypatch):
    from loopback import Behaviour, LoopbackServer, serve_sample

    from fgs_widgets.archive import conf

    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    behaviour = Behaviour()
    serve_sample(behaviour, sample)
    session = Session()
    picker = ProgramPicker(session)
    assert picker.observation.label == "all" and picker.guider.label == "all"
    with LoopbackServer(behaviour) as server, conf.override(
            mast_server=server.url, gsc_url=server.url + "/CatalogSearch.aspx",
            cache_dir=tmp_path / "cache"):
        picker.program.value = "1534"
        picker.query(block=True)
        assert [label for label, _ in picker.observation.options] == ["all", "1", "2"]
        picker.observation.value = 2
        assert [label for label, _ in picker.visit.options] == ["all", "1", "2"]
        picker.visit.value = 2
        picker.download_and_open(block=True)
    assert session.data is not None and len(session.data) == 2048
    assert set(session.data.products["observation"]) == {2}
    assert set(session.data.products["visit"]) == {2}
    assert picker.progress.value == 1.0 and not picker.open_button.disabled


def test_a_closed_app_no_longer_follows_the_session(session):
    def observers() -> int:
        return sum(len(handlers) for by_type in session._trait_notifiers.values()
                   for handlers in by_type.values())

    before = observers()
    app = App(session)
    assert observers() > before
    app.close()
    assert observers() == before
    app.close()  # again, as ipywidgets does when the App is garbage-collected: harmless
    assert observers() == before


def _levels_session(n: int = 20_000) -> Session:
    """Two observations at different flux levels, a flagged frame far off, a lone spike."""
    rng = np.random.default_rng(5)
    time = 60000.0 + np.arange(n) * 0.0625 / 86400
    half = n // 2
    flux = np.r_[rng.normal(2.5e6, 3e3, half), rng.normal(1.0e6, 3e3, n - half)]
    quality = np.zeros(n, dtype=np.uint16)
    flux[1000], quality[1000] = -2.7e5, Quality.NEGATIVE_FLUX  # flagged: not data
    flux[15_000] = 9e6  # a lone spike in a good frame: drawn, but no scale of its own
    products = pd.DataFrame({"file_name": ["a_cal.fits", "b_cal.fits"], "path": ["a", "b"],
                             "gs_id": ["A", "B"], "observation": [1, 2],
                             "data_start": [time[0], time[half]],
                             "data_end": [time[half - 1], time[-1]],
                             "first_frame": [0, half], "n_frames": [half, n - half]})
    data = GuideStarData(frames=np.zeros((n, 8, 8), dtype=np.float32), time=time, flux=flux,
                         quality=quality, segments=np.r_[np.zeros(half), np.ones(n - half)]
                         .astype(np.int32), products=products)
    s = Session()
    s.data = data
    x = rng.normal(3.5, 0.05, n)
    x[1000] = 0.45  # the flagged frame's fit is nonsense too
    s.quick_fit = pd.DataFrame({"x_mean": x})
    return s


def _shown(axis) -> list[str]:
    """The labels bqplot draws: those of the axis' tick values (stale keys stay unused)."""
    return [axis.tick_labels[js_number(v)] for v in axis.tick_values]


def _nice(labels: list[str]) -> bool:
    values = np.array([float(v.replace("−", "-")) for v in labels])
    steps = np.diff(values)
    mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]) + 1e-9)
    return bool(np.allclose(steps, steps[0]) and np.isclose(mantissa, [1, 2, 2.5, 5]).any())


def test_timeseries_scales_from_the_good_bulk_per_observation():
    s = _levels_session()
    viewer = TimeseriesViewer(s, columns=("flux", "x_mean"))
    flux, x_mean = viewer.panels
    # both levels in view, neither the flagged frame (-2.7e5) nor the spike (9e6) sets it
    assert 0.7e6 < flux.ys.min < 0.99e6 and 2.51e6 < flux.ys.max < 2.8e6
    assert 3.0 < x_mean.ys.min < 3.4 and 3.6 < x_mean.ys.max < 4.0  # not down to 0.45
    # flagged frames are not data: NaN in the line, a foot tick each, named in the status
    drawn = viewer.drawn_line(0)[1]
    assert not np.any(np.isclose(drawn, -2.7e5))
    assert np.isclose(drawn, 9e6).any()  # the good spike is still drawn (clipped)
    seconds = (s.data.time - s.data.time[0]) * 86400
    np.testing.assert_allclose(flux.flags.x, [seconds[1000]])
    assert "1 flagged" in viewer.status.value
    # nice ticks with the power of ten in the label
    assert flux.y_axis.label == "flux (×10⁶)" and _nice(_shown(flux.y_axis))
    assert _nice(_shown(x_mean.y_axis))  # every tick value has its label (_shown looks it up)
    # "full range" and "show flagged": everything, flagged values as their own marks
    viewer.show_flagged = True
    viewer.full_range = True
    assert flux.flagged_values.visible and flux.flagged_values.y.tolist() == [-2.7e5]
    assert flux.ys.min < -2.7e5 and flux.ys.max > 9e6
    viewer.full_range = viewer.show_flagged = False
    assert flux.ys.min > 0.7e6 and not flux.flagged_values.visible
    # zoomed just past the flagged frame: its tick is already there for a pan to uncover
    viewer.xs.min, viewer.xs.max = float(seconds[1100]), float(seconds[1900])
    np.testing.assert_allclose(flux.flags.x, [seconds[1000]])
    assert "flagged" not in viewer.status.value  # none in view


def test_timeseries_time_axis_nice_on_every_zoom_and_in_view():
    s = _levels_session()
    viewer = TimeseriesViewer(s, columns=("flux", "x_mean"))
    axis = viewer.panels[-1].x_axis
    assert axis.label == "time since start (min)"
    assert "start 2023-02-25 00:00:00 UTC (MJD 60000.00000)" in viewer.status.value
    assert _nice(_shown(axis))
    assert not viewer.panels[0].x_axis.visible and axis.visible
    for lo, hi in [(100.0, 130.0), (101.3, 101.9), (5.0, 1240.0)]:
        viewer.xs.min, viewer.xs.max = lo, hi
        values = np.asarray(axis.tick_values)
        assert _nice(_shown(axis)) and len(values) >= 2
        assert values.min() >= lo and values.max() <= hi
        # the last label fits in the right margin: half its width within the margin
        width = viewer.width_px
        last = (values.max() - lo) / (hi - lo) * width
        assert last + 3.5 * len(axis.tick_labels[js_number(values.max())]) <= width + 28
        assert ("(s)" if hi - lo < 600 else "(min)") in axis.label  # the unit follows the zoom


def _readout_text(readout: str) -> str:
    """The text a readout's HTML shows (tags dropped)."""
    return re.sub(r"<[^>]+>", "", readout)


def test_timeseries_hover_readout_click_pick_and_height():
    s = _levels_session()
    viewer = TimeseriesViewer(s, columns=("flux", "x_mean"))
    seconds = (s.data.time - s.data.time[0]) * 86400
    viewer.pointer.hover = {"panel": 1, "x": float(seconds[5000]) + 0.01}
    text = _readout_text(viewer.pointer.readout)
    assert "frame 5,000" in text and "x_mean = " in text and "MJD 60000.00361" in text
    assert "2023-02-25 00:05:12.500 UTC" in text and "no flags" in text
    # one unbreakable item per quantity (the browser wraps between items, never inside)
    items = re.findall(r"<span class='fgs-ts-item'>(.*?) ?·?</span>", viewer.pointer.readout)
    assert [item.split(" ")[0] for item in items] == \
        ["t", "MJD", "2023-02-25", "frame", "x_mean", "no"], items
    # the readout names the frame under the pointer, the one a click picks; a flagged
    # frame within the same pixel column (its foot tick is there) is named too
    viewer.pointer.hover = {"panel": 0, "x": float(seconds[1002])}
    text = _readout_text(viewer.pointer.readout)
    assert "frame 1,002 · flux" in text and "▲ frame 1,000 flagged: NEGATIVE_FLUX" in text
    viewer.pointer.pick = {"x": float(seconds[1002]), "n": 7}
    assert s.cursor == 1002
    viewer.pointer.hover = {"panel": 0, "x": float(seconds[1000])}
    assert "frame 1,000 · flux = -270000 · flagged: NEGATIVE_FLUX" \
        in _readout_text(viewer.pointer.readout) and "▲" not in viewer.pointer.readout
    assert "<span class='fgs-ts-flag'>flagged: NEGATIVE_FLUX" in viewer.pointer.readout
    viewer.pointer.hover = {"panel": 0, "x": float(seconds[1100])}  # 100 frames: 4 columns
    assert "▲" not in viewer.pointer.readout
    viewer.pointer.hover = {}
    assert "click picks a frame" in viewer.pointer.readout
    viewer.pointer.pick = {"x": float(seconds[777]), "n": 1}
    assert s.cursor == 777 and viewer.panels[0].cursor.x[0] == pytest.approx(seconds[777])
    viewer.pointer.pick = {"x": float(seconds[777]), "n": 2}  # a second click, same place
    assert s.cursor == 777
    # height: at least 100 px, every panel follows, and more height gives more y ticks
    few = len(viewer.panels[0].y_axis.tick_values)
    viewer.height_slider.value = 400
    assert all(p.figure.layout.height == "400px" for p in viewer.panels)
    assert len(viewer.panels[0].y_axis.tick_values) > few
    viewer.panel_height = 20
    assert viewer.panel_height == 100
    # the browser reports the plot's real width: decimation and ticks follow it
    viewer.pointer.plot_width = 400
    assert viewer.width_px == 400 and viewer.pointer.x_max == pytest.approx(viewer.xs.max)


def test_tick_labels_reach_the_browser_before_their_values():
    import bqplot as bq

    from fgs_widgets.engine.scales import nice_ticks
    from fgs_widgets.widgets._common import set_ticks

    axis = bq.Axis(scale=bq.LinearScale(), tick_values=np.zeros(0))
    order: list[str] = []
    axis.observe(lambda change: order.append(change["name"]), names=["tick_values", "tick_labels"])
    set_ticks(axis, nice_ticks(0, 10, 6))
    first = {js_number(v) for v in axis.tick_values}
    set_ticks(axis, nice_ticks(0, 25, 6))
    # bqplot draws new values through a transition that takes the labels of the moment it
    # starts: the labels go first, and those of the values still shown stay until replaced
    assert order == ["tick_labels", "tick_values", "tick_labels", "tick_values"]
    assert set(axis.tick_labels) >= first | {js_number(v) for v in axis.tick_values}
    assert _shown(axis) == nice_ticks(0, 25, 6).labels

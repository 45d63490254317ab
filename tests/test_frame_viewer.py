"""FrameViewer driven from Python: the synced traits after changes to the shared Session.

The browser side (drawing, playback) is covered by tests/browser/test_frame_viewer_browser.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import traitlets as t
from ipywidgets.widgets.widget import _remove_buffers

from fgs_widgets.data import GuideStarData, Quality
from fgs_widgets.engine.psf import PARAMETERS
from fgs_widgets.model import Session
from fgs_widgets.widgets import FrameViewer
from fgs_widgets.widgets.frame_viewer import robust_limits

CADENCE = 0.0625  # s


def make_data(n: int = 1000, seed: int = 0, frames: np.ndarray | None = None,
              quality: np.ndarray | None = None) -> GuideStarData:
    """A small hand-built GuideStarData: random frames, evenly spaced times, one file."""
    rng = np.random.default_rng(seed)
    if frames is None:
        frames = rng.normal(100.0, 10.0, (n, 8, 8)).astype(np.float32)
    time = np.linspace(60000.0, 60000.0 + (n - 1) * CADENCE / 86400, n)
    products = pd.DataFrame({
        "file_name": ["jw01234001001_gs-fg_2026001000000_cal.fits"], "path": ["/nowhere"],
        "program": ["01234"], "observation": ["001"], "visit": ["001"], "guider": ["GUIDER1"],
        "gs_id": ["S1234567890"], "data_start": [time[0]], "data_end": [time[-1]],
        "n_frames": [n],
    })
    return GuideStarData(frames=frames, time=time, flux=frames.sum(axis=(1, 2)).astype(float),
                         quality=np.zeros(n, dtype=np.uint16) if quality is None else quality,
                         segments=np.zeros(n, dtype=np.int32),
                         products=products)


def make_fit(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({
        "amplitude": rng.uniform(900, 1100, n), "x_mean": rng.uniform(3, 4, n),
        "y_mean": rng.uniform(3, 4, n), "x_stddev": rng.uniform(0.8, 1.2, n),
        "y_stddev": rng.uniform(0.8, 1.2, n), "theta": rng.uniform(-1, 1, n),
        "offset": rng.uniform(0, 5, n),
    })
    table.loc[7, list(PARAMETERS)] = np.nan  # a failed frame stays a NaN row
    return table


def decode(viewer: FrameViewer) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    frames = np.frombuffer(viewer.frames, dtype="<f4").reshape(viewer.block_shape)
    times = np.frombuffer(viewer.times, dtype="<f8")
    fits = (np.frombuffer(viewer.fits, dtype="<f4").reshape(-1, len(viewer.fit_columns))
            if viewer.fits else None)
    return frames, times, fits


@pytest.fixture
def session() -> Session:
    s = Session()
    s.data = make_data()
    return s


def test_block_decodes_to_the_session_frames_and_times(session):
    viewer = FrameViewer(session, block_size=256)
    frames, times, fits = decode(viewer)
    assert viewer.n_frames == 1000 and viewer.block_start == 0 and viewer.block_count == 256
    assert viewer.block_shape == [256, 8, 8]
    np.testing.assert_array_equal(frames, session.data.frames[:256])
    assert viewer.t0_mjd == session.data.time[0]
    np.testing.assert_allclose(times, np.arange(256) * CADENCE, atol=1e-6)  # seconds, not MJD
    assert fits is None and viewer.fit_columns == list(PARAMETERS)


def test_only_the_block_crosses_as_binary_buffers(session):
    viewer = FrameViewer(session, block_size=128)
    state, buffer_paths, buffers = _remove_buffers(viewer.get_state())
    paths = {path[0] for path in buffer_paths}
    assert {"frames", "times"} <= paths  # binary messages, never JSON lists
    assert sum(len(b) for b in buffers) == 128 * 64 * 4 + 128 * 8
    assert "frames" not in state


def test_cursor_syncs_both_ways_without_echo(session):
    viewer = FrameViewer(session, block_size=256)
    seen: list[int] = []
    session.observe(lambda change: seen.append(change["new"]), names="cursor")
    session.cursor = 100  # e.g. a click on the time series
    assert viewer.cursor == 100
    viewer.cursor = 101  # what the browser does on a step
    assert session.cursor == 101
    assert seen == [100, 101]  # each change reached the session once, nothing bounced back


def test_browser_cursor_is_clipped_to_the_data(session):
    viewer = FrameViewer(session, block_size=256)
    viewer.cursor = 5000
    assert viewer.cursor == session.cursor == 999
    viewer.cursor = -3
    assert viewer.cursor == session.cursor == 0


def test_new_block_when_cursor_leaves_the_block(session):
    viewer = FrameViewer(session, block_size=256)
    session.cursor = 600
    assert viewer.block_start <= 600 < viewer.block_start + viewer.block_count
    assert viewer.block_start == 600 - 256 // 8  # a few frames before, for stepping back
    frames, times, _ = decode(viewer)
    np.testing.assert_array_equal(frames, session.data.frames[568:824])
    np.testing.assert_allclose(times, (session.data.time[568:824] - viewer.t0_mjd) * 86400)
    viewer.cursor = 300  # stepping back past the block's start, from the browser
    assert viewer.block_start <= 300 < viewer.block_start + viewer.block_count
    assert session.cursor == 300


def test_block_is_prefetched_near_its_end_but_not_at_the_data_end(session):
    viewer = FrameViewer(session, block_size=256)
    viewer.cursor = 150  # inside, far from the end: same block
    assert viewer.block_start == 0
    viewer.cursor = 200  # within a quarter block of the end: re-centred ahead of playback
    assert viewer.block_start == 200 - 32 and viewer.cursor == 200
    session.cursor = 990
    start = viewer.block_start
    assert start + viewer.block_count == 1000  # last block ends with the data
    viewer.cursor = 995
    assert viewer.block_start == start  # nothing more to fetch


def test_fit_overlay_follows_the_session_fit(session):
    viewer = FrameViewer(session, block_size=256)
    session.quick_fit = make_fit(1000, seed=2)
    _, _, fits = decode(viewer)
    np.testing.assert_allclose(fits[:, 1], session.quick_fit["x_mean"][:256], rtol=1e-6)
    session.fit = make_fit(1000)  # the full fit wins over the quick fit
    _, _, fits = decode(viewer)
    assert fits.shape == (256, 7)
    np.testing.assert_allclose(fits[8], session.fit.loc[8, list(PARAMETERS)], rtol=1e-6)
    assert np.isnan(fits[7]).all()
    session.cursor = 700  # the overlay travels with the block
    _, _, fits = decode(viewer)
    np.testing.assert_allclose(
        fits[:, 2], session.fit["y_mean"][viewer.block_start:viewer.block_start + 256], rtol=1e-6)


def test_fits_follow_the_fit_columns_by_name(session):
    viewer = FrameViewer(session, block_size=256)
    session.fit = make_fit(1000)
    sent: list[set] = []
    send_state = viewer.send_state
    viewer.send_state = lambda key=None: (sent.append(set(key or ())), send_state(key))
    viewer.fit_columns = list(reversed(PARAMETERS))  # any order: the browser finds names
    assert sent == [{"fit_columns", "fits"}]  # one message: never one without the other
    _, _, fits = decode(viewer)
    assert fits.shape == (256, len(viewer.fit_columns))
    for i, name in enumerate(viewer.fit_columns):
        np.testing.assert_allclose(fits[:, i], session.fit[name][:256], rtol=1e-6)
    viewer.fit_columns = ["y_mean", "x_mean", "x_stddev"]  # fewer columns: a shorter row
    _, _, fits = decode(viewer)
    assert fits.shape == (256, 3)
    np.testing.assert_allclose(fits[:, 1], session.fit["x_mean"][:256], rtol=1e-6)
    session.cursor = 700  # a new block keeps the order
    _, _, fits = decode(viewer)
    np.testing.assert_allclose(
        fits[:, 0], session.fit["y_mean"][viewer.block_start:viewer.block_start + 256], rtol=1e-6)
    viewer.fit_columns = ["x_mean", "chi2_red"]  # not in the table: no overlay, not garbage
    assert viewer.fits == b""


def test_short_fit_table_pads_with_nan(session):
    viewer = FrameViewer(session, block_size=256)
    session.fit = make_fit(100)  # e.g. an interrupted fit
    _, _, fits = decode(viewer)
    assert fits.shape == (256, 7) and np.isfinite(fits[:100, 0]).sum() == 99
    assert np.isnan(fits[100:]).all()


def test_new_data_resets_the_viewer(session):
    viewer = FrameViewer(session, block_size=256)
    session.cursor = 500
    viewer.playing = True
    session.data = make_data(50, seed=3)
    frames, _, _ = decode(viewer)
    assert viewer.n_frames == 50 and viewer.block_count == 50 and viewer.cursor == 0
    assert not viewer.playing
    np.testing.assert_array_equal(frames, session.data.frames)
    session.data = None
    assert viewer.n_frames == 0 and viewer.frames == b"" and viewer.block_shape == [0, 8, 8]


def test_viewer_without_data_then_loaded():
    s = Session()
    viewer = FrameViewer(s)
    assert viewer.n_frames == 0 and viewer.frames == b""
    s.data = make_data(3000)
    assert viewer.block_count == 2048 and len(viewer.frames) == 2048 * 64 * 4


def test_display_traits_and_close(session):
    viewer = FrameViewer(session, scale="log", vmin=90.0, vmax=None, fps=500)
    assert viewer.scale == "log" and viewer.vmin == 90.0 and viewer.vmax is None
    assert viewer.limits == "manual"  # old code passing vmin still gets what it asked for
    assert viewer.fps == 240.0  # clipped to what a browser timer can do
    viewer.play()
    assert viewer.playing
    viewer.pause()
    viewer.close()
    session.cursor = 400  # a closed viewer no longer follows the session
    assert viewer.cursor == 0


def test_missing_bundle_says_how_to_build_it(monkeypatch, tmp_path):
    from fgs_widgets.widgets import _bundle, frame_viewer

    monkeypatch.setattr(_bundle.resources, "files", lambda _package: tmp_path)
    for name in ("frame_viewer.js", "pointer.js"):
        with pytest.raises(frame_viewer.BundleMissingError,
                           match=rf"static/{name}\) is missing.*pip install -e \."):
            _bundle.bundle.__wrapped__(name)
    assert issubclass(frame_viewer.BundleMissingError, FileNotFoundError)  # App relies on it


@pytest.fixture
def spoiled() -> Session:
    """100 frames of 100 +- 10 with a flagged frame of -10^4 (frame 10: 64 of 6400 pixels,
    above the 1 % the low percentile drops), an all-NaN flagged frame (20) and a good frame
    with one hot pixel 1000x the rest (30, within the 0.5 % the high percentile drops)."""
    rng = np.random.default_rng(5)
    frames = rng.normal(100.0, 10.0, (100, 8, 8)).astype(np.float32)
    quality = np.zeros(100, dtype=np.uint16)
    frames[10] = -1e4
    quality[10] = Quality.NEGATIVE_FLUX
    frames[20] = np.nan
    quality[20] = Quality.ALL_NAN | Quality.NAN_PIXELS
    frames[30, 4, 4] = 1e5
    s = Session()
    s.data = make_data(100, frames=frames, quality=quality)
    return s


def test_robust_limits_ignore_flagged_frames_and_hot_pixels(spoiled):
    viewer = FrameViewer(spoiled, block_size=100)
    assert viewer.limits == "robust" and viewer.vmin is None and viewer.vmax is None
    good = np.delete(spoiled.data.frames, [10, 20], axis=0).astype(np.float64)
    expected = np.nanpercentile(good, [1, 99.5])
    assert (viewer.block_lo, viewer.block_hi) == pytest.approx(expected)
    assert 60 < viewer.block_lo < viewer.block_hi < 140  # the noise, not -1e4 or 1e5
    # counted in, the flagged frame would drag the low end far below zero
    assert robust_limits(spoiled.data.frames)[0] < -1000


def test_robust_limits_follow_the_block_and_fall_back_to_flagged_frames():
    frames = np.full((40, 8, 8), 5.0, dtype=np.float32)
    frames[20:] = 50.0
    quality = np.zeros(40, dtype=np.uint16)
    quality[:20] = Quality.NEGATIVE_FLUX  # the first block is all flagged
    s = Session()
    s.data = make_data(40, frames=frames, quality=quality)
    viewer = FrameViewer(s, block_size=20)
    assert (viewer.block_lo, viewer.block_hi) == (5.0, 6.0)  # flagged, but all there is; flat
    s.cursor = 30  # a new block brings its own limits
    assert viewer.block_start == 20 and (viewer.block_lo, viewer.block_hi) == (50.0, 51.0)
    assert robust_limits(np.full((2, 8, 8), np.nan)) == (0.0, 1.0)


def test_frame_limits_mode_is_left_to_the_browser(spoiled):
    viewer = FrameViewer(spoiled, block_size=100, limits="frame")
    assert viewer.limits == "frame" and viewer.vmin is None and viewer.vmax is None
    frames, _, _ = decode(viewer)
    assert np.nanmax(frames[30]) == 1e5  # the hot pixel is sent as it is, not clipped
    assert viewer.block_hi < 140  # the robust limits travel anyway, for a switch back


def test_vmin_vmax_select_manual_limits(spoiled):
    viewer = FrameViewer(spoiled, block_size=100)
    viewer.vmax = 500.0  # as scripts did before `limits` existed
    assert viewer.limits == "manual" and viewer.vmin is None
    viewer.vmin = 0.0
    assert (viewer.limits, viewer.vmin, viewer.vmax) == ("manual", 0.0, 500.0)
    viewer.vmin = viewer.vmax = None  # cleared: the automatic default again
    assert viewer.limits == "robust"
    explicit = FrameViewer(spoiled, block_size=100, limits="frame", vmin=1.0)
    assert explicit.limits == "frame"  # an explicit choice beats the vmin shortcut


def test_manual_without_ends_freezes_the_robust_limits(spoiled):
    viewer = FrameViewer(spoiled, block_size=50)
    lo, hi = viewer.block_lo, viewer.block_hi
    viewer.limits = "manual"  # e.g. chosen in the browser's menu
    assert (viewer.vmin, viewer.vmax) == (lo, hi)
    spoiled.cursor = 90  # the next block's robust limits differ; manual ones stay
    assert viewer.block_start > 0 and (viewer.block_lo, viewer.block_hi) != (lo, hi)
    assert (viewer.vmin, viewer.vmax) == (lo, hi)
    assert FrameViewer(spoiled, limits="manual").vmin is not None  # also from the constructor


@pytest.mark.parametrize("stretch", ["linear", "log", "asinh"])
def test_stretches_are_accepted(session, stretch):
    viewer = FrameViewer(session, scale=stretch)
    assert viewer.scale == stretch and viewer.get_state()["scale"] == stretch
    viewer.scale = "linear"
    with pytest.raises(t.TraitError):
        viewer.scale = "sqrt"
    with pytest.raises(t.TraitError):
        viewer.limits = "zscale"


def test_colour_limits_are_printed_in_one_notation():
    """The readout's colour limits: both ends fixed (thousands separators) or both times
    one power of ten, chosen from the larger end; never "2163…2.137e+5" (toPrecision)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    source = Path(__file__).parents[1] / "js" / "src" / "frame_viewer.js"
    cases = [[2163, 213700], [0.512, 12.5], [-0.3, 12.5], [2163, 2.137e6],
             [-999999.9, 999999.7], [1e-5, 3e-4], [999.96, 5], [-9.99e-13, -9.99e-12]]
    script = (f"import {{ formatRange }} from {json.dumps(source.as_uri())};\n"
              f"console.log(JSON.stringify({json.dumps(cases)}.map(([a, b]) => "
              "formatRange(a, b))));")
    done = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True,
                          text=True, timeout=60, check=True, env={"LANG": "en_US.UTF-8"})
    assert json.loads(done.stdout) == [
        "2,163…213,700", "0.51…12.50", "-0.30…12.50", "0.002…2.137×10⁶", "-1.000…1.000×10⁶",
        "0.100…3.000×10⁻⁴", "1,000…5", "-0.999…-9.990×10⁻¹²"]
    # the readout line: "colour linear robust " (21 characters, the longest) + the range
    assert all(21 + len(text) <= 44 for text in json.loads(done.stdout))

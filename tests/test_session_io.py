"""Saved sessions: round trip, subsets, self-contained saves, damaged saves."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from fgs_widgets.engine.periodogram import Periodogram
from fgs_widgets.engine.timesystems import utc_to_bjd_tdb
from fgs_widgets.model import Session
from fgs_widgets.session_io import SessionFileError, save_session
from fgs_widgets.session_schema import tagged
from fgs_widgets.widgets.export import FORMATS, export_table


@pytest.fixture
def session(sample_data):
    part = sample_data.select(observation=2)[100:3100]
    s = Session()
    s.data = part
    rng = np.random.default_rng(1)
    s.fit = pd.DataFrame(rng.normal(size=(len(part), 3)), columns=["x_mean", "y_mean", "theta"])
    s.quick_fit = pd.DataFrame({"x_mean": rng.normal(size=len(part))})
    s.compute_periodograms(["x_mean"])
    s.events = pd.DataFrame({"time": [part.time[5]], "end": [np.nan], "kind": ["jump"],
                             "label": ["x"], "source": ["detected"], "value": [0.1]})
    s.window = (float(part.time[10]), float(part.time[500]))
    s.parameter = "x_mean"
    s.cursor = 42
    return s


def assert_same(a: Session, b: Session) -> None:
    np.testing.assert_array_equal(a.data.time, b.data.time)
    np.testing.assert_array_equal(a.data.frames, b.data.frames)
    np.testing.assert_array_equal(a.data.quality, b.data.quality)
    pd.testing.assert_frame_equal(a.fit, b.fit)
    pd.testing.assert_frame_equal(a.quick_fit, b.quick_fit)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert type(a.periodograms["x_mean"]) is type(b.periodograms["x_mean"])
    np.testing.assert_array_equal(a.periodograms["x_mean"][1], b.periodograms["x_mean"][1])
    assert (a.window, a.parameter, a.cursor) == (b.window, b.parameter, b.cursor)


def test_round_trip_by_reference(session, tmp_path):
    folder = save_session(session, tmp_path / "mine")
    assert folder.name == "mine.fgs"
    again = Session.open(folder)
    assert_same(session, again)
    assert list(again.data.products["file_name"]) == list(session.data.products["file_name"])


def test_round_trip_self_contained(session, tmp_path):
    folder = save_session(session, tmp_path / "share", include_frames=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["files"] == [] and manifest["frames_included"]
    assert_same(session, Session.open(folder))


def test_moved_files_found_by_search_path(session, sample, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(sample.directory / "mastDownload", moved)
    folder = save_session(session, tmp_path / "s")
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        entry["path"] = str(tmp_path / "gone" / entry["name"])
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SessionFileError, match="search_paths"):
        Session.open(folder)
    assert_same(session, Session.open(folder, search_paths=[moved]))


def test_changed_data_file_is_refused(session, sample, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(sample.directory / "mastDownload", copy)
    session.data = session.data  # unchanged; now point the save at the copies
    folder = save_session(session, tmp_path / "s")
    manifest = json.loads((folder / "manifest.json").read_text())
    target = next(copy.rglob(manifest["files"][0]["name"]))
    for entry in manifest["files"]:
        entry["path"] = str(next(copy.rglob(entry["name"])))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    data = bytearray(target.read_bytes())
    data[-100] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(SessionFileError, match=re.escape(manifest["files"][0]["name"])):
        Session.open(folder)


def test_damaged_saves_give_clear_errors(session, tmp_path):
    folder = save_session(session, tmp_path / "s")
    (folder / "fit.parquet").write_bytes(b"not parquet")
    with pytest.raises(SessionFileError, match=r"fit\.parquet"):
        Session.open(folder)
    (folder / "manifest.json").write_text("{ half a manifest")
    with pytest.raises(SessionFileError, match="corrupt"):
        Session.open(folder)
    (folder / "manifest.json").unlink()
    with pytest.raises(SessionFileError, match="incomplete"):
        Session.open(folder)
    with pytest.raises(SessionFileError, match="no saved session"):
        Session.open(tmp_path / "nothing.fgs")


def test_failed_save_keeps_the_previous_one(session, tmp_path):
    folder = save_session(session, tmp_path / "s")
    before = (folder / "manifest.json").read_text()

    class Broken(pd.DataFrame):
        def to_parquet(self, path, *args, **kwargs):
            raise OSError("disk full")

    good, periodograms = session.fit, session.periodograms
    session.fit = Broken(good)  # a new fit table: the session drops its fit periodograms
    assert "x_mean" not in session.periodograms
    with pytest.raises(OSError, match="disk full"):
        save_session(session, tmp_path / "s")
    session.fit, session.periodograms = good, periodograms
    assert (folder / "manifest.json").read_text() == before
    assert_same(session, Session.open(folder))
    assert [p.name for p in tmp_path.iterdir()] == ["s.fgs"]


def _same_value(name: str, a, b) -> None:
    """Equal values of one saved trait, with the same types all the way down."""
    assert type(a) is type(b), f"{name}: {type(a).__name__} became {type(b).__name__}"
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_like=False)
        assert a.attrs == b.attrs, f"{name}: attrs {a.attrs} became {b.attrs}"
    elif isinstance(a, dict):
        assert list(a) == list(b), name
        for key in a:
            _same_value(f"{name}[{key!r}]", a[key], b[key])
    elif isinstance(a, Periodogram):
        for field in ("column", "n_used", "n_excluded", "n_flagged", "n_nan", "start",
                      "grid_step", "detrend", "piece_name", "removed"):
            assert getattr(a, field) == getattr(b, field), f"{name}.{field}"
        np.testing.assert_array_equal(a.frequency, b.frequency)
        np.testing.assert_array_equal(a.power, b.power)
        pd.testing.assert_frame_equal(a.peaks, b.peaks)
        pd.testing.assert_frame_equal(a.levels, b.levels)
    elif name == "science":
        for field in dataclasses.fields(a):
            x, y = getattr(a, field.name), getattr(b, field.name)
            if isinstance(x, np.ndarray):
                np.testing.assert_array_equal(x, y, err_msg=field.name)
            else:
                assert x == y, f"science.{field.name}: {x!r} became {y!r}"
    elif name == "data":
        for field in ("frames", "time", "flux", "quality", "segments"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    else:
        assert a == b, f"{name}: {a!r} became {b!r}"


def test_every_saved_trait_round_trips_with_its_type(sample_data, tmp_path):
    """A session made by the real actions comes back trait by trait, types included."""
    s = Session()
    s.data = sample_data.select(observation=2)[:4000]
    s.fit_frames("quick", block=True)
    s.fit_frames("full", chunk_size=2000, block=True)
    # photometry: a flux of another aperture, not the files' sums, must come back as is
    s.data = dataclasses.replace(s.data, flux=np.nansum(s.data.frames[:, 2:6, 2:6], axis=(1, 2)))
    assert s.fit is not None  # same frames: the fits stay
    s.compute_periodograms(["flux", "x_mean"])
    s.add_local_events()
    s.detect_events("x_mean")
    t = s.data.time
    s.telemetry = {"SA_ZHGAUPST": pd.DataFrame(
        {"time": t[[0, 50]], "utc": ["2022-12-06T00:08:25", "2022-12-06T00:08:29"],
         "value": ["MOVING", "FINISHED"], "mnemonic": "SA_ZHGAUPST"}),
        "INIS_FWMTRCURR": pd.DataFrame({"time": t[:3], "utc": ["a", "b", "c"],
                                        "value": [0.1, 0.2, 0.3], "mnemonic": "INIS_FWMTRCURR"})}
    s.window = (float(t[10]), float(t[900]))
    s.parameter, s.cursor, s.program = "x_mean", 77, "1534"
    mid = t[100:3900:64]  # a light curve over these frames, in BJD_TDB toward the guide star
    star = s.data.products.iloc[0]
    s.load_science(pd.DataFrame({"bjd_tdb": utc_to_bjd_tdb(mid, star["gs_ra"], star["gs_dec"]),
                                 "flux": 1 + 0.01 * np.sin(mid), "flux_err": 1e-4}))
    empty = [n for n in tagged(Session, "saved")
             if getattr(s, n) is None or (isinstance(getattr(s, n), (dict, list, str))
                                          and not getattr(s, n))]
    assert not empty, f"the test must fill every saved trait: {empty}"

    again = Session.open(save_session(s, tmp_path / "all"))
    for name in tagged(Session, "saved"):
        _same_value(name, getattr(s, name), getattr(again, name))
    # every table the export panel offers still exports, in every format
    tables = again.tables()
    assert set(tables) == set(s.tables()) and "peaks" in tables
    for name, table in tables.items():
        for fmt in FORMATS:
            assert export_table(table, name, fmt, tmp_path / "out").stat().st_size > 0


def test_restore_into_a_session_widgets_observe(session, tmp_path):
    folder = save_session(session, tmp_path / "s")
    other = Session()
    seen = []
    other.observe(lambda c: seen.append(c["name"]), names=["data", "fit", "periodograms"])
    assert other.restore(folder) is other
    assert_same(session, other)
    assert {"data", "fit", "periodograms"} <= set(seen)
    assert other.message.startswith("reopened")

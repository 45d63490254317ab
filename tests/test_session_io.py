"""Saved sessions: round trip, subsets, self-contained saves, damaged saves."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from fgs_widgets.model import Session
from fgs_widgets.session_io import SessionFileError, open_session, save_session


@pytest.fixture
def session(sample_data):
    part = sample_data.select(observation=2)[100:3100]
    s = Session()
    s.data = part
    rng = np.random.default_rng(1)
    s.fit = pd.DataFrame(rng.normal(size=(len(part), 3)), columns=["x_mean", "y_mean", "theta"])
    s.quick_fit = pd.DataFrame({"x_mean": rng.normal(size=len(part))})
    s.periodograms = {"x_mean": (np.linspace(0.01, 8, 50), rng.random(50))}
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
    np.testing.assert_array_equal(a.periodograms["x_mean"][1], b.periodograms["x_mean"][1])
    assert (a.window, a.parameter, a.cursor) == (b.window, b.parameter, b.cursor)


def test_round_trip_by_reference(session, tmp_path):
    folder = save_session(session, tmp_path / "mine")
    assert folder.name == "mine.fgs"
    again = open_session(folder)
    assert_same(session, again)
    assert list(again.data.products["file_name"]) == list(session.data.products["file_name"])


def test_round_trip_self_contained(session, tmp_path):
    folder = save_session(session, tmp_path / "share", include_frames=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["files"] == [] and manifest["frames_included"]
    assert_same(session, open_session(folder))


def test_moved_files_found_by_search_path(session, sample, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(sample.directory / "mastDownload", moved)
    folder = save_session(session, tmp_path / "s")
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        entry["path"] = str(tmp_path / "gone" / entry["name"])
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SessionFileError, match="search_paths"):
        open_session(folder)
    assert_same(session, open_session(folder, search_paths=[moved]))


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
        open_session(folder)


def test_damaged_saves_give_clear_errors(session, tmp_path):
    folder = save_session(session, tmp_path / "s")
    (folder / "fit.parquet").write_bytes(b"not parquet")
    with pytest.raises(SessionFileError, match=r"fit\.parquet"):
        open_session(folder)
    (folder / "manifest.json").write_text("{ half a manifest")
    with pytest.raises(SessionFileError, match="corrupt"):
        open_session(folder)
    (folder / "manifest.json").unlink()
    with pytest.raises(SessionFileError, match="incomplete"):
        open_session(folder)
    with pytest.raises(SessionFileError, match="no saved session"):
        open_session(tmp_path / "nothing.fgs")


def test_failed_save_keeps_the_previous_one(session, tmp_path):
    folder = save_session(session, tmp_path / "s")
    before = (folder / "manifest.json").read_text()

    class Broken:
        def to_parquet(self, path):
            raise OSError("disk full")

    session_dict = session.fit
    object.__setattr__(session, "_trait_values", {**session._trait_values, "fit": Broken()})
    with pytest.raises(OSError, match="disk full"):
        save_session(session, tmp_path / "s")
    session._trait_values["fit"] = session_dict
    assert (folder / "manifest.json").read_text() == before
    assert_same(session, open_session(folder))
    assert [p.name for p in tmp_path.iterdir()] == ["s.fgs"]

"""Session actions, headless: loading, background fits, periodograms, events, secrets."""

from __future__ import annotations

import numpy as np
import pytest

from fgs_widgets.model import Session


@pytest.fixture
def session(sample):
    s = Session()
    s.read_files(sample.paths)
    return s


def test_read_files_and_reset(session, sample):
    assert len(session.data) == len(sample.truth.time)
    session.cursor = 10_000
    session.window = (session.data.time[0], session.data.time[100])
    session.read_files(sample.paths[:1])
    assert session.cursor == 0 and session.window is None and session.fit is None
    session.cursor = 10**9
    assert session.cursor == len(session.data) - 1  # clipped, never out of range
    assert session.history[-1].startswith("session.read_files(")


def test_background_fit_with_progress(session):
    part = session.data[:3000]
    session.data = part
    seen = []
    session.observe(lambda c: seen.append(c["new"]), names="fit_progress")
    session.fit_frames("full", executor="serial", chunk_size=1000)
    session.wait(120)
    assert session.fit_status == "done" and len(session.fit) == 3000
    assert seen[-1] == 1.0 and len(seen) >= 3 and session.fit_rate > 0
    assert session.columns()[1:] == ["amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev",
                                     "theta", "offset"]


def test_cancel_keeps_finished_chunks(session):
    session.data = session.data[:6000]

    def stop(change):
        if change["new"] >= 1 / 6:
            session.cancel()

    session.observe(stop, names="fit_progress")
    session.fit_frames("full", executor="serial", chunk_size=1000, block=True)
    assert session.fit_status == "cancelled"
    done = session.fit["status"] != "cancelled"
    assert 1000 <= done.sum() < 6000 and session.fit.loc[done, "x_mean"].notna().all()


def test_errors_are_status_not_crash(session):
    with pytest.raises(ValueError, match="kind"):
        session.fit_frames("slow")
    empty = Session()
    with pytest.raises(ValueError, match="no data"):
        empty.fit_frames()


def test_periodogram_over_window(session, sample):
    session.fit_frames("quick", block=True)
    truth = sample.truth
    window = (truth.time[0], truth.time[4095])
    session.window = window
    result = session.compute_periodograms(["y_mean"])["y_mean"]
    assert result.n_used == 4096
    assert (abs(result.peaks["period"] - truth.periods["y_mean"]) < 0.2).any()


def test_events_local(session, sample):
    session.add_local_events()
    kinds = session.events["kind"].value_counts()
    assert kinds["file_boundary"] == 4 and kinds["guide_star_change"] == 1
    assert kinds["hga_move"] == 2


def test_no_token_anywhere(session, monkeypatch):
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    secret = "tok-never-store-me"
    with pytest.raises(Exception) as info:
        session.fetch_mnemonic("SA_ZHGAUPST", token=secret)  # no EDB here: it fails
    assert secret not in str(info.value)
    state = repr(session.trait_values()) + repr(vars(session)) + "".join(session.history)
    assert secret not in state


def test_series(session):
    t, flux = session.series("flux")
    assert len(t) == len(flux)
    with pytest.raises(KeyError, match="fit first"):
        session.series("x_mean")
    assert np.isnan(flux[session.data.quality & 2 > 0]).all()

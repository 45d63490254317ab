"""Session actions, headless: loading, background fits, periodograms, events, secrets."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from fgs_widgets.archive import conf
from fgs_widgets.jobs import JobBusy, JobState
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


def test_background_fit_with_progress(session, tmp_path):
    part = session.data[:3000]
    session.data = part
    seen = []
    session.fit_job.observe(lambda c: seen.append(c["new"]), names="progress")
    with conf.override(cache_dir=tmp_path):  # nothing cached: every chunk is fitted
        session.fit_frames("full", executor="serial", chunk_size=1000)
        session.wait(120)
    job = session.fit_job
    assert job.state is JobState.DONE and job.error is None and len(session.fit) == 3000
    assert seen[-1] == 1.0 and len(seen) >= 3 and job.rate > 0 and job.kind == "full"
    assert session.columns()[1:] == ["amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev",
                                     "theta", "offset"]
    assert session.history[-1] == ("session.fit_frames(executor='serial', chunk_size=1000, "
                                   "block=True)")


def test_cancel_keeps_finished_chunks_and_a_rerun_fits_only_the_rest(session, tmp_path):
    session.data = session.data[:6000]

    def stop(change):
        if change["new"] >= 2 / 6:
            session.fit_job.cancel()

    with conf.override(cache_dir=tmp_path / "cache"):
        session.fit_job.observe(stop, names="progress")
        session.fit_frames("full", executor="serial", chunk_size=1000, block=True)
        session.fit_job.unobserve(stop, names="progress")
        assert session.fit_job.state is JobState.CANCELLED
        done = session.fit["status"] != "cancelled"
        assert 2000 <= done.sum() < 6000 and session.fit.loc[done, "x_mean"].notna().all()
        assert "run again" in session.fit_job.message
        assert session.fit_cache_dir.is_relative_to(tmp_path / "cache")
        finished_chunks = int(done.sum()) // 1000
        assert len(list(session.fit_cache_dir.glob("chunk-*.npy"))) == finished_chunks

        first = session.fit.copy()
        session.fit_frames("full", executor="serial", chunk_size=1000, block=True)
        assert session.fit_job.state is JobState.DONE
        # only the unfinished chunks were fitted; the finished ones came back unchanged
        assert session.fit.attrs["cache_hits"] == finished_chunks
        assert f"{finished_chunks} finished chunk(s) reused" in session.fit_job.message
        assert (session.fit["status"] != "cancelled").all()
        pd.testing.assert_frame_equal(session.fit[done], first[done])


def test_jobs_never_share_a_cancel(session, tmp_path):
    session.data = session.data[:4000]
    started = threading.Event()

    def hold(change):
        if change["new"] > 0:
            started.set()

    session.fit_job.observe(hold, names="progress")
    with conf.override(cache_dir=tmp_path / "c"):
        run = session.fit_frames("full", executor="serial", chunk_size=500)
        started.wait(60)
        session.download_job.cancel()  # a download's cancel must not touch the fit
        session.periodogram_job.cancel()
        assert not run.cancelled
        session.wait(120)
    assert session.fit_job.state is JobState.DONE
    with pytest.raises(JobBusy):
        session.fit_job.state = JobState.RUNNING  # as if still running
        session.fit_frames("quick")
    session.fit_job.state = JobState.DONE


def test_a_failed_fit_is_a_state_and_an_error_object(session):
    session.data = session.data[:100]
    with pytest.raises(ValueError, match="chunk_size"):
        session.fit_frames("full", chunk_size=0, block=True)
    job = session.fit_job
    assert job.state is JobState.FAILED and isinstance(job.error, ValueError)
    assert "chunk_size" in job.message and session.message == job.message
    session.fit_frames("quick", block=True)  # a new run clears the error
    assert job.state is JobState.DONE and job.error is None


def test_new_data_abandons_a_running_fit(session):
    session.data = session.data[:6000]
    session.fit_frames("full", executor="serial", chunk_size=500)
    session.data = session.data[:100]
    assert session.fit_job.state is JobState.IDLE
    session.wait(120)
    assert session.fit is None and session.fit_job.state is JobState.IDLE


def test_fit_threads_stay_in_the_fit(session):
    import numba

    before = numba.get_num_threads()
    session.data = session.data[:500]
    session.fit_frames("full", executor="serial", threads=1, block=True)
    assert numba.get_num_threads() == before and session.fit_job.state is JobState.DONE


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


def test_history_of_a_background_fit_is_written_when_it_succeeds(session, tmp_path):
    session.data = session.data[:2000]
    with conf.override(cache_dir=tmp_path):
        run = session.fit_frames("quick")  # as a click: not blocking
        session.wait(60)
        assert run.ended is JobState.DONE
        assert session.history[-1] == "session.fit_frames('quick', block=True)"  # scripts wait
        lines = len(session.history)
        with pytest.raises(ValueError):
            session.fit_frames("full", chunk_size=0, block=True)
        assert len(session.history) == lines  # a failed run writes nothing
    session.window = (float(session.data.time[10]), float(session.data.time[900]))
    session.compute_periodograms(["flux"])
    session.window = None
    session.compute_periodograms(["flux"])
    assert session.history[-4].startswith("session.window = (")
    assert session.history[-2:] == [
        "session.window = None",
        "session.compute_periodograms(['flux'], detrend='linear', by='file')"]


def test_cancelled_download_is_cancelled_not_failed(mast):
    session = Session()
    mast.behaviour.trickle = 2000  # slow enough to cancel midway
    try:
        run = session.open_program(1534, observation=2, block=False)
        deadline = time.monotonic() + 30
        while session.download_job.done == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        session.download_job.cancel()
        session.wait(30)
    finally:
        mast.behaviour.trickle = None
    job = session.download_job
    assert run.ended is JobState.CANCELLED and job.state is JobState.CANCELLED
    assert job.error is None and "cancelled" in job.message and session.data is None
    assert not any(line.startswith("session.open_program") for line in session.history)


def test_a_token_given_as_text_is_in_no_frame_of_the_traceback(session, monkeypatch):
    from loopback import leaked_in_traceback

    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    secret = "tok-frames-never-hold-me"
    with conf.override(eng_server="http://127.0.0.1:9", timeout=2):
        with pytest.raises(Exception) as info:
            session.fetch_mnemonic("SA_ZHGAUPST", token=secret)
    assert leaked_in_traceback(info.value, secret, skip_tests=True) == []

"""Cooperative cancel on ray: many cancels at random moments leave ray's workers whole.

``ray.cancel`` raised ``KeyboardInterrupt`` inside running tasks: one landing in a
worker's first ``import numba`` left that worker with a half-imported numba, and the
*next* fit failed on it ("module 'numba' has no attribute 'core'"); its race with a
completing task aborted ray's core worker and with it the process.  Fits and surveys now
stop submitting and never interrupt a task; these tests cancel many times, at random
moments, in this one process (a notebook kernel's life), then check that the next run
gives exactly what an uninterrupted one gives.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fgs_widgets.archive.sample import write_sample_program
from fgs_widgets.engine.gaussian import fit_chunk
from fgs_widgets.engine.simulate import simulate_frames
from fgs_widgets.runtime.fit import fit_gaussians
from fgs_widgets.survey import Survey, read_survey, survey_status, tasks_from_paths
from fgs_widgets.survey.dataset import STATUS_DIR

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def frames():
    return simulate_frames(20_000, seed=11)[:2]  # FGS-like: faint to bright, edges


def test_fits_cancelled_at_random_moments_then_a_fit_equal_to_the_serial_one(
        ray_local, frames):
    data, sigma = frames
    serial = fit_gaussians(data, sigma, executor="serial", chunk_size=2000)
    rng = np.random.default_rng(3)
    kept = 0
    for _ in range(24):
        # a random moment counted in the run's own progress (after 0-7 of its 10 chunks,
        # then 0-50 ms into the next ones), not in wall time: on a loaded machine a fixed
        # delay can land before any chunk, every time
        cancel = threading.Event()
        after, delay = int(rng.integers(0, 8)) * 2000, rng.uniform(0, 0.05)
        timers = []

        def progress(done, total, after=after, delay=delay, cancel=cancel, timers=timers):
            if done >= after and not timers:
                timers.append(threading.Timer(delay, cancel.set))
                timers[0].start()

        progress(0, len(data))
        result = fit_gaussians(data, sigma, executor="ray", chunk_size=2000, cancel=cancel,
                               progress=progress)
        for timer in timers:
            timer.join()
        # nothing dropped, nothing mixed up: every row is the serial fit's or "cancelled"
        assert len(result) == len(data)
        done = (result["status"] != "cancelled").to_numpy()
        assert result.loc[~done, "x_mean"].isna().all()
        pd.testing.assert_frame_equal(result[done], serial[done])
        kept += int(done.sum())
    assert 0 < kept < 24 * len(data)  # the cancels landed at different moments
    pd.testing.assert_frame_equal(
        fit_gaussians(data, sigma, executor="ray", chunk_size=2000), serial)


def test_a_worker_with_broken_imports_ends_and_its_chunk_runs_on_a_fresh_one(
        ray_local, frames):
    from fgs_widgets.runtime import executor

    ray = ray_local
    data, sigma = frames[0][:500], frames[1][:500]
    tests = str(Path(__file__).parent)
    # a runtime env of its own: a pool of workers that only these two tasks use, so the
    # fit goes to the worker the first task broke (ray reuses an idle worker of its env)
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
        filter(None, [tests, os.environ.get("PYTHONPATH")]))}}
    import broken_worker

    poisoned = ray.get(ray.remote(num_cpus=1)(broken_worker.poison).options(
        runtime_env=env).remote(), timeout=300)
    rows = ray.get(executor._remote().options(runtime_env=env).remote(
        executor._reference(fit_chunk), data, sigma, None, 100, 1e-8), timeout=300)
    np.testing.assert_array_equal(rows, fit_chunk(data, sigma, None, 100, 1e-8,
                                                  parallel=False))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(poisoned):
        time.sleep(0.1)
    assert not _alive(poisoned), "the broken worker should have ended itself"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    root = tmp_path_factory.mktemp("stress-programs")
    return [write_sample_program(root / str(p), seed=p, program=p, start=59950.0 + p - 3001)
            for p in (3001, 3002, 3003, 3004)]


def test_a_survey_cancelled_at_random_moments_resumes_to_the_uninterrupted_dataset(
        ray_local, programs, tmp_path):
    tasks = tasks_from_paths([p.directory for p in programs])
    reference = tmp_path / "reference"
    started = time.monotonic()
    Survey(tasks, reference, fit="quick").run()
    uninterrupted = time.monotonic() - started
    want = read_survey(reference)
    out = tmp_path / "survey"
    rng = np.random.default_rng(5)
    seen = set()
    for moment in (0.05, *rng.uniform(0.1, 0.5, 4)):  # the first right after the start
        survey = Survey(tasks, out, fit="quick")
        survey.start()
        time.sleep(moment * uninterrupted)
        survey.cancel()
        assert survey.wait(120)
        states = set(survey.states.values())
        assert states <= {"done", "skipped", "cancelled"}, survey.errors
        seen |= states
    final = Survey(tasks, out, fit="quick")
    final.run()
    assert final.n_failed == 0 and final.n_done + final.n_skipped == len(tasks)
    assert "cancelled" in seen  # some cancel did stop work
    pd.testing.assert_frame_equal(read_survey(out), want)
    assert list(survey_status(out)["state"]) == ["done"] * len(tasks)
    assert not list((out / STATUS_DIR).glob("stop-*"))  # no stop file left for later runs
    leftovers = [p for p in out.rglob("*") if p.name.startswith((".", "tmp"))]
    assert not leftovers, leftovers


def test_the_sessions_cancel_on_ray_then_a_rerun_equals_the_serial_fit(
        ray_local, sample, tmp_path):
    from fgs_widgets.archive import conf
    from fgs_widgets.jobs import JobState
    from fgs_widgets.model import Session

    session = Session()
    session.read_files(sample.paths)
    session.data = session.data[:12_000]
    serial = fit_gaussians(session.data.frames, session.data.errors, executor="serial",
                           chunk_size=2000)

    def stop(change):
        if change["new"] >= 2 / 6:
            session.fit_job.cancel()  # what the App's Cancel button calls

    with conf.override(cache_dir=tmp_path):
        session.fit_job.observe(stop, names="progress")
        session.fit_frames("full", executor="ray", chunk_size=2000, block=True)
        session.fit_job.unobserve(stop, names="progress")
        assert session.fit_job.state is JobState.CANCELLED
        done = (session.fit["status"] != "cancelled").to_numpy()
        assert 4000 <= done.sum() < 12_000
        session.fit_frames("full", executor="ray", chunk_size=2000, block=True)
    assert session.fit_job.state is JobState.DONE
    pd.testing.assert_frame_equal(session.fit[serial.columns].reset_index(drop=True), serial)

"""Jobs: own cancel, states, errors as objects, replaced runs, Ctrl-C, observers."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from fgs_widgets.jobs import Job, JobBusy, JobState, JobSuperseded


def waiting(release: threading.Event):
    def work(run):
        give_up = time.monotonic() + 20  # a broken test must not hang the run
        while not release.is_set() and not run.cancelled and time.monotonic() < give_up:
            time.sleep(0.01)
        return "result"

    return work


def test_states_result_and_error_object():
    job = Job("demo")
    seen = []
    job.observe(lambda c: seen.append(c["new"]), names="state")
    run = job.start(lambda run: 41, lambda run, result: f"got {result + 1}", block=True)
    assert run.ended is JobState.DONE and job.message == "got 42" and job.error is None
    with pytest.raises(ZeroDivisionError):
        job.start(lambda run: 1 / 0, lambda run, result: "", block=True)
    assert job.state is JobState.FAILED and isinstance(job.error, ZeroDivisionError)
    assert seen == [JobState.RUNNING, JobState.DONE, JobState.RUNNING, JobState.FAILED]


def test_busy_and_cancel_of_one_run_only():
    release = threading.Event()
    job, other = Job("fit"), Job("download")
    run = job.start(waiting(release), lambda run, result: "ok")
    with pytest.raises(JobBusy):
        job.start(waiting(release), lambda run, result: "ok")
    other.cancel()  # another job's cancel
    assert not run.cancelled
    job.cancel()
    job.wait(5)
    assert job.state is JobState.CANCELLED and run.cancelled


def test_a_replaced_blocking_run_says_so():
    release = threading.Event()
    job = Job("periodogram", replaces=True)
    outcome = []

    def first() -> None:
        try:
            job.start(waiting(release), lambda run, result: "first", block=True)
        except JobSuperseded as exc:
            outcome.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.1)
    job.start(lambda run: 2, lambda run, result: "second", block=True)
    thread.join(5)
    assert outcome and job.message == "second" and job.state is JobState.DONE


def test_ctrl_c_while_waiting_stops_the_work():
    job = Job("fit")
    # a real SIGINT, as the kernel's "interrupt" sends: it breaks the wait in join()
    timer = threading.Timer(0.2, signal.pthread_kill,
                            (threading.main_thread().ident, signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        job.start(waiting(threading.Event()), lambda run, result: "ok", block=True)
    # (not job.wait(): after an interrupted join CPython may think the thread has ended)
    deadline = time.monotonic() + 5
    while job.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.state is JobState.CANCELLED  # not left running, and startable again
    job.start(lambda run: 1, lambda run, result: "again", block=True)


def test_an_observer_cannot_wait_for_its_own_job():
    job = Job("fit")
    errors = []

    def again(change) -> None:
        if change["new"] is JobState.DONE and not errors:
            try:
                job.start(lambda run: 1, lambda run, result: "", block=True)
            except RuntimeError as exc:
                errors.append(exc)
            job.wait()  # returns: it would join its own thread

    job.observe(again, names="state")
    job.start(lambda run: 1, lambda run, result: "ok", block=True)
    assert errors and "observer" in str(errors[0])


def test_work_found_done_at_the_start_is_not_in_the_rate():
    job = Job("fit")

    def work(run):
        run.report(80, 100)  # e.g. chunks from the fit cache, at once
        time.sleep(0.5)
        run.report(90, 100)  # 10 fitted in 0.5 s
        return None

    job.start(work, lambda run, result: "", block=True)
    assert 15 < job.rate < 25 and job.eta == pytest.approx(10 / job.rate)

"""Long work as job objects: the one job model of the package.

A Session has one per kind of work (fit, download, periodogram), a survey one for its
run (`fgs_widgets.survey.Survey.job`), and the quickstart API runs its fits as one.

A `Job` is a traitlets model the widgets observe: ``state`` (a `JobState`),
``progress``, ``rate``, ``eta``, ``message`` and ``error`` (the exception object
itself, never text to parse).  Each run gets its own cancel event, so cancelling
one job never stops another, and a run that was replaced (new data, a newer
request) keeps its own, already set, event and can no longer touch the job's
traits.  Work runs in a thread of its own; ``block=True`` waits for it and
re-raises its error, so scripts see exceptions where they call.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from typing import Any

import traitlets as t

__all__ = ["Job", "JobBusy", "JobState", "JobSuperseded", "Run"]


class JobState(enum.StrEnum):
    """Where a job is: the only states there are (no free text)."""

    IDLE = "idle"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class JobBusy(RuntimeError):
    """The job is already running and this kind of work does not replace a running one."""


class JobSuperseded(RuntimeError):
    """A run waited for (``block=True``) was replaced by a newer run or dropped with its data."""


class Run:
    """One run of a job: its cancel event and its progress reports.

    The work function receives it; it calls ``run.report(done, total)`` and checks
    ``run.cancelled`` (or passes ``run.cancel``, a `threading.Event`, down to the
    engine).  Reports of a run that is no longer the job's current one are ignored.
    """

    def __init__(self, job: Job):
        self.job = job
        self.cancel = threading.Event()
        self.started = time.perf_counter()
        self.thread: threading.Thread | None = None
        self.outcome: BaseException | None = None
        #: the state this run ended the job in (None: still running, or superseded)
        self.ended: JobState | None = None
        #: called (no arguments) once the run has ended DONE; e.g. the history line
        self.on_done: list[Callable[[], None]] = []
        self.blocking = False  #: someone waits for it (``block=True``): no widget may show it
        self._base: tuple[float, float] | None = None

    def __repr__(self) -> str:
        if self.ended is not None:
            where = self.ended.value
        else:
            where = "running" if self.current else "replaced"
        return f"<Run of the {self.job.name} job: {where}>"

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def when_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once this run has ended DONE (now, if it already has)."""
        with self.job._lock:
            if self.ended is None and self.current:
                self.on_done.append(callback)
                return
            done = self.ended is JobState.DONE
        if done:
            callback()

    @property
    def current(self) -> bool:
        """Still the job's run (not replaced by a newer one)."""
        return self.job._run is self

    def restart_clock(self) -> None:
        """Measure rate and ETA from now (e.g. after a one-off kernel compile)."""
        self.started = time.perf_counter()
        self._base = None

    def report(self, done: float, total: float) -> None:
        """Progress of this run: ``done`` of ``total`` units (frames, bytes...)."""
        with self.job._lock:
            if not self.current:
                return
            now = time.perf_counter()
            if self._base is None:
                # a first report right at the start is work found already done (cached
                # chunks, a resumed download): counted in the rate it would make the ETA
                # far too short
                self._base = (now, done) if now - self.started < 0.25 else (self.started, 0.0)
            since, base = self._base
            rate = (done - base) / (now - since) if now > since else 0.0
            with self.job.hold_trait_notifications():
                self.job.done, self.job.total = float(done), float(total)
                self.job.rate = rate
                self.job.eta = (total - done) / rate if rate > 0 else 0.0
                self.job.progress = min(done / total, 1.0) if total else 1.0


class Job(t.HasTraits):
    """A kind of long work of a Session, with live state for widgets to observe.

    Parameters
    ----------
    name : str
        "fit", "download", "periodogram"...
    unit : str
        What ``done``/``total``/``rate`` count ("frames", "bytes").
    replaces : bool
        A new run cancels and replaces a running one (periodograms follow the
        zoom); otherwise starting while running raises `JobBusy` (a fit).

    Traits
    ------
    state : JobState
    progress : float
        0..1 of the current run.
    done, total, rate, eta : float
        Units done and to do, units per second, seconds left.
    kind : str
        What the current or last run does (e.g. "full" or "quick" for a fit).
    message : str
        Outcome of the last run, for people.
    error : Exception or None
        The exception that failed the last run (None otherwise).
    """

    name = t.Unicode()
    unit = t.Unicode("")
    state = t.UseEnum(JobState, default_value=JobState.IDLE)
    progress = t.Float(0.0)
    done = t.Float(0.0)
    total = t.Float(0.0)
    rate = t.Float(0.0)
    eta = t.Float(0.0)
    kind = t.Unicode("")
    message = t.Unicode("")
    error = t.Instance(BaseException, allow_none=True)

    def __init__(self, name: str, *, unit: str = "", replaces: bool = False):
        super().__init__(name=name, unit=unit)
        self.replaces = replaces
        self._run: Run | None = None
        self._lock = threading.RLock()  # observers of state may start another run

    def __repr__(self) -> str:
        return f"<Job {self.name} {self.state.value} {self.progress:.0%}>"

    @property
    def running(self) -> bool:
        return self.state is JobState.RUNNING

    def start(self, work: Callable[[Run], Any], finish: Callable[[Run, Any], str], *,
              kind: str = "", block: bool = False,
              fail: Callable[[BaseException], str] | None = None) -> Run:
        """Run ``work(run)`` in a thread; ``finish(run, result)`` applies the result.

        Parameters
        ----------
        work : callable(Run) -> result
            The long part (reads, fits, downloads); reports progress on the run.
        finish : callable(Run, result) -> str
            Stores the result where it belongs and returns the outcome message.
            Called only while the run is still the job's current one, before
            ``state`` changes, so observers of ``state`` already see the result.
        kind : str
            Shown in ``kind`` while running.
        block : bool
            Wait for the run; its error, if any, is raised here.
        fail : callable(exception) -> str, optional
            The message for a failed run (default: the exception's type and text).

        Raises
        ------
        JobBusy
            Already running and ``replaces`` is False.
        JobSuperseded
            With ``block=True``: the run was replaced or dropped before it ended.
        RuntimeError
            ``block=True`` from an observer of this job (it would wait for itself).

        Notes
        -----
        Observers of the job (and of what ``finish`` sets) run in the run's thread,
        with the job's lock held so the state they see is consistent: they may start
        other work, but not wait for this job.  A run cancelled while its work raises
        (a cancelled download) ends CANCELLED, not FAILED.
        """
        if block and self._run is not None and self._run.thread is threading.current_thread():
            raise RuntimeError(f"an observer of the {self.name} job cannot wait for it: "
                               "start it with block=False")
        with self._lock:  # two quick clicks must not start two runs
            if self.running and not self.replaces:
                raise JobBusy(f"a {self.name} is already running: cancel it first "
                              "(job.cancel()) or wait for it (job.wait())")
            if self._run is not None:
                self._run.cancel.set()
            run = self._run = Run(self)
            run.blocking = block
            with self.hold_trait_notifications():
                self.kind = kind
                self.progress = self.done = self.total = self.rate = self.eta = 0.0
                self.error = None
                self.message = ""
                self.state = JobState.RUNNING

        run.thread = threading.Thread(target=self._target, args=(run, work, finish, fail),
                                      name=f"fgs-{self.name}", daemon=True)
        try:
            run.thread.start()
        except BaseException as exc:  # e.g. no thread left: the job must not stay RUNNING
            self._end(run, JobState.FAILED, self._describe(exc, fail), exc)
            raise
        if block:
            self._wait_for(run)
        return run

    def _describe(self, exc: BaseException, fail: Callable[[BaseException], str] | None) -> str:
        try:
            return fail(exc) if fail else f"{type(exc).__name__}: {exc}"
        except Exception:  # a message must never keep the job running
            return f"{self.name} failed: {type(exc).__name__}"

    def _target(self, run: Run, work: Callable[[Run], Any], finish: Callable[[Run, Any], str],
                fail: Callable[[BaseException], str] | None) -> None:
        """The run's thread: work, then finish and the end state, whatever happens."""
        try:
            result = work(run)
            with self._lock:  # nothing may replace the run between the check and finish
                if run.current:
                    message = finish(run, result)
                    self._end(run, JobState.CANCELLED if run.cancelled else JobState.DONE,
                              message)
        except BaseException as exc:  # recorded for the user; re-raised when blocking
            run.outcome = exc
            if run.cancelled:
                self._end(run, JobState.CANCELLED, f"{self.name} cancelled: {exc}")
            else:
                self._end(run, JobState.FAILED, self._describe(exc, fail), exc)
        if run.ended is JobState.DONE:  # ended is set: when_done no longer appends
            for callback in run.on_done:
                callback()

    def _wait_for(self, run: Run) -> None:
        """``block=True``: join the run; raise its error, or say it was replaced."""
        try:
            run.thread.join()
        except BaseException:  # Ctrl-C while waiting: stop the work too
            run.cancel.set()
            raise
        if run.outcome is not None:
            raise run.outcome
        if run.ended is None:
            raise JobSuperseded(f"the {self.name} was replaced by a newer one, or its data "
                                "changed, before it finished")

    def _end(self, run: Run, state: JobState, message: str,
             error: BaseException | None = None) -> None:
        with self._lock:
            if not run.current:
                return
            run.ended = state
            with self.hold_trait_notifications():
                self.message = message
                self.error = error
                self.state = state

    def cancel(self) -> None:
        """Stop the current run at its next check; what it finished is kept."""
        run = self._run
        if run is not None:
            run.cancel.set()

    def abandon(self) -> None:
        """Cancel the current run and forget it (its data are gone): back to idle."""
        with self._lock:
            if self._run is not None:
                self._run.cancel.set()
            self._run = None
            with self.hold_trait_notifications():
                self.progress = self.done = self.total = self.rate = self.eta = 0.0
                self.error = None
                self.message = ""
                self.state = JobState.IDLE

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current run's thread has ended (scripts and tests).

        Returns at once when called from that thread (an observer of the job).
        """
        run = self._run
        if run is not None and run.thread is not None \
                and run.thread is not threading.current_thread():
            run.thread.join(timeout)

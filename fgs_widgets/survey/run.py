"""Run a survey on ray: one task per program, the head sends descriptions only.

`Survey` holds the plan and its progress as traitlets (a notebook widget observes them;
the command line prints a line per program).  `Survey.run` submits one ray task per
program that is not already complete (`fgs_widgets.survey.worker.survey_program`) and
collects their small reports as they finish.  ray does the scheduling and the retries:
a task whose worker dies is re-run (``max_retries``), a `TransientSurveyError` is
retried (``retry_exceptions``); a program that still fails is recorded under
``_survey/`` with its error and the survey goes on.  Re-running the survey skips
programs whose partitions are complete and verified, and retries the failed ones.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import traitlets

from ..jobs import Job, Run
from .dataset import STATUS_DIR, read_status, verify_partition, write_status
from .tasks import ProgramTask
from .worker import SurveyError, TransientSurveyError, settings_key, survey_program

__all__ = ["PROGRAM_STATES", "Survey", "run_survey"]

#: a program's states, in the order a survey moves it through them
PROGRAM_STATES = ("pending", "running", "done", "skipped", "failed", "cancelled")

_remote_program = None
_remote_lock = threading.Lock()
#: dataset folder -> {ObjectRef: ProgramTask} a cancelled run left running (never
#: interrupted); the next run on that folder waits for them first
_stragglers: dict[str, dict] = {}
_stragglers_lock = threading.Lock()


def _root_key(root: Path) -> str:
    return str(root.expanduser().resolve())


def _stop_file(root: Path) -> Path:
    """A new run's stop file: its workers stop between observations once it exists."""
    folder = root / STATUS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"stop-{uuid.uuid4().hex}"


def _remote(retries: int):
    global _remote_program
    with _remote_lock:
        if _remote_program is None:
            import ray

            _remote_program = ray.remote(num_cpus=1)(survey_program)
        return _remote_program.options(max_retries=retries,
                                       retry_exceptions=[TransientSurveyError])


class Survey(traitlets.HasTraits):
    """A survey of many programs and its progress.

    Parameters
    ----------
    tasks : iterable of ProgramTask
        From `fgs_widgets.survey.tasks` (a list of ids, a file, a MAST query, paths).
    root : path
        The dataset's folder (shared by every node of a multi-node cluster).
    fit : {"gaussian", "quick"}
    cache_dir : path, optional
        Download cache on each node (default: that node's ``conf.cache_dir``).
    address : str, optional
        ray cluster to join; default a local instance.
    retries : int
        Extra attempts per program after a worker died or a transient error.
    missing : dict, optional
        program -> why no task could be made (e.g. from `tasks_for_programs`): recorded
        as failed, so a re-run tries them again.

    Attributes (traits)
    -------------------
    states : dict
        program -> one of `PROGRAM_STATES`.
    errors : dict
        program -> the error of a failed program.
    n_done, n_failed, n_skipped, total, n_frames : int
    running : bool
    message : str
        The last line of progress, as the command line prints it.

    Attributes
    ----------
    job : fgs_widgets.jobs.Job
        The survey as a job (`start`): state, programs finished of ``total``, rate, ETA,
        cancel, outcome — as a Session's fit or download, and shown the same way.
    """

    states = traitlets.Dict()
    errors = traitlets.Dict()
    n_done = traitlets.Int(0)
    n_failed = traitlets.Int(0)
    n_skipped = traitlets.Int(0)
    total = traitlets.Int(0)
    n_frames = traitlets.Int(0)
    running = traitlets.Bool(False)
    message = traitlets.Unicode("")

    def __init__(self, tasks: Iterable[ProgramTask], root: str | Path, *, fit: str = "gaussian",
                 cache_dir: str | Path | None = None, address: str | None = None,
                 retries: int = 2, missing: dict[int, str] | None = None, **kwargs):
        super().__init__(**kwargs)
        if fit not in ("gaussian", "quick"):
            raise ValueError(f"fit must be 'gaussian' or 'quick', not {fit!r}")
        self.tasks = list(tasks)
        programs = [t.program for t in self.tasks]
        if len(set(programs)) != len(programs):
            raise ValueError("each program must have one task (merge their files)")
        if set(programs) & set(missing or {}):
            raise ValueError(f"programs {sorted(set(programs) & set(missing))} are both "
                             "tasks and missing: pass each once")
        self.root = Path(root)
        self.settings = {"fit": fit, "cache_dir": None if cache_dir is None else str(cache_dir),
                         "archive": _archive_settings()}
        self.address, self.retries = address, int(retries)
        self.missing = dict(missing or {})
        self.reports: dict[int, dict] = {}
        self.job = Job("survey", unit="programs")
        self._cancel = threading.Event()
        self._report: Callable[[float, float], None] | None = None
        self._stop_file: Path | None = None
        # a cancel touching the stop file and the run's end removing it take turns: a
        # touch after the removal would leave a stop file behind for no run
        self._stop_lock = threading.Lock()
        self.total = len(self.tasks) + len(self.missing)
        self.states = {**{t.program: "pending" for t in self.tasks},
                       **dict.fromkeys(self.missing, "failed")}

    # -- what is already done -------------------------------------------------------------
    def complete(self, task: ProgramTask) -> bool:
        """Whether the program's status says done for these inputs and settings and every
        observation's partition verifies."""
        key = settings_key(self.settings)
        status = read_status(self.root, task.program)
        if not status or status.get("state") != "done" or \
                status.get("inputs") != task.inputs_key() or status.get("settings") != key:
            return False
        return all(verify_partition(self.root, task.program, obs, settings=key,
                                    inputs=task.inputs_key(obs)) is not None
                   for obs in task.observations())

    # -- running --------------------------------------------------------------------------
    def run(self, progress: Callable[[int, str, dict], None] | None = None) -> dict[int, dict]:
        """Survey every program not yet complete; block until all have finished or failed.

        Parameters
        ----------
        progress : callable(program, state, record), optional
            Called in this thread as each program is skipped, done or failed.

        Returns
        -------
        dict
            program -> its report (done) or its failure record.
        """
        if self.job.running:
            raise RuntimeError("this survey is already running (survey.start()): wait for it "
                               "(survey.wait()) or cancel it (survey.cancel())")
        self._cancel, self._report = threading.Event(), None
        return self._survey(progress)

    def _survey(self, progress: Callable[[int, str, dict], None] | None) -> dict[int, dict]:
        """`run`'s work, with the cancel event and progress report already chosen."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.running = True
        # a second run of the same survey counts afresh
        self.n_done = self.n_failed = self.n_skipped = self.n_frames = 0
        self.errors, self.reports = {}, {}
        self.states = {**{t.program: "pending" for t in self.tasks},
                       **dict.fromkeys(self.missing, "failed")}
        try:
            self._record_missing(progress)
            pending = self._skip_complete(progress)
            if pending:
                self._run_on_ray(pending, progress)
        finally:
            self.running = False
            with self._stop_lock:
                self._stop_file = None
        return self.reports

    def start(self, progress: Callable[[int, str, dict], None] | None = None) -> Run:
        """`run` as ``job``, in the background (notebooks: the kernel stays free).

        Returns
        -------
        fgs_widgets.jobs.Run

        Raises
        ------
        fgs_widgets.jobs.JobBusy
            The survey is running already.
        """
        from ..runtime.executor import ensure_ray

        if self.job.running:  # before ray: a second click must not wait for it
            raise RuntimeError("this survey is already running: cancel it first "
                               "(survey.cancel()) or wait for it (survey.wait())")
        ensure_ray(self.address)  # here: ray sets its signal handlers in the main thread

        def work(run: Run) -> dict[int, dict]:
            self._cancel, self._report = run.cancel, run.report
            return self._survey(progress)

        def finish(run: Run, reports: dict[int, dict]) -> str:
            finished = self.n_done + self.n_failed + self.n_skipped
            return (f"survey {'cancelled' if run.cancelled else 'done'}: {self.n_done} done, "
                    f"{self.n_skipped} already complete, {self.n_failed} failed, "
                    f"{self.total - finished} to go")

        self.running = True  # at once: a second click sees it running
        try:
            return self.job.start(work, finish, kind=f"{self.total} program(s)")
        except BaseException:
            self.running = False
            raise

    def cancel(self) -> None:
        """Stop cooperatively: no program is started any more; the running ones stop
        after the observation they are writing (written whole), and `run` returns within
        about a second.  A re-run resumes from the written partitions; finished programs
        stay done."""
        self.job.cancel()
        self._cancel.set()
        with self._stop_lock:
            if self._stop_file is not None:
                try:
                    self._stop_file.touch()
                except OSError:  # the folder went away: nothing is running there
                    pass

    def widget(self):
        """A `fgs_widgets.widgets.SurveyPanel` showing this survey's progress."""
        from ..widgets.survey_panel import SurveyPanel

        return SurveyPanel(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a `start`-ed survey; True when it has finished."""
        self.job.wait(timeout)
        return not self.job.running

    # -- internals ------------------------------------------------------------------------
    def _set(self, program: int, state: str, record: dict,
             progress: Callable[[int, str, dict], None] | None) -> None:
        self.states = {**self.states, program: state}
        if state == "done":
            self.n_done += 1
            self.n_frames += int(record.get("n_frames", 0))
        elif state == "skipped":
            self.n_skipped += 1
        elif state == "failed":
            self.n_failed += 1
            self.errors = {**self.errors, program: record.get("error", "")}
        finished = self.n_done + self.n_failed + self.n_skipped
        self.message = _line(program, state, record, finished, self.total)
        if self._report is not None:  # the job's progress, rate and ETA
            self._report(finished, self.total)
        if progress is not None:
            progress(program, state, record)

    def _record_missing(self, progress) -> None:
        for program, error in self.missing.items():
            record = self._failure_record(program, error)
            self._set(program, "failed", record, progress)

    def _skip_complete(self, progress) -> list[ProgramTask]:
        pending = []
        for task in self.tasks:
            if self.complete(task):
                self._set(task.program, "skipped", read_status(self.root, task.program) or {},
                          progress)
            else:
                pending.append(task)
        return pending

    def _failure_record(self, program: int, error: str) -> dict:
        before = read_status(self.root, program) or {}
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        record = {"state": "failed", "error": error, "runs": int(before.get("runs", 0)) + 1,
                  "finished": now}
        if before.get("state") == "done":
            # finished earlier and still verified: keep that, note the failure beside it
            write_status(self.root, program, {**before, "last_error": error,
                                              "last_failed": now})
            self.reports[program] = record
            return record
        write_status(self.root, program, record)
        self.reports[program] = record
        return record

    def _run_on_ray(self, pending: list[ProgramTask], progress) -> None:
        from ..runtime.executor import ensure_ray, run_bounded

        ray = ensure_ray(self.address)
        self.settle()
        remote = _remote(self.retries)
        key = settings_key(self.settings)
        stop = _stop_file(self.root)
        with self._stop_lock:
            self._stop_file = stop
        if self._cancel.is_set():  # cancelled before this run reached ray
            stop.touch()
        settings = {**self.settings, "stop_file": str(stop)}

        def submit(task: ProgramTask):
            self.states = {**self.states, task.program: "running"}
            return remote.remote(task.to_dict(), str(self.root), settings)

        left = {}
        try:
            left = run_bounded(ray, pending, submit,
                               lambda task, ref: self._collect(ray, ref, task, key, progress),
                               self._cancel)
        finally:
            # never interrupted (`run_bounded` says why): a program still running finishes
            # the observation it is in (its worker sees the stop file) and writes it whole;
            # the next run on this folder waits for it before surveying it again
            if self._cancel.is_set():  # also after Ctrl-C, which `run_bounded` turns into it
                stop.touch()
            if left:
                with _stragglers_lock:
                    _stragglers.setdefault(_root_key(self.root), {}).update(left)
            else:  # no worker of this run is left to read it
                with self._stop_lock:
                    self._stop_file = None
                    stop.unlink(missing_ok=True)
            self.states = {**self.states, **{t.program: "cancelled" for t in pending
                                             if self.states.get(t.program) in
                                             ("pending", "running")}}

    def settle(self, timeout: float | None = None) -> int:
        """Wait for the programs a cancelled run on this folder left running.

        They stop after the observation they are writing (never interrupted); a process
        about to exit calls this so that ray does not end them half-way.  Returns how
        many are still running after `timeout` seconds (0: all ended; they are waited
        for again by the next run).
        """
        with _stragglers_lock:
            left = _stragglers.pop(_root_key(self.root), {})
        if left:
            import ray

            self.message = (f"waiting for {len(left)} program(s) of the cancelled run to "
                            "finish the observation they are writing")
            _, still = ray.wait(list(left), num_returns=len(left), timeout=timeout)
            if still:
                with _stragglers_lock:
                    _stragglers.setdefault(_root_key(self.root), {}).update(
                        {ref: left[ref] for ref in still})
                return len(still)
        for old in (self.root / STATUS_DIR).glob("stop-*"):
            old.unlink(missing_ok=True)
        return 0

    def _collect(self, ray, ref, task: ProgramTask, key: str, progress) -> None:
        error = None
        try:
            report = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            error = str(cause) if isinstance(cause, SurveyError) else \
                f"program {task.program}: {type(exc).__name__}: {_first_line(exc)}"
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.LocalRayletDiedError, ray.exceptions.OutOfMemoryError) as exc:
            error = (f"program {task.program}: its worker died ({type(exc).__name__}: "
                     f"{_first_line(exc)}) after ray's retries; check the node's memory and "
                     "logs, then run the survey again")
        except ray.exceptions.RayError as exc:
            error = (f"program {task.program}: {type(exc).__name__}: {_first_line(exc)}; "
                     "see the ray logs, then run the survey again")
        if error is not None:
            self._set(task.program, "failed", self._failure_record(task.program, error),
                      progress)
            return
        if report.get("state") == "cancelled":  # stopped between observations
            self.states = {**self.states, task.program: "cancelled"}
            return
        before = read_status(self.root, task.program) or {}
        record = {**report, "inputs": task.inputs_key(), "settings": key,
                  "runs": int(before.get("runs", 0)) + 1, "error": None,
                  "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        write_status(self.root, task.program, record)
        self.reports[task.program] = record
        self._set(task.program, "done", record, progress)


#: the head's archive settings that every worker applies (servers and limits; never a
#: token, and not the cache folder, which is each node's own unless `cache_dir` is given)
_SHARED_SETTINGS = ("mast_server", "timeout", "retries", "download_deadline",
                    "min_download_rate", "rate_window")


def _archive_settings() -> dict:
    from ..archive.config import conf

    return {name: getattr(conf, name) for name in _SHARED_SETTINGS}


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _line(program: int, state: str, record: dict, finished: int, total: int) -> str:
    width = len(str(total))
    head = f"[{finished:{width}d}/{total}] program {program}: "
    if state == "failed":
        return head + f"failed: {record.get('error')}"
    observations = record.get("observations") or []
    if state == "skipped":
        return head + f"complete, skipped ({len(observations)} observation(s))"
    written = sum(o.get("state") == "written" for o in observations)
    problems = record.get("problems") or []
    return (head + f"done, {written} observation(s) written, "
            f"{record.get('n_frames', 0):,} frames in {record.get('seconds', 0):.1f} s "
            f"on {record.get('host')}"
            + (f"; {len(problems)} file(s) could not be read: {problems[0]}"
               if problems else ""))


def run_survey(tasks: Iterable[ProgramTask], root: str | Path, **kwargs) -> Survey:
    """Build a `Survey`, run it to the end and return it (reports in ``.reports``)."""
    survey = Survey(tasks, root, **kwargs)
    survey.run()
    return survey

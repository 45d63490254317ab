"""The one shared state of an fgs_widgets session (a traitlets model) and its actions.

Widgets observe a `Session` and call its actions; they never compute numbers
themselves.  Heavy arrays live in `Instance` traits that are *not* synced to
the browser (a Session is a plain `HasTraits`, not a widget), so a Session works
headless — in scripts, tests and batch jobs — and nothing here imports a widget.
No secret (MAST token) is ever stored in a trait or attribute: actions take the
token as an argument and pass it straight to the archive layer.

Long work runs as jobs (`fgs_widgets.jobs.Job`): ``session.fit_job``,
``session.download_job`` and ``session.periodogram_job``, each with its own
cancel, progress, rate, ETA, state and error.  Every action that changes the
state writes its Python line into ``history`` through one decorator
(`fgs_widgets.history.recorded`).

The fit action is `Session.fit_frames` (not ``fit``): ``fit`` is the trait that
holds the result table, and one name cannot be both.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import traitlets as t

from .data import GuideStarData, ScienceSeries
from .engine.decorrelation import Decorrelation
from .history import recorded
from .jobs import Job, Run
from .session_schema import Provenance, StaleResult, series_sources, session_tables

if TYPE_CHECKING:
    from astropy.table import QTable
    from astropy.timeseries import TimeSeries

__all__ = ["FIT_KINDS", "PIECES", "Session"]

#: the pieces whose level `Session.compute_periodograms` can remove (its ``by``)
PIECES = ("file", "visit", "observation")

#: the fit kinds `Session.fit_frames` accepts
FIT_KINDS = ("full", "quick")


def _load_kernels(kind: str, data: GuideStarData) -> float:
    """Compile (first use in an environment) or load the fit kernels on one frame.

    numba compiles on the first call and caches on disk; doing that on one
    frame first keeps the compile out of the fit's rate, ETA and reported time.
    Returns the seconds it took.
    """
    started = time.perf_counter()
    if len(data):
        if kind == "quick":
            from .engine.quickfit import quick_fit

            quick_fit(data.frames[:1])
        else:
            from .runtime.fit import fit_gaussians

            fit_gaussians(data.frames[:1], None if data.errors is None else data.errors[:1],
                          executor="serial")
    return time.perf_counter() - started


def _await_warmup(session: Session, kind: str, run: Run) -> float:
    """Wait for a background warm-up still compiling (`fgs_widgets.runtime.warmup`), saying
    so in ``session.message``: not in silence behind numba's compiler lock, and no kernel
    compiled twice.  Returns the seconds waited; raises if the run was cancelled meanwhile
    (it then ends "cancelled")."""
    from .runtime.warmup import wait_for_warmup

    said = []

    def report(warm) -> None:
        said.append(warm)
        session.message = f"{warm.status()}; the {kind} fit starts when they are ready"
        if run.blocking and len(said) == 1:  # a script or a cell waits: say why, once
            print(session.message, file=sys.stderr, flush=True)

    waited = wait_for_warmup(["quick" if kind == "quick" else "fit"], cancel=run.cancel,
                             report=report)
    if run.cancelled:
        raise RuntimeError("before it started (the fit kernels are still compiling in the "
                           "background)")
    if said:
        session.message = f"fit kernels ready after {waited:.0f} s: {kind} fit running…"
        if run.blocking:
            print(session.message, file=sys.stderr, flush=True)
    return waited


def _window_line(session: Session, arguments: Mapping[str, Any]) -> list[str]:
    """The window a periodogram depended on, as the line a script needs before the call."""
    window = session.window
    if window is not None:
        return [f"session.window = ({window[0]!r}, {window[1]!r})"]
    earlier = [line for line in session.history if line.startswith("session.window = ")]
    # back to the whole series after a zoom: the script must say so too
    return ["session.window = None"] if earlier and earlier[-1] != "session.window = None" \
        else []


def _pieces_of(data: GuideStarData, by: str) -> np.ndarray:
    """Per frame, the piece (`PIECES`) it belongs to: its file, or its file's visit or
    observation (numbered in time order)."""
    if by not in PIECES:
        raise ValueError(f"by must be one of {PIECES}, got {by!r}")
    if by == "file":
        return data.segments
    keys = {"visit": ["program", "observation", "visit"],
            "observation": ["program", "observation"]}[by]
    keys = [k for k in keys if k in data.products.columns]
    if "observation" not in keys:
        raise ValueError(f"the files do not say their {by} (no 'observation' in "
                         "data.products): use by='file'")
    of_file = data.products.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    return of_file[data.segments]


def _numba_threads() -> int:
    """numba's thread count in the calling thread (numba is imported only when asked)."""
    import numba

    return numba.get_num_threads()


def _took(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1e3:.0f} ms"


def _fit_failed(kind: str, exc: BaseException) -> str:
    return (f"{kind} fit failed — {type(exc).__name__}: {exc} (try executor='serial', or a "
            "smaller chunk size)")


def _fit_message(kind: str, run: Run, result: pd.DataFrame, compiling: float) -> str:
    """What a finished (or cancelled) fit says: frames, time, cache reuse, what is left."""
    elapsed = time.perf_counter() - run.started
    reused = result.attrs.get("cache_hits", 0)
    notes = [f"{reused} finished chunk(s) reused from the fit cache"] if reused else []
    if compiling > 1.0:
        notes.append(f"and {compiling:.1f} s compiling the fit kernel, once per environment")
    if run.cancelled and "status" in result:
        kept = int((result["status"] != "cancelled").sum())
        notes.append(f"{kept:,} frames kept; run again to fit the rest — finished chunks "
                     "come back from the fit cache")
    note = f" ({'; '.join(notes)})" if notes else ""
    status = "cancelled" if run.cancelled else "done"
    return f"{kind} fit {status}: {len(result):,} frames in {_took(elapsed)}{note}"


class Session(t.HasTraits):
    """Shared state: data, fits, cursor, window, selected parameter, events.

    Traits
    ------
    program : str
        Program id of the loaded data ("" for local files, "sample" for the sample).
    data : GuideStarData or None
    fit, quick_fit : pandas.DataFrame or None
        One row per frame of `data` (`fgs_widgets.fit_gaussians`, `quick_fit`).
    cursor : int
        Index of the frame under the cursor (clipped to the data).
    window : tuple (start, stop) MJD or None
        Time range shown and used by periodograms; None = everything.
    parameter : str
        Series shown by default ("flux" or a fit column).
    periodograms : dict
        column -> `fgs_widgets.engine.periodogram.Periodogram`.
    events : pandas.DataFrame or None
        The common event table (time, end, kind, label, source, value).
    telemetry : dict
        mnemonic -> DataFrame (time, utc, value, mnemonic).
    science : fgs_widgets.data.ScienceSeries or None
        The user's science time series on the observatory's UTC clock (`load_science`).
    science_binned : pandas.DataFrame or None
        Guide-star series averaged over each science integration (`bin_to_science`).
    decorrelation : fgs_widgets.engine.decorrelation.Decorrelation or None
        The science flux explained by guide-star regressors (`decorrelate`).
    message : str
        Last user-facing status or error message.
    history : list of str
        Python lines equivalent to what was done (for reproducibility).

    Attributes
    ----------
    fit_job, download_job, periodogram_job : fgs_widgets.jobs.Job
        The long work of this session (state, progress, rate, ETA, error).

    Examples
    --------
    >>> session = Session()
    >>> session.load_sample()                        # doctest: +SKIP
    >>> session.fit_frames("quick", block=True)      # doctest: +SKIP
    >>> session.window = (t0, t1)                    # doctest: +SKIP
    >>> session.compute_periodograms(["x_mean"])     # doctest: +SKIP
    """

    # the schema: what each trait is, saved as, exported and derived from
    # (`fgs_widgets.session_schema`); sources are declared before what depends on them
    program = t.Unicode("").tag(saved="json")
    data = t.Instance(GuideStarData, allow_none=True).tag(saved="data", exported=True)
    fit = t.Instance(pd.DataFrame, allow_none=True).tag(
        saved="table", exported=True, depends_on=("frames",))
    quick_fit = t.Instance(pd.DataFrame, allow_none=True).tag(
        saved="table", exported=True, depends_on=("frames",))
    cursor = t.Int(0).tag(saved="json", depends_on=("frames",))
    window = t.Tuple(allow_none=True, default_value=None).tag(saved="json",
                                                              depends_on=("frames",))
    parameter = t.Unicode("flux").tag(saved="json")
    events = t.Instance(pd.DataFrame, allow_none=True).tag(
        saved="table", exported=True, depends_on=("frames",))
    telemetry = t.Dict().tag(saved="tables", depends_on=("frames",))
    periodograms = t.Dict().tag(saved="periodograms", exported=True,
                                depends_on=series_sources)
    science = t.Instance(ScienceSeries, allow_none=True).tag(saved="science", exported=True)
    science_binned = t.Instance(pd.DataFrame, allow_none=True).tag(
        exported=True, depends_on=("data", "fit_table", "science"))
    decorrelation = t.Instance(Decorrelation, allow_none=True).tag(
        exported=True, depends_on=("data", "fit_table", "science"))
    message = t.Unicode("")
    history = t.List(t.Unicode()).tag(saved="json")

    def __init__(self, **kwargs: Any):
        # the jobs first: traits given here (data=...) already reset them
        self.fit_job = Job("fit", unit="frames")
        self.download_job = Job("download", unit="bytes")
        self.periodogram_job = Job("periodogram", unit="series", replaces=True)
        for job in self.jobs:
            job.observe(self._on_job_message, names="message")
        super().__init__(**kwargs)
        # after the traits given here: they are the starting point, not a change
        self._provenance = Provenance(self, on_change=self._sources_changed)

    @property
    def jobs(self) -> tuple[Job, ...]:
        return (self.fit_job, self.download_job, self.periodogram_job)

    def _on_job_message(self, change: dict) -> None:
        if change["new"]:
            self.message = change["new"]

    # -- invariants -------------------------------------------------------------
    @t.validate("cursor")
    def _clip_cursor(self, proposal: dict) -> int:
        n = 0 if self.data is None else len(self.data)
        return int(min(max(proposal["value"], 0), max(n - 1, 0)))

    @t.validate("window")
    def _check_window(self, proposal: dict) -> tuple[float, float] | None:
        value = proposal["value"]
        if value is None:
            return None
        if len(value) != 2:
            raise t.TraitError(f"window must be (start, stop) in MJD or None, got {value!r}")
        start, stop = float(value[0]), float(value[1])
        if not (np.isfinite(start) and np.isfinite(stop)):
            raise t.TraitError(f"window must be finite MJD values, got {value!r}")
        return (start, stop) if start <= stop else (stop, start)

    @t.validate("periodograms")
    def _check_periodograms(self, proposal: dict) -> dict:
        from .engine.periodogram import Periodogram

        wrong = {k: type(v).__name__ for k, v in proposal["value"].items()
                 if not isinstance(v, Periodogram)}
        if wrong:
            raise t.TraitError(f"periodograms holds column -> Periodogram, got {wrong}: use "
                               "session.compute_periodograms(...)")
        return proposal["value"]

    @property
    def fit_table(self) -> pd.DataFrame | None:
        """The table the fit columns come from: the full fit, else the quick fit."""
        return self.fit if self.fit is not None else self.quick_fit

    def _sources_changed(self, sources: list[str]) -> None:
        """New frames: a fit or periodogram of the old ones stops at its next check and is
        dropped (what depends on them is reset by `session_schema.Provenance`)."""
        if "frames" in sources:
            self.fit_job.abandon()
            self.periodogram_job.abandon()

    @t.observe("data")
    def _warm_up_kernels(self, change: dict) -> None:
        """New frames: compile (or load from numba's cache) the fit kernels in the background
        at once, so the first fit does not begin with a compile (`fgs_widgets.runtime.warmup`;
        ``FGS_WARMUP=0`` switches it off)."""
        data = change["new"]
        if data is None or not len(data):
            return
        from .runtime import warmup

        if warmup.enabled():
            warmup.start_warmup(data.frames, data.errors)

    def _need_data(self, what: str) -> GuideStarData:
        if self.data is None:
            raise ValueError(f"no data to {what}: load the sample (session.load_sample()), "
                             "local files (session.read_files(...)) or a program first")
        return self.data

    @property
    def fit_cache_dir(self) -> Path | None:
        """Folder of this data's finished fit chunks (under ``conf.cache_dir``), or None.

        The folder name fingerprints the data (file names, frame count, time span);
        the entries inside are keyed by the chunks' bytes and the fit settings, so
        a stale entry can never be reused for other frames.
        """
        from .archive.config import conf

        data = self.data
        if data is None or len(data) == 0:
            return None
        digest = hashlib.blake2b(digest_size=12)
        for name in data.products.get("file_name", pd.Series(dtype=str)).astype(str):
            digest.update(name.encode() + b"\0")
        digest.update(f"{len(data)}:{data.time[0]!r}:{data.time[-1]!r}".encode())
        return conf.cache_dir / "fits" / digest.hexdigest()

    # -- loading ----------------------------------------------------------------
    @recorded()
    def load_sample(self, directory: str | os.PathLike | None = None) -> None:
        """Load the bundled sample program (written on first use).

        Parameters
        ----------
        directory : path, optional
            Where the sample files are written; default ``<conf.cache_dir>/sample-v<N>``.
        """
        from .archive.reader import read_fine_guide
        from .archive.sample import sample_program

        sample = sample_program(directory)
        data = read_fine_guide(sample.paths)
        self.download_job.abandon()  # a download still running must not replace this
        self.data = data
        self.program = "sample"
        self.message = f"sample program {sample.program}: {self.data.summary()}"

    @recorded()
    def read_files(self, paths: str | os.PathLike | Iterable[str | os.PathLike],
                   **filters: Any) -> None:
        """Read local fine-guide files (files, folders, globs).

        Parameters
        ----------
        paths : path, glob or iterable of them
        **filters
            Passed to `fgs_widgets.archive.read_fine_guide` (e.g. ``observation=2``).

        Raises
        ------
        fgs_widgets.archive.ReadError
            Nothing readable was found (the message names the files and why).
        """
        from .archive.reader import read_fine_guide

        data = read_fine_guide(paths, **filters)
        self.download_job.abandon()  # a download still running must not replace this
        self.data = data
        self.program = ""
        skipped = sum(p.skipped for p in self.data.problems)
        problems = f"; skipped {skipped} file(s)" if skipped else ""
        if len(self.data.problems) > skipped:
            problems += f"; {len(self.data.problems) - skipped} file(s) read in part"
        self.message = self.data.summary() + problems

    @recorded(comment="token, if needed, from MAST_API_TOKEN")
    def open_program(self, program: int | str, *, observation: Any = None, visit: Any = None,
                     guider: Any = None, token: str | None = None,
                     progress: Callable[[int, int, int, int], None] | None = None,
                     block: bool = True) -> Run:
        """Query MAST, download (cached) and read a program's fine-guide files.

        Runs as ``download_job`` (its own cancel: ``session.download_job.cancel()``).

        Parameters
        ----------
        program : int or str
            Program id, e.g. 1534.
        observation, visit, guider : optional
            Filters (as in `fgs_widgets.archive.find_products`).
        token : str, optional
            MAST token for this call only; never stored (default lookup:
            ``MAST_API_TOKEN``, then astroquery's keyring).
        progress : callable(bytes_done, bytes_total, files_done, files_total), optional
            Also called on every report (the job has bytes, rate and ETA too).
        block : bool
            Wait for the data (default; scripts); False returns at once (widgets).

        Returns
        -------
        fgs_widgets.jobs.Run

        Raises
        ------
        fgs_widgets.archive.errors.ArchiveError
            With ``block=True``: MAST unreachable, token refused, no fine-guide
            files, partial download... (also in ``download_job.error``).
        """
        from .archive.program import open_program
        from .archive.tokens import resolve_token

        token = resolve_token(token)  # masked from here on, also in a traceback's frames

        def work(run: Run) -> GuideStarData:
            def report(done: int, total: int, files_done: int, files_total: int) -> None:
                run.report(done, total)
                if progress is not None:
                    progress(done, total, files_done, files_total)

            return open_program(program, observation=observation, visit=visit, guider=guider,
                                token=token, progress=report, cancel=run.cancel)

        def finish(run: Run, data: GuideStarData) -> str:
            self.data = data
            self.program = str(program)
            return f"program {program}: {data.summary()}"

        return self.download_job.start(work, finish, kind=str(program), block=block)

    # -- fitting -----------------------------------------------------------------
    @recorded()
    def fit_frames(self, kind: str = "full", *, executor: str = "auto",
                   address: str | None = None, chunk_size: int = 50_000,
                   threads: int | None = None, block: bool = False, **options: Any) -> Run:
        """Fit every frame as ``fit_job`` (in the background unless ``block``).

        Parameters
        ----------
        kind : {"full", "quick"}
            "full": 2D Gaussian fit (`fgs_widgets.runtime.fit.fit_gaussians`);
            "quick": moments (`fgs_widgets.engine.quickfit.quick_fit`).
        executor : {"auto", "serial", "ray"}
            Where a full fit runs (see `fit_gaussians`).
        address : str, optional
            Ray cluster address ("auto", "ray://host:10001"); implies ray.
        chunk_size : int
            Frames per task; progress, cancel and the fit cache work per chunk.
        threads : int, optional
            numba threads of this fit (default: every core).  Set in the fit's own
            thread only: numba's thread count is per thread, nothing else changes.
        block : bool
            Wait for the fit (scripts, tests); its error is raised here.
        **options
            Passed to `fit_gaussians` (``max_iter``, ``tol``, ``initial``); a full fit only.

        Returns
        -------
        fgs_widgets.jobs.Run
            Progress goes to ``fit_job`` (progress, rate, ETA), the table to ``fit``
            or ``quick_fit``, the outcome to ``fit_job.state``/``message``/``error``.
            A full fit stores finished chunks in `fit_cache_dir`: run again after a
            cancel (or a crash), only the unfinished chunks are fitted.

        Raises
        ------
        ValueError
            No data, or an unknown kind.
        fgs_widgets.jobs.JobBusy
            A fit is already running.
        """
        data = self._need_data("fit")
        if kind not in FIT_KINDS:
            raise ValueError(f"kind must be 'full' or 'quick', not {kind!r}")
        if threads is None:  # the caller's numba setting (per thread) applies to the fit
            threads = _numba_threads()
        if options and kind != "full":
            raise ValueError(f"{sorted(options)}: options of the full fit, not of the quick one")
        cache_dir = self.fit_cache_dir if kind == "full" else None
        compiling: list[float] = []
        sources = self._provenance.snapshot_for(target := "quick_fit" if kind == "quick" else "fit")

        def work(run: Run) -> pd.DataFrame:
            from .runtime.executor import use_threads

            use_threads(threads)
            compiling.append(_await_warmup(self, kind, run))
            compiling.append(_load_kernels(kind, data))
            run.restart_clock()
            if kind == "quick":
                from .engine.quickfit import quick_fit

                result = quick_fit(data.frames)
                run.cancel.clear()  # one call, never stopped midway: a late cancel changed nothing
                run.report(len(data), len(data))
                return result
            from .runtime.fit import fit_gaussians

            return fit_gaussians(data.frames, data.errors, executor=executor, address=address,
                                 chunk_size=chunk_size, progress=run.report, cancel=run.cancel,
                                 cache_dir=cache_dir, **options)

        def finish(run: Run, result: pd.DataFrame) -> str:
            try:
                self._provenance.store(target, result, sources, f"{kind} fit")
            except StaleResult:  # other frames loaded just now
                return f"{kind} fit of data no longer loaded: dropped"
            return _fit_message(kind, run, result, sum(compiling))

        return self.fit_job.start(work, finish, kind=kind, block=block,
                                  fail=lambda exc: _fit_failed(kind, exc))

    def clear_fit_cache(self) -> int:
        """Delete this data's finished fit chunks (`fit_cache_dir`); returns the bytes freed.

        The cache takes ~140 MiB per 10^6 frames (``benchmarks/bench_session.py``).
        """
        import shutil

        folder = self.fit_cache_dir
        if folder is None or not folder.exists():
            return 0
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        return size

    def cancel(self) -> None:
        """Stop every running job (fit, download, periodogram); what they finished is kept.

        Each job has its own cancel: ``session.fit_job.cancel()`` stops only the fit.
        """
        for job in self.jobs:
            job.cancel()

    def wait(self, timeout: float | None = None) -> None:
        """Block until every job's current run has ended (scripts and tests)."""
        for job in self.jobs:
            job.wait(timeout)

    # -- series, periodograms and events -----------------------------------------------
    def columns(self) -> list[str]:
        """Per-frame series available: "flux", then every fit column once a fit exists."""
        from .engine.psf import PARAMETERS

        return ["flux", *(list(PARAMETERS) if self.fit_table is not None else [])]

    def telemetry_columns(self) -> list[str]:
        """Fetched numeric mnemonics (plottable with `series`, on their own time grid)."""
        return [name for name, table in self.telemetry.items()
                if len(table) and pd.api.types.is_numeric_dtype(table["value"])]

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(time MJD, values) of a series.

        Parameters
        ----------
        name : str
            "flux", a fit column (the full fit is preferred, else the quick
            fit), or a fetched numeric mnemonic (its own sample times).

        Raises
        ------
        ValueError
            No data loaded.
        KeyError
            Unknown name (the message lists what is available).
        """
        data = self._need_data("plot")
        if name == "flux":
            return data.time, data.flux
        for table in (self.fit, self.quick_fit):
            if table is not None and name in table:
                return data.time, table[name].to_numpy(dtype=np.float64)
        if name.upper() in self.telemetry_columns():
            from .engine.events import numeric_series

            return numeric_series(self.telemetry[name.upper()])
        raise KeyError(f"no series {name!r}: available {self.columns()}"
                       f"{' + ' + str(self.telemetry_columns()) if self.telemetry else ''} "
                       "(fit first for the fit columns: session.fit_frames('quick'))")

    @recorded(before=_window_line, shown=("detrend", "by"))
    def compute_periodograms(self, columns: Iterable[str] | None = None, *,
                             detrend: str = "linear", by: str = "file", block: bool = True,
                             **kwargs: Any) -> dict | Run:
        """Lomb–Scargle periodograms of per-frame series over `window`, as ``periodogram_job``.

        Parameters
        ----------
        columns : iterable of str, optional
            Default: every column of `columns()`.
        detrend : {"linear", "mean", "none"}
            What is removed from each piece (`by`) before the periodogram
            (`fgs_widgets.engine.periodogram.periodograms`): its mean and slope
            (default), its mean, or nothing (the series as it is, steps and all:
            the results before this option).  The result says what was removed
            (``Periodogram.removed``, ``Periodogram.levels``).  The slope too by
            default because a tilt-like jump inside a file, or a drift, is a
            step no file boundary removes: on the sample program each file's
            mean alone leaves x_mean a 287 s peak (power 0.304) just above its
            real 37.4 s line (0.301); with the slope the line leads at 0.57.
        by : {"file", "visit", "observation"}
            The pieces.  Default "file": a file is the finest piece the data
            name, and every change of level starts one: a new guide star or a
            re-acquisition (a new visit) always starts a new file, while the
            segments of one exposure share a level and lose little by having it
            removed twice.  "observation" keeps the step of a re-acquisition
            between the visits of one observation: the sample's 0.06 px one
            gives its y_mean a 513 s peak of power 0.19 (by file: none above
            0.07, the 11.3 s line at 0.38).
        block : bool
            Wait and return the results (default); False returns the run at once
            (widgets).  A newer request replaces a running one.
        **kwargs
            Passed to `fgs_widgets.engine.periodogram.periodograms`
            (``min_period``, ``max_period``, ``n_peaks``...).

        Returns
        -------
        dict or fgs_widgets.jobs.Run
            column -> Periodogram (also merged into the ``periodograms`` trait),
            or the run with ``block=False``.

        Length: ~45 lines of documentation (what is removed, and why the defaults) over
        ~40 of code.
        """
        from .engine.periodogram import DETREND, PeriodogramCancelled, periodograms

        if detrend not in DETREND:
            raise ValueError(f"detrend must be one of {DETREND}, got {detrend!r}")
        data = self._need_data("analyse")
        table = self._per_frame(columns)
        names = list(table)
        window = self.window
        pieces = _pieces_of(data, by)
        sources = self._provenance.snapshot_for("periodograms")

        def work(run: Run) -> dict:
            results = {}
            for i, name in enumerate(names):
                if run.cancelled:
                    break
                try:
                    result = periodograms(data.time, table, [name], good=data.good,
                                          window=window, detrend=detrend, pieces=pieces,
                                          piece_name=by, cancelled=lambda: run.cancelled,
                                          **kwargs)
                except PeriodogramCancelled:  # keep only the series finished before
                    break
                if run.cancelled:  # cancelled after its last check: as good as unfinished
                    break
                results.update(result)
                run.report(i + 1, len(names))
            return results

        def finish(run: Run, results: dict) -> str:
            if not results:
                return f"periodogram of {', '.join(names)} cancelled before it finished"
            # a series replaced meanwhile (new data, photometry, a fit) is not kept
            kept = self._provenance.store_entries("periodograms", results, sources)
            if not kept:
                return "periodograms of data no longer loaded: dropped"
            where = "the window" if window is not None else "the whole series"
            return f"periodogram of {', '.join(kept)} over {where}"

        run = self.periodogram_job.start(work, finish, kind=", ".join(names), block=block)
        if not block:
            return run
        return {name: self.periodograms[name] for name in names if name in self.periodograms}

    def folded(self, name: str, period: float, n_bins: int = 100) -> pd.DataFrame:
        """A per-frame series folded on ``period`` seconds over `window` (good frames only).

        Returns the table of `fgs_widgets.engine.periodogram.fold` (phase, mean,
        error, count).
        """
        from .engine.periodogram import fold

        data = self._need_data("fold")
        time_, values = self.series(name)
        good = data.good if len(values) == len(data) else None
        return fold(time_, values, float(period), n_bins=n_bins, good=good, window=self.window)

    def binned(self, name: str, bin_seconds: float) -> pd.DataFrame:
        """A series averaged in ``bin_seconds`` bins over `window`, good frames only.

        Returns the table of `fgs_widgets.engine.binning.bin_series` (time in MJD).
        """
        from .engine.binning import bin_series

        data = self._need_data("bin")
        time_, values = self.series(name)
        keep = np.ones(len(time_), dtype=bool)
        if len(values) == len(data):
            keep &= data.good
        if self.window is not None:
            keep &= (time_ >= self.window[0]) & (time_ <= self.window[1])
        return bin_series(time_[keep], values[keep], bin_width=float(bin_seconds) / 86400.0)

    @recorded()
    def clear_events(self) -> None:
        """Forget every event (local, telemetry and detected)."""
        self.events = None

    def _add_events(self, *tables: pd.DataFrame) -> None:
        from .engine import events as ev

        merged = ev.concat_events(self.events, *tables)
        # adding the same events twice (a second click) must not draw them twice
        key = merged[["time", "end", "kind", "label", "source"]].astype(str)
        self.events = merged[~key.duplicated()].reset_index(drop=True)

    @recorded()
    def add_local_events(self, kinds: Iterable[str] = ("GUIDESTAR", "FILENAME", "HGA")) -> None:
        """Guide-star changes, file boundaries and HGA moves from the files (no token).

        Parameters
        ----------
        kinds : iterable of {"GUIDESTAR", "FILENAME", "HGA"}
            HGA moves come from the files' Pointing table, when they have one.
        """
        from .engine import events as ev

        data = self._need_data("find events in")
        kinds = [k.upper() for k in kinds]
        tables = [ev.local_events(data.products, [k for k in kinds if k != "HGA"])]
        if "HGA" in kinds and "pointing" in data.tables:
            tables.append(ev.hga_from_pointing(data.tables["pointing"]))
        self._add_events(*tables)

    @recorded()
    def detect_events(self, column: str = "flux", *, jumps: bool = True,
                      outliers: bool = True) -> pd.DataFrame:
        """Jumps and single-frame outliers in a series, added to ``events``.

        Returns
        -------
        pandas.DataFrame
            The events found (kind "jump"/"outlier", source "detected").
        """
        from .engine import events as ev

        time_, values = self.series(column)
        found = [ev.detect_jumps(time_, values, label=column) if jumps else None,
                 ev.detect_outliers(time_, values, label=column) if outliers else None]
        new = ev.concat_events(*[f for f in found if f is not None])
        self._add_events(new)
        self.message = f"{column}: {len(new)} event(s) detected"
        return new

    @recorded(comment="token from MAST_API_TOKEN")
    def fetch_mnemonic(self, name: str, token: str | None = None, *,
                       start: float | None = None, end: float | None = None
                       ) -> pd.DataFrame:
        """Engineering telemetry over the data's time range, added to ``telemetry``.

        Text mnemonics become events (SA_ZHGAUPST as HGA-move intervals, others
        as transitions); numeric ones are plottable with `series`.

        Parameters
        ----------
        name : str
            e.g. "SA_ZHGAUPST", "INIS_FWMTRCURR".
        token : str, optional
            MAST token for this call only, never stored (default lookup:
            ``MAST_API_TOKEN``, then astroquery's keyring).
        start, end : float, optional
            MJD range; default: the data's first and last frame.

        ``message`` reports each retry of the engineering DB while it lasts
        (``conf.eng_retries``, as the JWST pipeline: up to minutes).

        Raises
        ------
        fgs_widgets.archive.errors.TelemetryError
            No token (local events need none), bad name, HTTP 404 (a wrong
            ``conf.eng_server`` or an unknown mnemonic), a service error.
        fgs_widgets.archive.errors.AuthenticationError, MastUnreachable
        """
        from .archive.engdb import get_mnemonic
        from .archive.tokens import resolve_token
        from .engine import events as ev

        token = resolve_token(token)  # masked from here on, also in a traceback's frames
        data = self.data
        if start is None or end is None:
            data = self._need_data("fetch telemetry for (the time range comes from the data)")
        mnemonic = name.strip().upper()
        # retries can last minutes (the pipeline's policy): the status line says so meanwhile
        telemetry = get_mnemonic(mnemonic, data.time[0] if start is None else start,
                                 data.time[-1] if end is None else end, token=token,
                                 progress=lambda text: setattr(self, "message", text))
        if self.data is not data:
            return telemetry  # data replaced while fetching: this belongs to the old range
        self.telemetry = {**self.telemetry, mnemonic: telemetry}
        events = ev.telemetry_events(mnemonic, telemetry)
        if events is not None and len(telemetry):
            self._add_events(events)
        self.message = telemetry.attrs.get("note") or f"{mnemonic}: {len(telemetry):,} samples"
        return telemetry

    # -- a science time series explained by the guide star ------------------------------
    def _guide_star_direction(self, around_mjd: float | None) -> tuple[float, float, str]:
        """(ra, dec, where from) of the guide star observing at ``around_mjd`` (any, if None)."""
        data = self._need_data(
            "take the light-travel direction from (pass ra= and dec= of the target, or load "
            "the guide-star data first)")
        products = data.products
        if not {"gs_ra", "gs_dec"} <= set(products) or len(data) == 0:
            raise ValueError("the guide-star files have no GS_RA/GS_DEC: pass ra= and dec= "
                             "(degrees) of the target")
        row = 0
        if around_mjd is not None:
            index = int(np.clip(np.searchsorted(data.time, around_mjd), 0, len(data) - 1))
            row = int(data.segments[index])
        ra, dec = float(products["gs_ra"].iloc[row]), float(products["gs_dec"].iloc[row])
        if not (np.isfinite(ra) and np.isfinite(dec)):
            name = products["file_name"].iloc[row] if "file_name" in products else "the file"
            raise ValueError(f"{name}: GS_RA/GS_DEC missing: pass ra= and dec= (degrees) of "
                             "the target")
        star = products["gs_id"].iloc[row] if "gs_id" in products else "?"
        return ra, dec, (f"the guide star {star} (GS_RA {ra:.5f}°, GS_DEC {dec:+.5f}°; within "
                         "~12′ of the target: ≤ 2 s; pass ra=, dec= for the target's own)")

    @recorded()
    def load_science(self, source: Any, *, time: str | int | None = None,
                     flux: str | int | None = None, error: str | int | None = None,
                     time_format: str | None = None, time_scale: str | None = None,
                     ra: float | None = None, dec: float | None = None,
                     location: Any = None) -> ScienceSeries:
        """Read a science time series (a light curve) onto the guide star's clock.

        Parameters
        ----------
        source : path, astropy Table or pandas DataFrame
            A whitespace ``.dat``/CSV/ECSV table, a FITS table, or a JWST
            ``*_x1dints``/``*_calints``/``*_rateints`` file (its ``INT_TIMES``);
            see `fgs_widgets.archive.science.read_science`.
        time, flux, error : str or int, optional
            Columns by name or index (default: by name, else the first three).
        time_format, time_scale : str, optional
            e.g. "jd"/"mjd"/"bjd" and "tdb"/"utc"; default: from names and values
            (a JD-like unnamed first column is taken as BJD_TDB, and the message says so).
        ra, dec : float, optional
            Direction of the barycentric light-travel time (degrees); default the
            guide star's GS_RA/GS_DEC (within ~12′ of the target: ≤ 2 s).
        location : optional
            The observer: JWST's GCRS position (x, y, z) in km, shape (3,) or (3, N);
            default the geocentre (≤ 6 s for JWST).  See
            `fgs_widgets.engine.timesystems.light_travel_seconds`.

        Returns
        -------
        fgs_widgets.data.ScienceSeries
            Also in the ``science`` trait; its ``notes`` say what was assumed.

        Raises
        ------
        fgs_widgets.archive.science.ScienceReadError
            Unreadable source, missing or non-numeric columns (the message names them).
        ValueError
            Barycentric times and no direction (no ra/dec and no guide-star data).
        """
        from astropy.time import Time

        from .archive.science import read_science
        from .engine.timesystems import to_observatory_utc

        if (ra is None) != (dec is None):
            raise ValueError(f"ra={ra!r}, dec={dec!r}: give both (degrees), or neither to use "
                             "the guide star's GS_RA/GS_DEC")
        read = read_science(source, time=time, flux=flux, error=error,
                            time_format=time_format, time_scale=time_scale)
        note = ""
        if read.barycentric and read.int_times is None and (ra is None or dec is None):
            rough = Time(float(np.median(read.time)), format=read.time_format,
                         scale=read.time_scale).utc.mjd  # within the light-travel time
            ra, dec, note = self._guide_star_direction(rough)
        science = to_observatory_utc(read, ra=ra, dec=dec, location=location,
                                     direction_note=note)
        self.science = science
        overlap = ""
        if self.data is not None and len(self.data):
            inside = (science.end > self.data.time[0]) & (science.start < self.data.time[-1])
            overlap = f"; {int(inside.sum()):,} of them overlap the guide-star data"
            if not inside.any():
                overlap += " — none: is this the same visit, and the time system right?"
        self.message = f"science: {science.summary()}{overlap}. {' '.join(science.notes)}"
        return science

    def _need_science(self, what: str) -> ScienceSeries:
        if self.science is None:
            raise ValueError(f"no science series to {what}: session.load_science(path) first")
        return self.science

    def _per_frame(self, columns: Iterable[str] | None) -> dict[str, np.ndarray]:
        """name -> values of per-frame series (default every one of `columns()`)."""
        available = self.columns()
        names = list(columns) if columns is not None else available
        unknown = [n for n in names if n not in available]
        if unknown:
            raise KeyError(f"no per-frame series {unknown}: available {available} "
                           "(fit first for the fit columns: session.fit_frames('quick'))")
        return {name: self.series(name)[1] for name in names}

    @recorded()
    def bin_to_science(self, columns: Iterable[str] | None = None) -> pd.DataFrame:
        """Every guide-star series averaged over each science integration's [start, end).

        Good frames only (`GuideStarData.good`); vectorized (cumulative sums).

        Parameters
        ----------
        columns : iterable of str, optional
            Per-frame series ("flux", fit columns); default all of `columns()`.

        Returns
        -------
        pandas.DataFrame
            One row per integration: ``integration, time, start, end`` (MJD UTC),
            ``science_flux, science_error``, ``count`` (good frames inside), and per
            series its mean and ``<name>_err`` (standard error); also the
            ``science_binned`` trait.

        Raises
        ------
        fgs_widgets.session_schema.StaleResult
            A RuntimeError: the data, fit or science series changed while binning (a fit
            finished): nothing is kept; run it again.
        """
        table = self._bin_science(columns)
        names = [c for c in table.columns[7:] if not c.endswith(("_err", "_count"))]
        empty = int((table["count"] == 0).sum())
        self.message = (f"binned {len(names)} series onto {len(table):,} integrations"
                        + (f"; {empty:,} have no good guide-star frame" if empty else ""))
        return table

    def _bin_science(self, columns: Iterable[str] | None) -> pd.DataFrame:
        from .engine.decorrelation import bin_to_intervals

        sources = self._provenance.snapshot_for("science_binned")
        data = self._need_data("bin")
        science = self._need_science("bin onto")
        binned = bin_to_intervals(data.time, self._per_frame(columns), science.start,
                                  science.end, good=data.good)
        head = pd.DataFrame({"integration": np.arange(len(science)), "time": science.time,
                             "start": science.start, "end": science.end,
                             "science_flux": science.flux, "science_error": science.error})
        table = pd.concat([head, binned], axis=1)
        self._provenance.store("science_binned", table, sources, "binning")
        return table

    @recorded()
    def decorrelate(self, regressors: Iterable[str] = ("x_mean", "y_mean"), *,
                    polynomial: int = 1, standardize: bool = True,
                    lags: Iterable[float] | None = None) -> Decorrelation:
        """Explain the science flux by guide-star series: least squares on the integrations.

        flux = polynomial(time) + Σ c_k × regressor_k, each regressor binned to the
        integrations (`bin_to_science`) and, by default, standardized.

        Parameters
        ----------
        regressors : iterable of str
            Per-frame series ("x_mean", "y_stddev", "flux", ...).
        polynomial : int
            Degree of the baseline in time.
        standardize : bool
            Coefficients in flux per 1 σ of each regressor (False: per unit).
        lags : iterable of float, optional
            Shifts (s) for a lag scan: the correlation of each regressor with the
            detrended flux when the guide-star series is shifted (peak at 0 s when
            the clocks are aligned).  In ``result.lags``.

        Returns
        -------
        fgs_widgets.engine.decorrelation.Decorrelation
            Also the ``decorrelation`` trait.
        """
        from .engine.decorrelation import IntervalSums, decorrelate, lag_correlation

        sources = self._provenance.snapshot_for("decorrelation")
        data = self._need_data("decorrelate with")
        science = self._need_science("decorrelate")
        names = list(regressors)
        table = self.science_binned
        if table is None or any(n not in table for n in names):
            table = self._bin_science(sorted(set(names) | set(self.columns())))
        units = {n: ("DN/s" if n in ("flux", "amplitude", "offset") else
                     "rad" if n == "theta" else "px") for n in names}
        result = decorrelate(science.time, science.flux, science.error,
                             {n: table[n].to_numpy() for n in names}, polynomial=polynomial,
                             standardize=standardize, units=units)
        if lags is not None:
            sums = IntervalSums(data.time, self._per_frame(names), good=data.good)
            baseline = decorrelate(science.time, science.flux, science.error, {},
                                   polynomial=polynomial)

            def binned_at(lag_s: float) -> pd.DataFrame:
                shift = lag_s / 86400.0
                return sums.bin(science.start + shift, science.end + shift)

            result.lags = lag_correlation(np.asarray(list(lags), dtype=np.float64), binned_at,
                                          np.where(baseline.used, baseline.residuals, np.nan),
                                          names)
        self._provenance.store("decorrelation", result, sources, "decorrelation")
        self.message = result.summary()
        return result

    @recorded()
    def detect_tilts(self, columns: Iterable[str] = ("x_mean", "y_mean", "x_stddev",
                                                     "y_stddev")) -> pd.DataFrame:
        """Tilt events: jumps in the guide star's position and width, added to ``events``.

        Returns the events found: kind "tilt", labelled with the column and the step
        (`fgs_widgets.engine.events.detect_jumps` on each fitted column given).
        """
        available = [c for c in columns if c in self.columns()]
        if not available:
            raise ValueError("tilt events are found in the fit columns: fit first "
                             "(session.fit_frames('quick'))")
        from .engine import events as ev

        found = []
        for column in available:
            time_, values = self.series(column)
            found.append(ev.detect_jumps(time_, values, label=column))
        new = ev.concat_events(*found)
        new["kind"] = "tilt"  # a jump of the star's position or width, not of any series
        self._add_events(new)
        self.message = f"{len(new)} tilt event(s) in {', '.join(available)}"
        return new

    # -- saving and exporting ----------------------------------------------------------
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table this session holds now, by name: what each export offers.

        From the traits tagged ``exported``: ``products`` and ``series`` (the data),
        ``fit``, ``quick_fit``, ``events``, ``peaks`` (every periodogram's), ``science``,
        ``science_binned``, ``decorrelation`` and ``decorrelation_coefficients``.
        """
        return session_tables(self)

    def to_timeseries(self, columns: Iterable[str] | None = None, *, mas: bool = False,
                      plate_scale: Any = None) -> TimeSeries:
        """The frames and fits as an astropy `~astropy.timeseries.TimeSeries` with units.

        Parameters
        ----------
        columns : iterable of str, optional
            "flux" and fit columns (each with its ``*_err``); default every one of
            `columns` (the full fit preferred, else the quick fit).
        mas : bool
            Also the centroids in milliarcseconds (``x_mean_mas``, ``y_mean_mas``).
        plate_scale : float or Quantity, optional
            mas per pixel for `mas` (default 69 mas/px, JDox's FGS scale).

        Returns
        -------
        astropy.timeseries.TimeSeries
            ``time`` in UTC (MJD, the observatory's clock); see
            `fgs_widgets.astropy_tables.guide_star_timeseries`.  Write it with
            ``series.write("x.fits")`` or `fgs_widgets.astropy_tables.write_table`.

        Raises
        ------
        ValueError
            No data loaded.
        KeyError
            An unknown column (the message lists the available ones).
        """
        from .astropy_tables import guide_star_timeseries

        data = self._need_data("convert")
        return guide_star_timeseries(data, self.fit_table, columns=columns,
                                     program=self.program, mas=mas, plate_scale=plate_scale)

    def to_lightkurve(self, column: str = "flux", *, quality_bitmask: str | int = "default",
                      mas: bool = False, plate_scale: Any = None) -> Any:
        """One series as a lightkurve ``LightCurve`` (lightkurve is an optional extra).

        ``flux`` is `column` ("flux" or a fit column, ``"x_mean_mas"`` with ``mas=True``)
        with its error; frames with `quality_bitmask`'s bits are left out, as lightkurve's
        readers do (default: the unusable ones; "none" keeps all).  See
        `fgs_widgets.astropy_tables.to_lightkurve`.

        Examples
        --------
        >>> lc = session.to_lightkurve("x_mean")                       # doctest: +SKIP
        >>> lc.to_periodogram(maximum_period=200 * u.s).plot()        # doctest: +SKIP
        """
        from .astropy_tables import to_lightkurve

        return to_lightkurve(self.to_timeseries(mas=mas, plate_scale=plate_scale), column,
                             quality_bitmask=quality_bitmask)

    def table_meta(self, name: str = "") -> dict:
        """The header an exported table carries (telescope, instrument, program, name)."""
        from .astropy_tables import table_meta

        return table_meta(None if self.data is None else self.data.products, self.program,
                          name)

    def to_qtable(self, name: str) -> QTable:
        """One of `tables` as an astropy `~astropy.table.QTable` with units and times.

        MJD columns (``time``, ``end``, ``data_start``...) are `~astropy.time.Time` in
        UTC, the rest carry their units (`fgs_widgets.astropy_tables.UNITS`).

        Raises
        ------
        KeyError
            A table the session does not hold now (the message lists those it does).
        """
        from .astropy_tables import to_qtable

        tables = self.tables()
        if name not in tables:
            raise KeyError(f"no table {name!r} in this session now: it holds "
                           f"{list(tables) or 'none (load data first)'}")
        return to_qtable(tables[name], meta=self.table_meta(name))

    def save(self, path: str | os.PathLike, *, include_frames: bool = False) -> Path:
        """Save everything into one folder (see `fgs_widgets.session_io`)."""
        from .session_io import save_session

        return save_session(self, path, include_frames=include_frames)

    def report(self, path: str | os.PathLike, *, reference: Any = None) -> Path:
        """Write a guiding report: one self-contained HTML file, atomically.

        `fgs_widgets.report.write_report` on this session (its parameters, return
        value and errors); the session is not changed, except its ``message``.
        """
        from .report import write_report

        written = write_report(self, path, reference=reference)
        self.message = f"report written: {written.name} ({written.stat().st_size / 1e6:.1f} MB)"
        return written

    @classmethod
    def open(cls, path: str | os.PathLike, **kwargs: Any) -> Session:
        """A new Session holding a saved one (see `restore`)."""
        return cls().restore(path, **kwargs)

    def restore(self, path: str | os.PathLike, *,
                search_paths: list[str | os.PathLike] | None = None,
                verify: bool = True) -> Session:
        """Bring a saved session into this one (widgets on it follow); no fit is redone.

        Every trait tagged ``saved`` (`fgs_widgets.session_schema`) comes back with the
        types a fresh session holds; nothing here changes if the save cannot be read.

        Parameters
        ----------
        path : path
            The ``.fgs`` folder written by `save`.
        search_paths : list of folders, optional
            Where to look for the data files if they moved.
        verify : bool
            Check the data files' checksums.

        Raises
        ------
        fgs_widgets.session_io.SessionFileError
            Missing, incomplete or corrupt save, or changed data files.
        """
        from .session_io import read_session

        saved = read_session(path, type(self), search_paths=search_paths, verify=verify)
        self.download_job.abandon()  # a download still running must not replace this
        # not under hold_trait_notifications: the reset that new data triggers must run
        # first, then the saved values go in
        self.data = saved.pop("data")
        periodograms = saved.pop("periodograms", {})
        for name, value in saved.items():
            setattr(self, name, value)
        # last, after any periodogram a panel started while the data and fits went in (none
        # was there yet) is dropped: it must not land over the saved ones
        self.periodogram_job.abandon()
        self.periodograms = periodograms
        self.message = f"reopened {path}"
        return self

"""The one shared state of an fgs_widgets session (a traitlets model) and its actions.

Widgets observe a `Session` and call its actions; they never compute numbers
themselves.  Heavy arrays live in `Instance` traits that are *not* synced to
the browser (a Session is a plain `HasTraits`, not a widget), so a Session works
headless — in scripts, tests and batch jobs — and nothing here imports a widget.
No secret (MAST token) is ever stored in a trait or attribute: actions take the
token as an argument and pass it straight to the archive layer.

The fit action is `Session.fit_frames` (not ``fit``): ``fit`` is the trait that
holds the result table, and one name cannot be both.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import traitlets as t

from .data import GuideStarData

__all__ = ["Session"]

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
            from .engine.gaussian import fit_gaussians

            fit_gaussians(data.frames[:1], None if data.errors is None else data.errors[:1],
                          executor="serial")
    return time.perf_counter() - started


class Session(t.HasTraits):
    """Shared state: data, fits, cursor, window, selected parameter, events.

    Traits
    ------
    program : str
        Program id of the loaded data ("" for local files, "sample" for the sample).
    data : GuideStarData or None
    fit, quick_fit : pandas.DataFrame or None
        One row per frame of `data` (`fgs_widgets.engine.fit_gaussians`, `quick_fit`).
    fit_status : str
        "idle", "running", "cancelled", "done" or "error: ...".
    fit_progress : float
        Fraction of frames fitted, 0..1; ``fit_rate`` frames/s and ``fit_eta`` seconds.
    fit_kind : str
        Kind of the running or last fit ("full" or "quick").
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
    message : str
        Last user-facing status or error message.
    history : list of str
        Python lines equivalent to what was done (for reproducibility).

    Examples
    --------
    >>> session = Session()
    >>> session.load_sample()                        # doctest: +SKIP
    >>> session.fit_frames("quick", block=True)      # doctest: +SKIP
    >>> session.window = (t0, t1)                    # doctest: +SKIP
    >>> session.compute_periodograms(["x_mean"])     # doctest: +SKIP
    """

    program = t.Unicode("")
    data = t.Instance(GuideStarData, allow_none=True)
    fit = t.Instance(pd.DataFrame, allow_none=True)
    quick_fit = t.Instance(pd.DataFrame, allow_none=True)
    fit_status = t.Unicode("idle")
    fit_progress = t.Float(0.0)
    fit_rate = t.Float(0.0)
    fit_eta = t.Float(0.0)
    fit_kind = t.Unicode("full")
    cursor = t.Int(0)
    window = t.Tuple(allow_none=True, default_value=None)
    parameter = t.Unicode("flux")
    periodograms = t.Dict()
    events = t.Instance(pd.DataFrame, allow_none=True)
    telemetry = t.Dict()
    message = t.Unicode("")
    history = t.List(t.Unicode())

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        # one Event per run: a stale worker (data replaced meanwhile) keeps its own, already
        # set, so cancelling or starting a new run never un-cancels or races the old one
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

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

    @t.observe("data")
    def _reset_for_new_data(self, change: dict) -> None:
        self._cancel.set()  # a fit of the old data stops at its next chunk and is dropped
        self.fit = None
        self.quick_fit = None
        self.fit_status = "idle"
        self.fit_progress = 0.0
        self.fit_rate = 0.0
        self.fit_eta = 0.0
        self.periodograms = {}
        self.window = None
        self.events = None
        self.telemetry = {}
        self.cursor = 0

    def _record(self, line: str) -> None:
        self.history = [*self.history, line]

    def _need_data(self, what: str) -> GuideStarData:
        if self.data is None:
            raise ValueError(f"no data to {what}: load the sample (session.load_sample()), "
                             "local files (session.read_files(...)) or a program first")
        return self.data

    # -- loading ----------------------------------------------------------------
    def load_sample(self, directory: str | os.PathLike | None = None) -> None:
        """Load the bundled sample program (written on first use).

        Parameters
        ----------
        directory : path, optional
            Where the sample files are written; default ``$FGS_CACHE_DIR/sample-v<N>``
            or ``~/.cache/fgs_widgets/sample-v<N>``.
        """
        from .archive.reader import read_fine_guide
        from .archive.sample import sample_program

        sample = sample_program(directory)
        self.data = read_fine_guide(sample.paths)
        self.program = "sample"
        self.message = f"sample program {sample.program}: {self.data.summary()}"
        self._record("session.load_sample()" if directory is None
                     else f"session.load_sample({str(directory)!r})")

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

        self.data = read_fine_guide(paths, **filters)
        self.program = ""
        skipped = sum(p.skipped for p in self.data.problems)
        problems = f"; skipped {skipped} file(s)" if skipped else ""
        if len(self.data.problems) > skipped:
            problems += f"; {len(self.data.problems) - skipped} file(s) read in part"
        self.message = self.data.summary() + problems
        shown = repr(str(paths)) if isinstance(paths, (str, os.PathLike)) else repr(
            [str(p) for p in paths])
        args = "".join(f", {k}={v!r}" for k, v in filters.items())
        self._record(f"session.read_files({shown}{args})")

    def open_program(self, program: int | str, *, observation: Any = None, visit: Any = None,
                     guider: Any = None, token: str | None = None,
                     progress: Callable[[int, int, int, int], None] | None = None,
                     cancel: threading.Event | None = None) -> None:
        """Query MAST, download (cached) and read a program's fine-guide files.

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
        cancel : threading.Event, optional
            Stops the download; default: `cancel` of this session stops it.

        Raises
        ------
        fgs_widgets.archive.errors.ArchiveError
            MAST unreachable, token refused, no fine-guide files, partial download...
        """
        from .archive.program import open_program
        from .archive.tokens import resolve_token

        token = resolve_token(token)  # masked from here on, also in a traceback's frames
        if cancel is None:
            cancel = self._cancel = threading.Event()
        self.data = open_program(program, observation=observation, visit=visit, guider=guider,
                                 token=token, progress=progress, cancel=cancel)
        self.program = str(program)
        self.message = f"program {program}: {self.data.summary()}"
        filters = "".join(f", {k}={v!r}" for k, v in
                          (("observation", observation), ("visit", visit), ("guider", guider))
                          if v is not None)
        # the token is never written here: a script reads it from MAST_API_TOKEN
        self._record(f"session.open_program({program!r}{filters})")

    # -- fitting -----------------------------------------------------------------
    def fit_frames(self, kind: str = "full", *, executor: str = "auto",
                   address: str | None = None, chunk_size: int = 50_000,
                   block: bool = False) -> threading.Thread | None:
        """Fit every frame in a background thread (the kernel stays responsive).

        Parameters
        ----------
        kind : {"full", "quick"}
            "full": 2D Gaussian fit (`fgs_widgets.engine.gaussian.fit_gaussians`);
            "quick": moments (`fgs_widgets.engine.quickfit.quick_fit`).
        executor : {"auto", "serial", "ray"}
            Where a full fit runs (see `fit_gaussians`).
        address : str, optional
            Ray cluster address ("auto", "ray://host:10001"); implies ray.
        chunk_size : int
            Frames per task; progress, cancel and the cache work per chunk.
        block : bool
            Run in this thread and return when done (scripts, tests).

        Returns
        -------
        threading.Thread or None
            The worker (None with ``block=True``).  Progress goes to
            ``fit_progress``/``fit_rate``/``fit_eta``, the table to ``fit`` or
            ``quick_fit``, the outcome to ``fit_status`` and ``message``.

        Raises
        ------
        ValueError
            No data, or an unknown kind.
        RuntimeError
            A fit is already running.
        """
        data = self._need_data("fit")
        if kind not in FIT_KINDS:
            raise ValueError(f"kind must be 'full' or 'quick', not {kind!r}")
        with self._lock:  # two quick clicks must not start two fits
            if self.fit_status == "running":
                raise RuntimeError("a fit is already running: cancel it first "
                                   "(session.cancel()) or wait for it (session.wait())")
            cancel = self._cancel = threading.Event()
            self.fit_kind = kind
            self.fit_rate = self.fit_eta = self.fit_progress = 0.0
            self.fit_status = "running"
        args = f"kind={kind!r}" + (f", executor={executor!r}" if executor != "auto" else "") + (
            f", address={address!r}" if address else "") + (
            f", chunk_size={chunk_size}" if chunk_size != 50_000 and kind == "full" else "")
        self._record(f"session.fit_frames({args})")

        def work() -> None:
            started = compiling = 0.0

            def progress(done: int, total: int) -> None:
                if self.data is not data:
                    return  # a stale run: its numbers would mislead the new data's bar
                elapsed = max(time.perf_counter() - started, 1e-9)
                self.fit_rate = done / elapsed
                self.fit_eta = (total - done) / self.fit_rate if self.fit_rate else 0.0
                self.fit_progress = done / total if total else 1.0

            try:
                compiling = _load_kernels(kind, data)
                started = time.perf_counter()
                if kind == "quick":
                    from .engine.quickfit import quick_fit

                    result = quick_fit(data.frames)
                    progress(len(data), len(data))
                else:
                    from .engine.gaussian import fit_gaussians

                    result = fit_gaussians(data.frames, data.errors, executor=executor,
                                           address=address, chunk_size=chunk_size,
                                           progress=progress, cancel=cancel)
            except Exception as exc:  # shown to the user; the data stay loaded
                if self.data is data:
                    self.message = (f"error: {kind} fit failed — {type(exc).__name__}: {exc} "
                                    "(try executor='serial', or a smaller chunk size)")
                    self.fit_status = self.message
                return
            if self.data is not data:
                return  # new data arrived meanwhile: this result belongs to the old data
            if kind == "quick":
                self.quick_fit = result
            else:
                self.fit = result
            status = "cancelled" if cancel.is_set() else "done"
            elapsed = time.perf_counter() - started
            kept = "" if status == "done" else (
                f" ({int((result['status'] != 'cancelled').sum()):,} frames kept; run again "
                "to fit the rest — finished chunks are reused from the cache)"
                if "status" in result else "")
            # message first: observers of fit_status show it
            compiled = (f" (and {compiling:.1f} s compiling the fit kernel, once per environment)"
                        if compiling > 1.0 else "")
            took = f"{elapsed:.1f} s" if elapsed >= 1 else f"{elapsed * 1e3:.0f} ms"
            self.message = (f"{kind} fit {status}: {len(data):,} frames in {took}"
                            f"{compiled}{kept}")
            self.fit_status = status

        if block:
            work()
            return None
        self._worker = threading.Thread(target=work, name="fgs-fit", daemon=True)
        self._worker.start()
        return self._worker

    def cancel(self) -> None:
        """Stop a running fit or download; finished chunks (and files) are kept."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background fit has finished (for scripts and tests)."""
        if self._worker is not None:
            self._worker.join(timeout)

    # -- series, periodograms and events -----------------------------------------------
    def columns(self) -> list[str]:
        """Per-frame series available: "flux", then every fit column once a fit exists."""
        from .engine.psf import PARAMETERS

        fit = self.fit if self.fit is not None else self.quick_fit
        return ["flux", *(list(PARAMETERS) if fit is not None else [])]

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

    def compute_periodograms(self, columns: Iterable[str] | None = None,
                             **kwargs: Any) -> dict:
        """Lomb–Scargle periodograms of per-frame series over `window`.

        Parameters
        ----------
        columns : iterable of str, optional
            Default: every column of `columns()`.
        **kwargs
            Passed to `fgs_widgets.engine.periodogram.periodograms`
            (``min_period``, ``max_period``, ``n_peaks``...).

        Returns
        -------
        dict
            column -> Periodogram (also merged into the ``periodograms`` trait).
        """
        from .engine.periodogram import periodograms

        data = self._need_data("analyse")
        names = list(columns) if columns is not None else self.columns()
        unknown = [n for n in names if n not in self.columns()]
        if unknown:
            raise KeyError(f"no per-frame series {unknown}: available {self.columns()} "
                           "(fit first for the fit columns: session.fit_frames('quick'))")
        table = {name: self.series(name)[1] for name in names}
        window = self.window
        results = periodograms(data.time, table, names, good=data.good, window=window, **kwargs)
        self.periodograms = {**self.periodograms, **results}
        if window is not None:  # the result depends on it: make the script say so
            self._record(f"session.window = ({window[0]!r}, {window[1]!r})")
        extra = "".join(f", {k}={v!r}" for k, v in kwargs.items())
        self._record(f"session.compute_periodograms({names!r}{extra})")
        return results

    def _add_events(self, *tables: pd.DataFrame) -> None:
        from .engine import events as ev

        merged = ev.concat_events(self.events, *tables)
        # adding the same events twice (a second click) must not draw them twice
        key = merged[["time", "end", "kind", "label", "source"]].astype(str)
        self.events = merged[~key.duplicated()].reset_index(drop=True)

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
        self._record(f"session.add_local_events({kinds!r})")

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
        self._record(f"session.detect_events({column!r}, jumps={jumps}, outliers={outliers})")
        return new

    def fetch_mnemonic(self, name: str, token: str | None = None) -> pd.DataFrame:
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

        Raises
        ------
        fgs_widgets.archive.errors.TelemetryError
            No token (local events need none), bad name.
        fgs_widgets.archive.errors.AuthenticationError, MastUnreachable
        """
        from .archive.engdb import get_mnemonic
        from .archive.tokens import resolve_token
        from .engine import events as ev

        token = resolve_token(token)  # masked from here on, also in a traceback's frames
        data = self._need_data("fetch telemetry for (the time range comes from the data)")
        mnemonic = name.strip().upper()
        telemetry = get_mnemonic(mnemonic, data.time[0], data.time[-1], token=token)
        if self.data is not data:
            return telemetry  # data replaced while fetching: this belongs to the old range
        self.telemetry = {**self.telemetry, mnemonic: telemetry}
        events = ev.telemetry_events(mnemonic, telemetry)
        if events is not None and len(telemetry):
            self._add_events(events)
        self.message = telemetry.attrs.get("note") or f"{mnemonic}: {len(telemetry):,} samples"
        self._record(f"session.fetch_mnemonic({mnemonic!r})  # token from MAST_API_TOKEN")
        return telemetry

    # -- saving -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, include_frames: bool = False) -> Path:
        """Save everything into one folder (see `fgs_widgets.session_io`)."""
        from .session_io import save_session

        return save_session(self, path, include_frames=include_frames)

    @classmethod
    def open(cls, path: str | os.PathLike, **kwargs: Any) -> Session:
        """Reopen a saved session without refitting."""
        from .session_io import open_session

        return open_session(path, **kwargs)

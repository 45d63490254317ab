"""The one shared state of an fgs_widgets session (a traitlets model) and its actions.

Widgets observe a `Session` and call its actions; they never compute numbers
themselves.  Heavy arrays live in `Instance` traits that are *not* synced to
the browser (a Session is a plain `HasTraits`, not a widget).  No secret (MAST
token) is ever stored in a trait or attribute: actions take the token as an
argument and pass it straight to the archive layer.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import traitlets as t

from .data import GuideStarData

__all__ = ["Session"]


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
    cursor : int
        Index of the frame under the cursor.
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
    """

    program = t.Unicode("")
    data = t.Instance(GuideStarData, allow_none=True)
    fit = t.Instance(pd.DataFrame, allow_none=True)
    quick_fit = t.Instance(pd.DataFrame, allow_none=True)
    fit_status = t.Unicode("idle")
    fit_progress = t.Float(0.0)
    fit_rate = t.Float(0.0)
    fit_eta = t.Float(0.0)
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
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None

    # -- invariants -------------------------------------------------------------
    @t.validate("cursor")
    def _clip_cursor(self, proposal: dict) -> int:
        n = 0 if self.data is None else len(self.data)
        return int(min(max(proposal["value"], 0), max(n - 1, 0)))

    @t.observe("data")
    def _reset_for_new_data(self, change: dict) -> None:
        self.fit = None
        self.quick_fit = None
        self.fit_status = "idle"
        self.fit_progress = 0.0
        self.periodograms = {}
        self.window = None
        self.events = None
        self.cursor = 0

    def _record(self, line: str) -> None:
        self.history = [*self.history, line]

    # -- loading ----------------------------------------------------------------
    def load_sample(self, directory: str | os.PathLike | None = None) -> None:
        """Load the bundled sample program (written on first use)."""
        from .archive.reader import read_fine_guide
        from .archive.sample import sample_program

        sample = sample_program(directory)
        self.data = read_fine_guide(sample.paths)
        self.program = "sample"
        self.message = f"sample program {sample.program}: {self.data.summary()}"
        self._record("session.load_sample()")

    def read_files(self, paths: str | os.PathLike | Iterable[str | os.PathLike],
                   **filters: Any) -> None:
        """Read local fine-guide files (files, folders, globs)."""
        from .archive.reader import read_fine_guide

        self.data = read_fine_guide(paths, **filters)
        self.program = ""
        problems = f"; skipped {len(self.data.problems)} file(s)" if self.data.problems else ""
        self.message = self.data.summary() + problems
        shown = repr(str(paths)) if isinstance(paths, (str, os.PathLike)) else repr(
            [str(p) for p in paths])
        args = "".join(f", {k}={v!r}" for k, v in filters.items())
        self._record(f"session.read_files({shown}{args})")

    def open_program(self, program: int | str, *, observation: Any = None, visit: Any = None,
                     guider: Any = None, token: str | None = None, progress=None,
                     cancel: threading.Event | None = None) -> None:
        """Query MAST, download (cached) and read a program's fine-guide files.

        ``token`` is used for this call only; it is never stored.
        """
        from .archive.program import open_program

        self.data = open_program(program, observation=observation, visit=visit, guider=guider,
                                 token=token, progress=progress, cancel=cancel)
        self.program = str(program)
        self.message = f"program {program}: {self.data.summary()}"
        filters = "".join(f", {k}={v!r}" for k, v in
                          (("observation", observation), ("visit", visit), ("guider", guider))
                          if v is not None)
        self._record(f"session.open_program({program!r}{filters})")

    # -- fitting -----------------------------------------------------------------
    def fit_frames(self, kind: str = "full", *, executor: str = "auto",
                   address: str | None = None, chunk_size: int = 50_000,
                   block: bool = False) -> threading.Thread | None:
        """Fit every frame (``kind`` "full" or "quick") in a background thread.

        Progress goes to ``fit_progress``/``fit_rate``/``fit_eta``, the result to
        ``fit`` or ``quick_fit``.  With ``block=True`` it runs in this thread.
        """
        if self.data is None:
            raise ValueError("no data: load the sample, local files or a program first")
        if kind not in ("full", "quick"):
            raise ValueError(f"kind must be 'full' or 'quick', not {kind!r}")
        if self.fit_status == "running":
            raise RuntimeError("a fit is already running; cancel it first")
        self._cancel.clear()
        self.fit_status = "running"
        self.fit_progress = 0.0
        data = self.data
        args = f"kind={kind!r}" + (f", executor={executor!r}" if executor != "auto" else "") + (
            f", address={address!r}" if address else "")
        self._record(f"session.fit_frames({args})")

        def work() -> None:
            started = time.perf_counter()

            def progress(done: int, total: int) -> None:
                elapsed = max(time.perf_counter() - started, 1e-9)
                self.fit_rate = done / elapsed
                self.fit_eta = (total - done) / self.fit_rate if self.fit_rate else 0.0
                self.fit_progress = done / total if total else 1.0

            try:
                if kind == "quick":
                    from .engine.quickfit import quick_fit

                    result = quick_fit(data.frames)
                    progress(len(data), len(data))
                else:
                    from .engine.gaussian import fit_gaussians

                    result = fit_gaussians(data.frames, data.errors, executor=executor,
                                           address=address, chunk_size=chunk_size,
                                           progress=progress, cancel=self._cancel)
            except Exception as exc:  # shown to the user; the data stay loaded
                self.message = f"error: {type(exc).__name__}: {exc}"
                self.fit_status = self.message
                return
            if self.data is not data:
                return  # new data arrived meanwhile: this result belongs to the old data
            if kind == "quick":
                self.quick_fit = result
            else:
                self.fit = result
            status = "cancelled" if self._cancel.is_set() else "done"
            elapsed = time.perf_counter() - started
            # message first: observers of fit_status show it
            self.message = f"{kind} fit {status}: {len(data):,} frames in {elapsed:.1f} s"
            self.fit_status = status

        if block:
            work()
            return None
        self._worker = threading.Thread(target=work, name="fgs-fit", daemon=True)
        self._worker.start()
        return self._worker

    def cancel(self) -> None:
        """Stop a running fit; finished chunks are kept."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background fit has finished (for scripts and tests)."""
        if self._worker is not None:
            self._worker.join(timeout)

    # -- series, periodograms and events -----------------------------------------------
    def columns(self) -> list[str]:
        """Series available: flux and every fit column."""
        from .engine.psf import PARAMETERS

        fit = self.fit if self.fit is not None else self.quick_fit
        return ["flux", *(list(PARAMETERS) if fit is not None else [])]

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(time MJD, values) of "flux" or a fit column (full fit preferred, else quick)."""
        if self.data is None:
            raise ValueError("no data loaded")
        if name == "flux":
            return self.data.time, self.data.flux
        for table in (self.fit, self.quick_fit):
            if table is not None and name in table:
                return self.data.time, table[name].to_numpy(dtype=np.float64)
        raise KeyError(f"no series {name!r}: available {self.columns()} (fit first for the rest)")

    def compute_periodograms(self, columns: Iterable[str] | None = None, **kwargs: Any) -> dict:
        """Periodograms of `columns` (default: all series) over `window`."""
        from .engine.periodogram import periodograms

        names = list(columns) if columns is not None else self.columns()
        table = {name: self.series(name)[1] for name in names}
        results = periodograms(self.data.time, table, names, good=self.data.good,
                               window=self.window, **kwargs)
        self.periodograms = {**self.periodograms, **results}
        self._record(f"session.compute_periodograms({names!r})")
        return results

    def add_local_events(self, kinds: Iterable[str] = ("GUIDESTAR", "FILENAME", "HGA")) -> None:
        """Guide-star changes, file boundaries and HGA moves from the files (no token)."""
        from .engine import events as ev

        kinds = [k.upper() for k in kinds]
        tables = [ev.local_events(self.data.products, [k for k in kinds if k != "HGA"])]
        if "HGA" in kinds and "pointing" in self.data.tables:
            tables.append(ev.hga_from_pointing(self.data.tables["pointing"]))
        self.events = ev.concat_events(self.events, *tables)
        self._record(f"session.add_local_events({kinds!r})")

    def fetch_mnemonic(self, name: str, token: str | None = None) -> pd.DataFrame:
        """Engineering telemetry over the data's time range; adds events for text mnemonics.

        ``token`` is used for this call only and never stored.
        """
        from .archive.engdb import get_mnemonic
        from .engine import events as ev

        if self.data is None:
            raise ValueError("no data: the time range comes from the loaded data")
        telemetry = get_mnemonic(name, self.data.time[0], self.data.time[-1], token=token)
        self.telemetry = {**self.telemetry, name.upper(): telemetry}
        if len(telemetry) and telemetry["value"].dtype == object:
            new = (ev.hga_moves(telemetry) if name.upper() == "SA_ZHGAUPST"
                   else ev.text_transitions(telemetry, name.upper()))
            self.events = ev.concat_events(self.events, new)
        self.message = telemetry.attrs.get("note") or f"{name}: {len(telemetry)} samples"
        self._record(f"session.fetch_mnemonic({name!r})  # token from MAST_API_TOKEN")
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

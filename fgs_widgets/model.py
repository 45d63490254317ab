"""The one shared state of an fgs_widgets session (a traitlets model).

Widgets observe a `Session` and set its traits; they never compute numbers
themselves.  Heavy arrays live in `Instance` traits that are *not* synced to
the browser (a Session is a plain `HasTraits`, not a widget).  No secret (MAST
token) is ever stored in a trait: traits end up in saved notebooks.
"""

from __future__ import annotations

import pandas as pd
import traitlets as t

from .data import GuideStarData

__all__ = ["Session"]


class Session(t.HasTraits):
    """Shared state: data, fits, cursor, window, selected parameter, events.

    Traits
    ------
    program : str
        Program id of the loaded data ("" for local files / sample).
    data : GuideStarData or None
        The stitched time series.
    fit, quick_fit : pandas.DataFrame or None
        One row per frame of `data` (see `fgs_widgets.engine.fit_gaussians`).
    fit_status : str
        "idle", "running", "cancelled", "done" or "error: ...".
    fit_progress : float
        Fraction of frames fitted, 0..1.
    cursor : int
        Index of the frame under the cursor.
    window : tuple (start, stop) in MJD, or None
        Time range shown/used by the periodogram; None = everything.
    parameter : str
        Column shown by default ("flux" or a fit column).
    periodograms : dict
        column -> (frequency [1/s], power).
    events : pandas.DataFrame or None
        The common event table (time, end, kind, label, source).
    telemetry : dict
        mnemonic -> DataFrame (time, utc, value).
    message : str
        Last user-facing status or error message.
    """

    program = t.Unicode("")
    data = t.Instance(GuideStarData, allow_none=True)
    fit = t.Instance(pd.DataFrame, allow_none=True)
    quick_fit = t.Instance(pd.DataFrame, allow_none=True)
    fit_status = t.Unicode("idle")
    fit_progress = t.Float(0.0)
    cursor = t.Int(0)
    window = t.Tuple(allow_none=True, default_value=None)
    parameter = t.Unicode("flux")
    periodograms = t.Dict()
    events = t.Instance(pd.DataFrame, allow_none=True)
    telemetry = t.Dict()
    message = t.Unicode("")

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
        self.cursor = 0

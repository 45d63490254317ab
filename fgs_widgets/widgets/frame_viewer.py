"""FrameViewer: the 8x8 frame at the cursor, with fit overlay and client-side playback.

Only a block of frames around the cursor crosses to the browser, as one binary
buffer (float32 frames, float64 seconds from ``t0_mjd``, float32 fit
parameters); the browser plays through it and asks for the next block by
moving the cursor past its end.
"""

from __future__ import annotations

from importlib import resources

import anywidget
import numpy as np
import traitlets as t

from ..engine.psf import PARAMETERS
from ..model import Session

__all__ = ["FrameViewer"]


def _bundle() -> str:
    path = resources.files("fgs_widgets") / "static" / "frame_viewer.js"
    if not path.is_file():
        raise FileNotFoundError(
            "the frame viewer's JavaScript bundle is missing (fgs_widgets/static/frame_viewer.js); "
            "reinstall with node and npm available: pip install -e .")
    return path.read_text()


class FrameViewer(anywidget.AnyWidget):
    """The frame under `Session.cursor`, linked both ways.

    Parameters
    ----------
    session : Session
    block_size : int
        Frames sent to the browser at once (playback runs through them locally).
    """

    _esm = t.Unicode().tag(sync=True)
    cursor = t.Int(0).tag(sync=True)
    n_frames = t.Int(0).tag(sync=True)
    block_start = t.Int(0).tag(sync=True)
    block_count = t.Int(0).tag(sync=True)
    frames = t.Bytes(b"").tag(sync=True)
    times = t.Bytes(b"").tag(sync=True)
    fits = t.Bytes(b"").tag(sync=True)
    t0_mjd = t.Float(0.0).tag(sync=True)
    scale = t.Enum(["linear", "log"], "linear").tag(sync=True)
    vmin = t.Float(None, allow_none=True).tag(sync=True)
    vmax = t.Float(None, allow_none=True).tag(sync=True)
    playing = t.Bool(False).tag(sync=True)
    fps = t.Float(16.0).tag(sync=True)

    def __init__(self, session: Session, block_size: int = 2048, **kwargs):
        super().__init__(_esm=_bundle(), **kwargs)
        self.session = session
        self.block_size = int(block_size)
        self._syncing = False
        session.observe(self._on_data, names="data")
        session.observe(self._on_fit, names=["fit", "quick_fit"])
        session.observe(self._on_session_cursor, names="cursor")
        self.observe(self._on_widget_cursor, names="cursor")
        self._on_data()

    # -- blocks ---------------------------------------------------------------------
    def _fit_table(self):
        s = self.session
        return s.fit if s.fit is not None else s.quick_fit

    def _send_block(self, around: int) -> None:
        data = self.session.data
        if data is None or len(data) == 0:
            self.block_start, self.block_count = 0, 0
            self.frames = self.times = self.fits = b""
            return
        # start a little before the cursor so stepping back stays local
        start = int(np.clip(around - self.block_size // 8, 0, max(len(data) - self.block_size, 0)))
        stop = min(start + self.block_size, len(data))
        with self.hold_sync():
            self.block_start, self.block_count = start, stop - start
            self.frames = np.ascontiguousarray(data.frames[start:stop], dtype="<f4").tobytes()
            seconds = (data.time[start:stop] - self.t0_mjd) * 86400.0
            self.times = np.ascontiguousarray(seconds, dtype="<f8").tobytes()
            self._fill_fits(start, stop)

    def _fill_fits(self, start: int, stop: int) -> None:
        table = self._fit_table()
        if table is None:
            self.fits = b""
            return
        block = table[list(PARAMETERS)].iloc[start:stop].to_numpy(dtype="<f4")
        self.fits = np.ascontiguousarray(block).tobytes()

    def _in_block(self, index: int) -> bool:
        return self.block_start <= index < self.block_start + self.block_count

    # -- observers ------------------------------------------------------------------------
    def _on_data(self, change=None) -> None:
        data = self.session.data
        self.n_frames = 0 if data is None else len(data)
        self.t0_mjd = float(data.time[0]) if data is not None and len(data) else 0.0
        self._send_block(self.session.cursor)
        self._set_cursor(self.session.cursor)

    def _on_fit(self, change=None) -> None:
        if self.block_count:
            self._fill_fits(self.block_start, self.block_start + self.block_count)

    def _set_cursor(self, index: int) -> None:
        self._syncing = True
        try:
            self.cursor = index
        finally:
            self._syncing = False

    def _on_session_cursor(self, change) -> None:
        index = change["new"]
        if not self._in_block(index):
            self._send_block(index)
        if self.cursor != index:
            self._set_cursor(index)

    def _on_widget_cursor(self, change) -> None:
        if self._syncing:
            return
        index = int(np.clip(change["new"], 0, max(self.n_frames - 1, 0)))
        if not self._in_block(index):
            self._send_block(index)
        self.session.cursor = index  # the session observer keeps the two equal

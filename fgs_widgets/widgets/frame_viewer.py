"""FrameViewer: the 8x8 frame at the cursor, with the fit overlay and client-side playback.

Only a block of frames around the cursor crosses to the browser, as binary traits:

- ``frames``: float32, little-endian, C order, shape ``block_shape`` = (count, 8, 8);
- ``times``: float64 seconds from ``t0_mjd`` (the first frame of the data), shape (count,);
- ``fits``: float32, shape (count, len(``fit_columns``)): the fit table's columns named
  by ``fit_columns`` (default `fgs_widgets.engine.psf.PARAMETERS`), in that order, NaN
  rows for failed frames; empty when the session has no fit or the fit lacks one of the
  columns.  The browser finds the columns it draws by name, so the two sides agree by
  construction whatever the order.

The browser plays through the block at ``fps`` without a round trip per frame and
reports the cursor back at most ten times a second and on pause.  When the cursor
nears the end of the block the kernel sends the next one (re-centred on the cursor),
so playback runs on without a stall; if it still runs off the end, the browser asks
for the next block by moving the cursor past it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from ..engine.psf import PARAMETERS
from ..model import Session

__all__ = ["BundleMissingError", "FrameViewer"]


class BundleMissingError(FileNotFoundError):
    """The front-end bundle was not built (the package was installed without node)."""


@cache
def _bundle() -> str:
    path = resources.files("fgs_widgets") / "static" / "frame_viewer.js"
    if not path.is_file():
        raise BundleMissingError(
            "the frame viewer's JavaScript bundle (fgs_widgets/static/frame_viewer.js) is "
            "missing: install Node.js >= 18 with npm and run `pip install -e .` again in the "
            "fgs_widgets checkout (the build hook runs esbuild), or install a built wheel")
    return path.read_text(encoding="utf-8")


class FrameViewer(anywidget.AnyWidget):
    """The frame under `Session.cursor`, linked both ways, with client-side playback.

    Parameters
    ----------
    session : Session
        Shared state; the viewer observes ``data``, ``fit``, ``quick_fit`` and ``cursor``
        and sets ``cursor`` when the user steps, clicks or plays in the browser.
    block_size : int
        Frames sent to the browser at once (2048 frames are 512 KiB and about two
        minutes of playback at 16 fps).
    **kwargs
        Initial trait values (``scale``, ``vmin``, ``vmax``, ``fps``, ``playing``) and
        widget options.

    Notes
    -----
    ``vmin``/``vmax`` of None scale each frame to its own finite range. The full fit is
    drawn when present, else the quick fit.
    """

    _esm = t.Unicode().tag(sync=True)

    cursor = t.Int(0, help="index of the frame shown (into the whole data)").tag(sync=True)
    n_frames = t.Int(0, help="frames in the session's data").tag(sync=True)
    block_start = t.Int(0, help="data index of the block's first frame").tag(sync=True)
    block_count = t.Int(0, help="frames in the block").tag(sync=True)
    block_shape = t.List(t.Int(), [0, 8, 8], help="shape of `frames`").tag(sync=True)
    frames = t.Bytes(b"", help="float32 frames, shape block_shape").tag(sync=True)
    times = t.Bytes(b"", help="float64 seconds from t0_mjd, one per frame").tag(sync=True)
    t0_mjd = t.Float(0.0, help="MJD of `times` = 0 (the data's first frame)").tag(sync=True)
    fits = t.Bytes(b"", help="float32 (count, len(fit_columns)) fit columns, or empty"
                   ).tag(sync=True)
    fit_columns = t.List(t.Unicode(), list(PARAMETERS),
                         help="fit table columns in `fits`, in order").tag(sync=True)
    scale = t.Enum(["linear", "log"], "linear").tag(sync=True)
    vmin = t.Float(None, allow_none=True, help="colour-scale low end; None = auto").tag(sync=True)
    vmax = t.Float(None, allow_none=True, help="colour-scale high end; None = auto").tag(sync=True)
    playing = t.Bool(False).tag(sync=True)
    fps = t.Float(16.0, help="playback speed, frames per second").tag(sync=True)

    #: what a notebook user may script (the rest is internal)
    user_api = ("cursor", "scale", "vmin", "vmax", "playing", "fps", "play", "pause")

    def __init__(self, session: Session, block_size: int = 2048, **kwargs: Any) -> None:
        if block_size < 1:
            raise ValueError(f"block_size must be at least 1, not {block_size}")
        super().__init__(_esm=_bundle(), **kwargs)
        self.session = session
        self.block_size = int(block_size)
        self._updating = False
        session.observe(self._on_data, names="data")
        session.observe(self._on_fit, names=["fit", "quick_fit"])
        session.observe(self._on_session_cursor, names="cursor")
        self.observe(self._on_widget_cursor, names="cursor")
        self.observe(self._on_fit, names="fit_columns")
        self._on_data()

    # -- public ---------------------------------------------------------------------------
    def play(self) -> None:
        """Start playback in the browser (from the cursor)."""
        self.playing = True

    def pause(self) -> None:
        """Stop playback; the browser reports where it stopped."""
        self.playing = False

    def close(self) -> None:
        """Stop following the session and close the widget."""
        session = getattr(self, "session", None)  # absent if __init__ failed early
        for handler, names in ((self._on_data, "data"), (self._on_fit, ["fit", "quick_fit"]),
                               (self._on_session_cursor, "cursor")):
            try:
                if session is not None:
                    session.unobserve(handler, names=names)
            except ValueError:  # already closed
                pass
        super().close()

    def notify_change(self, change: Any) -> None:
        # new `fit_columns` and the `fits` rebuilt in that order (`_on_fit`) reach the
        # browser in one message, so it never decodes one with the other
        if change["name"] == "fit_columns":
            with self.hold_sync():
                super().notify_change(change)
        else:
            super().notify_change(change)

    @t.validate("fps")
    def _valid_fps(self, proposal: dict[str, Any]) -> float:
        return float(min(max(proposal["value"], 0.1), 240.0))

    # -- blocks ---------------------------------------------------------------------------
    @contextmanager
    def _kernel_update(self) -> Iterator[None]:
        """Change traits from the kernel side: one message, and no echo into the session."""
        self._updating = True
        try:
            with self.hold_sync():
                yield
        finally:
            self._updating = False

    def _in_block(self, index: int) -> bool:
        return self.block_start <= index < self.block_start + self.block_count

    def _needs_block(self, index: int) -> bool:
        """Outside the block, or near its end while more data follow (prefetch)."""
        if not self._in_block(index):
            return True
        end = self.block_start + self.block_count
        return end < self.n_frames and index >= end - max(self.block_size // 4, 1)

    def _send_block(self, around: int) -> None:
        """Put the block holding ``around`` in the traits (call inside `_kernel_update`)."""
        data = self.session.data
        n = 0 if data is None else len(data)
        if n == 0:
            self.block_start, self.block_count, self.block_shape = 0, 0, [0, 8, 8]
            self.frames = self.times = self.fits = b""
            return
        # start a little before the cursor so a few steps back stay in the block
        start = int(np.clip(around - self.block_size // 8, 0, max(n - self.block_size, 0)))
        stop = min(start + self.block_size, n)
        block = np.ascontiguousarray(data.frames[start:stop], dtype="<f4")
        seconds = (np.asarray(data.time[start:stop], dtype=np.float64) - self.t0_mjd) * 86400.0
        self.block_start, self.block_count = start, stop - start
        self.block_shape = list(block.shape)
        self.frames = block.tobytes()
        self.times = np.ascontiguousarray(seconds, dtype="<f8").tobytes()
        self.fits = self._fit_block(start, stop)

    def _fit_block(self, start: int, stop: int) -> bytes:
        """The `fits` bytes of frames [start, stop): the `fit_columns` of the fit table."""
        s = self.session
        table = s.fit if s.fit is not None else s.quick_fit
        columns = list(self.fit_columns)
        if table is None or not columns or not set(columns) <= set(table.columns):
            return b""
        block = np.full((stop - start, len(columns)), np.nan, dtype="<f4")
        # a table shorter than the data (e.g. an interrupted fit) leaves NaN rows
        rows = table[columns].iloc[start:stop].to_numpy(dtype=np.float32)
        block[: len(rows)] = rows
        return block.tobytes()

    # -- observers ------------------------------------------------------------------------
    def _on_data(self, change: dict[str, Any] | None = None) -> None:
        data = self.session.data
        with self._kernel_update():
            self.playing = False
            self.n_frames = 0 if data is None else len(data)
            self.t0_mjd = float(data.time[0]) if self.n_frames else 0.0
            self._send_block(self.session.cursor)
            self.cursor = self.session.cursor

    def _on_fit(self, change: dict[str, Any] | None = None) -> None:
        if self.block_count:
            with self._kernel_update():
                self.fits = self._fit_block(self.block_start, self.block_start + self.block_count)

    def _on_session_cursor(self, change: dict[str, Any]) -> None:
        index = int(change["new"])
        if index == self.cursor and not self._needs_block(index):
            return  # the browser's own change coming back through the session
        with self._kernel_update():
            if self._needs_block(index):
                self._send_block(index)
            self.cursor = index

    def _on_widget_cursor(self, change: dict[str, Any]) -> None:
        if self._updating:
            return
        index = int(change["new"])
        clipped = int(np.clip(index, 0, max(self.n_frames - 1, 0)))
        if self._needs_block(clipped) or clipped != index:
            with self._kernel_update():
                if self._needs_block(clipped):
                    self._send_block(clipped)
                self.cursor = clipped
        self.session.cursor = clipped  # _on_session_cursor sees it equal and returns

    def __repr__(self) -> str:
        return (f"FrameViewer(cursor={self.cursor}, n_frames={self.n_frames}, "
                f"block=[{self.block_start}, {self.block_start + self.block_count}))")

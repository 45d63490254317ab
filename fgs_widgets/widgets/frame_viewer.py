"""FrameViewer: the 8x8 frame at the cursor, with the fit overlay and client-side playback.

Only a block of frames around the cursor crosses to the browser, as binary traits:

- ``frames``: float32, little-endian, C order, shape ``block_shape`` = (count, 8, 8);
- ``times``: float64 seconds from ``t0_mjd`` (the first frame of the data), shape (count,);
- ``fits``: float32, shape (count, len(``fit_columns``)): the fit table's columns named
  by ``fit_columns`` (default `fgs_widgets.engine.psf.PARAMETERS`), in that order, NaN
  rows for failed frames; empty when the session has no fit or the fit lacks one of the
  columns.  The browser finds the columns it draws by name, so the two sides agree by
  construction whatever the order.

Colour scale: ``scale`` is the stretch (``"linear"``, ``"log"``, ``"asinh"``) and
``limits`` where its ends come from.  The default, ``"robust"``, is the 1st to 99.5th
percentile of the finite pixels of the block's good frames (no `BAD_QUALITY` bit),
computed here per block and sent as ``block_lo``/``block_hi`` with the frames: one hot
pixel or one flagged frame does not set the scale, and the scale stays put while the
browser plays through the block, so brightness changes between frames stay visible.
``"frame"`` scales each frame to its own finite range; ``"manual"`` uses ``vmin`` and
``vmax`` (setting either from Python selects it).

The browser plays through the block at ``fps`` without a round trip per frame and
reports the cursor back at most ten times a second and on pause.  When the cursor
nears the end of the block the kernel sends the next one (re-centred on the cursor),
so playback runs on without a stall; if it still runs off the end, the browser asks
for the next block by moving the cursor past it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from ..data import BAD_QUALITY
from ..engine.psf import PARAMETERS
from ..model import Session
from ._bundle import BundleMissingError, bundle
from ._common import Follower

__all__ = ["BundleMissingError", "FrameViewer", "robust_limits"]

#: percentiles of the good pixels that bound the "robust" colour scale: the 1st rather
#: than the minimum, because a dead or negative-going pixel would otherwise stretch the
#: low end; 99.5th, not 99th, so a compact star's peak (a few of 64 pixels) is not clipped
ROBUST_PERCENTILES = (1.0, 99.5)


def robust_limits(frames: np.ndarray, quality: np.ndarray | None = None) -> tuple[float, float]:
    """Robust colour-scale limits of a stack of frames.

    Parameters
    ----------
    frames : ndarray, shape (N, ny, nx)
        The frames (NaN pixels are ignored).
    quality : ndarray, shape (N,), optional
        `fgs_widgets.data.Quality` bits per frame; frames with a `BAD_QUALITY` bit are left
        out unless no good frame has a finite pixel.

    Returns
    -------
    lo, hi : float
        The `ROBUST_PERCENTILES` of the finite pixels, with ``hi > lo``; (0, 1) when no
        pixel is finite.
    """
    frames = np.asarray(frames)
    values = frames
    if quality is not None:
        values = frames[(np.asarray(quality) & int(BAD_QUALITY)) == 0]
    values = values[np.isfinite(values)]
    if values.size == 0:  # only flagged frames: better their range than none
        values = frames[np.isfinite(frames)]
    if values.size == 0:
        return 0.0, 1.0
    # float64: float32 percentiles of large counts would round the ends visibly
    lo, hi = (float(v) for v in np.percentile(values.astype(np.float64), ROBUST_PERCENTILES))
    if not hi > lo:  # a flat block: any non-empty range draws it in one colour
        hi = lo + max(1.0, abs(lo) * 1e-6)  # + 1 is lost at |lo| > 2**53
    return lo, hi


class FrameViewer(Follower, anywidget.AnyWidget):
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
        Initial trait values (``scale``, ``limits``, ``vmin``, ``vmax``, ``fps``,
        ``playing``) and widget options.  A ``vmin`` or ``vmax`` without ``limits``
        selects ``limits="manual"``.

    Notes
    -----
    The colour scale is ``scale`` (the stretch) between limits chosen by ``limits``:

    - ``"robust"`` (default): `robust_limits` of the block (``block_lo``, ``block_hi``),
      constant while the browser plays through the block;
    - ``"frame"``: each frame's own finite min/max;
    - ``"manual"``: ``vmin``/``vmax``; an end left None takes the robust block limit.

    Setting ``vmin`` or ``vmax`` to a number selects ``"manual"``; setting both back to
    None returns to ``"robust"``.  Choosing ``"manual"`` (e.g. in the browser) with both
    None freezes the current robust limits into ``vmin``/``vmax``.

    ``"log"`` spans the three decades below the high limit; ``"asinh"`` maps ``v`` to
    ``asinh((v - lo) / a) / asinh((hi - lo) / a)`` with ``a = 0.1 * (hi - lo)``: linear
    over the faintest tenth of the range (noise stays noise, no log blow-up at ``lo``)
    and logarithmic above, which shows the PSF wings and the core together.

    The full fit is drawn when present, else the quick fit.
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
    # named `scale`, not `stretch`, because saved notebooks and scripts already use it
    scale = t.Enum(["linear", "log", "asinh"], "linear", help="colour stretch").tag(sync=True)
    limits = t.Enum(["robust", "frame", "manual"], "robust",
                    help="colour-scale limits: block percentiles, each frame's range, or "
                         "vmin/vmax").tag(sync=True)
    vmin = t.Float(None, allow_none=True,
                   help="manual low end; None = the robust block limit").tag(sync=True)
    vmax = t.Float(None, allow_none=True,
                   help="manual high end; None = the robust block limit").tag(sync=True)
    block_lo = t.Float(0.0, help="robust low limit of the block").tag(sync=True)
    block_hi = t.Float(1.0, help="robust high limit of the block").tag(sync=True)
    playing = t.Bool(False).tag(sync=True)
    fps = t.Float(16.0, help="playback speed, frames per second").tag(sync=True)

    #: what a notebook user may script (the rest is internal)
    user_api = ("cursor", "scale", "limits", "vmin", "vmax", "playing", "fps", "play",
                "pause")

    def __init__(self, session: Session, block_size: int = 2048, **kwargs: Any) -> None:
        if block_size < 1:
            raise ValueError(f"block_size must be at least 1, not {block_size}")
        # old code passes vmin/vmax alone and means them; an explicit `limits` wins
        if "limits" not in kwargs and any(kwargs.get(k) is not None for k in ("vmin", "vmax")):
            kwargs["limits"] = "manual"
        super().__init__(_esm=bundle("frame_viewer.js"), **kwargs)
        self.session = session
        self.block_size = int(block_size)
        self._updating = False
        self.watch(session, self._on_data, "data")
        self.watch(session, self._on_fit, ["fit", "quick_fit"])
        self.watch(session, self._on_session_cursor, "cursor")
        self.observe(self._on_widget_cursor, names="cursor")
        self.observe(self._on_fit, names="fit_columns")
        self.observe(self._on_manual_ends, names=["vmin", "vmax"])
        self.observe(self._on_limits, names="limits")
        self._on_data()
        self._on_limits()

    # -- public ---------------------------------------------------------------------------
    def play(self) -> None:
        """Start playback in the browser (from the cursor)."""
        self.playing = True

    def pause(self) -> None:
        """Stop playback; the browser reports where it stopped."""
        self.playing = False

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
            self.block_lo, self.block_hi = 0.0, 1.0
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
        # computed whatever `limits` is, so the browser switches to "robust" without a
        # round trip; sent in the same message as the frames they belong to
        self.block_lo, self.block_hi = robust_limits(block, data.quality[start:stop])

    def _fit_block(self, start: int, stop: int) -> bytes:
        """The `fits` bytes of frames [start, stop): the `fit_columns` of the fit table."""
        table = self.session.fit_table
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

    def _on_manual_ends(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.limits = "manual"
        elif self.vmin is None and self.vmax is None and self.limits == "manual":
            self.limits = "robust"  # both cleared: back to the automatic default

    def _on_limits(self, change: dict[str, Any] | None = None) -> None:
        # "manual" with nothing set would look just like "robust"; freezing the limits
        # in view instead keeps them fixed across blocks, which is why one picks manual
        if (self.limits == "manual" and self.vmin is None and self.vmax is None
                and self.block_count):
            with self.hold_sync():
                self.vmin, self.vmax = self.block_lo, self.block_hi

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

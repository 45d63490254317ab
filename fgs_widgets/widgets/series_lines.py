"""SeriesLines: a viewer's lines drawn by the browser at every zoom and pan frame.

The kernel sends each shown series once as min/max summaries (`engine.line_summary`:
levels of blocks of frames, as binary buffers of explicit dtype), with the bqplot x
scale and the Lines mark of each series.  The front-end module (``js/src/series_lines.js``)
listens to the scale in the browser and, on every change, sets each Lines mark's points
from the coarsest level that resolves the view, without a kernel message; it asks the
kernel (a custom message) only for a view narrower than the finest level resolves, and
gets the candidates of that view as binary buffers.  Python stays the source of truth
for the window (the scale still syncs; the viewer updates the session's window, y
ranges, ticks and flagged-frame marks as before).

Why the Lines marks of bqplot, set from the browser, rather than a mark of our own:
the panels keep every bqplot behaviour (scales, clipping, the axes, the other marks on
the figure, the tests and screenshots that read ``path.line``), and the front-end module
needs nothing of bqplot's code, only its models' ``set``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import anywidget
import bqplot as bq
import numpy as np
import traitlets as t
from ipywidgets import widget_serialization

from ..engine.line_summary import LineSource, choose_source, draw_from, line_detail
from ._bundle import bundle

__all__ = ["SeriesLines", "encode_source"]


def encode_source(source: LineSource) -> tuple[dict, list[bytes]]:
    """A source as JSON metadata and its two buffers (times ``<f8``, values ``<f4``)."""
    meta = {"block": source.block, "lo": source.lo, "hi": source.hi,
            "start": None if np.isinf(source.start) else source.start,
            "stop": None if np.isinf(source.stop) else source.stop,
            "dtype_t": "<f8", "dtype_v": "<f4", "n": len(source.t)}
    return meta, [source.t.astype("<f8").tobytes(), source.v.astype("<f4").tobytes()]


class SeriesLines(anywidget.AnyWidget):
    """Client-side re-decimation of Lines marks on one x scale (see the module notes).

    Parameters
    ----------
    scale : bqplot.LinearScale
        The x scale whose window the lines follow.
    width_px : int
        Pixel columns of the plots (the browser's measure, forwarded by the viewer).

    Notes
    -----
    `show` publishes the series; `drawn` is what the browser draws for a window once
    any detail it needs has arrived (the same steps, in Python).
    """

    _esm = t.Unicode().tag(sync=True)
    scale = t.Instance(bq.Scale, allow_none=True).tag(sync=True, **widget_serialization)
    #: per series: {"line": "IPY_MODEL_<id>", "generation", "levels": [meta + "t", "v" bytes]}
    series = t.List().tag(sync=True)
    width_px = t.Int(900).tag(sync=True)
    #: spacing (s) that breaks a line even when the view is wide (10 cadences)
    gap = t.Float(0.0).tag(sync=True)

    def __init__(self, scale: bq.Scale, width_px: int = 900, **kwargs) -> None:
        super().__init__(_esm=bundle("series_lines.js"), scale=scale, width_px=width_px,
                         **kwargs)
        self._lock = threading.Lock()
        self._shown: tuple = ()  # (line, seconds, values, levels) per series
        self._generation = 0
        self.on_msg(self._on_message)

    def show(self, lines: Sequence[bq.Lines], series: Sequence[tuple], gap: float) -> None:
        """Publish ``series`` (``(seconds, values, levels)`` each) for ``lines``.

        Nothing is sent when the lines and every array are the ones shown already.
        """
        shown = tuple((line, *s) for line, s in zip(lines, series, strict=True))
        with self._lock:
            same = (len(shown) == len(self._shown) and all(
                all(a is b for a, b in zip(new, old, strict=True))
                for new, old in zip(shown, self._shown, strict=True)))
            if same and gap == self.gap:
                return
            self._generation += 1
            self._shown = shown
            entries = []
            for line, _, _, levels in shown:
                encoded = []
                for level in levels:
                    meta, (t_bytes, v_bytes) = encode_source(level)
                    encoded.append({**meta, "t": t_bytes, "v": v_bytes})
                entries.append({"line": f"IPY_MODEL_{line.model_id}",
                                "generation": self._generation, "levels": encoded})
        with self.hold_sync():
            self.gap = float(gap)
            self.series = entries

    def drawn(self, index: int, window: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
        """The points the browser draws for series ``index`` over ``window`` once the
        detail it asks for (if any) has arrived."""
        _, seconds, values, levels = self._shown[index]
        source, enough = choose_source(list(levels), window, self.width_px)
        if source is None:
            return np.zeros(0), np.zeros(0)
        if not enough:
            source = line_detail(seconds, values, window, self.width_px)
        return draw_from(source, window, self.width_px, self.gap)

    def _on_message(self, _widget, content: dict, _buffers) -> None:
        if not isinstance(content, dict) or content.get("kind") != "detail":
            return
        try:
            window = (float(content["start"]), float(content["stop"]))
            width = int(content["width_px"])
        except (KeyError, TypeError, ValueError):
            return
        if not (window[1] > window[0] and width > 0):
            return
        shown, generation = self._shown, self._generation
        metas, buffers = [], []
        for index, (_, seconds, values, _) in enumerate(shown):
            meta, pair = encode_source(line_detail(seconds, values, window, width))
            metas.append({**meta, "index": index, "generation": generation})
            buffers.extend(pair)
        self.send({"kind": "detail", "request": content.get("request"), "series": metas},
                  buffers=buffers)

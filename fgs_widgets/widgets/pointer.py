"""PlotPointer: where the pointer is over a view's bqplot panels (hover and click).

bqplot 0.13 reports no pointer position, so a small anywidget listens on the viewer's
element and sends the data x under the pointer.  With ``navigate`` it also zooms (wheel)
and pans (drag) the x scale in the browser, setting min and max together once per
animation frame (bqplot's PanZoom sets them apart, and every figure on the scale
re-renders at each: twice the work per frame of a drag).  Pixels map to seconds through
the x ``scale``'s window as the browser has it (a zoom or pan redraws there before the
kernel hears of it; ``x_min`` / ``x_max``, set by Python, serve until the scale is
known), over the plot area between the margins Python gives.  Python answers a hover
with ``readout`` text.  The viewer observes ``hover`` and ``pick``; this widget knows
nothing of the session.

A readout is a list of items ("t = 12.5 s", "frame 200", "x_mean = 3.51", ...) made by
`readout_html`: the view wraps it between items, never inside one, and keeps two lines
for it, so the value and flags at its end are never cut off in a narrow panel (a side
bar open) and the plots under it do not jump as the text changes.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable

import anywidget
import bqplot as bq
import traitlets as t
from ipywidgets import widget_serialization

from ._bundle import BundleMissingError, bundle

__all__ = ["PlotPointer", "readout_html"]

#: the class of one readout item (pointer.js: an inline block that never wraps inside)
ITEM_CLASS = "fgs-ts-item"


def readout_html(items: Iterable[str], *, escape: bool = False) -> str:
    """A readout: ``items`` as unbreakable spans joined by " · " (lines break after a "·").

    Parameters
    ----------
    items : iterable of str
        The readout's items in order, as HTML (already escaped) unless ``escape``.
    escape : bool
        Escape each item (plain text such as a hint).

    Returns
    -------
    str
        HTML whose text is the items joined by " · ".

    Examples
    --------
    >>> readout_html(["frame 3", "flux = 1"])
    "<span class='fgs-ts-item'>frame 3 ·</span> <span class='fgs-ts-item'>flux = 1</span>"
    """
    parts = [html.escape(item) if escape else item for item in items]
    return " ".join(f"<span class='{ITEM_CLASS}'>{part}{' ·' if i < len(parts) - 1 else ''}"
                    "</span>" for i, part in enumerate(parts))


class PlotPointer(anywidget.AnyWidget):
    """Pointer position over the panels (``panel_class``) of the enclosing ``root_class``
    element (default: a TimeseriesViewer's).

    Traits set by Python: ``scale`` (the panels' x scale, whose window the browser
    reads), ``x_min``/``x_max`` (the x domain drawn, used until the scale is known), the
    figures' left and right margins in pixels, ``readout`` (HTML shown by the view).
    Traits set by the browser: ``hover`` ({"panel", "x"}, empty when outside every plot
    area), ``pick`` ({"x", "n"}: a click that did not drag; ``n`` counts clicks so two
    on one spot both arrive), ``plot_width`` (CSS pixels of the plot area).
    """

    _esm = t.Unicode().tag(sync=True)
    #: CSS classes of the element listened on and of the figures in it
    root_class = t.Unicode("fgs-timeseries").tag(sync=True)
    panel_class = t.Unicode("fgs-timeseries-panel").tag(sync=True)
    scale = t.Instance(bq.Scale, allow_none=True).tag(sync=True, **widget_serialization)
    #: wheel zoom and drag pan of ``scale`` here, in one change per animation frame
    #: (instead of bqplot's PanZoom, which changes min and max apart)
    navigate = t.Bool(False).tag(sync=True)
    x_min = t.Float(0.0).tag(sync=True)
    x_max = t.Float(1.0).tag(sync=True)
    margin_left = t.Int(0).tag(sync=True)
    margin_right = t.Int(0).tag(sync=True)
    readout = t.Unicode("").tag(sync=True)
    hover = t.Dict().tag(sync=True)
    pick = t.Dict().tag(sync=True)
    plot_width = t.Int(0).tag(sync=True)

    def __init__(self, **kwargs) -> None:
        try:
            esm = bundle("pointer.js")
        except BundleMissingError as exc:  # the plots still work; say why hover does not
            esm = ("export default { render({ el }) { el.textContent = "
                   f"{json.dumps('no hover readout: ' + str(exc))}; }} }};")
        super().__init__(_esm=esm, **kwargs)

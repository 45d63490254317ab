"""PlotPointer: where the pointer is over a view's bqplot panels (hover and click).

bqplot 0.13 reports no pointer position, and a figure takes one interaction (our
PanZoom), so a small anywidget listens on the viewer's element and sends the data x
under the pointer.  Python owns the rest: it tells the view the x domain and margins
it drew (so pixels map to seconds), and answers a hover with ``readout`` text.  The
viewer observes ``hover`` and ``pick``; this widget knows nothing of the session.
"""

from __future__ import annotations

import json

import anywidget
import traitlets as t

from ._bundle import BundleMissingError, bundle

__all__ = ["PlotPointer"]


class PlotPointer(anywidget.AnyWidget):
    """Pointer position over the panels (``panel_class``) of the enclosing ``root_class``
    element (default: a TimeseriesViewer's).

    Traits set by Python: ``x_min``/``x_max`` (the x domain drawn), the figures'
    left and right margins in pixels, ``readout`` (HTML shown by the view).  Traits set by the
    browser: ``hover`` ({"panel", "x"}, empty when outside every plot
    area), ``pick`` ({"x", "n"}: a click that did not drag; ``n`` counts clicks so two
    on one spot both arrive), ``plot_width`` (CSS pixels of the plot area).
    """

    _esm = t.Unicode().tag(sync=True)
    #: CSS classes of the element listened on and of the figures in it
    root_class = t.Unicode("fgs-timeseries").tag(sync=True)
    panel_class = t.Unicode("fgs-timeseries-panel").tag(sync=True)
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

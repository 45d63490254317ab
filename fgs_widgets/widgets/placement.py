"""Where a widget is shown: in the cell's output, or in a JupyterLab side panel (`sidecar`).

A kernel cannot tell which front end shows its output: JupyterLab, Jupyter Notebook 7 and
Voila all load the ``sidecar`` package's front-end (``jupyterlab-sidecar``), but only
JupyterLab's shell has the panel it adds its view to.  Elsewhere the Sidecar's view fails
("Could not create a view for model id ...") and whatever it holds is shown nowhere.  So
`Placement` is displayed inline first, with a hidden `FrontEndProbe` in it: in the browser
the probe reads the page's ``jupyter-config-data`` (JupyterLab and Notebook 7 name
themselves in ``appName``; Voila's page has its own keys, ``kernelId``) and whether the
sidecar extension is loaded, and sets its ``front_end`` trait.  The kernel then opens the
Sidecar with the widget (JupyterLab), or puts a one-line note and the widget in the inline
box (any other front end, named in the note).
"""

from __future__ import annotations

import html
from typing import Any, Literal

import anywidget
import ipywidgets as W
import traitlets as t
from IPython.display import display

from ._common import describe_error

__all__ = ["ANCHORS", "WHERE", "Anchor", "FrontEndProbe", "Placement", "Where", "show"]

Where = Literal["inline", "sidecar"]
#: the places `show` knows
WHERE: tuple[str, ...] = ("inline", "sidecar")
Anchor = Literal["split-right", "split-left", "split-top", "split-bottom", "tab-before",
                 "tab-after", "right"]
#: where a Sidecar goes in JupyterLab's shell (sidecar's ``anchor``): beside the notebook
#: (``split-*``), as a tab before/after it in the main area, or in the right sidebar
ANCHORS: tuple[str, ...] = ("split-right", "split-left", "split-top", "split-bottom",
                            "tab-before", "tab-after", "right")
#: the lab extension that draws a Sidecar
SIDECAR_EXTENSION = "@jupyter-widgets/jupyterlab-sidecar"

_PROBE_ESM = """
const SIDECAR = "@jupyter-widgets/jupyterlab-sidecar";  // SIDECAR_EXTENSION

function frontEnd() {
  let config = {};
  try {
    config = JSON.parse(document.getElementById("jupyter-config-data")?.textContent || "{}");
  } catch (error) {
    config = {};  // a page without Jupyter's config: an unknown front end
  }
  // JupyterLab and Notebook 7 name themselves; Voila's page config has no appName
  const voila = !config.appName && ("kernelId" in config || "progressiveRendering" in config);
  const app = config.appName || (voila ? "Voila" : "");
  const loaded = (config.federated_extensions || []).some((e) => e.name === SIDECAR);
  const disabled = Array.isArray(config.disabledExtensions)
    && config.disabledExtensions.includes(SIDECAR);
  const sidecar = loaded && !disabled;
  return {app, version: String(config.appVersion || ""), sidecar,
          side_panel: app === "JupyterLab" && sidecar};
}

export default {
  render({model, el}) {
    el.style.display = "none";
    if (Object.keys(model.get("front_end") || {}).length === 0) {
      model.set("front_end", frontEnd());
      model.save_changes();
    }
  },
};
"""


class FrontEndProbe(anywidget.AnyWidget):
    """Hidden; tells the kernel, from the browser, which front end shows it.

    ``front_end`` is set once by its first view: ``app`` (``"JupyterLab"``, ``"Jupyter
    Notebook"``, ``"Voila"``, or ``""`` when unknown), ``version``, ``sidecar`` (the
    sidecar lab extension is loaded) and ``side_panel`` (JupyterLab with that extension:
    a Sidecar will be drawn).
    """

    _esm = t.Unicode(_PROBE_ESM).tag(sync=True)
    front_end = t.Dict(help="what the browser found (empty until a view reports)"
                       ).tag(sync=True)


def widget_output(widget: W.Widget) -> dict[str, Any]:
    """The display_data output that shows ``widget`` (for an Output widget's ``outputs``)."""
    return {"output_type": "display_data", "metadata": {},
            "data": {"text/plain": f"{type(widget).__name__}(model_id={widget.model_id!r})",
                     "application/vnd.jupyter.widget-view+json": {
                         "version_major": 2, "version_minor": 0,
                         "model_id": widget.model_id}}}


def _front_end_name(front_end: dict) -> str:
    app = str(front_end.get("app") or "")
    if not app:
        return "This front end"
    version = str(front_end.get("version") or "")
    return f"{app} {version}".strip()


class Placement(W.VBox):
    """A widget in a JupyterLab side panel, or inline with a note where there is none.

    Display it inline; it places ``widget`` once its `FrontEndProbe` reports.

    Parameters
    ----------
    widget : Widget
        What to show (it is never closed here).
    title : str
        The side panel's tab title.
    anchor : str
        One of `ANCHORS`.
    name : str
        What the notes call the widget.

    Attributes
    ----------
    sidecar : sidecar.Sidecar or None
        The side panel, once opened.
    note : HTML
        The one line shown inline: where the widget is, or why it is here.
    """

    def __init__(self, widget: W.Widget, *, title: str, anchor: str, name: str = "the App"):
        self.widget, self.title, self.anchor, self.name = widget, title, anchor, name
        self.sidecar: Any = None
        self.front_end: dict = {}
        self.probe = FrontEndProbe()
        self.note = W.HTML(html.escape(f"placing {name}…"))
        self.note.add_class("fgs-placement-note")
        super().__init__([self.probe, self.note], layout=W.Layout(width="100%"))
        self.add_class("fgs-placement")
        self.probe.observe(self._on_front_end, names="front_end")

    def _on_front_end(self, change: dict) -> None:
        if self.front_end or not change["new"] or self.probe.comm is None:
            return  # placed already (a second view reports too), or closed
        self.front_end = dict(change["new"])
        self.place(self.front_end)

    def place(self, front_end: dict) -> None:
        """Open the side panel when ``front_end`` has one, else show the widget inline."""
        reason = f"{_front_end_name(front_end)} has no JupyterLab side panel"
        if front_end.get("app") == "JupyterLab" and not front_end.get("sidecar"):
            reason = "JupyterLab has no side panel here (the jupyterlab-sidecar extension " \
                     "is not loaded)"
        if front_end.get("side_panel"):
            try:
                self.sidecar = self._open_sidecar()
            except Exception as exc:  # a comm callback: nobody would see a traceback
                reason = f"the side panel could not be opened ({describe_error(exc)})"
            else:
                named = self.name[:1].upper() + self.name[1:]
                self.note.value = html.escape(f"{named} is in the side panel “{self.title}”.")
                self.children = [self.probe, self.note]
                return
        self.note.value = html.escape(f"{reason}, so {self.name} is shown here.")
        self.children = [self.probe, self.note, self.widget]

    def _open_sidecar(self) -> Any:
        try:
            from sidecar import Sidecar
        except ImportError as exc:
            raise RuntimeError("the sidecar package is not installed in this kernel: pip "
                               "install sidecar") from exc
        # JupyterLab adds the panel as soon as the Sidecar's model reaches the browser
        # (its model makes its own view): no display() of it, which would add a second,
        # hidden view
        panel = Sidecar(title=self.title, anchor=self.anchor)
        panel.outputs = (widget_output(self.widget),)
        return panel

    def close(self) -> None:
        """Close the side panel (JupyterLab removes it), the probe and the note; not the
        widget."""
        if self.sidecar is not None:
            self.sidecar.close()
            self.sidecar = None
        self.probe.close()
        self.note.close()
        super().close()


def show(widget: W.Widget, where: str = "inline", *, title: str, anchor: str = "split-right",
         previous: Placement | None = None, name: str = "the App") -> Placement | None:
    """Display ``widget`` in the cell's output or in a JupyterLab side panel.

    Parameters
    ----------
    widget : Widget
        What to show.
    where : {"inline", "sidecar"}
        ``"sidecar"``: a side panel in JupyterLab; in other front ends (Notebook 7,
        Voila) inline, after a note saying so (the browser tells, see `Placement`).
    title, anchor : str
        The side panel's title and place (one of `ANCHORS`).
    previous : Placement, optional
        The widget's earlier placement: closed (its side panel too), so showing again
        never stacks panels.
    name : str
        What the note calls the widget.

    Returns
    -------
    Placement or None
        The new placement (None inline: the widget itself is displayed).

    Raises
    ------
    ValueError
        ``where`` or ``anchor`` unknown (nothing is closed or displayed then).
    """
    if where not in WHERE:
        raise ValueError(f"where={where!r}: use one of {', '.join(map(repr, WHERE))}")
    if anchor not in ANCHORS:
        raise ValueError(f"anchor={anchor!r}: use one of {', '.join(map(repr, ANCHORS))}")
    if previous is not None:
        previous.close()
    if where == "inline":
        display(widget)
        return None
    placement = Placement(widget, title=title, anchor=anchor, name=name)
    display(placement)
    return placement

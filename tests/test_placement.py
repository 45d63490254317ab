"""``App.show(where=...)``: the App inline, or in a JupyterLab side panel (`sidecar`), or
inline after a note where the front end has none; decided by what the browser reports.

The browser's report is a comm message from the probe, handled here as ipywidgets does
(`Widget._handle_msg` with an ``update``); the probe's JavaScript itself runs in node on
the page configs JupyterLab, Notebook 7 and Voila serve.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import ipywidgets as W
import pytest
from sidecar import Sidecar

from fgs_widgets.model import Session
from fgs_widgets.spelunker import Spelunker
from fgs_widgets.widgets import placement
from fgs_widgets.widgets.app import App
from fgs_widgets.widgets.placement import Placement

LAB = {"app": "JupyterLab", "version": "4.6.0", "sidecar": True, "side_panel": True}
NOTEBOOK7 = {"app": "Jupyter Notebook", "version": "7.6.5", "sidecar": True,
             "side_panel": False}
VOILA = {"app": "Voila", "version": "0.5.13", "sidecar": True, "side_panel": False}
VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def displayed(monkeypatch) -> list:
    """What `show` displays, in order (instead of the cell's output)."""
    shown: list = []
    monkeypatch.setattr(placement, "display", shown.append)
    return shown


@pytest.fixture
def app():
    widget = App(Session())
    yield widget
    widget.close()


def report(probe: placement.FrontEndProbe, front_end: dict) -> None:
    """The probe's view sets ``front_end`` in the browser: the comm message ipywidgets
    hands the kernel's widget."""
    probe._handle_msg({"content": {"data": {"method": "update", "buffer_paths": [],
                                            "state": {"front_end": front_end}}},
                       "buffers": []})


def shown_in(sidecar: Sidecar) -> list[str]:
    """Model ids of the widgets a Sidecar's outputs display."""
    return [out["data"][VIEW]["model_id"] for out in sidecar.outputs if VIEW in out["data"]]


def test_inline_displays_the_app_itself(app, displayed):
    app.show()
    app.show(where="inline")
    assert displayed == [app, app]
    assert app._placement is None


@pytest.mark.parametrize("kwargs, words", [
    ({"where": "side"}, "where='side': use one of 'inline', 'sidecar'"),
    ({"where": "Sidecar"}, "where='Sidecar': use one of 'inline', 'sidecar'"),
    ({"where": "sidecar", "anchor": "left"}, "anchor='left': use one of 'split-right', "
     "'split-left', 'split-top', 'split-bottom', 'tab-before', 'tab-after', 'right'"),
])
def test_unknown_place_is_a_value_error_and_changes_nothing(app, displayed, kwargs, words):
    app.show("sidecar")
    before = displayed[-1]
    report(before.probe, LAB)
    with pytest.raises(ValueError) as info:
        app.show(**kwargs)
    assert str(info.value) == words
    assert displayed == [before] and app._placement is before
    assert before.comm is not None and before.sidecar.comm is not None  # still open


def test_jupyterlab_gets_the_app_in_a_side_panel(app, displayed):
    app.show("sidecar", title="guide star", anchor="split-bottom")
    [box] = displayed
    assert isinstance(box, Placement) and app not in box.children
    assert box.sidecar is None and box.note.value == "placing the App…"  # until it hears
    report(box.probe, LAB)
    panel = box.sidecar
    assert isinstance(panel, Sidecar)
    assert (panel.title, panel.anchor) == ("guide star", "split-bottom")
    assert shown_in(panel) == [app.model_id]
    assert list(box.children) == [box.probe, box.note]  # the cell keeps only the note
    assert box.note.value == "The App is in the side panel “guide star”."
    assert displayed == [box]  # the panel is not displayed: its model opens it


@pytest.mark.parametrize("front_end, words", [
    (NOTEBOOK7, "Jupyter Notebook 7.6.5 has no JupyterLab side panel"),
    (VOILA, "Voila 0.5.13 has no JupyterLab side panel"),
    ({"app": "", "version": "", "sidecar": False, "side_panel": False},
     "This front end has no JupyterLab side panel"),
    ({"app": "JupyterLab", "version": "4.6.0", "sidecar": False, "side_panel": False},
     "JupyterLab has no side panel here (the jupyterlab-sidecar extension is not loaded)"),
])
def test_other_front_ends_get_the_app_inline_after_a_note(app, displayed, front_end, words):
    app.show("sidecar")
    [box] = displayed
    report(box.probe, front_end)
    assert box.sidecar is None
    assert list(box.children) == [box.probe, box.note, app]
    assert box.note.value == f"{words}, so the App is shown here."


def test_a_second_view_reporting_moves_nothing(app, displayed):
    app.show("sidecar")
    [box] = displayed
    report(box.probe, VOILA)
    report(box.probe, LAB)  # e.g. the notebook opened in JupyterLab as well
    assert box.sidecar is None and box.front_end == VOILA
    assert list(box.children)[-1] is app


def test_a_side_panel_that_cannot_open_leaves_the_app_inline(app, displayed, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sidecar", None)  # `import sidecar` fails
    app.show("sidecar")
    [box] = displayed
    report(box.probe, LAB)
    assert box.sidecar is None and list(box.children)[-1] is app
    assert box.note.value == ("the side panel could not be opened (the sidecar package is not "
                              "installed in this kernel: pip install sidecar), so the App is "
                              "shown here.")


def test_showing_again_never_stacks_panels(app, displayed):
    app.show("sidecar")
    report(displayed[-1].probe, LAB)
    first = displayed[-1]
    first_panel = first.sidecar
    app.show("sidecar", title="again")
    second = displayed[-1]
    assert second is not first and app._placement is second
    assert first_panel.comm is None and first.comm is None  # JupyterLab removes its panel
    assert first.probe.comm is None and first.note.comm is None
    report(second.probe, LAB)
    assert second.sidecar.comm is not None and shown_in(second.sidecar) == [app.model_id]
    report(first.probe, LAB)  # a late report of the closed one opens nothing
    assert first.sidecar is None
    app.show("inline")  # back in a cell: the side panel goes
    assert second.sidecar is None and second.comm is None and displayed[-1] is app


def test_closing_the_app_closes_its_side_panel(displayed):
    app = App(Session())
    app.show("sidecar")
    box = displayed[-1]
    report(box.probe, LAB)
    panel = box.sidecar
    app.close()
    assert panel.comm is None and box.comm is None and box.probe.comm is None
    assert app.comm is None and app._placement is None
    app.close()  # again (ipywidgets closes on collection): harmless


def test_closing_an_inline_fallback_leaves_the_app_open(app, displayed):
    app.show("sidecar")
    box = displayed[-1]
    report(box.probe, NOTEBOOK7)
    box.close()
    assert box.comm is None and app.comm is not None


def test_quickstart_show_moves_one_app(displayed):
    spk = Spelunker(session=Session())
    spk.show()  # as before: the App, in the cell
    [app] = displayed
    assert isinstance(app, App) and app.session is spk.session
    spk.show(where="sidecar", title="spk")
    box = displayed[-1]
    assert isinstance(box, Placement) and box.widget is app  # the same App, moved
    report(box.probe, LAB)
    panel = box.sidecar
    spk.show("sidecar")
    report(displayed[-1].probe, LAB)
    assert panel.comm is None and shown_in(displayed[-1].sidecar) == [app.model_id]
    with pytest.raises(ValueError, match="use one of 'inline', 'sidecar'"):
        spk.show("tab")
    other = spk.widgets()  # still a new App to keep
    assert isinstance(other, App) and other is not app and other.session is spk.session
    other.close()
    app.close()
    spk.show()  # the closed App is not shown again: a new one
    assert displayed[-1] is not app and displayed[-1].comm is not None
    displayed[-1].close()


# -- the probe's JavaScript, on the page configs the three front ends serve ------------------

#: the keys that decide, as JupyterLab 4.6, Notebook 7.6 and Voila 0.5 serve them
PAGES = {
    "lab": {"appName": "JupyterLab", "appVersion": "4.6.0", "disabledExtensions": [],
            "federated_extensions": [{"name": "anywidget"},
                                     {"name": placement.SIDECAR_EXTENSION}]},
    "lab-sidecar-disabled": {"appName": "JupyterLab", "appVersion": "4.6.0",
                             "disabledExtensions": [placement.SIDECAR_EXTENSION],
                             "federated_extensions": [{"name": placement.SIDECAR_EXTENSION}]},
    "lab-no-sidecar": {"appName": "JupyterLab", "appVersion": "4.6.0",
                       "federated_extensions": [{"name": "anywidget"}]},
    "notebook7": {"appName": "Jupyter Notebook", "appVersion": "7.6.5",
                  "notebookPage": "notebooks", "disabledExtensions": [],
                  "federated_extensions": [{"name": placement.SIDECAR_EXTENSION}]},
    "voila": {"appVersion": "0.5.13", "kernelId": "k", "progressiveRendering": False,
              "disabledExtensions": [],
              "federated_extensions": [{"name": placement.SIDECAR_EXTENSION}]},
    "no-config": None,
}
EXPECTED = {
    "lab": {"app": "JupyterLab", "version": "4.6.0", "sidecar": True, "side_panel": True},
    "lab-sidecar-disabled": {"app": "JupyterLab", "version": "4.6.0", "sidecar": False,
                             "side_panel": False},
    "lab-no-sidecar": {"app": "JupyterLab", "version": "4.6.0", "sidecar": False,
                       "side_panel": False},
    "notebook7": {"app": "Jupyter Notebook", "version": "7.6.5", "sidecar": True,
                  "side_panel": False},
    "voila": {"app": "Voila", "version": "0.5.13", "sidecar": True, "side_panel": False},
    "no-config": {"app": "", "version": "", "sidecar": False, "side_panel": False},
}
RUN_PROBE = """
const [esm, page, before] = JSON.parse(process.argv[1]);
globalThis.document = {getElementById: (id) =>
    id === "jupyter-config-data" && page !== null ? {textContent: JSON.stringify(page)} : null};
const module = await import("data:text/javascript," + encodeURIComponent(esm));
const state = {front_end: before}, sets = [];
let saved = 0;
const model = {get: (k) => state[k], set: (k, v) => { sets.push(k); state[k] = v; },
               save_changes: () => { saved += 1; }};
const el = {style: {}};
module.default.render({model, el});
console.log(JSON.stringify({front_end: state.front_end, sets, saved, display: el.style.display}));
"""


def run_probe(page: dict | None, before: dict | None = None) -> dict:
    esm = placement._PROBE_ESM
    done = subprocess.run(
        ["node", "--input-type=module", "-e", RUN_PROBE,
         json.dumps([esm, page, before or {}])],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_probe_reads_which_front_end_it_is_in(page):
    result = run_probe(PAGES[page])
    assert result["front_end"] == EXPECTED[page]
    assert result["sets"] == ["front_end"] and result["saved"] == 1
    assert result["display"] == "none"  # nothing of it on the page


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_a_probe_that_reported_does_not_report_again():
    result = run_probe(PAGES["voila"], before=EXPECTED["lab"])
    assert result["front_end"] == EXPECTED["lab"] and result["sets"] == []
    assert result["saved"] == 0


def test_nothing_here_is_a_secret_trait():
    """The probe syncs what the page says about itself, and nothing else."""
    probe = placement.FrontEndProbe()
    synced = set(probe.keys) - set(W.DOMWidget().keys) - {"_esm", "_anywidget_id", "_css"}
    assert synced == {"front_end"}
    probe.close()

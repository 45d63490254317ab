"""App: every panel on one Session, laid out for JupyterLab (and narrow screens).

Failures reach the page in words: a session job that fails in the background (a fit, a
download, a periodogram) is named in red in the App's status line under its header, and
the App's own buttons (export, plots, save, open) show theirs on the status line of their
tab.  Nothing is left to a traceback, which a widget callback's failure never shows in a
cell (JupyterLab puts it in its log console, a Voila page nowhere).
"""

from __future__ import annotations

import html

import ipywidgets as W

from ..jobs import JobState
from ..model import Session
from ._common import Follower, StatusLine, attempt, describe_error
from .export import FORMATS, export_table, link, report_path
from .fit_runner import FitRunner
from .mnemonic_panel import MnemonicPanel
from .periodogram_panel import PeriodogramPanel
from .picker import ProgramPicker
from .placement import Anchor, Placement, Where
from .placement import show as show_widget
from .science_panel import SciencePanel
from .timeseries import TimeseriesViewer

__all__ = ["App"]

class App(Follower, W.VBox):
    """The whole tool: load, fit, look (frames + series), periodograms, events, export.

    Parameters
    ----------
    session : Session, optional
        Shared state; a new one if not given (``app.session``).
    columns : tuple of str
        Series shown at first.
    """

    def __init__(self, session: Session | None = None, columns=("flux",), **kwargs):
        self.session = session if session is not None else Session()
        s = self.session
        #: where `show` last put the App (None: inline, or never shown by `show`)
        self._placement: Placement | None = None
        self.header = W.HTML()
        #: failures of the session's background jobs, in red; cleared when that job reruns
        self.status = StatusLine()
        self.status.add_class("fgs-app-status")
        self._failed_job: str | None = None
        self.picker = ProgramPicker(s)
        self.fit_runner = FitRunner(s)
        try:
            from .frame_viewer import FrameViewer

            self.frame_viewer: W.Widget = FrameViewer(s)
        except FileNotFoundError as exc:  # JS bundle not built: say so, keep the rest usable
            self.frame_viewer = W.HTML(f"<p class='fgs-error'>{html.escape(str(exc))}</p>")
        self.timeseries = TimeseriesViewer(s, columns=columns)
        self.periodogram = PeriodogramPanel(s)
        # in view once its tab is chosen (figures laid out in a hidden tab have no size)
        self.science = SciencePanel(s, self.timeseries, shown=False)
        self.mnemonics = MnemonicPanel(s)
        self.exports = self._export_panel()
        self.python = W.Textarea(layout=W.Layout(width="100%", height="140px"),
                                 disabled=True)
        setup = W.Accordion(children=[self.picker, self.fit_runner],
                            titles=("1 · Load data", "2 · Fit frames"), selected_index=0)
        viewer_box = W.Box([self.frame_viewer], layout=W.Layout(width="340px", flex="0 0 auto"))
        series_box = W.Box([self.timeseries], layout=W.Layout(flex="1 1 520px", min_width="0"))
        main = W.HBox([viewer_box, series_box],
                      layout=W.Layout(flex_flow="row wrap", align_items="flex-start",
                                      width="100%"))
        self.tabs = tabs = W.Tab(
            children=[self.periodogram, self.science, self.mnemonics, self.exports, self.python],
            titles=("Periodogram", "Science", "Events & telemetry", "Tables & export",
                    "Python equivalent"))
        tabs.observe(self._on_tab, names="selected_index")
        super().__init__([self.header, self.status, setup, main, tabs], **kwargs)
        if "layout" not in kwargs:  # the notebook's width, a side panel's, Voila's page
            self.layout.width = "100%"
        self.add_class("fgs-app")
        self.watch(s, self._on_state, ["data", "message", "program"])
        self.watch(s, self._on_history, "history")
        for job in s.jobs:
            self.watch(job, self._on_job, "state")
        self.own(self.picker, self.fit_runner, self.frame_viewer, self.science,
                 self.timeseries, self.periodogram, self.mnemonics)
        self._on_state()
        self._on_history()
        for job in s.jobs:  # shown on a session whose job failed before the App was made
            if job.state is JobState.FAILED:
                self._on_job({"owner": job, "new": job.state})

    def show(self, where: Where = "inline", *, title: str = "FGS guide star",
             anchor: Anchor = "split-right") -> None:
        """Display the App in the cell's output, or beside the notebook in JupyterLab.

        Parameters
        ----------
        where : {"inline", "sidecar"}
            ``"inline"``: in the cell's output (as ``display(app)``).  ``"sidecar"``: in a
            JupyterLab panel of its own (the ``sidecar`` package), the cell keeping a
            one-line note.  Jupyter Notebook 7 and Voila have no such panel: there the App
            is shown in the cell's output after a note naming the front end.  The browser
            tells which front end it is (`fgs_widgets.widgets.placement`), so the App
            appears once the page has drawn the cell's output.
        title : str
            The side panel's tab title.
        anchor : str
            Where JupyterLab puts the panel: ``"split-right"`` (beside the notebook),
            ``"split-left"``, ``"split-top"``, ``"split-bottom"``, ``"tab-before"``,
            ``"tab-after"`` or ``"right"`` (the right sidebar).

        Raises
        ------
        ValueError
            ``where`` or ``anchor`` is none of those (nothing changes then).

        Notes
        -----
        Showing the App again closes where `show` put it before (its side panel too), so
        panels never stack; `close` closes the side panel with the App.
        """
        self._placement = show_widget(self, where, title=title, anchor=anchor,
                                      previous=self._placement)

    def close(self) -> None:
        """Close the App, the side panel `show` opened for it, and every panel it owns."""
        placement, self._placement = getattr(self, "_placement", None), None
        if placement is not None:
            placement.close()
        super().close()

    def _on_tab(self, change=None) -> None:
        if self.tabs.selected_index == list(self.tabs.children).index(self.science):
            self.science.shown = True

    def _on_state(self, change=None) -> None:
        s = self.session
        summary = s.data.summary() if s.data is not None else "no data — load a program, " \
            "local files or the sample"
        program = f"program {s.program} · " if s.program and s.program != "sample" else ""
        failed = next((job for job in s.jobs if job.name == self._failed_job), None)
        shown = s.message and not (failed is not None and s.message == failed.message)
        message = f"<br><small>{html.escape(s.message)}</small>" if shown else ""
        self.header.value = (f"<div class='fgs-header'><b>FGS guide star</b> · "
                             f"{html.escape(program + summary)}{message}</div>")

    def _on_job(self, change: dict) -> None:
        """A job failed: say which and why in red; it runs again: take that away."""
        job, state = change["owner"], change["new"]
        if state is JobState.FAILED:
            why = describe_error(job.error) if job.error is not None else job.message
            self.status.error(f"{job.name} failed: {why}")
            self._failed_job = job.name
        elif state is JobState.RUNNING and self._failed_job == job.name:
            self.status.clear()
            self._failed_job = None
        else:
            return
        self._on_state()  # the header leaves the failure to the status line

    def _on_history(self, change=None) -> None:
        lines = ["from fgs_widgets import Session", "session = Session()", *self.session.history]
        self.python.value = "\n".join(lines)

    def _export_panel(self) -> W.Widget:
        table = W.Dropdown(description="table", layout=W.Layout(width="240px"))
        fmt = W.Dropdown(options=FORMATS, value="csv", description="format",
                         layout=W.Layout(width="180px"))
        button = W.Button(description="Export", icon="save")
        links = W.HTML()
        status = StatusLine()
        png = W.Button(description="Plots as PNG", icon="image")
        svg = W.Button(description="Plots as SVG", icon="image")

        def refresh(change=None) -> None:
            table.options = list(self.session.tables())

        def export() -> None:
            tables = self.session.tables()
            if table.value not in tables:
                status.error("nothing to export yet")
                return
            path = export_table(tables[table.value], table.value, fmt.value,
                                meta=self.session.table_meta(table.value))
            links.value += f"<div>{link(path)}</div>"
            status.info(f"wrote {path}")

        def figures(kind: str) -> None:
            for i, panel in enumerate(self.timeseries.panels):
                name = f"fgs_{panel.column}_{i}"
                (panel.figure.save_png if kind == "png" else panel.figure.save_svg)(
                    f"{name}.{kind}")
            status.info(f"the browser downloads {len(self.timeseries.panels)} {kind.upper()} "
                        "file(s)")

        button.on_click(lambda _: attempt(status, export))
        png.on_click(lambda _: attempt(status, lambda: figures("png")))
        svg.on_click(lambda _: attempt(status, lambda: figures("svg")))
        self.export_button, self.export_status = button, status
        self.watch(self.session, refresh, self.session.trait_names(exported=True))
        refresh()
        return W.VBox([W.HBox([table, fmt, button]),
                       W.HBox([png, svg, self._report_button(status, links)]),
                       self._session_files(status), status, links])

    def _report_button(self, status: StatusLine, links: W.HTML) -> W.Button:
        """The guiding report (`Session.report`): one offline HTML file beside the exports,
        its download link and Python line on the status line."""
        report = W.Button(description="Report", icon="file-text",
                          tooltip="one offline HTML file: statistics, events, series, "
                                  "periodograms and findings of every visit")

        def write() -> None:
            s = self.session
            target = report_path(s.program, None if s.data is None else s.data.products)
            status.busy(f"writing the guiding report {target}…")
            report.disabled = True  # a second click while writing would only write it again
            try:
                path = s.report(target)
            finally:
                report.disabled = False
            python = f"session.report({str(target)!r})"
            links.value += f"<div>{link(path)}</div>"
            status.value = (f"<span class='fgs-status'>wrote the report {link(path)} · "
                            f"Python: <code>{html.escape(python)}</code></span>")

        report.on_click(lambda _: attempt(status, write))
        self.report_button = report
        return report

    def _session_files(self, status: StatusLine) -> W.Widget:
        """Save the whole session to a folder, or reopen one (fits are not redone)."""
        path = W.Text(value="my_session.fgs", description="session",
                      layout=W.Layout(width="320px"))
        frames = W.Checkbox(description="include frames", indent=False,
                            layout=W.Layout(width="130px"))
        save = W.Button(description="Save", icon="save")
        reopen = W.Button(description="Open", icon="folder-open")

        def do_save() -> None:
            folder = self.session.save(path.value, include_frames=frames.value)
            status.info(f"saved {folder}")

        def do_open() -> None:
            self.session.restore(path.value)  # every panel follows the one session
            status.info(f"opened {path.value}")

        save.on_click(lambda _: attempt(status, do_save))
        reopen.on_click(lambda _: attempt(status, do_open))
        self.save_button, self.open_button, self.session_path = save, reopen, path
        return W.HBox([path, frames, save, reopen])

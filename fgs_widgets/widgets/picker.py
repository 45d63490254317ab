"""ProgramPicker: program id → query → filters → download and open; or sample / local files.

The token field is a `TokenBox`: the typed token leaves widget state as soon as it
arrives, is handed to the next action only, and is never copied into the Session.
"""

from __future__ import annotations

import ipywidgets as W

from ..archive.tokens import Token
from ..jobs import Job, JobState
from ..model import Session
from ._common import JobProgress, Panel
from .token_box import TokenBox

__all__ = ["ProgramPicker"]

#: the "no filter" option.  Not None: a Dropdown whose value is None shows no selection,
#: and the front end sometimes rendered the filters blank
ALL = ("all", "all")


def _filter_value(value: object) -> object:
    """A filter dropdown's value for the archive call: None for "all"."""
    return None if value == "all" else value


def _download_rate(job: Job) -> str:
    return (f"{job.done / 2**20:,.1f} of {job.total / 2**20:,.1f} MiB · "
            f"{job.rate / 2**20:,.1f} MiB/s · ETA {job.eta:.0f} s")


class ProgramPicker(Panel):
    """Choose what to load into a `Session` (downloads run as ``session.download_job``)."""

    def __init__(self, session: Session, **kwargs):
        self.program = W.Text(placeholder="e.g. 1534", description="program",
                              layout=W.Layout(width="200px"))
        self.token = TokenBox("MAST token (proprietary data only)",
                              layout=W.Layout(width="320px"))
        self.query_button = W.Button(description="Find files", icon="search")
        self.observation = W.Dropdown(options=[ALL], description="observation",
                                      layout=W.Layout(width="200px"))
        self.visit = W.Dropdown(options=[ALL], description="visit",
                                layout=W.Layout(width="170px"))
        self.guider = W.Dropdown(options=[ALL, ("1", 1), ("2", 2)],
                                 description="guider", layout=W.Layout(width="170px"))
        self.open_button = W.Button(description="Download & open", button_style="primary",
                                    icon="download", layout=W.Layout(width="170px"))
        self.sample_button = W.Button(description="Use sample program", icon="star",
                                      layout=W.Layout(width="180px"))
        self.sample_button.add_class("fgs-use-sample")
        self.path = W.Text(placeholder="folder, file or glob of *_gs-fg_*_cal.fits",
                           description="local", layout=W.Layout(width="420px"))
        self.local_button = W.Button(description="Open files", icon="folder-open")
        self._products = None
        super().__init__(session, **kwargs)
        self.job_view = JobProgress(session.download_job, self.status,
                                    describe_rate=_download_rate)
        self.own(self.job_view)
        self.progress, self.cancel_button = self.job_view.bar, self.job_view.cancel_button
        self.children = [
            W.HBox([self.program, self.token, self.query_button]),
            W.HBox([self.observation, self.visit, self.guider]),
            W.HBox([self.open_button, self.job_view]),
            W.HBox([self.sample_button, self.path, self.local_button]),
            self.status]
        self.add_class("fgs-program-picker")
        self.query_button.on_click(lambda _: self.query())
        self.open_button.on_click(lambda _: self.download_and_open())
        self.sample_button.on_click(lambda _: self.use_sample())
        self.local_button.on_click(lambda _: self.open_local())
        self.observation.observe(self._fill_visits, names="value")
        self.watch(session.download_job, self._on_download_state, "state")
        self.open_button.disabled = session.download_job.running

    def _take_token(self) -> Token | None:
        return self.token.take()  # used once, never kept

    def _program(self) -> str | None:
        text = self.program.value.strip()
        if not text.isdigit():
            self.status.error("enter a program id (digits, e.g. 1534)")
            return None
        return text

    def query(self, block: bool = False) -> None:
        """Ask MAST which fine-guide files the program has; fill the filters."""
        program = self._program()
        if program is None:
            return
        token = self._take_token()

        def work() -> None:
            from ..archive.mast import find_products

            products = find_products(program, token=token)
            self._products = products
            observations = sorted({int(o) for o in products["observation"].dropna()})
            self.observation.options = [ALL, *[(str(o), o) for o in observations]]
            size = products["size"].sum() / 2**20
            self.status.info(f"{len(products)} fine-guide file(s), {size:,.0f} MiB")

        self.background(work, busy=f"querying MAST for program {program}…", block=block)

    def _fill_visits(self, change) -> None:
        products = self._products
        if products is None:
            return
        chosen = _filter_value(change["new"])
        sel = products if chosen is None else products[products["observation"] == chosen]
        visits = sorted({int(v) for v in sel["visit"].dropna()})
        self.visit.options = [ALL, *[(str(v), v) for v in visits]]

    def download_and_open(self, block: bool = False) -> None:
        """Download (cached) and read the chosen files into the session (``download_job``)."""
        program = self._program()
        if program is None:
            return
        token = self._take_token()

        def files(done: int, total: int, files_done: int, files_total: int) -> None:
            self.status.busy(f"downloading: {files_done}/{files_total} files")

        self.attempt(lambda: self.session.open_program(
            program, observation=_filter_value(self.observation.value),
            visit=_filter_value(self.visit.value), guider=_filter_value(self.guider.value),
            token=token, progress=files, block=block))

    def _on_download_state(self, change) -> None:
        self.open_button.disabled = change["new"] is JobState.RUNNING

    def use_sample(self) -> None:
        """Load the bundled sample program."""
        if self.attempt(self.session.load_sample):
            self.status.info(self.session.message)

    def open_local(self) -> None:
        """Read the files named in the path box."""
        path = self.path.value.strip()
        if not path:
            self.status.error("enter a folder, a file or a glob")
            return
        if self.attempt(lambda: self.session.read_files(path)):
            self.status.info(self.session.message)

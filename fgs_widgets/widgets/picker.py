"""ProgramPicker: program id → query → filters → download and open; or sample / local files.

The token field is a `TokenBox`: the typed token leaves widget state as soon as it
arrives, is handed to the next action only, and is never copied into the Session.
"""

from __future__ import annotations

import threading

import ipywidgets as W

from ..archive.tokens import Token
from ..model import Session
from ._common import StatusLine, run_in_background
from .token_box import TokenBox

__all__ = ["ProgramPicker"]

#: the "no filter" option.  Not None: a Dropdown whose value is None shows no selection,
#: and the front end sometimes rendered the filters blank
ALL = ("all", "all")


def _filter_value(value: object) -> object:
    """A filter dropdown's value for the archive call: None for "all"."""
    return None if value == "all" else value


class ProgramPicker(W.VBox):
    """Choose what to load into a `Session`."""

    def __init__(self, session: Session, **kwargs):
        self.session = session
        self._cancel = threading.Event()
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
        self.cancel_button = W.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = W.FloatProgress(min=0.0, max=1.0, layout=W.Layout(width="260px"))
        self.sample_button = W.Button(description="Use sample program", icon="star",
                                      layout=W.Layout(width="180px"))
        self.sample_button.add_class("fgs-use-sample")
        self.path = W.Text(placeholder="folder, file or glob of *_gs-fg_*_cal.fits",
                           description="local", layout=W.Layout(width="420px"))
        self.local_button = W.Button(description="Open files", icon="folder-open")
        self.status = StatusLine()
        self._products = None
        super().__init__([
            W.HBox([self.program, self.token, self.query_button]),
            W.HBox([self.observation, self.visit, self.guider]),
            W.HBox([self.open_button, self.cancel_button, self.progress]),
            W.HBox([self.sample_button, self.path, self.local_button]),
            self.status], **kwargs)
        self.add_class("fgs-program-picker")
        self.query_button.on_click(lambda _: self.query())
        self.open_button.on_click(lambda _: self.download_and_open())
        self.cancel_button.on_click(lambda _: self._cancel.set())
        self.sample_button.on_click(lambda _: self.use_sample())
        self.local_button.on_click(lambda _: self.open_local())
        self.observation.observe(self._fill_visits, names="value")

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
        self.status.info(f"querying MAST for program {program}…")

        def work() -> None:
            from ..archive.mast import find_products

            products = find_products(program, token=token)
            self._products = products
            observations = sorted({int(o) for o in products["observation"].dropna()})
            self.observation.options = [ALL, *[(str(o), o) for o in observations]]
            size = products["size"].sum() / 2**20
            self.status.info(f"{len(products)} fine-guide file(s), {size:,.0f} MiB")

        thread = run_in_background(work, self.status)
        if block:
            thread.join()

    def _fill_visits(self, change) -> None:
        products = self._products
        if products is None:
            return
        chosen = _filter_value(change["new"])
        sel = products if chosen is None else products[products["observation"] == chosen]
        visits = sorted({int(v) for v in sel["visit"].dropna()})
        self.visit.options = [ALL, *[(str(v), v) for v in visits]]

    def download_and_open(self, block: bool = False) -> None:
        """Download (cached) and read the chosen files into the session."""
        program = self._program()
        if program is None:
            return
        token = self._take_token()
        self._cancel.clear()
        self.cancel_button.disabled = False
        self.open_button.disabled = True

        def progress(done: int, total: int, files_done: int, files_total: int) -> None:
            self.progress.value = done / total if total else 0.0
            self.status.info(f"downloading: {files_done}/{files_total} files, "
                             f"{done / 2**20:,.1f} of {total / 2**20:,.1f} MiB")

        def work() -> None:
            self.session.open_program(program, observation=_filter_value(self.observation.value),
                                      visit=_filter_value(self.visit.value),
                                      guider=_filter_value(self.guider.value),
                                      token=token, progress=progress, cancel=self._cancel)
            self.progress.value = 1.0
            self.status.info(self.session.message)

        def done() -> None:
            self.cancel_button.disabled = True
            self.open_button.disabled = False

        thread = run_in_background(work, self.status, done)
        if block:
            thread.join()

    def use_sample(self) -> None:
        """Load the bundled sample program."""
        try:
            self.session.load_sample()
            self.status.info(self.session.message)
        except Exception as exc:  # shown in the panel
            self.status.error(f"{type(exc).__name__}: {exc}")

    def open_local(self) -> None:
        """Read the files named in the path box."""
        path = self.path.value.strip()
        if not path:
            self.status.error("enter a folder, a file or a glob")
            return
        try:
            self.session.read_files(path)
            self.status.info(self.session.message)
        except Exception as exc:  # ReadError etc.: the message names the file
            self.status.error(str(exc))

"""MnemonicPanel: local events and engineering telemetry, overlaid on the time series."""

from __future__ import annotations

import html

import ipywidgets as W

from ..model import Session
from ._common import Panel
from .token_box import TokenBox

__all__ = ["MnemonicPanel"]

KNOWN = ("SA_ZHGAUPST", "INIS_FWMTRCURR")


class MnemonicPanel(Panel):
    """Add events to `Session.events` from the files (no token) or the engineering DB."""

    def __init__(self, session: Session, **kwargs):
        self.local = {kind: W.Checkbox(value=True, description=label, indent=False,
                                       layout=W.Layout(width="170px"))
                      for kind, label in (("GUIDESTAR", "guide-star changes"),
                                          ("FILENAME", "file boundaries"),
                                          ("HGA", "HGA moves (files)"))}
        self.local_button = W.Button(description="Add local events", icon="flag")
        self.mnemonic = W.Combobox(options=list(KNOWN), value="SA_ZHGAUPST",
                                   description="mnemonic", ensure_option=False,
                                   layout=W.Layout(width="300px"))
        self.token = TokenBox("MAST token (or MAST_API_TOKEN)", layout=W.Layout(width="300px"))
        self.fetch_button = W.Button(description="Fetch telemetry", icon="satellite-dish")
        self.clear_button = W.Button(description="Clear events", icon="trash")
        self.table = W.HTML()
        super().__init__(session, **kwargs)
        self.children = [W.HBox([*self.local.values(), self.local_button]),
                         W.HBox([self.mnemonic, self.token, self.fetch_button,
                                 self.clear_button]), self.status, self.table]
        self.add_class("fgs-mnemonic-panel")
        self.local_button.on_click(lambda _: self.add_local())
        self.fetch_button.on_click(lambda _: self.fetch())
        self.clear_button.on_click(lambda _: self.attempt(session.clear_events))
        self.watch(session, self._show, "events")

    def add_local(self) -> None:
        """Guide-star changes, file boundaries, HGA moves from the files."""
        if self.session.data is None:
            self.status.error("load data first")
            return
        kinds = [k for k, box in self.local.items() if box.value]
        if self.attempt(lambda: self.session.add_local_events(kinds)):
            self.status.info(f"added local events: {', '.join(kinds)}")

    def fetch(self, block: bool = False) -> None:
        """Fetch the mnemonic over the data's time range (needs a MAST token)."""
        name = self.mnemonic.value.strip().upper()
        if self.session.data is None or not name:
            self.status.error("load data and choose a mnemonic first")
            return
        token = self.token.take()  # used for this call only

        def work() -> None:
            self.session.fetch_mnemonic(name, token=token)
            self.status.info(self.session.message)

        self.background(work, busy=f"fetching {name}…", block=block)

    def _show(self, change=None) -> None:
        events = self.session.events
        if events is None or len(events) == 0:
            self.table.value = "<i>no events</i>"
            return
        rows = "".join(
            f"<tr><td>{row.time:.6f}</td><td>{'' if row.end != row.end else f'{row.end:.6f}'}"
            f"</td><td>{html.escape(str(row.kind))}</td><td>{html.escape(str(row.label))}</td>"
            f"<td>{html.escape(str(row.source))}</td></tr>"
            for row in events.head(200).itertuples())
        more = f"<p>… {len(events) - 200} more</p>" if len(events) > 200 else ""
        self.table.value = ("<table class='fgs-events'><tr><th>time (MJD)</th><th>end</th>"
                            f"<th>kind</th><th>label</th><th>source</th></tr>{rows}</table>{more}")

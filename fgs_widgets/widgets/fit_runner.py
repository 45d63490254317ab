"""FitRunner: run the full or quick fit as the session's fit job, with its progress and Cancel."""

from __future__ import annotations

import ipywidgets as W

from ..jobs import JobState
from ..model import Session
from ..runtime.warmup import WAITING
from ._common import JobProgress, Panel

__all__ = ["FitRunner"]


class FitRunner(Panel):
    """Controls for `Session.fit_frames`: kind, executor, chunk size, run; ``session.fit_job``."""

    def __init__(self, session: Session, **kwargs):
        self.kind = W.ToggleButtons(options=[("Gaussian fit", "full"), ("quick fit", "quick")],
                                    value="full", style={"button_width": "110px"})
        self.executor = W.Dropdown(options=[("auto (kernel; ray if running)", "auto"),
                                            ("this kernel", "serial"),
                                            ("local ray", "ray"), ("ray cluster", "cluster")],
                                   value="auto", description="run on",
                                   layout=W.Layout(width="320px"))
        self.address = W.Text(placeholder="ray://host:10001 or auto", description="address",
                              layout=W.Layout(width="300px", display="none"))
        self.chunk_size = W.BoundedIntText(value=50_000, min=1_000, max=1_000_000, step=10_000,
                                           description="chunk", layout=W.Layout(width="180px"))
        self.run_button = W.Button(description="Fit all frames", button_style="primary",
                                   icon="play")
        super().__init__(session, **kwargs)
        self.job_view = JobProgress(session.fit_job, self.status)
        self.own(self.job_view)
        self.progress, self.cancel_button = self.job_view.bar, self.job_view.cancel_button
        self.children = [W.HBox([self.kind, self.executor, self.address, self.chunk_size]),
                         W.HBox([self.run_button, self.job_view]), self.status]
        self.add_class("fgs-fit-runner")
        self.executor.observe(self._show_address, names="value")
        self.run_button.on_click(lambda _: self.run())
        self.watch(session.fit_job, self._on_state, "state")
        self.watch(session, self._on_data, "data")
        self.watch(session, self._on_message, "message")
        self._waiting = False
        self._on_data()

    def _show_address(self, change) -> None:
        self.address.layout.display = "" if change["new"] == "cluster" else "none"

    def _on_data(self, change=None) -> None:
        data = self.session.data
        self.run_button.disabled = data is None or self.session.fit_job.running
        if data is not None:
            self.status.info(f"{len(data):,} frames ready to fit")

    def run(self) -> None:
        """Start the fit chosen in the controls (in the background)."""
        executor = self.executor.value
        address = self.address.value.strip() or None if executor == "cluster" else None
        if executor == "cluster" and not address:
            self.status.error("give the ray cluster address (e.g. ray://host:10001 or auto)")
            return
        self.attempt(lambda: self.session.fit_frames(
            self.kind.value, executor="ray" if executor == "cluster" else executor,
            address=address, chunk_size=int(self.chunk_size.value)))

    def _on_message(self, change) -> None:
        """A fit pressed before the background warm-up finished says it waits for it
        (`fgs_widgets.runtime.warmup`), then that it runs."""
        if not self.session.fit_job.running:
            return
        if change["new"].startswith(WAITING):
            self._waiting = True
            self.status.busy(change["new"])
        elif self._waiting:
            self._waiting = False
            self.status.busy(f"{self.session.fit_job.kind} fit running…")

    def _on_state(self, change) -> None:
        running = change["new"] is JobState.RUNNING
        self.run_button.disabled = running or self.session.data is None
        self._waiting = False
        if running:
            self.status.busy(f"{self.session.fit_job.kind} fit running…")

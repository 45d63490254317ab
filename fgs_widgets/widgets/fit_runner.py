"""FitRunner: run the full or quick fit with a live progress bar, and cancel it."""

from __future__ import annotations

import ipywidgets as W

from ..model import Session
from ._common import StatusLine

__all__ = ["FitRunner"]


class FitRunner(W.VBox):
    """Controls for `Session.fit_frames`: kind, executor, chunk size, run/cancel, progress."""

    def __init__(self, session: Session, **kwargs):
        self.session = session
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
        self.cancel_button = W.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = W.FloatProgress(min=0.0, max=1.0, layout=W.Layout(width="300px"))
        self.progress.add_class("fgs-fit-progress")
        self.rate = W.HTML()
        self.status = StatusLine()
        super().__init__([
            W.HBox([self.kind, self.executor, self.address, self.chunk_size]),
            W.HBox([self.run_button, self.cancel_button, self.progress, self.rate]),
            self.status], **kwargs)
        self.add_class("fgs-fit-runner")
        self.executor.observe(self._show_address, names="value")
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: session.cancel())
        session.observe(self._on_progress, names=["fit_progress", "fit_rate", "fit_eta"])
        session.observe(self._on_status, names="fit_status")
        session.observe(self._on_data, names="data")
        self._on_data()

    def _show_address(self, change) -> None:
        self.address.layout.display = "" if change["new"] == "cluster" else "none"

    def _on_data(self, change=None) -> None:
        data = self.session.data
        self.run_button.disabled = data is None
        if data is not None:
            self.status.info(f"{len(data):,} frames ready to fit")

    def run(self) -> None:
        """Start the fit chosen in the controls (in the background)."""
        executor = self.executor.value
        address = self.address.value.strip() or None if executor == "cluster" else None
        if executor == "cluster" and not address:
            self.status.error("give the ray cluster address (e.g. ray://host:10001 or auto)")
            return
        try:
            self.session.fit_frames(self.kind.value,
                                    executor="ray" if executor == "cluster" else executor,
                                    address=address, chunk_size=int(self.chunk_size.value))
        except (ValueError, RuntimeError) as exc:
            self.status.error(str(exc))

    def _on_progress(self, change=None) -> None:
        s = self.session
        self.progress.value = s.fit_progress
        if s.fit_rate:
            self.rate.value = (f"<span class='fgs-fit-rate'>{s.fit_progress:.0%} · "
                               f"{s.fit_rate:,.0f} frames/s · ETA {s.fit_eta:.0f} s</span>")

    def _on_status(self, change) -> None:
        status = change["new"]
        running = status == "running"
        self.run_button.disabled = running or self.session.data is None
        self.cancel_button.disabled = not running
        if status.startswith("error"):
            self.status.error(status)
            self.progress.bar_style = "danger"
        elif status in ("done", "cancelled"):
            self.status.info(self.session.message)
            self.progress.bar_style = "success" if status == "done" else "warning"
        elif running:
            self.progress.bar_style = ""
            self.status.info("fitting…")

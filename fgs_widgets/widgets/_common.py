"""The one lifecycle every widget follows (`Follower`: observers undone on close, one status
line, one way to run work off the kernel's thread, one exception policy), panels on a
Session (`Panel`), jobs shown alike (`JobProgress`)."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets as W
import numpy as np
import traitlets as t

from ..engine.scales import Ticks, js_number, nice_ticks, robust_range
from ..jobs import Job, JobState
from ..model import Session
from ..notebook_errors import mask_secrets

#: pixels per y tick: labels are ~14 px tall
PX_PER_Y_TICK = 38

__all__ = ["Follower", "JobProgress", "Panel", "StatusLine", "attempt", "close_figure",
           "describe_error", "set_ticks", "show_bulk_range", "show_range"]


def describe_error(exc: BaseException) -> str:
    """The text a panel shows for a failure: our errors already say what to do (secrets
    masked, as `fgs_widgets.notebook_errors` does for a cell's failure)."""
    from ..archive.errors import ArchiveError

    if isinstance(exc, (ArchiveError, ValueError, KeyError, FileNotFoundError, RuntimeError)):
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return mask_secrets(str(text))
    return mask_secrets(f"{type(exc).__name__}: {exc}")


def attempt(status: StatusLine, action: Callable[[], Any]) -> bool:
    """Run a quick action; a failure becomes ``status``'s red line.

    The one policy for what a button or menu does: an exception raised in a widget
    callback reaches no cell (JupyterLab puts it in its log console, a Voila page
    nowhere), so it is shown where the user clicked, never left as a traceback.

    Parameters
    ----------
    status : StatusLine
        Where a failure is shown (`describe_error`'s text, secrets masked).
    action : callable
        Called with no arguments.

    Returns
    -------
    bool
        True if it worked.
    """
    try:
        action()
    except Exception as exc:  # shown in the panel, never a traceback
        status.error(describe_error(exc))
        return False
    return True


class StatusLine(W.HTML):
    """A one-line message; busy with a spinner, errors in red, always escaped
    (messages may quote server text)."""

    def info(self, text: str) -> None:
        self.value = f"<span class='fgs-status'>{html.escape(text)}</span>"

    def busy(self, text: str) -> None:
        self.value = (f"<span class='fgs-status fgs-busy'><i class='fa fa-spinner fa-spin'></i> "
                      f"{html.escape(text)}</span>")

    def error(self, text: str) -> None:
        self.value = f"<span class='fgs-error' style='color:#c62828'>{html.escape(text)}</span>"

    def clear(self) -> None:
        self.value = ""


class Follower:
    """The one lifecycle of every widget that follows a model (the Session, a job, a survey).

    Mixed in before the ipywidgets class (``class Panel(Follower, W.VBox)``):

    - `watch` observes a model, `own` adopts widgets the class made (figures, job views,
      sub-panels); `close` undoes every observer and closes what it owns, once (ipywidgets
      closes again when the widget is garbage-collected);
    - `fail` and `attempt` show a failure on the widget's ``status`` line (a
      `StatusLine`), never as a traceback; `background` runs slow work off the kernel's
      thread with the same policy.
    """

    status: StatusLine

    def _follower(self) -> dict:
        # in the instance's dict: mixed into HasTraits classes, no __init__ of its own
        return self.__dict__.setdefault("_fgs_follower", {"watching": [], "owned": []})

    def watch(self, model: t.HasTraits, handler: Callable, names: Any) -> None:
        """``model.observe(handler, names)``, undone by `close`."""
        model.observe(handler, names=names)
        self._follower()["watching"].append((model, handler, names))

    def own(self, *widgets: Any) -> None:
        """Close ``widgets`` with this one (anything with a ``close()``)."""
        self._follower()["owned"].extend(widgets)

    def close(self) -> None:
        """Stop following every model and close what this widget owns, then itself."""
        state = self._follower()
        watching, owned = state["watching"], state["owned"]
        state["watching"], state["owned"] = [], []
        for model, handler, names in watching:
            try:
                model.unobserve(handler, names=names)
            except ValueError:  # already gone
                pass
        for widget in owned:
            widget.close()
        super().close()  # type: ignore[misc]  # the ipywidgets class mixed with this one

    def fail(self, exc: BaseException) -> None:
        """Show ``exc`` on the status line (`describe_error`: secrets masked)."""
        self.status.error(describe_error(exc))

    def attempt(self, action: Callable[[], Any]) -> bool:
        """Run a quick action here; a failure becomes the red status line (`attempt`).
        True if it worked."""
        return attempt(self.status, action)

    def background(self, work: Callable[[], Any], *, busy: str = "",
                   block: bool = False) -> threading.Thread:
        """Run slow ``work`` in a thread (the kernel stays responsive); failures as in `fail`.

        For work that is a Session job (fit, download, periodogram) call the Session
        with ``block=False`` instead and show the job with `JobProgress`.
        """
        if busy:
            self.status.busy(busy)

        def target() -> None:
            try:
                work()
            except Exception as exc:  # shown in the panel
                self.fail(exc)

        thread = threading.Thread(target=target, daemon=True, name="fgs-panel")
        thread.start()
        if block:
            thread.join()
        return thread


class Panel(Follower, W.VBox):
    """Base of the panels: a `Follower` of a Session, its controls over one status line.

    Parameters
    ----------
    session : Session
    children : list of widgets
        The panel's controls; the status line is appended.
    """

    def __init__(self, session: Session, children: Iterable[W.Widget] = (), **kwargs: Any):
        self.session = session
        self.status = StatusLine()
        super().__init__([*children, self.status], **kwargs)


class JobProgress(Follower, W.HBox):
    """A job's progress bar, rate, ETA and Cancel button, its outcome on a status line."""

    def __init__(self, job: Job, status: StatusLine, *, describe_rate: Callable[[Job], str]
                 | None = None, **kwargs: Any):
        self.job = job
        self._describe_rate = describe_rate or _rate_text
        self.bar = W.FloatProgress(min=0.0, max=1.0, layout=W.Layout(width="280px"))
        self.bar.add_class(f"fgs-{job.name}-progress")
        self.rate = W.HTML()
        self.cancel_button = W.Button(description="Cancel", icon="stop", disabled=True)
        self.cancel_button.on_click(lambda _: job.cancel())
        super().__init__([self.cancel_button, self.bar, self.rate], **kwargs)
        self.status = status  # the owner's line: the job's outcome shows where its panel says
        self.watch(job, self._on_progress, ["progress", "rate", "eta"])
        self.watch(job, self._on_state, "state")
        # built while the job runs (an App on a busy session): show it as it is
        self.cancel_button.disabled = not job.running
        self._on_progress()

    def _on_progress(self, change: dict | None = None) -> None:
        self.bar.value = self.job.progress
        if self.job.rate:
            self.rate.value = (f"<span class='fgs-{self.job.name}-rate'>"
                               f"{html.escape(self._describe_rate(self.job))}</span>")

    def _on_state(self, change: dict) -> None:
        state = change["new"]
        self.cancel_button.disabled = state is not JobState.RUNNING
        if state is JobState.RUNNING:
            self.bar.bar_style = ""
            self.bar.value = 0.0
            self.rate.value = ""
        elif state is JobState.FAILED:
            self.bar.bar_style = "danger"
            self.status.error(describe_error(self.job.error) if self.job.error is not None
                               else self.job.message)
        elif state in (JobState.DONE, JobState.CANCELLED):
            self.bar.bar_style = "success" if state is JobState.DONE else "warning"
            if state is JobState.DONE:
                self.bar.value = 1.0
            self.status.info(self.job.message)


def _rate_text(job: Job) -> str:
    unit = job.unit or "items"
    return f"{job.progress:.0%} · {job.rate:,.0f} {unit}/s · ETA {job.eta:.0f} s"


def set_ticks(axis: Any, ticks: Ticks) -> None:
    """Put nice ticks on a bqplot axis: values in scale units, labels keyed as bqplot does.

    The labels go first, in their own message, and keep the outgoing ticks' labels too:
    bqplot draws new ``tick_values`` through a d3 transition that writes the labels on
    its next frame with the formatter of the moment it started, so values sent with (or
    before) their labels can come out with the previous labels.  Labels first means the
    transition already has them, and the frame in between shows the old ticks rightly.

    Parameters
    ----------
    axis : bqplot.Axis
    ticks : fgs_widgets.engine.scales.Ticks
    """
    new = {js_number(v): label for v, label in zip(ticks.values, ticks.labels, strict=True)}
    old = axis.tick_labels or {}
    shown = {js_number(v) for v in (axis.tick_values if axis.tick_values is not None else [])}
    axis.tick_labels = {**{k: v for k, v in old.items() if k in shown}, **new}
    axis.tick_values = np.asarray(ticks.values, dtype=np.float64)



def show_range(scale: Any, axis: Any, span: tuple[float, float], height_px: int,
               label: str) -> None:
    """Set a y scale to ``span`` with nice ticks for a plot ``height_px`` tall, and the
    axis label (with the ticks' power of ten, if any).

    Parameters
    ----------
    scale : bqplot.LinearScale
    axis : bqplot.Axis
    span : (lo, hi)
    height_px : int
        One tick per `PX_PER_Y_TICK` pixels, at least three.
    label : str
    """
    ticks = nice_ticks(*span, max_ticks=max(3, int(height_px) // PX_PER_Y_TICK), min_ticks=3)
    with scale.hold_sync():  # one message: each one costs the browser a re-render
        scale.min, scale.max = float(span[0]), float(span[1])
    set_ticks(axis, ticks)
    axis.label = label + ticks.scale_suffix


def show_bulk_range(scale: Any, axis: Any, values: np.ndarray, height_px: int, label: str,
                    *, good: np.ndarray | None = None, groups: np.ndarray | None = None) -> None:
    """`show_range` over the bulk of ``values`` (`fgs_widgets.engine.scales.robust_range`:
    outliers and flagged frames do not squash the plot); nothing changes without values.

    Parameters
    ----------
    scale, axis, height_px, label
        As in `show_range`.
    values : numpy.ndarray
    good, groups : numpy.ndarray, optional
        Per value: usable, and which level it belongs to (see `robust_range`).
    """
    span = robust_range(values, good, groups=groups) if len(values) else None
    if span is not None:
        show_range(scale, axis, span, height_px, label)


def close_figure(figure: Any, *scales: Any) -> None:
    """Close a bqplot figure and every widget it holds (marks, axes, scales, interaction,
    layout), plus ``scales`` its marks use that it does not list."""
    widgets = [*figure.marks, *figure.axes, *scales, figure.scale_x, figure.scale_y,
               figure.layout, figure]
    if figure.interaction is not None:
        widgets.append(figure.interaction)
    for widget in widgets:
        widget.close()

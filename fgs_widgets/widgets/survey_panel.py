"""SurveyPanel: a survey's progress in a notebook, one row per program.

It observes a `fgs_widgets.survey.Survey` (a traitlets model, as the Session is) and
calls only its ``start`` and ``cancel``; the survey runs as its ``job`` (shown with
`JobProgress`, as a Session's fit is) in a background thread, so the kernel stays free
while ray works.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as W

from ._common import Follower, JobProgress, StatusLine

__all__ = ["SurveyPanel"]

#: state -> (colour, symbol) of its row
_LOOK = {"pending": ("#757575", "·"), "running": ("#1565c0", "▶"),
         "done": ("#2e7d32", "✓"), "skipped": ("#558b2f", "="),
         "failed": ("#c62828", "✗"), "cancelled": ("#ef6c00", "■")}
#: numbers and states on one line; a long error wraps anywhere, in its own column
_STYLE = (".fgs-survey-table td, .fgs-survey-table th {white-space: nowrap; "
          "padding: 1px 10px 1px 0; text-align: left; vertical-align: top}"
          ".fgs-survey-table td.fgs-survey-error {white-space: normal; word-break: break-all;"
          " color: #c62828; min-width: 240px}")
#: rows shown at most (the counts above the table cover the rest)
MAX_ROWS = 200


class SurveyPanel(Follower, W.VBox):
    """Progress of a `Survey`: counts, a bar, and each program's state and numbers.

    Parameters
    ----------
    survey : fgs_widgets.survey.Survey

    Attributes
    ----------
    job_view : JobProgress
        The survey's ``job``: Cancel, a bar of the programs finished, rate and ETA; red
        once a program failed.
    bar, cancel_button
        The job view's.
    status : StatusLine
        The last program's line while it runs, then the survey's outcome.
    """

    def __init__(self, survey: Any, **kwargs: Any):
        self.survey = survey
        self.summary = W.HTML()
        self.status = StatusLine()
        self.job_view = JobProgress(survey.job, self.status, describe_rate=_programs_left)
        self.bar, self.cancel_button = self.job_view.bar, self.job_view.cancel_button
        self.start_button = W.Button(description="Run survey", icon="play",
                                     button_style="primary")
        self.table = W.HTML(layout=W.Layout(max_height="360px", overflow="auto"))
        super().__init__([self.summary, W.HBox([self.start_button, self.job_view]),
                          self.status, self.table], **kwargs)
        self.own(self.job_view)
        self.add_class("fgs-survey-panel")
        self.start_button.on_click(lambda _: self.start())
        # the survey's own cancel also tells running programs through their stop file
        self.cancel_button.on_click(lambda _: self.survey.cancel())
        self.watch(survey, self._refresh,
                   ["states", "n_done", "n_failed", "n_skipped", "running", "message"])
        self.watch(survey.job, self._refresh, "state")  # after the job view's own
        self._refresh()

    def start(self) -> None:
        """Run the survey in the background (``Survey.start``); a failure to start shows
        on the status line."""
        if not self.survey.running:
            self.attempt(self.survey.start)

    def rows(self) -> list[dict]:
        """What the table shows: program, state, observations, frames, seconds, error."""
        out = []
        for program, state in self.survey.states.items():
            record = self.survey.reports.get(program, {})
            observations = record.get("observations") or []
            out.append({"program": program, "state": state,
                        "observations": len(observations) or "",
                        "frames": record.get("n_frames", ""),
                        "seconds": (f"{record['seconds']:.1f}"
                                    if isinstance(record.get("seconds"), float) else ""),
                        "error": self.survey.errors.get(program, "")})
        return out

    def _refresh(self, change: dict | None = None) -> None:
        s = self.survey
        finished = s.n_done + s.n_failed + s.n_skipped
        if s.n_failed:
            self.bar.bar_style = "danger"
        if not s.job.running and s.states:  # a blocking run, or one before this panel
            self.bar.value = finished / max(s.total, 1)
        self.summary.value = (
            f"<b>Survey</b> of {s.total} program(s) → <code>{html.escape(str(s.root))}</code>: "
            f"{s.n_done} done, {s.n_skipped} already complete, {s.n_failed} failed, "
            f"{s.total - finished} to go · {s.n_frames:,} frames fitted")
        self.start_button.disabled = s.running
        if s.running and s.message:
            self.status.info(s.message)
        cells = []
        for row in self.rows()[:MAX_ROWS]:
            colour, symbol = _LOOK.get(row["state"], ("#000", "?"))
            cells.append(
                f"<tr class='fgs-survey-{row['state']}'><td>{row['program']}</td>"
                f"<td style='color:{colour}'>{symbol}&nbsp;{row['state']}</td>"
                f"<td>{row['observations']}</td><td>{_number(row['frames'])}</td>"
                f"<td>{row['seconds']}</td>"
                f"<td class='fgs-survey-error'>{html.escape(str(row['error']))}</td></tr>")
        more = len(s.states) - MAX_ROWS
        self.table.value = (
            f"<style>{_STYLE}</style>"
            "<table class='fgs-survey-table'><thead><tr><th>program</th><th>state</th>"
            "<th>observations</th><th>frames</th><th>s</th><th>error</th></tr></thead>"
            f"<tbody>{''.join(cells)}</tbody></table>"
            + (f"<i>… and {more} more</i>" if more > 0 else ""))


def _programs_left(job: Any) -> str:
    """The survey job's progress line: programs finished, and the time left."""
    text = f"{job.done:.0f} of {job.total:.0f} program(s)"
    return text + (f" · ETA {job.eta:.0f} s" if job.running and job.eta > 0 else "")


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)

"""Findings in words: what a report says, each from its numbers by one written rule.

`fgs_widgets.report.rules.RULES` is the one place the rules are written down; the
report prints them under "How the findings are made".  A finding names its rule and
the figure or table it comes from, so a reader can check it.  Nothing is said that
the numbers do not show, and a visit where no rule fires says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.stability import PLATE_SCALE_MAS
from .content import ReportContent, utc
from .rules import DRIFT_FRACTION, REGRESSOR_SIGMA

__all__ = ["Finding", "findings", "summary"]


@dataclass(frozen=True)
class Finding:
    """One sentence of the report, the rule that made it and where its numbers are."""

    scope: str  #: "Observation 1", "Visit 1.1", "Science", "Program"
    text: str
    rule: str  #: a key of `RULES`
    anchor: str  #: the id of the figure or table it comes from


def since(content: ReportContent, mjd: float) -> str:
    """"2022-12-06T00:11:01.2 UTC (t = 156.2 s)": a time as the findings state it."""
    return f"{utc(mjd)} UTC (t = {content.since_start(mjd):,.1f} s)"


def findings(content: ReportContent) -> list[Finding]:
    """Every finding of `content`, program-wide first, then per observation and visit."""
    out: list[Finding] = []
    for part in content.observations:
        out.extend(_periods(part))
    for row in content.visits.itertuples(index=False):
        out.extend(_visit(content, row))
    if content.science is not None:
        out.append(_science(content))
    return out


def summary(content: ReportContent, found: list[Finding]) -> str:
    """One paragraph over the findings: counts by rule, the periods, the quiet visits."""
    count = lambda rule: sum(f.rule == rule for f in found)  # noqa: E731
    n_visits = len(content.visits)
    quiet = count("quiet")
    lines: dict[tuple[str, float], list[tuple[object, float]]] = {}
    for part in content.observations:
        for p in part.peaks:
            if p.significant:  # one line seen in several observations is said once
                lines.setdefault((p.column, round(p.period_s, 1)), []).append(
                    (part.observation, p.semi_amplitude_mas))
    parts = []
    if lines:
        said = []
        for (column, period), seen in sorted(lines.items()):
            mas = [m for _, m in seen]
            size = (f"{mas[0]:.1f} mas" if max(mas) - min(mas) < 0.05
                    else f"{min(mas):.1f}–{max(mas):.1f} mas")
            where = ", ".join(str(o) for o, _ in seen)
            said.append(f"{column} at {period:g} s ({size}; observation{'s' * (len(seen) > 1)}"
                        f" {where})")
        parts.append("periodic motion in " + "; ".join(said))
    for rule, words in (("tilt", "tilt"), ("hga", "high-gain-antenna move")):
        if count(rule):
            parts.append(f"{count(rule)} {words}{'s' if count(rule) > 1 else ''}")
    if count("width"):
        parts.append(f"a PSF width drift in {count('width')} visit(s)")
    flagged = int(content.visits["n_flagged"].sum())
    failed = int(content.visits["n_fit_failed"].sum())
    if flagged or failed:
        parts.append(f"{flagged:,} flagged and {failed:,} unfitted frame(s) of "
                     f"{content.n_frames:,}")
    head = (f"{len(content.observations)} observation(s), {n_visits} visit(s), "
            f"{content.since_start(content.end) / 3600:.2f} h of guiding")
    if not parts:
        return f"{head}: guiding was quiet throughout (no rule below fired)."
    return (f"{head}: " + "; ".join(parts) + f". {quiet} of {n_visits} visit(s) quiet.")


def _periods(part) -> list[Finding]:
    scope, anchor = f"Observation {part.observation}", f"obs-{part.observation}-periodogram"
    found = [p for p in part.peaks if p.significant]
    if not found:
        return [Finding(scope, "No significant periodic motion in x or y.", "period", anchor)]
    return [Finding(scope, f"{p.column} oscillates with a period of {p.period_s:.1f} s "
                           f"(semi-amplitude {p.semi_amplitude_px:.3f} px = "
                           f"{p.semi_amplitude_mas:.2f} mas; power {p.power:.2f}, "
                           f"false-alarm probability {_fap(p.false_alarm_probability)}).",
                    "period", anchor) for p in found]


def _fap(value: float) -> str:
    return "< 1e-300" if value <= 1e-300 else f"{value:.1e}"


def _visit(content: ReportContent, row) -> list[Finding]:
    """One visit's findings: tilts, HGA moves, width drift, flagged and unfitted frames, or
    quiet; then its percentiles in the reference."""
    scope = f"Visit {row.observation}.{row.visit}"
    anchor = f"obs-{row.observation}-series"
    out: list[Finding] = []
    mine = _in_visit(content, row)
    for tilt in content.tilts[(content.tilts["observation"] == row.observation)
                              & (content.tilts["visit"] == row.visit)].itertuples():
        steps = ", ".join(f"{axis} {step:+.3f} px ({step * PLATE_SCALE_MAS:+.1f} mas)"
                          for axis, step in (("x", tilt.step_x_px), ("y", tilt.step_y_px))
                          if step)
        out.append(Finding(scope, f"Tilt at {since(content, tilt.time)}: {steps}.", "tilt",
                           anchor))
    hga = content.events[(content.events["kind"] == "hga_move") & mine(content.events)]
    for move in hga.itertuples():
        lasting = (f", lasting {(move.end - move.time) * 86400:.0f} s" if np.isfinite(move.end)
                   else ", still moving when the data end")
        out.append(Finding(scope, f"High-gain-antenna move from {since(content, move.time)}"
                                  f"{lasting}.", "hga", anchor))
    change = row.psf_width_drift_px_per_h * row.duration_s / 3600.0
    if np.isfinite(change) and abs(change) > DRIFT_FRACTION * row.psf_width_px:
        out.append(Finding(scope, f"The PSF width drifted by {row.psf_width_drift_px_per_h:+.4f}"
                                  f" px/h ({change:+.4f} px over the visit, "
                                  f"{abs(change) / row.psf_width_px:.1%} of its "
                                  f"{row.psf_width_px:.3f} px median).", "width", anchor))
    if row.n_flagged:
        runs = content.flagged_runs[mine(content.flagged_runs)]
        reasons = ", ".join(sorted({r for rs in runs["reasons"] for r in rs.split(", ")}))
        first = since(content, runs["time"].iloc[0]) if len(runs) else ""
        out.append(Finding(scope, f"{row.n_flagged} frame(s) flagged ({reasons}) in "
                                  f"{len(runs)} run(s), the first at {first}; they are kept "
                                  f"and left out of the fit statistics.", "flagged",
                           "flagged-frames"))
    if row.n_fit_failed:
        out.append(Finding(scope, f"{row.n_fit_failed} unflagged frame(s) not fitted "
                                  f"({row.fit_failure_rate:.2%} of those worth fitting).",
                           "unfitted", "unfitted-frames"))
    if not out:
        out.append(Finding(scope, f"Quiet: no tilt, no HGA move, no flagged or unfitted frame "
                                  f"and no PSF width drift; pointing stability "
                                  f"{row.stability_mas:.2f} mas, jitter "
                                  f"{row.jitter_15s_mas:.2f} mas.", "quiet", "visits"))
    out.extend(_against_reference(content, row, scope))
    return out


def _in_visit(content: ReportContent, row):
    """A mask function: rows of a table (with a ``time`` column) inside the visit's frames."""
    def mine(table):
        return ((table["time"] >= row.start_mjd) & (table["time"] <= row.end_mjd))
    return mine


def _against_reference(content: ReportContent, row, scope: str) -> list[Finding]:
    ref = content.reference
    if ref is None:
        return []
    i = content.visits.index[(content.visits["observation"] == row.observation)
                             & (content.visits["visit"] == row.visit)][0]
    parts = []
    for column, words in (("stability_mas", "pointing stability"),
                          ("jitter_15s_mas", "jitter")):
        if column not in ref.percentiles:
            continue
        share = ref.percentiles[column].iloc[i]
        if np.isfinite(share):
            parts.append(f"{words} {getattr(row, column):.2f} mas is higher than "
                         f"{share:.0f} % of the {ref.n_visits} reference visits")
    if not parts:
        return []
    return [Finding(scope, "; ".join(parts).capitalize() + ".", "reference", "visits")]


def _science(content: ReportContent) -> Finding:
    s = content.science
    table = s.coefficients.set_index("name")
    regressors = [n for n in table.index if not str(n).startswith("poly")]
    gain = (1 - s.rms_after / s.rms_before) if s.rms_before > 0 else 0.0
    rms = (f"residual rms {s.rms_before * 1e6:.1f} → {s.rms_after * 1e6:.1f} ppm "
           f"({gain:.0%} less)")
    if not regressors:
        return Finding("Science", f"No guide-star regressor was fitted; {rms}.", "science",
                       "science")
    ratio = {n: abs(table.loc[n, "value"] / table.loc[n, "error"])
             if table.loc[n, "error"] > 0 else 0.0 for n in regressors}
    best = max(ratio, key=ratio.get)
    value, error = table.loc[best, "value"], table.loc[best, "error"]
    unit = table.loc[best, "unit"]
    if ratio[best] >= REGRESSOR_SIGMA:
        per = unit.removeprefix("flux ")  # "per 1 σ" (standardized) or "per px"
        text = (f"The strongest guide-star regressor of the science light curve is {best}: "
                f"{value * 1e6:+.1f} ± {error * 1e6:.1f} ppm of the flux {per} of {best}, "
                f"{ratio[best]:.0f} σ, "
                f"correlation r = {s.correlation.get(best, np.nan):+.2f}; {rms}.")
    else:
        text = (f"No guide-star regressor is significant in the science light curve (the "
                f"strongest, {best}, is {ratio[best]:.1f} σ); {rms}.")
    return Finding("Science", text, "science", "science")

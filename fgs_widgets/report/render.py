"""The report as one self-contained HTML file: Jinja2 template, inline CSS, inline figures.

The page has no script and loads nothing: the figures are PNG data URIs and its
Content-Security-Policy forbids every other source, so it opens offline in any
browser and cannot reach the network.  The file is written atomically.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from ..atomic import atomic_write
from ..engine.stability import PLATE_SCALE_MAS
from . import figures
from .content import ReportContent, gather, utc
from .findings import findings, summary
from .rules import RULES

__all__ = ["render", "write_report"]

#: rows of the flagged-frame and event tables before "... and N more"
MAX_ROWS = 200
#: visit statistics shown, and decimals of each (None: an integer; "%": a percentage)
_SHOWN: dict[str, int | str | None] = {
    "guider": None, "gs_id": None, "n_files": None, "n_frames": None, "duration_s": 1,
    "n_flagged": None, "flagged_fraction": "%", "n_fit_failed": None,
    "fit_failure_rate": "%", "n_good": None, "n_windows": None, "stability_mas": 2,
    "stability_x_mas": 2, "stability_y_mas": 2, "jitter_15s_mas": 2, "jitter_15s_x_mas": 2,
    "jitter_15s_y_mas": 2, "pointing_jitter_mean_mas": 2, "pointing_jitter_max_mas": 2,
    "psf_width_px": 4, "psf_width_drift_px_per_h": 4, "psf_width_range_px": 4,
    "n_tilts": None, "n_hga_moves": None,
}


def fixed(value: Any, digits: int = 2) -> str:
    """A number with `digits` decimals; "—" for a missing one."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—" if value is None else str(value)
    return f"{number:,.{digits}f}" if np.isfinite(number) else "—"


def sci(value: Any, digits: int = 1) -> str:
    """A number in scientific notation ("< 1e-300" below what a double shows)."""
    number = float(value)
    if not np.isfinite(number):
        return "—"
    if 0 < abs(number) < 1e-300 or (number == 0 and digits == 1):
        return "< 1e-300"
    return f"{number:.{digits}e}"


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("fgs_widgets.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(fixed=fixed, sci=sci, utc=utc,
                               count=lambda n: f"{int(n):,}", where=where,
                               name=lambda p: Path(str(p)).name)
    return environment


def _cell_text(value: Any, digits: int | str | None) -> str:
    if digits is None:
        return "—" if pd.isna(value) else str(value)
    if digits == "%":
        return fixed(float(value) * 100, 3) + " %"
    return fixed(value, digits)


def _stat_rows(content: ReportContent) -> list[dict]:
    """Rows of the visit table: each statistic, its unit, and per visit the value as shown,
    the exact value (``data-value``, what tests compare) and its reference percentile."""
    visits = content.visits
    ref = content.reference
    rows = []
    for name, digits in _SHOWN.items():
        cells = []
        for i, row in enumerate(visits.itertuples(index=False)):
            value = getattr(row, name)
            percentile = ""
            if ref is not None and name in ref.percentiles:
                share = ref.percentiles[name].iloc[i]
                percentile = f"{share:.0f} %" if np.isfinite(share) else ""
            cells.append({"visit": f"{row.observation}.{row.visit}",
                          "value": "" if pd.isna(value) else repr(_plain(value)),
                          "text": _cell_text(value, digits), "percentile": percentile})
        rows.append({"name": name, "unit": content.definitions[name][0], "cells": cells})
    return rows


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _event_rows(content: ReportContent) -> list[dict]:
    rows = []
    for e in content.events.head(MAX_ROWS).itertuples():
        # a file boundary's end is its file's end, not the length of an event
        duration = ((e.end - e.time) * 86400.0 if np.isfinite(e.end)
                    and e.kind != "file_boundary" else np.nan)
        rows.append({"utc": utc(e.time), "since": fixed(content.since_start(e.time), 1),
                     "kind": e.kind, "label": e.label, "visit": f"{e.observation}.{e.visit}",
                     "duration": fixed(duration, 1)})
    return rows


def where(anchor: str) -> str:
    """What a finding's link points to, in words."""
    for suffix, words in (("-series", "series figure"), ("-periodogram", "periodograms")):
        if anchor.endswith(suffix):
            return words
    return {"flagged-frames": "flagged frames", "unfitted-frames": "unfitted frames",
            "visits": "visit statistics", "science": "science section"}.get(anchor, "details")


def _overview(content: ReportContent) -> dict[str, str]:
    span = content.since_start(content.end)
    visits = content.visits
    return {
        "observations": ", ".join(str(p.observation) for p in content.observations),
        "visits": ", ".join(f"{o}.{v}" for o, v in zip(visits["observation"], visits["visit"],
                                                        strict=True)),
        "start": utc(content.start), "end": utc(content.end),
        "span": f"{span:,.0f} s = {span / 3600:.2f} h",
        "flagged": f"{int(content.visits['n_flagged'].sum()):,}",
        "unfitted": f"{int(content.unfitted['frames'].sum()) if len(content.unfitted) else 0:,}",
    }


def render(content: ReportContent, *, python_line: str = "") -> str:
    """The report's HTML (one string, everything inline)."""
    css = resources.files("fgs_widgets.report").joinpath("templates/report.css").read_text(
        encoding="utf-8")
    drawn = {
        "timeline": figures.timeline(content),
        "series": [figures.observation_series(content, p) for p in content.observations],
        "periodograms": [figures.observation_periodograms(p) for p in content.observations],
        "science": figures.science_figure(content) if content.science is not None else "",
    }
    template = _environment().get_template("report.html.j2")
    found = findings(content)
    return template.render(
        c=content, css=css, figures=drawn, findings=found, summary=summary(content, found),
        rules=RULES,
        stat_rows=_stat_rows(content), event_rows=_event_rows(content),
        overview=_overview(content), max_rows=MAX_ROWS, plate_scale=f"{PLATE_SCALE_MAS:g}",
        python_line=python_line or "session.report(path)")


def write_report(session: Any, path: str | os.PathLike, *, reference: Any = None) -> Path:
    """Write the guiding report of `session` to `path` (one HTML file), atomically.

    Parameters
    ----------
    session : fgs_widgets.Session
        With data and a fit; it is not changed (see `fgs_widgets.report.content`).
    path : str or PathLike
        The HTML file (its folder is created if missing).
    reference : folder, DataFrame or None
        A survey dataset, or its visit statistics: percentiles of each visit's
        statistics in that population (`fgs_widgets.report.reference`).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    ValueError
        No data or no fit in `session`, `path` does not end in .html/.htm, or a
        reference without visit statistics.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"the report is an HTML file: {str(path)!r} should end in .html")
    content = gather(session, reference=reference)
    # names only: the report travels, the folders of the machine it was made on do not
    line = f"session.report({path.name!r}"
    if reference is not None and not isinstance(reference, pd.DataFrame):
        line += f", reference={Path(reference).name!r}"
    html = render(content, python_line=line + ")")
    with atomic_write(path) as temporary:
        temporary.write_text(html, encoding="utf-8")
    return path.resolve()

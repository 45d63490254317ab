"""What a guiding report says, as numbers: gathered from a Session without changing it.

`gather` reads the Session's data, fit, events and science decorrelation, and
computes on the side what the Session may not hold yet: the per-visit statistics
(`fgs_widgets.engine.stability`, the survey's one definition), the tilts they
count, HGA moves, file and guide-star events, flagged frames, and per observation
the periodograms of x and y (each file's mean and slope removed, as the Session's
default).  Nothing here draws or formats; `figures` and `render` do.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from astropy.time import Time

from ..data import BAD_QUALITY, GuideStarData, Quality
from ..engine import events as ev
from ..engine.binning import decimate_for_display
from ..engine.periodogram import Periodogram, periodograms
from ..engine.stability import (
    OK_STATUS,
    PLATE_SCALE_MAS,
    STATISTICS,
    fitted,
    status_names,
    tilt_events,
    visit_statistics,
)
from .reference import Reference
from .rules import significant_peak

__all__ = ["FIGURE_WIDTH_PX", "ObservationPart", "ReportContent", "ScienceSummary", "gather"]

#: points per drawn series: two per pixel column of a figure this wide (at 2x for sharpness)
FIGURE_WIDTH_PX = 1800
_DAY = 86400.0
_POSITION = ("x_mean", "y_mean")


@dataclass
class PeakRow:
    """A periodogram peak of x_mean or y_mean, and whether the report calls it significant."""

    column: str
    period_s: float
    power: float
    false_alarm_probability: float
    semi_amplitude_px: float
    significant: bool

    @property
    def semi_amplitude_mas(self) -> float:
        return self.semi_amplitude_px * PLATE_SCALE_MAS


@dataclass
class ObservationPart:
    """One observation: its decimated series, events inside it and its periodograms."""

    observation: Any
    start: float  #: MJD of its first frame
    end: float
    n_frames: int
    longest_file_s: float  #: the longest piece the periodogram's detrending removes a line from
    series: dict[str, tuple[np.ndarray, np.ndarray]]  #: name -> (MJD, values), decimated
    periodograms: dict[str, Periodogram]
    peaks: list[PeakRow]


@dataclass
class ScienceSummary:
    """The science light curve's decorrelation, as the Session computed it."""

    source: str
    time: np.ndarray  #: MJD UTC per integration
    flux: np.ndarray
    corrected: np.ndarray
    model: np.ndarray
    coefficients: pd.DataFrame  #: name, value, error, unit (regressors, then poly terms)
    correlation: dict[str, float]
    rms_before: float
    rms_after: float
    n_used: int
    chi2_reduced: float
    lags: pd.DataFrame | None
    best_lag_s: float | None
    best_lag_r: float | None
    best_lag_regressor: str | None


@dataclass
class ReportContent:
    """Every number a report shows (see the module docstring)."""

    program: str
    generated_utc: str
    version: str
    fit_kind: str  #: "Gaussian fit" or "quick fit (moments)"
    start: float  #: MJD of the first frame: "since start" counts from here
    end: float
    n_frames: int
    products: pd.DataFrame
    guide_stars: pd.DataFrame
    visits: pd.DataFrame  #: visit_statistics, one row per visit
    definitions: dict[str, tuple[str, str]]
    events: pd.DataFrame  #: time, end, kind, label, source, value (+ observation, visit)
    tilts: pd.DataFrame
    flagged_runs: pd.DataFrame  #: first, last (frame), time, end, n, reasons
    unfitted: pd.DataFrame  #: status -> frames (unflagged frames without a usable fit)
    observations: list[ObservationPart]
    science: ScienceSummary | None
    reference: Reference | None
    problems: list[str] = field(default_factory=list)

    def since_start(self, mjd: float) -> float:
        """Seconds from the first frame."""
        return (float(mjd) - self.start) * _DAY


def utc(mjd: float, digits: int = 1) -> str:
    """ISO UTC of an MJD, to `digits` decimals of a second."""
    if not np.isfinite(mjd):
        return ""
    return Time(float(mjd), format="mjd", scale="utc").to_value("isot", subfmt="date_hms")[
        : 19 + (digits + 1 if digits else 0)]


def gather(session: Any, *, reference: Any = None) -> ReportContent:
    """The numbers of a report on `session` (a `fgs_widgets.Session`), which is not changed.

    Parameters
    ----------
    session : fgs_widgets.Session
        With data and a fit (the full fit, else the quick one: ``session.fit_table``).
    reference : str, PathLike, DataFrame or None
        A survey dataset (folder) or its visit statistics: each visit's statistics
        are also given as percentiles of that population (`Reference`).

    Raises
    ------
    ValueError
        No data, or no fit.
    """
    from .. import __version__

    data: GuideStarData | None = session.data
    if data is None or len(data) == 0:
        raise ValueError("the report needs guide-star data: load some first "
                         "(session.load_sample(), session.read_files(paths) or "
                         "session.open_program(program))")
    fit = session.fit_table
    if fit is None:
        raise ValueError("the report needs the frames fitted: run session.fit_frames() "
                         "(or session.fit_frames('quick')) first, or make the report with "
                         "`fgs-widgets report`, which fits")
    products = data.products.reset_index(drop=True)
    visits = visit_statistics(data, fit)
    tilts = tilt_events(data, fit)
    start, end = float(np.nanmin(data.time)), float(np.nanmax(data.time))
    content = ReportContent(
        program=_programs(products) or str(session.program or "unknown program"),
        generated_utc=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        fit_kind="Gaussian fit" if session.fit is not None else "quick fit (moments)",
        start=start, end=end, n_frames=len(data), products=products,
        guide_stars=_guide_stars(products), visits=visits, definitions=dict(STATISTICS),
        events=_events(session, data, tilts), tilts=tilts,
        flagged_runs=_flagged_runs(data), unfitted=_unfitted(data, fit),
        observations=[_observation(data, fit, obs) for obs in
                      pd.unique(products["observation"])],
        science=_science(session), reference=None,
        problems=[str(p) for p in data.problems])
    if reference is not None:
        content.reference = Reference.of(reference, visits)
    return content


def _programs(products: pd.DataFrame) -> str:
    """The products' program id(s), joined with "+"; "" when they name none."""
    if "program" not in products:
        return ""
    return "+".join(str(p) for p in pd.unique(products["program"].dropna()))


def _guide_stars(products: pd.DataFrame) -> pd.DataFrame:
    """One row per guide star in order of use: id, magnitude, guider, where and when used."""
    rows = []
    for gs_id, files in products.groupby("gs_id", sort=False, dropna=False):
        where = files[["observation", "visit"]].drop_duplicates()
        rows.append({
            "gs_id": gs_id,
            "gs_mag": float(files["gs_mag"].iloc[0]) if "gs_mag" in files else np.nan,
            "guider": ", ".join(str(g) for g in pd.unique(files["guider"]))
            if "guider" in files else "",
            "visits": ", ".join(f"{o}.{v}" for o, v in where.itertuples(index=False)),
            "n_files": len(files),
            "first": float(files["data_start"].min()),
            "last": float(files["data_end"].max())})
    return pd.DataFrame(rows)


def _events(session: Any, data: GuideStarData, tilts: pd.DataFrame) -> pd.DataFrame:
    """File boundaries, guide-star changes, HGA moves, tilts, and the Session's own events.

    The Session's events of other kinds (telemetry, detected jumps and outliers) are
    kept; its copies of the kinds computed here are not listed twice.
    """
    local = [ev.local_events(data.products, ("GUIDESTAR", "FILENAME"))]
    pointing = data.tables.get("pointing")
    if pointing is not None and len(pointing):
        local.append(ev.hga_from_pointing(pointing))
    if len(tilts):
        local.append(pd.DataFrame({
            "time": tilts["time"], "end": np.nan, "kind": "tilt",
            "label": [_tilt_label(r) for r in tilts.itertuples()],
            "source": "report", "value": np.hypot(tilts["step_x_px"], tilts["step_y_px"])}))
    computed = ev.concat_events(*local)
    own = session.events
    if own is not None and len(own):
        own = own[~own["kind"].isin(set(computed["kind"]) | {"tilt"})]
        computed = ev.concat_events(computed, own)
    table = computed.sort_values("time", kind="stable").reset_index(drop=True)
    frame = np.clip(np.searchsorted(data.time, table["time"].to_numpy()), 0, len(data) - 1)
    file = data.segments[frame]
    products = data.products.reset_index(drop=True)
    table["observation"] = products["observation"].to_numpy()[file]
    table["visit"] = products["visit"].to_numpy()[file]
    return table


def _tilt_label(row: Any) -> str:
    steps = [f"{axis} {step:+.3f} px" for axis, step in (("x", row.step_x_px),
                                                         ("y", row.step_y_px)) if step]
    return "tilt: " + ", ".join(steps)


def _flagged_runs(data: GuideStarData) -> pd.DataFrame:
    """Runs of consecutive flagged frames (a BAD_QUALITY bit): where, how many, why."""
    bad = (data.quality & int(BAD_QUALITY)) != 0
    first, stop = ev.true_runs(bad)
    rows = []
    for a, b in zip(first, stop, strict=True):
        bits = int(np.bitwise_or.reduce(data.quality[a:b]) & int(BAD_QUALITY))
        rows.append({"first": int(a), "last": int(b - 1), "time": float(data.time[a]),
                     "end": float(data.time[b - 1]), "n": int(b - a),
                     "reasons": ", ".join(Quality.describe(bits))})
    return pd.DataFrame(rows, columns=["first", "last", "time", "end", "n", "reasons"])


def _unfitted(data: GuideStarData, fit: pd.DataFrame) -> pd.DataFrame:
    """Unflagged frames without a usable fit (`stability.fitted`), counted by status; a
    "converged" fit with a non-finite position or width counts as "non-finite"."""
    flagged = (data.quality & int(BAD_QUALITY)) != 0
    lost = ~flagged & ~fitted(fit)
    status = (status_names(fit["status"]) if "status" in fit
              else np.full(len(fit), "converged"))
    status = np.where(np.isin(status, OK_STATUS), "non-finite", status)
    counts = pd.Series(status[lost]).value_counts()
    return pd.DataFrame({"status": counts.index.astype(str), "frames": counts.to_numpy()})


def _observation(data: GuideStarData, fit: pd.DataFrame, observation: Any) -> ObservationPart:
    products = data.products.reset_index(drop=True)
    files = np.flatnonzero(products["observation"].to_numpy() == observation)
    mask = np.isin(data.segments, files)
    time = data.time[mask]
    good = data.good[mask]
    width = np.sqrt(fit["x_stddev"].to_numpy(dtype=np.float64, na_value=np.nan)[mask]
                    * fit["y_stddev"].to_numpy(dtype=np.float64, na_value=np.nan)[mask])
    values = {"flux": data.flux[mask],
              **{c: fit[c].to_numpy(dtype=np.float64, na_value=np.nan)[mask] for c in _POSITION},
              "width": width}
    series = {}
    for name, v in values.items():
        v = np.where(good, v, np.nan)  # flagged frames are marked, not drawn as values
        series[name] = decimate_for_display(time, v, FIGURE_WIDTH_PX)
    durations = [(products.loc[f, "data_end"] - products.loc[f, "data_start"]) * _DAY
                 for f in files]
    longest = float(max(durations)) if durations else 0.0
    table = {c: values[c] for c in _POSITION}
    results = periodograms(time, table, list(_POSITION), good=good, detrend="linear",
                           pieces=data.segments[mask], piece_name="file")
    peaks = [row for c in _POSITION for row in _peak_rows(results[c], longest)]
    return ObservationPart(observation=observation, start=float(time.min()),
                           end=float(time.max()), n_frames=int(mask.sum()),
                           longest_file_s=longest, series=series, periodograms=results,
                           peaks=peaks)


def _peak_rows(pgram: Periodogram, longest_file_s: float) -> list[PeakRow]:
    rows = []
    for peak in pgram.peaks.itertuples():
        amplitude = np.nan
        if pgram.model is not None:
            theta = np.asarray(pgram.model.model_parameters(peak.frequency))
            amplitude = float(np.hypot(theta[-2], theta[-1]))  # the sine and cosine terms
        rows.append(PeakRow(
            column=pgram.column, period_s=float(peak.period), power=float(peak.power),
            false_alarm_probability=float(peak.false_alarm_probability),
            semi_amplitude_px=amplitude,
            significant=significant_peak(float(peak.power), float(peak.false_alarm_probability),
                                         float(peak.period), longest_file_s)))
    return rows


def _science(session: Any) -> ScienceSummary | None:
    result, science = session.decorrelation, session.science
    if result is None or science is None:
        return None
    names = list(result.regressors)
    best_lag = best_r = best_name = None
    if result.lags is not None and len(result.lags) and names:
        lags = result.lags
        scores = lags[names].abs()
        i, j = np.unravel_index(np.nanargmax(scores.to_numpy()), scores.shape)
        best_lag, best_name = float(lags["lag_s"].iloc[i]), names[j]
        best_r = float(lags[best_name].iloc[i])
    return ScienceSummary(
        source=science.source, time=science.time, flux=science.flux,
        corrected=result.corrected, model=result.model, coefficients=result.coefficients,
        correlation=dict(result.correlation), rms_before=result.residual_rms_before,
        rms_after=result.residual_rms_after, n_used=int(result.used.sum()),
        chi2_reduced=float(result.chi2_reduced), lags=result.lags, best_lag_s=best_lag,
        best_lag_r=best_r, best_lag_regressor=best_name)

"""A visit's statistics against a population of visits (a survey dataset).

The percentile of a value is the share of the reference visits whose statistic is
*lower*, with ties counted half (the mid-rank rule): "jitter 1.9 mas, higher than
80 % of the 42 reference visits".  Visits of the reported program that are also in
the reference are left out of it, so a visit is never compared with itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["COMPARED", "Reference"]

#: statistics given as percentiles, and what "higher" means for each in words
COMPARED: dict[str, str] = {
    "stability_mas": "pointing stability (mas)",
    "jitter_15s_mas": "jitter within 15 s (mas)",
    "psf_width_px": "PSF width (px)",
    "psf_width_range_px": "PSF width range (px)",
    "flagged_fraction": "flagged fraction",
    "fit_failure_rate": "fit failure rate",
}
_KEYS = ["program", "observation", "visit"]


@dataclass
class Reference:
    """Percentiles of each reported visit's statistics in a reference population."""

    source: str  #: the dataset folder, or "a table"
    n_visits: int  #: reference visits used (those of the reported program left out)
    n_programs: int
    percentiles: pd.DataFrame  #: one row per reported visit, one column per `COMPARED`
    medians: dict[str, float]  #: the reference's median of each statistic

    @classmethod
    def of(cls, reference: str | os.PathLike | pd.DataFrame,
           visits: pd.DataFrame) -> Reference:
        """Compare `visits` (`visit_statistics` rows) with `reference`.

        Parameters
        ----------
        reference : folder or DataFrame
            A survey dataset (``fgs-widgets survey OUT``; read with
            `fgs_widgets.survey.read_survey`, verified partitions only) or a table
            of `visit_statistics` rows.

        Raises
        ------
        ValueError
            The reference has none of the compared statistics, or no visit left
            once the reported ones are taken out.
        """
        if isinstance(reference, pd.DataFrame):
            table, source = reference, "a table of visit statistics"
        else:
            from ..survey.dataset import read_survey

            table, source = read_survey(reference), str(reference)
        missing = [c for c in COMPARED if c not in table.columns]
        if len(missing) == len(COMPARED):
            raise ValueError(f"the reference {source} has no visit statistics (none of "
                             f"{list(COMPARED)}): give the folder `fgs-widgets survey` wrote")
        table = _without(table, visits)
        if not len(table):
            raise ValueError(f"the reference {source} holds no visit besides the reported "
                             "ones: survey other programs into it first")
        columns = [c for c in COMPARED if c in table.columns]
        percentiles = pd.DataFrame(
            {c: [_percentile(table[c].to_numpy(dtype=np.float64, na_value=np.nan), v)
                 for v in visits[c].to_numpy(dtype=np.float64, na_value=np.nan)]
             for c in columns})
        medians = {c: float(np.nanmedian(table[c].to_numpy(dtype=np.float64, na_value=np.nan)))
                   if table[c].notna().any() else np.nan for c in columns}
        programs = table["program"].nunique() if "program" in table else 0
        return cls(source=source, n_visits=len(table), n_programs=int(programs),
                   percentiles=percentiles, medians=medians)


def _without(table: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    """`table` without the rows of the reported visits (same program, observation, visit)."""
    if not all(k in table.columns and k in visits.columns for k in _KEYS):
        return table
    key = lambda t: t[_KEYS].astype(str).agg(":".join, axis=1)  # noqa: E731
    return table[~key(table).isin(set(key(visits)))]


def _percentile(population: np.ndarray, value: float) -> float:
    """Share (%) of the population below `value`, ties counted half; NaN when undefined."""
    population = population[np.isfinite(population)]
    if not len(population) or not np.isfinite(value):
        return np.nan
    below = np.count_nonzero(population < value)
    ties = np.count_nonzero(population == value)
    return 100.0 * (below + 0.5 * ties) / len(population)

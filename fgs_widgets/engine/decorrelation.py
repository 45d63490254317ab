"""Guide-star series onto science integrations, and the science flux explained by them.

`bin_to_intervals` averages per-frame series over each integration's
``[start, end)`` with cumulative sums (`IntervalSums`: one pass per series, no
loop over integrations).  `decorrelate` is a linear least-squares fit of the science
flux on standardized regressors plus a polynomial in time; `lag_correlation`
scans a time shift, which shows whether the two clocks are aligned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Decorrelation", "IntervalSums", "bin_to_intervals", "decorrelate", "lag_correlation",
           "pearson"]


class IntervalSums:
    """Running sums of per-frame series, so any set of intervals bins in O(intervals).

    Built once per series set (two cumulative sums per series, about each series'
    level so the sums of squares keep the digits of a small scatter); `bin` then
    costs two binary searches per interval.  A lag scan bins the same frames onto
    shifted intervals many times: it builds this once.

    Parameters
    ----------
    time : array, sorted
        Frame times (same unit as the intervals).
    values : mapping name -> array
        Per-frame series (NaN = missing for that series only).
    good : bool array, optional
        Frames to use (default all).
    """

    def __init__(self, time: np.ndarray, values: Mapping[str, np.ndarray],
                 good: np.ndarray | None = None):
        self.time = np.asarray(time, dtype=np.float64)
        n = len(self.time)
        if n > 1 and np.any(self.time[1:] < self.time[:-1]):
            raise ValueError("frame times must be sorted to bin them")
        use = np.ones(n, dtype=bool) if good is None else np.asarray(good, dtype=bool)
        self._count = _running(use.astype(np.float64))
        self._sums: dict[str, tuple[float, np.ndarray, np.ndarray, np.ndarray | None]] = {}
        for name, series in values.items():
            series = np.asarray(series, dtype=np.float64)
            if len(series) != n:
                raise ValueError(f"{name} has {len(series)} values for {n} frames")
            finite = np.isfinite(series)
            ok = use & finite
            sample = series[:: max(1, n // 4096)]
            level = float(np.nanmean(sample)) if np.isfinite(sample).any() else 0.0
            x = series - level
            x[~ok] = 0.0
            count = None if finite.all() else _running(ok.astype(np.float64))
            self._sums[name] = (level, _running(x), _running(np.square(x, out=x)), count)

    def bin(self, start: np.ndarray, end: np.ndarray) -> pd.DataFrame:
        """Mean, standard error and count of each series over every ``[start, end)``.

        Returns
        -------
        pandas.DataFrame
            One row per interval: ``count`` (good frames inside), then per series
            ``<name>`` (mean), ``<name>_err`` (std / sqrt(n), ddof 1) and, when a
            series has NaNs, ``<name>_count``.  Intervals without frames are NaN.
        """
        start = np.asarray(start, dtype=np.float64)
        end = np.asarray(end, dtype=np.float64)
        lo = np.searchsorted(self.time, start, "left")
        hi = np.maximum(np.searchsorted(self.time, end, "left"), lo)  # end < start: empty
        count = self._count[hi] - self._count[lo]
        out: dict[str, np.ndarray] = {"count": count.astype(np.int64)}
        for name, (level, s1, s2, counts) in self._sums.items():
            n = count if counts is None else counts[hi] - counts[lo]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = (s1[hi] - s1[lo]) / n
                var = np.maximum((s2[hi] - s2[lo]) - n * mean * mean, 0.0) / (n - 1)
                err = np.sqrt(var / n)
            out[name] = np.where(n > 0, mean + level, np.nan)
            out[f"{name}_err"] = np.where(n > 1, err, np.nan)
            if counts is not None:
                out[f"{name}_count"] = n.astype(np.int64)
        return pd.DataFrame(out)


def _running(x: np.ndarray) -> np.ndarray:
    """0, x0, x0 + x1, ...: window sums are differences of two entries."""
    total = np.empty(len(x) + 1)
    total[0] = 0.0
    np.cumsum(x, out=total[1:])
    return total


def bin_to_intervals(time: np.ndarray, values: Mapping[str, np.ndarray], start: np.ndarray,
                     end: np.ndarray, good: np.ndarray | None = None) -> pd.DataFrame:
    """Mean, standard error and count of each series over every ``[start, end)``.

    Parameters
    ----------
    time : array, sorted
        Frame times (same unit as start/end).
    values : mapping name -> array
        Per-frame series (NaN = missing for that series only).
    start, end : arrays
        Interval edges (may overlap or leave gaps).
    good : bool array, optional
        Frames to use (default all).

    Returns
    -------
    pandas.DataFrame
        See `IntervalSums.bin`.
    """
    return IntervalSums(time, values, good).bin(start, end)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the rows where both are finite (NaN if fewer than 3)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")


@dataclass(eq=False)
class Decorrelation:
    """Science flux = polynomial(time) + Σ coefficient × regressor, by least squares.

    Attributes
    ----------
    coefficients : pandas.DataFrame
        ``name``, ``value``, ``error`` (1 σ; scaled by the reduced χ² when the
        fit is worse than the errors say, by the residual variance when the flux
        has no errors), ``unit``: the regressors first,
        then ``poly0``, ``poly1``... of the time polynomial (time scaled to
        [-1, 1] over the integrations used).
    model : ndarray
        Fitted flux per integration (NaN where a regressor is missing).
    systematics : ndarray
        The regressors' part of the model about their means (no polynomial).
    residuals : ndarray
        flux − model.
    corrected : ndarray
        flux − systematics: the light curve with the guide-star systematics taken out.
    residual_rms_before, residual_rms_after : float
        rms of the residuals of the polynomial alone, and of the whole model.
    correlation : dict
        regressor -> Pearson r of the regressor with the polynomial-detrended flux.
    regressors : dict
        name -> the regressor per integration as fitted (standardized if asked).
    scale : dict
        name -> (mean, std) used to standardize (mean 0, std 1 when not).
    used : ndarray of bool
        Integrations in the fit (finite flux, error and every regressor).
    chi2_reduced : float
    lags : pandas.DataFrame or None
        ``lag_s`` and one Pearson r column per regressor (`lag_correlation`).
    """

    coefficients: pd.DataFrame
    model: np.ndarray
    systematics: np.ndarray
    residuals: np.ndarray
    corrected: np.ndarray
    residual_rms_before: float
    residual_rms_after: float
    correlation: dict[str, float]
    regressors: dict[str, np.ndarray]
    scale: dict[str, tuple[float, float]]
    used: np.ndarray
    chi2_reduced: float
    standardized: bool = True
    polynomial: int = 1
    lags: pd.DataFrame | None = field(default=None)

    def coefficient(self, name: str) -> tuple[float, float]:
        """(value, error) of one coefficient."""
        row = self.coefficients.set_index("name").loc[name]
        return float(row["value"]), float(row["error"])

    def summary(self) -> str:
        """One line: what the regressors explain."""
        gain = (1 - self.residual_rms_after / self.residual_rms_before) * 100 \
            if self.residual_rms_before > 0 else 0.0
        names = ", ".join(self.regressors) or "no regressor"
        return (f"{names}: residual rms {self.residual_rms_before * 1e6:.1f} → "
                f"{self.residual_rms_after * 1e6:.1f} ppm ({gain:.0f}% less) on "
                f"{int(self.used.sum())} integrations")

    def table(self, time: np.ndarray | None = None) -> pd.DataFrame:
        """Per integration: the regressors as fitted, model, systematics, residuals, corrected."""
        columns = {} if time is None else {"time": np.asarray(time)}
        columns.update({f"{k}_regressor": v for k, v in self.regressors.items()})
        columns.update(model=self.model, systematics=self.systematics,
                       residuals=self.residuals, corrected=self.corrected, used=self.used)
        return pd.DataFrame(columns)


def _polynomial(time: np.ndarray, used: np.ndarray, degree: int) -> np.ndarray:
    """Columns 1, τ, τ², ... with τ the time scaled to [-1, 1] over the used rows."""
    t0, t1 = float(time[used].min()), float(time[used].max())
    tau = (time - 0.5 * (t0 + t1)) / (0.5 * (t1 - t0) or 1.0)
    return np.column_stack([tau**k for k in range(degree + 1)])


def _solve(design: np.ndarray, flux: np.ndarray, weights: np.ndarray | None
           ) -> tuple[np.ndarray, np.ndarray, float]:
    """Least squares: (coefficients, covariance, χ²_red).

    With weights (1/σ²) the covariance is scaled by the reduced χ² only when the fit
    is worse than the errors say; without, σ is unknown and the covariance is scaled
    by the residual variance (ordinary least squares).  Columns are scaled to unit
    norm and the covariance comes from the SVD of the design, not from inverting
    AᵀA, so a regressor with a large offset (counts in DN/s) keeps its digits.
    """
    root = np.ones(len(flux)) if weights is None else np.sqrt(weights)
    a, b = design * root[:, None], flux * root
    norms = np.linalg.norm(a, axis=0)
    norms[norms == 0] = 1.0
    u, singular, vt = np.linalg.svd(a / norms, full_matrices=False)
    keep = singular > singular[0] * len(b) * np.finfo(float).eps
    inverse = np.where(keep, 1.0 / np.where(keep, singular, 1.0), 0.0)
    coefficients = (vt.T @ (inverse * (u.T @ b))) / norms
    dof = max(len(b) - int(keep.sum()), 1)
    chi2 = float(np.sum((b - a @ coefficients) ** 2) / dof)
    covariance = (vt.T * inverse**2) @ vt / np.outer(norms, norms)
    return coefficients, covariance * (chi2 if weights is None else max(chi2, 1.0)), chi2


def _usable(time: np.ndarray, flux: np.ndarray, error: np.ndarray | None,
            regressors: Mapping[str, np.ndarray], n_parameters: int) -> np.ndarray:
    """Integrations with finite time, flux, (positive) error and every regressor."""
    used = np.isfinite(time) & np.isfinite(flux)
    if error is not None:
        used &= np.isfinite(error) & (error > 0)
    for name, values in regressors.items():
        if len(values) != len(flux):
            raise ValueError(f"regressor {name} has {len(values)} values for {len(flux)} "
                             "integrations")
        used &= np.isfinite(values)
    if used.sum() <= n_parameters:
        raise ValueError(f"{int(used.sum())} integrations with finite flux and regressors: "
                         f"too few for {n_parameters} parameters")
    return used


def decorrelate(time: np.ndarray, flux: np.ndarray, error: np.ndarray | None,
                regressors: Mapping[str, np.ndarray], *, polynomial: int = 1,
                standardize: bool = True, units: Mapping[str, str] | None = None
                ) -> Decorrelation:
    """Fit the science flux with a polynomial in time plus linear regressor terms.

    Parameters
    ----------
    time, flux : arrays, one value per integration
    error : array or None
        1-σ flux errors: weights 1/σ² (None or all NaN: equal weights).
    regressors : mapping name -> array
        e.g. guide-star x_mean binned to the integrations (`bin_to_intervals`).
    polynomial : int
        Degree of the baseline polynomial in time (0 = a constant).
    standardize : bool
        Fit (x − mean) / std so coefficients are flux per 1 σ of each regressor
        (comparable between regressors); False: flux per unit of the regressor.
    units : mapping name -> str, optional
        Regressor units, for the coefficient table when not standardized.

    Returns
    -------
    Decorrelation

    Raises
    ------
    ValueError
        Fewer usable integrations than parameters + 1, or a constant regressor.
    """
    time, flux = np.asarray(time, dtype=np.float64), np.asarray(flux, dtype=np.float64)
    if polynomial < 0:
        raise ValueError(f"polynomial degree must be >= 0, not {polynomial}")
    error = np.full(len(flux), np.nan) if error is None else np.asarray(error, np.float64)
    weighted = bool(np.isfinite(error).any())
    raw = {name: np.asarray(values, dtype=np.float64) for name, values in regressors.items()}
    used = _usable(time, flux, error if weighted else None, raw, len(raw) + polynomial + 1)
    scale = {name: (float(v[used].mean()), float(v[used].std())) if standardize else (0.0, 1.0)
             for name, v in raw.items()}
    constant = [name for name, (_, std) in scale.items() if not std > 0]
    if constant:
        raise ValueError(f"regressor {', '.join(constant)} is constant over the integrations "
                         "used: nothing to fit (drop it)")
    fitted = {name: (raw[name] - mean) / std for name, (mean, std) in scale.items()}
    weights = 1.0 / error[used] ** 2 if weighted else None
    base = _polynomial(time, used, polynomial)
    columns = [fitted[n] for n in raw]
    design = np.column_stack([*columns, base]) if columns else base
    coefficients, covariance, chi2 = _solve(design[used], flux[used], weights)
    baseline, _, _ = _solve(base[used], flux[used], weights)
    with np.errstate(invalid="ignore"):
        model = design @ coefficients
        # about each regressor's mean: the corrected flux keeps the light curve's level
        centred = [c - c[used].mean() for c in columns]
        systematics = (np.column_stack(centred) @ coefficients[: len(columns)] if columns
                       else np.zeros(len(flux)))
    detrended = flux - base @ baseline
    unit = {n: "flux per 1 σ" if standardize else f"flux per {(units or {}).get(n, 'unit')}"
            for n in raw}
    names = [*raw, *(f"poly{k}" for k in range(polynomial + 1))]
    table = pd.DataFrame({"name": names, "value": coefficients,
                          "error": np.sqrt(np.diag(covariance)),
                          "unit": [unit.get(n, "flux") for n in names]})
    rms = lambda r: float(np.sqrt(np.mean(r[used] ** 2)))  # noqa: E731
    return Decorrelation(
        coefficients=table, model=model, systematics=systematics, residuals=flux - model,
        corrected=flux - systematics, residual_rms_before=rms(detrended),
        residual_rms_after=rms(flux - model),
        correlation={n: pearson(np.where(used, raw[n], np.nan), detrended) for n in raw},
        regressors=fitted, scale=scale, used=used, chi2_reduced=chi2,
        standardized=standardize, polynomial=polynomial)


def lag_correlation(lags_s: np.ndarray, binned_at: callable, detrended_flux: np.ndarray,
                    names: list[str]) -> pd.DataFrame:
    """Pearson r of each regressor with the flux when the regressors are shifted by a lag.

    Parameters
    ----------
    lags_s : array
        Shifts in seconds (positive: the guide-star series taken that much later).
    binned_at : callable(lag_s) -> mapping name -> array per integration
        Bins the guide-star series onto the integrations shifted by ``lag_s``.
    detrended_flux : array
        The science flux with its baseline removed.
    names : list of str

    Returns
    -------
    pandas.DataFrame
        ``lag_s`` and one column per regressor; the peak of |r| sits at 0 s
        when the clocks are aligned (within the integration length).
    """
    rows = []
    for lag in np.asarray(lags_s, dtype=np.float64):
        binned = binned_at(float(lag))
        rows.append({"lag_s": lag, **{n: pearson(binned[n], detrended_flux) for n in names}})
    return pd.DataFrame(rows, columns=["lag_s", *names])

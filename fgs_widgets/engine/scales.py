"""Axis ranges and ticks a reader can trust: robust y ranges, nice ticks, time units.

Pure numbers and strings (no plotting library), shared by the widgets and the
matplotlib plots:

- `robust_range`: the y range of a series' bulk (percentiles of the good
  values, per group when the levels differ), so one flagged frame or lone
  spike does not flatten the plot;
- `nice_ticks` / `log_ticks`: tick values at 1, 2, 2.5 or 5 x 10^k (as
  matplotlib's MaxNLocator), and labels that share one power of ten;
- `time_unit` / `time_ticks`: elapsed time in s, min or h, whichever reads best
  for the span in view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Ticks", "js_number", "log_ticks", "nice_ticks", "robust_range", "time_ticks",
           "time_unit"]

#: frames a group needs in view before its own percentiles count (`robust_range`)
MIN_GROUP = 20
#: the steps a tick interval may take, times a power of ten
NICE_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Ticks:
    """Tick positions with their labels.

    Attributes
    ----------
    values : ndarray
        Positions in data units, ascending, inside the range asked for.
    labels : list of str
        One per value, scaled by ``10**exponent``.
    exponent : int
        Power of ten taken out of the labels (0 when none); name it in the axis
        label (``"flux (×10⁶)"``), see `scale_suffix`.
    step : float
        Interval between ticks in data units (NaN for log ticks).
    """

    values: np.ndarray
    labels: list[str]
    exponent: int = 0
    step: float = math.nan

    @property
    def scale_suffix(self) -> str:
        """" (×10ⁿ)" for an axis label, or "" when the labels are not scaled."""
        return f" (×10{_superscript(self.exponent)})" if self.exponent else ""


def _clean(values: np.ndarray) -> np.ndarray:
    """Values at 12 significant digits: 18.0, not 18.000000000000004 (labels are keyed by
    the value's text, so the two sides must print it alike)."""
    return np.array([float(f"{v:.12g}") for v in values], dtype=np.float64)


def _superscript(n: int) -> str:
    return str(n).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _nice_step(span: float, max_ticks: int) -> float:
    """Smallest 1/2/2.5/5 x 10^k step giving at most ``max_ticks`` ticks over ``span``."""
    raw = span / max(max_ticks - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for step in NICE_STEPS:
        if step * power >= raw * (1 - 1e-9):
            return step * power
    return 10.0 * power  # pragma: no cover - NICE_STEPS ends at 10


def _finer(step: float) -> float:
    """The next smaller step on the 1, 2, 2.5, 5 x 10^k ladder."""
    power = 10.0 ** math.floor(math.log10(step) + 1e-9)
    mantissa = step / power
    smaller = [m for m in NICE_STEPS if m < mantissa - 1e-9]
    return smaller[-1] * power if smaller else 0.5 * power


def nice_ticks(lo: float, hi: float, max_ticks: int = 6, *, unit: float = 1.0,
               min_ticks: int = 2) -> Ticks:
    """Ticks at multiples of a 1, 2, 2.5 or 5 x 10^k step inside ``[lo, hi]``.

    Parameters
    ----------
    lo, hi : float
        Range in data units (``lo < hi``; equal or non-finite gives no ticks).
    max_ticks : int
        At most this many ticks (fewer fit narrow axes: pass the axis length
        in pixels over ~60 for horizontal labels, ~30 for vertical ones).
    unit : float
        Data units per label unit: ticks are nice in ``value / unit`` (e.g.
        ``unit=60`` labels seconds as minutes).
    min_ticks : int
        The step is made finer (down the 1/2/2.5/5 ladder) until at least this
        many ticks fall inside the range.

    Returns
    -------
    Ticks
        Labels share one power of ten when the values are large or small
        (``|value| >= 10^4`` or step < 10^-3), as matplotlib's offset text.
    """
    with np.errstate(over="ignore"):
        span = (hi - lo) / unit if unit > 0 else np.nan
    if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(span)) or span <= 0 \
            or span < 1e-300:
        return Ticks(np.zeros(0), [])
    a, b = lo / unit, hi / unit
    step = _nice_step(b - a, max_ticks)
    while True:
        first, last = math.ceil(a / step - 1e-9), math.floor(b / step + 1e-9)
        if last - first + 1 >= min_ticks or step < (b - a) * 1e-6:
            break
        step = _finer(step)
    # rounded to the step's precision: 2.8, not 2.8000000000000003, in labels' keys
    digits = max(0, 12 - math.floor(math.log10(step)))
    values = np.round(np.arange(first, last + 1) * step, digits)
    values = values[(values >= a - 1e-9 * step) & (values <= b + 1e-9 * step)]
    biggest = float(np.max(np.abs(values))) if len(values) else 0.0
    exponent = 0
    if biggest >= 1e4 or step < 1e-3:
        exponent = math.floor(math.log10(max(biggest, step)))
    labels = _labels(values, step, exponent)
    return Ticks(_clean(values * unit), labels, exponent, step * unit)


def _labels(values: np.ndarray, step: float, exponent: int) -> list[str]:
    """Shortest fixed-point labels that tell every tick apart at this step."""
    scaled_step = step / 10.0**exponent
    decimals = max(0, -math.floor(math.log10(scaled_step) + 1e-9))
    fraction = (scaled_step * 10**decimals) % 1
    if min(fraction, 1 - fraction) > 1e-6:
        decimals += 1  # 2.5 x 10^k needs one more digit than 1, 2 or 5
    labels = []
    for value in values / 10.0**exponent:
        text = f"{value:.{decimals}f}"
        labels.append("0" if float(text) == 0 else text.replace("-", "−"))
    return labels


def log_ticks(lo: float, hi: float, max_ticks: int = 8, *,
              unit: float = 1.0) -> Ticks:
    """Ticks for a log axis: decades, adding 2 and 5 (then 3) when few decades show.

    Parameters
    ----------
    lo, hi : float
        Positive range in data units.
    max_ticks : int
        Upper bound on the number of ticks.
    unit : float
        Data units per label unit (``60`` labels seconds as minutes).

    Returns
    -------
    Ticks
        Labels in plain notation (``0.5``, ``20``, ``1000``) up to 10^5, else
        ``1e6`` style.
    """
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 or hi <= lo or unit <= 0:
        return Ticks(np.zeros(0), [])
    a, b = lo / unit, hi / unit
    first, last = math.floor(math.log10(a)), math.ceil(math.log10(b))
    chosen = np.zeros(0)
    for mantissas in ((1, 2, 5), (1, 3), (1,)):
        values = np.array([m * 10.0**k for k in range(first, last + 1) for m in mantissas])
        values = values[(values >= a * (1 - 1e-9)) & (values <= b * (1 + 1e-9))]
        chosen = values
        if len(values) <= max_ticks:
            break
    if len(chosen) > max_ticks:  # many decades: every n-th decade
        every = math.ceil(len(chosen) / max_ticks)
        chosen = chosen[::every]
    if len(chosen) < 2:  # less than a decade in view: linear steps read best
        linear = nice_ticks(a, b, min(max_ticks, 5))
        chosen = linear.values[linear.values > 0]
        labels = [_log_label(v) for v in chosen]
        if len(set(labels)) < len(labels):  # 3.2e5, 3.4e5 ...: the linear labels tell apart
            labels = [f"{text}e{linear.exponent}" if linear.exponent else text
                      for text in np.array(linear.labels)[linear.values > 0]]
        return Ticks(_clean(chosen * unit), labels)
    labels = [_log_label(v) for v in chosen]
    return Ticks(_clean(chosen * unit), labels)


def _log_label(value: float) -> str:
    if 1e-4 <= value < 1e5:
        return f"{value:.10g}"
    mantissa, exponent = f"{value:.6e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


#: (name, seconds per unit, span from which it is used)
TIME_UNITS = (("s", 1.0, 0.0), ("min", 60.0, 600.0), ("h", 3600.0, 5 * 3600.0))


def time_unit(span_seconds: float) -> tuple[str, float]:
    """The unit (name, seconds) that labels an elapsed-time span best.

    Seconds up to 10 minutes, minutes up to 5 hours, hours beyond: labels stay
    short and nice (``0 2 4 6 8 10 min``, not ``0 120 240…`` s).
    """
    name, seconds = "s", 1.0
    for unit, per, start in TIME_UNITS:
        if span_seconds >= start:
            name, seconds = unit, per
    return name, seconds


def time_ticks(lo_seconds: float, hi_seconds: float, max_ticks: int = 6) -> tuple[Ticks, str]:
    """Nice ticks for elapsed seconds in the unit that suits the span; (ticks, unit name)."""
    name, per = time_unit(hi_seconds - lo_seconds)
    ticks = nice_ticks(lo_seconds, hi_seconds, max_ticks, unit=per)
    if ticks.exponent:  # elapsed times read better unscaled: 1.25 s, not 12.5 ×10⁻¹
        decimals = max(0, -math.floor(math.log10(ticks.step / per) + 1e-9) + 1)
        labels = [_strip(f"{v / per:.{decimals}f}", decimals) for v in ticks.values]
        ticks = Ticks(ticks.values, labels, 0, ticks.step)
    return ticks, name


def _strip(text: str, decimals: int) -> str:
    """Trailing zeros of the decimals only: "1.250" -> "1.25", "110" stays "110"."""
    if decimals == 0:
        return text
    return text.rstrip("0").rstrip(".") or "0"


def robust_range(values: np.ndarray, good: np.ndarray | None = None, *,
                 groups: np.ndarray | None = None,
                 percentiles: tuple[float, float] = (1.0, 99.0), margin: float = 0.15,
                 max_samples: int = 20_000) -> tuple[float, float] | None:
    """The range of the bulk of a series: percentiles of its good values, padded.

    Parameters
    ----------
    values : ndarray, shape (N,)
        The series (NaN ignored).
    good : ndarray of bool, shape (N,), optional
        Frames that count (flagged frames left out); all when not given.
    groups : ndarray of int, shape (N,), optional
        Group of each value (e.g. the observation).  The range covers every
        group's own percentile range, so a series whose level changes between
        observations shows each level, not only the most common one.  Groups
        with fewer than `MIN_GROUP` sampled values (or 1 % of them) do not count
        on their own: a few frames have no bulk.
    percentiles : (float, float)
        Lower and upper percentile of each group.
    margin : float
        Padding on each side, as a fraction of the range.
    max_samples : int
        Percentiles of at most this many values (an even stride through the
        series: the bulk of 10^6 frames is known from 2x10^4 of them, and a
        zoom's re-scaling stays well under a millisecond per panel).

    Returns
    -------
    (lo, hi) or None
        None when no good finite value exists.  A flat series gets a range
        of ±1 % of its level (±1 at zero).
    """
    values = np.asarray(values)
    # an even stride through the series first: every later step is O(samples), not O(N)
    stride = max(1, math.ceil(len(values) / max_samples))
    values = values[::stride]
    keep = np.isfinite(values)
    if good is not None:
        keep &= np.asarray(good, dtype=bool)[::stride]
    if groups is None:
        spans = [_percentiles(values[keep], percentiles)]
    else:
        groups = np.asarray(groups)[::stride]
        members = [keep & (groups == g) for g in np.unique(groups)]  # of <= max_samples
        # a group with a handful of frames in view (a window that ends just inside the
        # next observation) has no bulk: its percentiles are its outliers
        enough = max(MIN_GROUP, int(0.01 * np.count_nonzero(keep)))
        large = [m for m in members if np.count_nonzero(m) >= enough]
        spans = [_percentiles(values[m], percentiles) for m in (large or [keep])]
    spans = [s for s in spans if s is not None]
    if not spans:
        return None
    lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
    if hi <= lo:
        pad = abs(lo) * 0.01 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * margin
    if not np.isfinite(pad):  # a range near the float limits: no room for padding
        return lo, hi
    return lo - pad, hi + pad


def _percentiles(values: np.ndarray,
                 percentiles: tuple[float, float]) -> tuple[float, float] | None:
    if len(values) == 0:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        lo, hi = np.percentile(values, percentiles)
    # values near the float limits overflow the interpolation: no range to show
    return (float(lo), float(hi)) if np.isfinite(lo) and np.isfinite(hi) else None


def js_number(value: float) -> str:
    """``String(value)`` as JavaScript writes it (bqplot keys tick labels by it).

    Shortest round-trip digits, positional for 10^-6 <= |value| < 10^21 and
    ``1e-7`` / ``1.5e+21`` style outside, as ECMAScript's Number::toString.
    """
    value = float(value)
    if value == 0:
        return "0"
    if 1e-6 <= abs(value) < 1e21:
        return np.format_float_positional(value, unique=True, trim="-")
    mantissa, exponent = repr(value).split("e")
    return f"{mantissa}e{'+' if int(exponent) > 0 else '-'}{abs(int(exponent))}"

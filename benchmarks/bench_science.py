"""Binning guide-star series onto science integrations, and decorrelating, at 10^6 frames.

Eight per-frame series (flux and the seven fit columns) onto 10^4 integrations
(`fgs_widgets.engine.decorrelation.bin_to_intervals`), against the reference
tool's TSO tutorial way (a boolean mask per integration, here over every
series, timed on a subset and scaled) measured in the same run; then the
decorrelation fit and a 41-lag scan.

Run: ``python benchmarks/bench_science.py [--frames 1000000] [--integrations 10000]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_analysis import best_of  # this folder: the scripts run from it

from fgs_widgets.engine.decorrelation import (
    IntervalSums,
    bin_to_intervals,
    decorrelate,
    lag_correlation,
)

NAMES = ["flux", "amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev", "theta", "offset"]


def loop_binning(time_: np.ndarray, series: dict, start: np.ndarray, end: np.ndarray,
                 good: np.ndarray) -> dict:
    """The tutorial's way: for each integration, a mask over every frame, then mean/std."""
    out = {name: np.empty(len(start)) for name in series}
    for i, (a, b) in enumerate(zip(start, end, strict=True)):
        inside = (time_ >= a) & (time_ < b) & good
        for name, values in series.items():
            out[name][i] = np.nanmean(values[inside])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--integrations", type=int, default=10_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, m = args.frames, args.integrations
    seconds = np.arange(n) * 0.0625
    mjd = 60000.0 + seconds / 86400
    series = {c: rng.normal(0, 1, n) + 0.1 * np.sin(2 * np.pi * seconds / (300 + i))
              for i, c in enumerate(NAMES)}
    good = rng.random(n) > 0.001
    length = (mjd[-1] - mjd[0]) / m
    start = mjd[0] + np.arange(m) * length
    end = start + length

    ours = best_of(lambda: bin_to_intervals(mjd, series, start, end, good=good))
    subset = max(m // 100, 10)
    t = time.perf_counter()
    loop_binning(mjd, series, start[:subset], end[:subset], good)
    loop = (time.perf_counter() - t) * m / subset
    print(f"bin {len(NAMES)} series x {n:,} frames onto {m:,} integrations: "
          f"{ours * 1e3:.0f} ms (target <= 200 ms); per-integration loop (tutorial): "
          f"{loop:.1f} s (timed on {subset} integrations, scaled) -> {loop / ours:,.0f}x")
    check = loop_binning(mjd, series, start[:subset], end[:subset], good)
    table = bin_to_intervals(mjd, series, start, end, good=good)
    worst = max(np.max(np.abs(table[c].to_numpy()[:subset] - check[c])) for c in NAMES)
    print(f"  largest difference from the loop: {worst:.2e}")

    flux = 1 + 1e-3 * table["x_mean"].to_numpy() + rng.normal(0, 1e-4, m)
    regressors = {c: table[c].to_numpy() for c in ("x_mean", "y_mean", "x_stddev")}
    fit = best_of(lambda: decorrelate(start, flux, np.full(m, 1e-4), regressors))
    print(f"decorrelate on {m:,} integrations, 3 regressors + linear baseline: "
          f"{fit * 1e3:.1f} ms")
    lags = np.arange(-20, 21) * 15.0

    def scan() -> None:
        sums = IntervalSums(mjd, {"x_mean": series["x_mean"]}, good=good)
        lag_correlation(lags, lambda lag: sums.bin(start + lag / 86400, end + lag / 86400),
                        flux, ["x_mean"])

    print(f"lag scan, {len(lags)} lags of one regressor: {best_of(scan, 3) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()

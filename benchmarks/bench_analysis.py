"""Analysis benchmark at 10^6 points: periodograms of 8 series, display decimation,
binning and jump detection, each with a simple baseline measured in the same run.

Run: ``python benchmarks/bench_analysis.py [--points 1000000]``
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import pandas as pd
from astropy.timeseries import LombScargle

from fgs_widgets.engine.binning import bin_series, decimate_for_display
from fgs_widgets.engine.events import detect_jumps
from fgs_widgets.engine.periodogram import periodograms


def best_of(function, repeats: int = 5) -> float:
    """Median wall time of `repeats` calls."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        function()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _astropy_periodogram(mjd: np.ndarray, values: np.ndarray) -> np.ndarray:
    seconds = (mjd - mjd[0]) * 86400
    df = 1 / (5 * seconds[-1])
    frequency = df * np.arange(5, int(8 / df) + 1)
    return LombScargle(seconds, values).power(frequency, method="fast",
                                              assume_regular_frequency=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.points
    rng = np.random.default_rng(0)
    seconds = np.arange(n) * 0.0625
    mjd = 60000.0 + seconds / 86400
    names = ["flux", "amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev", "theta", "offset"]
    table = pd.DataFrame({c: rng.normal(0, 1, n) + 0.1 * np.sin(2 * np.pi * seconds / (10 + i))
                          for i, c in enumerate(names)})

    periodograms(mjd[:1000], table[:1000], names)  # numba compile / cache load
    t = time.perf_counter()
    results = periodograms(mjd, table, names)
    t_pgram = time.perf_counter() - t
    full = round((results["flux"].frequency[-1] - results["flux"].frequency[0])
                 / results["flux"].grid_step) + 1
    shown = len(results["flux"].frequency)
    print(f"periodograms, 8 series x {n:,} points ({full:,}-frequency grid, {shown:,} "
          f"returned): {t_pgram:.2f} s")
    one = {"flux": table["flux"].to_numpy()}
    sub = slice(0, n // 10)
    t_ours = best_of(lambda: periodograms(mjd[sub], {"flux": one["flux"][sub]}), repeats=1)
    t_astropy = best_of(lambda: _astropy_periodogram(mjd[sub], one["flux"][sub]), repeats=1)
    print(f"  one series of {n // 10:,} points, same grid: {t_ours:.2f} s; astropy 8 "
          f"LombScargle.power(method='fast') default {t_astropy:.2f} s "
          f"(ratio {t_astropy / t_ours:.1f}x)")
    recovered = [abs(1 / results[c].peaks["frequency"].iloc[0] - (10 + i)) < 0.05
                 for i, c in enumerate(names)]
    print(f"  injected periods recovered: {sum(recovered)}/8")

    values = table["x_mean"].to_numpy()
    decimate_for_display(mjd, values, 1000)  # compile
    t_dec = best_of(lambda: decimate_for_display(mjd, values, 1000))
    window = (mjd[n // 4], mjd[3 * n // 4])
    t_zoom = best_of(lambda: decimate_for_display(mjd, values, 1000, window=window))

    def naive():  # reshape-based min/max per column (what one writes first)
        usable = n - n % 1000
        blocks = values[:usable].reshape(1000, -1)
        return blocks.min(axis=1), blocks.max(axis=1)

    def python_loop():  # the same result, column by column in Python + numpy
        edges = np.searchsorted(mjd, np.linspace(mjd[0], mjd[-1], 1001))
        edges[-1] = n
        out = []
        for a, b in itertools.pairwise(edges):
            if b > a:
                block = values[a:b]
                i, j = sorted((np.nanargmin(block), np.nanargmax(block)))
                out.extend((a + i, a + j))
        return mjd[out], values[out]

    t_naive = best_of(naive)
    t_loop = best_of(python_loop)
    print(f"decimate_for_display, {n:,} points -> 1000 px: {t_dec * 1e3:.1f} ms full, "
          f"{t_zoom * 1e3:.1f} ms on a half-range zoom; baselines: python loop over columns "
          f"{t_loop * 1e3:.1f} ms (ratio {t_loop / t_dec:.1f}x), numpy reshape min/max "
          f"(equal-count columns, no time order, no NaN) {t_naive * 1e3:.1f} ms "
          f"(ratio {t_naive / t_dec:.2f}x)")

    t_bin = best_of(lambda: bin_series(mjd, values, bin_width=10 / 86400), repeats=3)
    t_pandas = best_of(lambda: pd.Series(values).groupby(
        ((seconds // 10)).astype(int)).agg(["mean", "std", "count"]), repeats=3)
    print(f"bin_series 10 s bins: {t_bin * 1e3:.0f} ms; pandas groupby baseline "
          f"{t_pandas * 1e3:.0f} ms (ratio {t_pandas / t_bin:.2f}x)")

    steps = values + np.where(seconds > seconds[n // 2], 5.0, 0.0)  # a 5-sigma step
    t_jump = best_of(lambda: detect_jumps(mjd, steps), repeats=3)
    found = detect_jumps(mjd, steps)
    print(f"detect_jumps at {n:,} points: {t_jump:.2f} s, {len(found)} jump(s) found (1 injected)")


if __name__ == "__main__":
    main()

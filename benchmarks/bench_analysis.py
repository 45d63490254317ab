"""Analysis benchmark at 10^6 points: periodograms of 8 series, display decimation,
binning and jump detection, each with a simple baseline measured in the same run.

Run: ``python benchmarks/bench_analysis.py [--points 1000000]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from fgs_widgets.engine.binning import bin_series, decimate_for_display
from fgs_widgets.engine.events import detect_jumps
from fgs_widgets.engine.periodogram import periodograms


def best_of(function, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        function()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


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

    t = time.perf_counter()
    results = periodograms(mjd, table, names)
    t_pgram = time.perf_counter() - t
    grid = len(results["flux"].frequency)
    print(f"periodograms, 8 series x {n:,} points ({grid:,} frequencies each): {t_pgram:.2f} s")
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

    t_naive = best_of(naive)
    print(f"decimate_for_display, {n:,} points -> 1000 px: {t_dec * 1e3:.1f} ms full, "
          f"{t_zoom * 1e3:.1f} ms on a half-range zoom; naive numpy reshape min/max "
          f"{t_naive * 1e3:.1f} ms (ratio {t_naive / t_dec:.2f}x)")

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

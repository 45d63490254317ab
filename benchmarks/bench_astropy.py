"""Astropy objects and FITS/ECSV files of the per-frame series, against the plain numbers.

For N frames (default 10^6) with a full fit's 17 columns: the `TimeSeries` with units
(`GuideStarData.to_timeseries`) against a pandas DataFrame of the same columns (baseline), then
writing and reading FITS and ECSV (`write_table`/`read_table`: units, UTC times, meta) against
Parquet and CSV of the DataFrame (baselines), with file sizes; `to_lightkurve` when lightkurve
is installed.  Each time is the median of `--repeats` runs in this process.

Run: ``python benchmarks/bench_astropy.py [--frames 1000000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fgs_widgets.astropy_tables import read_table, to_lightkurve, write_table
from fgs_widgets.data import GuideStarData
from fgs_widgets.engine.psf import ERR_COLUMNS, PARAMETERS


def median_time(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def synthetic(n: int) -> tuple[GuideStarData, pd.DataFrame]:
    """N frames over two files at a 62.5 ms cadence, and a fit table shaped like the real one."""
    rng = np.random.default_rng(1)
    time_mjd = 60000.0 + np.arange(n) * 0.0625 / 86400
    segments = (np.arange(n) >= n // 2).astype(np.int32)
    products = pd.DataFrame({"file_name": [f"jw01534001001_gs-fg_20223400{i}_cal.fits"
                                           for i in range(2)],
                             "program": [1534, 1534], "observation": [1, 1], "visit": [1, 1],
                             "guider": [1, 1], "gs_id": ["N13I000018"] * 2,
                             "gs_ra": [80.48734] * 2, "gs_dec": [-69.49632] * 2,
                             "gs_mag": [12.31] * 2, "gsc_version": ["GSC30"] * 2})
    data = GuideStarData(frames=np.zeros((n, 8, 8), np.float32), time=time_mjd,
                         flux=rng.normal(1e6, 3e3, n), quality=np.zeros(n, np.uint16),
                         segments=segments, products=products)
    fit = pd.DataFrame({name: rng.normal(1.0, 0.1, n) for name in (*PARAMETERS, *ERR_COLUMNS)})
    fit["chi2_red"] = rng.normal(1.0, 0.1, n)
    fit["n_iter"] = rng.integers(3, 9, n).astype(np.int32)
    fit["status"] = pd.Categorical(["converged"] * n)
    return data, fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n, repeats = args.frames, args.repeats
    data, fit = synthetic(n)

    def plain() -> pd.DataFrame:
        return pd.concat([pd.DataFrame({"time": data.time, "flux": data.flux,
                                        "quality": data.quality,
                                        "file_index": data.segments}), fit], axis=1)

    start = time.perf_counter()
    data[:10].to_timeseries(fit[:10])  # astropy's table and time modules: imported once
    t_import = time.perf_counter() - start
    t_plain, table = median_time(plain, repeats)
    t_series, series = median_time(lambda: data.to_timeseries(fit), repeats)
    print(f"{n:,} frames, {len(series.colnames)} columns")
    print(f"  first call's imports (once)     {t_import * 1e3:8.1f} ms")
    print(f"  pandas DataFrame (baseline)     {t_plain * 1e3:8.1f} ms")
    print(f"  TimeSeries with units           {t_series * 1e3:8.1f} ms  "
          f"({t_series / t_plain:.1f}x the baseline)")
    with tempfile.TemporaryDirectory(prefix="fgs-bench-astropy-") as folder:
        rows = []
        for label, suffix, write, read in (
                ("Parquet (baseline)", ".parquet", lambda p: table.to_parquet(p, index=False),
                 pd.read_parquet),
                ("CSV (baseline)", ".csv", lambda p: table.to_csv(p, index=False),
                 pd.read_csv),
                ("FITS, units + UTC", ".fits", lambda p: write_table(series, p), read_table),
                ("ECSV, units + UTC", ".ecsv", lambda p: write_table(series, p), read_table)):
            path = Path(folder) / f"series{suffix}"
            t_write, _ = median_time(lambda w=write, p=path: w(p), repeats)
            t_read, back = median_time(lambda r=read, p=path: r(p), repeats)
            assert len(back) == n
            rows.append((label, t_write, t_read, path.stat().st_size / 1e6))
        print(f"  {'file':<30} {'write':>9} {'read':>9} {'size':>9}")
        for label, t_write, t_read, size in rows:
            print(f"  {label:<30} {t_write:8.2f}s {t_read:8.2f}s {size:7.1f} MB")
    try:
        import lightkurve  # noqa: F401
    except ImportError:
        print("  to_lightkurve: lightkurve not installed here (pip install "
              "'fgs-widgets[lightkurve]')")
    else:
        t_lc, lc = median_time(lambda: to_lightkurve(series, "x_mean"), repeats)
        print(f"  to_lightkurve('x_mean')         {t_lc * 1e3:8.1f} ms  ({len(lc):,} points)")


if __name__ == "__main__":
    main()

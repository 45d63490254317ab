"""What the Session's fit job adds to the engine's fit: the fit cache, and resuming a cancel.

A full fit from the Session (`Session.fit_frames`) runs `fit_gaussians` as a job and
stores every finished chunk in the per-data fit cache under ``conf.cache_dir``, so a
cancelled or killed fit run again fits only what it had not finished.  Printed, in
one run on the same frames:

* baseline: `fit_gaussians` called directly, no cache (what the Session did before);
* the Session's fit (job thread + chunk hashing + Parquet writes): frames/s and the
  cache's size on disk per 10^6 frames;
* a fit cancelled after about half its chunks, then run again: the second run's time
  against a whole fit, and how many chunks it reused;
* a run with everything cached (the cost of loading a finished fit back).

Run: ``python benchmarks/bench_session.py [--frames 400000] [--chunk 50000]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fgs_widgets.archive import conf
from fgs_widgets.data import GuideStarData
from fgs_widgets.engine.simulate import simulate_frames
from fgs_widgets.model import Session
from fgs_widgets.runtime.fit import fit_gaussians


def guide_star_data(n: int) -> GuideStarData:
    rng = np.random.default_rng(3)
    p = np.tile([1.5e5 / (2 * np.pi * 0.95 * 0.82), 3.6, 3.4, 0.95, 0.82, 0.35, 1.25], (n, 1))
    p[:, 1:3] += rng.normal(0, 0.05, (n, 2))
    frames, errors, _ = simulate_frames(params=p, read_noise=12.0, seed=rng)
    t = 60000.0 + np.arange(n) * 0.0625 / 86400
    return GuideStarData(
        frames=frames.astype(np.float32), time=t, flux=np.nansum(frames, axis=(1, 2)),
        quality=np.zeros(n, dtype=np.uint16), segments=np.zeros(n, dtype=np.int32),
        errors=errors.astype(np.float32),
        products=pd.DataFrame({"file_name": ["bench_gs-fg_cal.fits"], "path": ["-"],
                               "gs_id": ["A"], "data_start": [t[0]], "data_end": [t[-1]],
                               "first_frame": [0], "n_frames": [n]}))


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=400_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    args = parser.parse_args()
    data = guide_star_data(args.frames)
    n, chunk = len(data), args.chunk
    fit_gaussians(data.frames[:10], data.errors[:10], executor="serial")  # compile/load once

    baseline = timed(lambda: fit_gaussians(data.frames, data.errors, executor="serial",
                                           chunk_size=chunk))
    with tempfile.TemporaryDirectory() as folder, conf.override(cache_dir=Path(folder)):
        session = Session()
        session.data = data
        whole = timed(lambda: session.fit_frames("full", executor="serial", chunk_size=chunk,
                                                 block=True))
        size = sum(p.stat().st_size for p in session.fit_cache_dir.glob("chunk-*"))
        cached = timed(lambda: session.fit_frames("full", executor="serial", chunk_size=chunk,
                                                  block=True))
        hits_all = session.fit.attrs["cache_hits"]
        for entry in session.fit_cache_dir.glob("chunk-*"):
            entry.unlink()

        def stop_half(change) -> None:
            if change["new"] >= 0.5:
                session.fit_job.cancel()

        session.fit_job.observe(stop_half, names="progress")
        first = timed(lambda: session.fit_frames("full", executor="serial", chunk_size=chunk,
                                                 block=True))
        session.fit_job.unobserve(stop_half, names="progress")
        kept = int((session.fit["status"] != "cancelled").sum())
        rest = timed(lambda: session.fit_frames("full", executor="serial", chunk_size=chunk,
                                                block=True))
        reused = session.fit.attrs["cache_hits"]

    print(f"{n:,} frames (with ERR), chunks of {chunk:,}, serial, 2 cores")
    print(f"  baseline fit_gaussians, no cache : {baseline:6.2f} s  "
          f"{n / baseline:>10,.0f} frames/s")
    print(f"  Session fit job + fit cache      : {whole:6.2f} s  {n / whole:>10,.0f} frames/s"
          f"  ({whole / baseline:.2f}x the baseline)")
    print(f"  fit cache on disk                : {size / 2**20:6.1f} MiB"
          f"  ({size / n * 1e6 / 2**20:.0f} MiB per 10^6 frames)")
    print(f"  everything cached (load back)    : {cached:6.2f} s  ({hits_all} chunks reused)")
    print(f"  cancelled at ~half               : {first:6.2f} s  ({kept:,} frames kept)")
    print(f"  run again: only the rest         : {rest:6.2f} s  ({reused} chunks reused; "
          f"{rest / whole:.2f}x a whole fit)")


if __name__ == "__main__":
    main()

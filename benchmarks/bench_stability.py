"""Survey statistics against the fit, per frame: the bundled sample and a ~10^6-frame program.

Run: ``python benchmarks/bench_stability.py [--scale 70] [--short 500] [--repeats 5]
[--profile]``

For each data set, in one process and on one core (``use_threads(1)``, the serial
executor, as a survey worker runs): the Gaussian fit of every frame
(`fit_gaussians`, compiled before timing), then `visit_statistics` on that fit, as
it was before issue 27 (``stability_baseline.py``, a frozen copy) and as it is now.
Times are the shortest of ``--repeats`` calls after one untimed call (the fit: of 3,
of 1 at 10^6 frames unless ``--repeats-fit``), in µs per frame; the two statistics
tables are asserted equal (exactly) before anything is printed.

The data: the sample program (`sample_program()`, 14,336 frames in 4 files, 3
visits); its first ``--short`` frames of each file (2,000 frames: short observations,
where the statistics' fixed cost per call, pandas' mostly, weighs most); and the same
program at ``--scale`` times the frames (70: 1,003,520 frames, ~0.6 GB written once
into ``$FGS_CACHE_DIR`` or the temporary folder, then reused).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the frozen baseline beside us
import stability_baseline

from fgs_widgets.archive import sample_program
from fgs_widgets.archive.reader import read_fine_guide
from fgs_widgets.archive.sample import write_sample_program
from fgs_widgets.engine.stability import visit_statistics
from fgs_widgets.runtime.executor import use_threads
from fgs_widgets.runtime.fit import fit_gaussians


def shortest(function, repeats: int, warm: bool = True) -> tuple[float, object]:
    """(shortest wall time of `repeats` calls, last result), after one untimed call."""
    result = function() if warm else None
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - t)
    return best, result


def scaled_program(scale: int) -> list[Path]:
    """Paths of the sample program written at `scale` (once; reused by later runs)."""
    base = Path(os.environ.get("FGS_CACHE_DIR") or tempfile.gettempdir())
    folder = base / f"bench-stability-v1/scale{scale}"
    done = folder / "done.json"
    if done.exists():
        return [folder / p for p in json.loads(done.read_text())]
    shutil.rmtree(folder, ignore_errors=True)
    t = time.perf_counter()
    sample = write_sample_program(folder, scale=scale)
    done.write_text(json.dumps([str(p.relative_to(folder)) for p in sample.paths]))
    print(f"wrote the sample program at scale {scale} in {time.perf_counter() - t:.0f} s "
          f"({folder})", flush=True)
    return sample.paths


def first_frames(data, per_file: int):
    """The first `per_file` frames of every file: a program of short observations."""
    return data[np.concatenate([np.flatnonzero(data.segments == s)[:per_file]
                                for s in range(len(data.products))])]


def measure(name: str, data, repeats: int, repeats_fit: int, profile: bool) -> dict:
    """Fit and statistics (baseline, now) of one program, µs per frame; equal tables."""
    n = len(data)
    fit_gaussians(data.frames[:64], data.errors[:64], executor="serial")  # compiled
    t_fit, fit = shortest(lambda: fit_gaussians(data.frames, data.errors, executor="serial"),
                          repeats_fit, warm=False)
    t_old, old = shortest(lambda: stability_baseline.visit_statistics(data, fit), repeats)
    t_new, new = shortest(lambda: visit_statistics(data, fit), repeats)
    pd.testing.assert_frame_equal(new, old, check_exact=True)  # identical, not just close
    if profile:
        for label, function in (("baseline", stability_baseline.visit_statistics),
                                ("now", visit_statistics)):
            profiler = cProfile.Profile()
            profiler.runcall(function, data, fit)
            print(f"\n-- {name}: {label}, the package's functions by cumulative time")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(
                r"stability|events", 10)
    us = 1e6 / n
    return {"data": name, "frames": n, "visits": len(new), "fit": t_fit * us,
            "stats before": t_old * us, "stats now": t_new * us}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=70,
                        help="frames x this for the large program (70: ~10^6 frames)")
    parser.add_argument("--short", type=int, default=500,
                        help="frames a file of the short-observation row (the fixed cost)")
    parser.add_argument("--repeats", type=int, default=5, help="timed statistics calls")
    parser.add_argument("--repeats-fit", type=int, default=None,
                        help="timed fits (default 3 on the sample, 1 on the large program)")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of one statistics call of each")
    args = parser.parse_args()
    use_threads(1)  # one core, as a survey worker runs
    sample = read_fine_guide(sample_program().paths)
    rows = [measure(f"sample, {args.short} a file", first_frames(sample, args.short),
                    args.repeats, args.repeats_fit or 3, args.profile),
            measure("sample", sample, args.repeats, args.repeats_fit or 3, args.profile),
            measure(f"sample x{args.scale}", read_fine_guide(scaled_program(args.scale)),
                    args.repeats, args.repeats_fit or 1, args.profile)]
    table = pd.DataFrame(rows)
    table["now / fit"] = table["stats now"] / table["fit"]
    table["before / fit"] = table["stats before"] / table["fit"]
    table["speed-up"] = table["stats before"] / table["stats now"]
    print("\nµs per frame, one core; statistics tables before and now identical (exact):")
    print(table.to_string(index=False, formatters={
        "frames": "{:,}".format, **{c: "{:.3f}".format for c in (
            "fit", "stats before", "stats now", "now / fit", "before / fit")},
        "speed-up": "{:.2f}x".format}))


if __name__ == "__main__":
    main()

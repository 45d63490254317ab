"""Honest uncertainties without ERR (issue 27): pulls, precision and speed, before and after.

Run: ``python benchmarks/bench_errors.py [--frames 20000] [--speed-frames 50000]
[--rounds 15]`` (~1-2 minutes; the former kernels compile in ~15 s on the first run, then
load from numba's cache in ``benchmarks/__pycache__``).

"Before" is ``benchmarks/lm_baseline.py``, a frozen copy of the fit kernels as they were
(weights 1 / (max(star model, 0) + corner noise variance) in the frames' own units, the
covariance scaled by chi2_red); "after" is `fgs_widgets.engine.lm` (the pixel variance
modelled as a + b x star model, both fitted to the residuals; see its `_noise_sums`).  Both
run in the same process on the same frames.

Frames: `simulate_count_rates` as in the sample program (gain 2 e-/DN, read noise 12 DN
per read, 0.0625 s frames: b = 1 / (gain x frame time) = 8), stars of
`real_fgs_parameters` (sigma 0.64-0.73 px, peak 2-3e5 DN/s on 2500-3400 DN/s: "bright")
and the same with peak 1.5-2.5e4 DN/s ("faint"), and faint elongated stars (widths 0.80
and 0.62 px, which the fit's major-then-minor ordering cannot swap).

Reported:

* per case, with and without ERR, before and after: the standard deviation of the pulls
  (fitted - true) / reported uncertainty of x_mean, y_mean, x_stddev, y_stddev (1 when the
  uncertainties are honest; statistical error ~0.5 % on 20,000 frames), and the centroid
  RMS over the Cramér–Rao bound (the RMS of the per-frame bounds, at the true parameters
  and the true pixel variance, over ``--crb-frames`` frames);
* the ERR fit's centroids before and after compared (issue 27's seeded fit);
* speed: frames/s of the fit without ERR (and with) before and after, on one thread
  (CPU time of the calling thread) and on every core (wall time), ``--rounds`` rounds
  interleaved; the best round, and the median of the per-round ratios (the machine is
  shared: single rounds vary by 10-30 %).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numba
import numpy as np

from fgs_widgets.engine import lm
from fgs_widgets.engine.crb import cramer_rao_bound
from fgs_widgets.engine.gaussian import canonical_parameters
from fgs_widgets.engine.psf import gaussian2d
from fgs_widgets.engine.simulate import (
    real_fgs_parameters,
    real_fgs_series,
    simulate_count_rates,
)

GAIN, READ_NOISE, FRAME_TIME = 2.0, 12.0, 0.0625
NAMES = ("x_mean", "y_mean", "x_stddev", "y_stddev")
COLUMNS = [lm.RAW_COLUMNS.index(name) for name in NAMES]


def former_kernels():
    """``benchmarks/lm_baseline.py``, registered under its name (numba's cache needs it)."""
    name = "lm_baseline"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(
            "lm_baseline.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def fit(kernels, frames: np.ndarray, errors: np.ndarray | None, parallel: bool = True,
        max_iter: int = 50):
    """One chunk through a kernel module's driver, as `gaussian.fit_chunk` calls it."""
    out = np.empty((len(frames), lm.N_OUT))
    if hasattr(kernels, "fit_signatures"):  # lm.py: blocks on this process's threads
        kernels.fit_chunk(frames, errors, None, max_iter, 1e-8, out,
                          numba.get_num_threads() if parallel else 1)
    else:  # the frozen baseline: one driver, ``use_errors`` an argument
        errs = np.empty((0, 8, 8), frames.dtype) if errors is None else errors
        driver = kernels.fit_chunk_parallel if parallel else kernels.fit_chunk_serial
        driver(frames, errs, errors is not None, np.empty((0, 7)), False, max_iter, 1e-8,
               out, 16 * numba.get_num_threads())
    out[:, lm.I_SPARE] = 0.0
    return out


def case(n: int, seed: int, peak=None, widths=None, series: bool = False):
    """Count-rate frames, ERR, the canonical truth and the true parameters; with
    `series`, a guide star's series (`real_fgs_series`), else a new star every frame."""
    rng = np.random.default_rng(seed)
    params = (real_fgs_series if series else real_fgs_parameters)(rng, n)
    if peak is not None:
        params[:, 0] = rng.uniform(*peak, n)
    if widths is not None:
        params[:, 3], params[:, 4] = widths
    data, err = simulate_count_rates(params, gain=GAIN, read_noise=READ_NOISE,
                                     frame_time=FRAME_TIME, seed=seed + 1)
    return data, err, canonical_parameters(params), params


def true_variance(params: np.ndarray) -> np.ndarray:
    """Per-pixel variance of `simulate_count_rates`' data: photon noise of star and sky,
    and the read noise of the two reads a frame differences, in (DN/s)²."""
    return (np.clip(gaussian2d(params), 0, None) / (GAIN * FRAME_TIME)
            + 2.0 * (READ_NOISE / FRAME_TIME) ** 2)


def stats(out: np.ndarray, truth: np.ndarray, crb: np.ndarray) -> tuple:
    """Pull standard deviations (NAMES), centroid RMS / CRB (x, y), fraction fitted."""
    ok = np.isin(out[:, lm.I_STATUS], (lm.CONVERGED, lm.MAX_ITER))
    pulls = [np.std((out[ok, i] - truth[ok, i]) / out[ok, lm.I_ERR + i]) for i in COLUMNS]
    rms = np.sqrt(np.mean((out[ok, 1:3] - truth[ok, 1:3]) ** 2, axis=0))
    return pulls, rms / crb, ok.mean()


def accuracy(n: int, crb_frames: int, old) -> None:
    """The pull and CRB table of every case, with and without ERR, before and after."""
    cases = (("bright", {}), ("faint", {"peak": (1.5e4, 2.5e4)}),
             ("faint elongated", {"peak": (1.5e4, 2.5e4), "widths": (0.80, 0.62)}))
    print(f"\n{'case':<16}{'weights':<8}{'kernels':<8}" + "".join(f"{'pull ' + c:>13}"
          for c in ("x", "y", "sx", "sy")) + f"{'RMS/CRB x':>11}{'RMS/CRB y':>11}{'fitted':>8}")
    for seed, (label, kw) in enumerate(cases):
        data, err, truth, params = case(n, 10 * seed + 1, **kw)
        sample = np.linspace(0, n - 1, min(n, crb_frames)).astype(int)
        bound = cramer_rao_bound(params[sample], true_variance(params[sample]))[:, 1:3]
        crb = np.sqrt(np.mean(bound**2, axis=0))
        for weights, errors in (("ERR", err), ("none", None)):
            results = {"before": fit(old, data, errors), "after": fit(lm, data, errors)}
            for kernels, out in results.items():
                pulls, ratio, fitted = stats(out, truth, crb)
                print(f"{label:<16}{weights:<8}{kernels:<8}"
                      + "".join(f"{p:>13.3f}" for p in pulls)
                      + f"{ratio[0]:>11.3f}{ratio[1]:>11.3f}{100 * fitted:>7.2f}%")
            if errors is not None:
                a, b = results["after"], results["before"]
                both = (a[:, lm.I_STATUS] == lm.CONVERGED) & (b[:, lm.I_STATUS] == lm.CONVERGED)
                shift = np.abs(a[both, 1:3] - b[both, 1:3]) / b[both, lm.I_ERR + 1:lm.I_ERR + 3]
                print(f"{'':<16}ERR fit after - before, centroids in units of their error: "
                      f"median {np.median(shift):.1e}, 99.9 % {np.quantile(shift, 0.999):.1e}"
                      f", max {shift.max():.1e} ({both.mean():.2%} converged in both)")
    print("(pull: standard deviation of (fitted - true) / reported error; the widths of the "
          "nearly round stars are ordered major first, which shrinks their scatter when "
          "it is a sizeable fraction of the widths' spread: faint, ~0.95 with ERR too)")


def timed(run, threads: int) -> float:
    """Seconds of one run: CPU time of this thread on 1 thread, wall time on more."""
    clock = time.thread_time if threads == 1 else time.perf_counter
    t = clock()
    run()
    return clock() - t


def speed(n: int, rounds: int, old) -> None:
    """Frames/s before and after, without and with ERR, on one thread and on all, on
    independent stars and on a guide star's series (where each frame now starts from
    its neighbour's solution)."""
    cores = numba.get_num_threads()
    print(f"\nspeed, {n:,} bright frames, {rounds} rounds interleaved (best round; median "
          "of the per-round after/before time ratios)")
    for frames in ("independent", "series"):
        data, err, _, _ = case(n, 101, series=frames == "series")
        for threads, parallel in ((1, False), (cores, True)):
            for weights, errors in (("none", None), ("ERR", err)):
                runs = {name: (lambda k=kernels, d=data, e=errors, p=parallel: fit(k, d, e, p))
                        for name, kernels in (("before", old), ("after", lm))}
                for run in runs.values():
                    run()  # load or compile
                times = {name: [] for name in runs}
                for _ in range(rounds):
                    for name, run in runs.items():
                        times[name].append(timed(run, threads))
                before, after = np.array(times["before"]), np.array(times["after"])
                print(f"  {frames:<11} {threads} thread{'s' if threads > 1 else ' '} weights "
                      f"{weights:<5}: before {n / before.min():9,.0f} frames/s, after "
                      f"{n / after.min():9,.0f} frames/s; after/before time: best "
                      f"{after.min() / before.min():.3f}, median {np.median(after / before):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20_000, help="frames per accuracy case")
    parser.add_argument("--crb-frames", type=int, default=5000)
    parser.add_argument("--speed-frames", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    t = time.perf_counter()
    old = former_kernels()
    small = case(64, 0)[0]
    for kernels in (old, lm):
        for parallel in (True, False):
            fit(kernels, small, None, parallel)
            fit(kernels, small, small, parallel)
    print(f"kernels compiled or loaded in {time.perf_counter() - t:.0f} s")
    accuracy(args.frames, args.crb_frames, old)
    speed(args.speed_frames, args.rounds, old)


if __name__ == "__main__":
    main()

"""The engine on real FGS guide stars: full-fit and quick-fit speed and centroid accuracy.

Run: ``python benchmarks/bench_real_regime.py [--frames 1000000] [--baseline-frames 2000]``

Frames come from `fgs_widgets.engine.simulate.real_fgs_parameters` (the flight data's
regime: sigma 0.64-0.73 px per axis — undersampled, nearly round, any theta —, peak
2-3e5 DN/s, background 2500-3400 DN/s, centroid 2.6-3.0 px) as count rates, with
0.0625 s frames (1.25-1.9e4 e- at the peak, 160-210 e- of background per pixel), Poisson
photon noise and 12 e- read noise, ERR computed from the noisy data as the pipeline does.

Reported, each against a baseline measured in the same run:

* full fit (`fit_gaussians`, serial: numba threads on every core) with ERR and without:
  frames/s against a per-frame scipy ``least_squares`` fit (``bench_fit.scipy_baseline``);
  centroid RMS / Cramér–Rao bound per axis (the RMS of the per-frame bounds at the true
  parameters, on a sample of frames), bias, pulls and failures;
* quick fit (`quick_fit`): plain moments (``refine=False``, the baseline) and the
  refined centroid (profile fits + one Gauss–Newton step): frames/s (best of 3), bias and
  RMS against the truth and relative to the full fit (ERR), and the RMS of quick - full;
* the former windowed centroid (a NumPy copy of the step `quick_fit` used before: one
  step of a Gaussian window 3x the moments' variance), forced on: its threshold (marginal
  sigma >= 0.85 px) never let it run on these stars;
* the same quick-fit figures at a fixed background of 3000 DN/s, and on noiseless frames
  (the pixel-phase bias alone: max |error| over the regime).

Timings of the compiled kernels exclude numba's first compile (cached on disk after the
first run).  The machine is shared: speeds vary by ~10-20% between runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_fit import best_of_3, scipy_baseline  # the fit benchmark's timing and baseline

from fgs_widgets.engine.crb import cramer_rao_bound
from fgs_widgets.engine.psf import PARAMETERS, gaussian2d
from fgs_widgets.engine.quickfit import quick_fit
from fgs_widgets.engine.simulate import (
    FGS_FRAME_TIME,
    FGS_READ_NOISE,
    real_fgs_parameters,
    simulate_frames,
)
from fgs_widgets.runtime.fit import fit_gaussians

CORES = 2
XY = ["x_mean", "y_mean"]


def former_windowed_centroid(frames: np.ndarray, widen: float = 3.0) -> np.ndarray:
    """The quick fit's former centroid step, without its sigma >= 0.85 px threshold: (n, 2)."""
    p = quick_fit(frames, refine=False)[list(PARAMETERS)].to_numpy()
    ct, st = np.cos(p[:, 5]), np.sin(p[:, 5])
    vxx = np.minimum((ct * p[:, 3]) ** 2 + (st * p[:, 4]) ** 2, 4.0)
    vyy = np.minimum((st * p[:, 3]) ** 2 + (ct * p[:, 4]) ** 2, 4.0)
    grid = np.arange(8.0)
    wx = np.exp(-0.5 * (grid - p[:, 1, None]) ** 2 / (widen * vxx[:, None]))
    wy = np.exp(-0.5 * (grid - p[:, 2, None]) ** 2 / (widen * vyy[:, None]))
    weighted = wy[:, :, None] * wx[:, None, :] * (frames - p[:, 6, None, None])
    total = weighted.sum(axis=(1, 2))
    mx = (weighted * grid[None, None, :]).sum(axis=(1, 2)) / total
    my = (weighted * grid[None, :, None]).sum(axis=(1, 2)) / total
    gain = 1.0 + 1.0 / widen
    return np.column_stack([p[:, 1] + gain * (mx - p[:, 1]), p[:, 2] + gain * (my - p[:, 2])])


def rms(err: np.ndarray) -> np.ndarray:
    return np.sqrt(np.nanmean(err**2, axis=0))


def full_fit_report(label: str, fit, truth: np.ndarray, seconds: float, crb: np.ndarray,
                    base_rate: float) -> None:
    n = len(fit)
    ok = fit["status"].isin(["converged", "max_iter"]).to_numpy()
    err = fit[XY].to_numpy()[ok] - truth[ok, 1:3]
    ratio = rms(err) / crb
    pulls = (err / fit[["x_mean_err", "y_mean_err"]].to_numpy()[ok]).std(axis=0)
    counts = fit["status"].value_counts()
    print(f"full fit, {label}: {n / seconds:10,.0f} frames/s ({seconds:.2f} s; "
          f"{n / seconds / base_rate:.0f}x scipy on 1 core); mean iterations "
          f"{fit['n_iter'].mean():.2f}")
    bias = err.mean(axis=0)
    print(f"  centroid RMS / CRB: x {ratio[0]:.3f}, y {ratio[1]:.3f}; bias x {bias[0]:+.1e}, "
          f"y {bias[1]:+.1e} px; pull std x {pulls[0]:.2f}, y {pulls[1]:.2f}")
    print(f"  failures {int((~ok).sum())} of {n:,} ({100 * (1 - ok.mean()):.4f}%); "
          + ", ".join(f"{k}={v}" for k, v in counts.items() if v))


def quick_report(name: str, xy: np.ndarray, truth: np.ndarray, full: np.ndarray,
                 crb: np.ndarray | None = None, rate: str = "") -> None:
    err = xy - truth[:, 1:3]
    full_rms = rms(full - truth[:, 1:3])
    ratio = rms(err) / full_rms
    bias = np.nanmean(err, axis=0)
    line = (f"  {name:<30} {rate}bias x {bias[0]:+.1e}, y {bias[1]:+.1e}"
            f" px; RMS x {rms(err)[0]:.2e}, y {rms(err)[1]:.2e} px = {ratio[0]:.3f}x, "
            f"{ratio[1]:.3f}x the full fit")
    if crb is not None:
        line += f" ({rms(err)[0] / crb[0]:.2f}x CRB)"
    line += f"; RMS(quick - full) {np.mean(rms(xy - full) / full_rms):.2f}x full"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--baseline-frames", type=int, default=2000)
    parser.add_argument("--crb-frames", type=int, default=5000,
                        help="frames whose Cramér–Rao bound is computed (the RMS bound)")
    parser.add_argument("--window-frames", type=int, default=200_000,
                        help="frames for the NumPy windowed centroid and the fixed background")
    args = parser.parse_args()
    n = args.frames
    noise = {"exposure": FGS_FRAME_TIME, "read_noise": FGS_READ_NOISE}

    t = time.perf_counter()
    frames, errors, truth = simulate_frames(n, real_fgs_parameters, seed=0, **noise)
    print(f"simulated {n:,} real-regime frames in {time.perf_counter() - t:.1f} s")
    sample = np.linspace(0, n - 1, min(n, args.crb_frames)).astype(int)
    crb = rms(cramer_rao_bound(truth[sample], **noise)[:, 1:3])
    print(f"Cramér–Rao bound (RMS over {len(sample):,} frames): x {crb[0]:.2e}, "
          f"y {crb[1]:.2e} px")
    fit_gaussians(frames[:2000], errors[:2000], executor="serial")  # load numba's cache
    fit_gaussians(frames[:2000], executor="serial")
    quick_fit(frames[:10])
    quick_fit(frames[:10], refine=False)

    m = min(args.baseline_frames, n)
    start = quick_fit(frames[:m])[list(PARAMETERS)].to_numpy()
    t = time.perf_counter()
    reference = scipy_baseline(frames[:m], errors[:m], start)
    base_rate = m / (time.perf_counter() - t)
    print(f"per-frame scipy least_squares (1 core, ERR): {base_rate:10,.0f} frames/s "
          f"(on {m:,} frames)")

    t = time.perf_counter()
    full = fit_gaussians(frames, errors, executor="serial")
    t_full = time.perf_counter() - t
    full_fit_report(f"ERR weights ({CORES} threads)", full, truth, t_full, crb, base_rate)
    agree = np.abs(full[XY].to_numpy()[:m] - reference[:, 1:3]).max(axis=1)
    print(f"  agreement with scipy on the same frames: max |d centroid| = {np.nanmax(agree):.1e} "
          f"px, {int((agree > 1e-6).sum())} of {m:,} frames differ by > 1e-6 px")
    t = time.perf_counter()
    poisson = fit_gaussians(frames, executor="serial")
    full_fit_report("no ERR, Poisson-like weights", poisson, truth, time.perf_counter() - t, crb,
                    base_rate)

    print("quick fit (bias and RMS against the truth; RMS relative to the full fit with ERR):")
    full_xy = full[XY].to_numpy()
    best = {}
    for refine, name in ((False, "plain moments"), (True, "refined centroid")):
        best[name], table = best_of_3(quick_fit, frames, refine=refine)
        quick_report(name, table[XY].to_numpy(), truth, full_xy, crb,
                     f"{n / best[name]:10,.0f} frames/s; ")
    print(f"  refined / plain speed: {best['plain moments'] / best['refined centroid']:.2f}; "
          f"refined / full fit (ERR) speed: {t_full / best['refined centroid']:.0f}")
    k = min(args.window_frames, n)
    quick_report(f"former window (3x, forced; {k // 1000}k)", former_windowed_centroid(
        frames[:k].astype(np.float64)), truth[:k], full_xy[:k], crb)

    print(f"background fixed at 3000 DN/s ({k:,} frames):")
    fixed = truth[:k].copy()
    fixed[:, 6] = 3000.0
    f3, e3, _ = simulate_frames(params=fixed, seed=1, **noise)
    full3 = fit_gaussians(f3, e3, executor="serial")[XY].to_numpy()
    quick_report("full fit, no ERR", fit_gaussians(f3, executor="serial")[XY].to_numpy(), fixed,
                 full3)
    quick_report("plain moments", quick_fit(f3, refine=False)[XY].to_numpy(), fixed, full3)
    quick_report("refined centroid", quick_fit(f3)[XY].to_numpy(), fixed, full3)
    quick_report("former window (3x, forced)", former_windowed_centroid(f3.astype(np.float64)),
                 fixed, full3)

    clean = gaussian2d(truth[:k])

    def worst(xy: np.ndarray) -> float:
        return float(np.abs(xy - truth[:k, 1:3]).max())

    print(f"noiseless frames ({k:,}; pixel-phase bias alone): max |error| plain moments "
          f"{worst(quick_fit(clean, refine=False)[XY].to_numpy()):.1e} px, refined "
          f"{worst(quick_fit(clean)[XY].to_numpy()):.1e} px, former window "
          f"{worst(former_windowed_centroid(clean)):.1e} px")


if __name__ == "__main__":
    main()
